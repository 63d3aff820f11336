"""`distill predict`: label texts with a teacher or student run."""

from __future__ import annotations

import sys

from distill.errors import DistillError

PREDICTORS = {
    "teacher": ("teachers.run", "TeacherRun"),
    "student": ("students.export", "StudentPredictor"),
}
"""run.json `kind` -> (module, class). The class has `load(run_dir)`, `.label_names`,
optional `.is_pair`, and `predict(texts, texts_b=None, batch_size=32) -> (labels int[N], probs [N, C])`."""
PREDICT_CHUNK = 1024


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="label texts with a teacher or student run: label, confidence, text")
    p.add_argument("run", help="run folder (runs/teacher/<id> or runs/student/<id>)")
    p.add_argument("texts", nargs="*", help="texts to label; '-' reads one text per line from stdin "
                   "(sentence-pair runs take 'A<TAB>B')")
    p.add_argument("--file", help="one text per line ('-' for stdin)")
    p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
    p.set_defaults(handler=predict)


def load_predictor(run_dir):
    """The predictor of a run folder, picked by the `kind` in its run.json."""
    import importlib
    from pathlib import Path

    from distill.runfiles import RUN_FILE, read_run

    kind = read_run(run_dir).kind
    if kind not in PREDICTORS:
        raise DistillError(f"{Path(run_dir) / RUN_FILE}: kind {kind!r} has no predictor; "
                           f"known: {', '.join(PREDICTORS)}")
    module, name = PREDICTORS[kind]
    return getattr(importlib.import_module(module), name).load(run_dir)


def _lines(args):
    """The input texts, lazily: the arguments ('-' = stdin), then --file."""
    for text in args.texts:
        if text == "-":
            yield from (line.rstrip("\r\n") for line in sys.stdin)
        else:
            yield text
    if args.file == "-":
        yield from (line.rstrip("\r\n") for line in sys.stdin)
    elif args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                yield from (line.rstrip("\r\n") for line in handle)
        except (OSError, UnicodeDecodeError) as exc:
            raise DistillError(f"{args.file}: cannot read ({exc})") from None


def predict(args) -> None:
    """Prints `label<TAB>confidence<TAB>text` per text, streaming in chunks."""
    import itertools

    if not args.texts and not args.file:
        raise DistillError("predict: give texts, '-' for stdin, or --file FILE")
    predictor = load_predictor(args.run)
    names = list(predictor.label_names)
    pair = bool(getattr(predictor, "is_pair", False))
    lines = (line for line in _lines(args) if line.strip())
    done = 0
    while chunk := list(itertools.islice(lines, PREDICT_CHUNK)):
        texts_b = None
        if pair:
            parts = [line.split("\t", 1) for line in chunk]
            for i, p in enumerate(parts):
                if len(p) != 2:
                    raise DistillError(f"predict: text {done + i + 1} has no TAB; this run labels "
                                       "sentence pairs given as 'A<TAB>B'")
            chunk, texts_b = [p[0] for p in parts], [p[1] for p in parts]
        labels, probs = predictor.predict(chunk, texts_b=texts_b, batch_size=args.batch_size)
        for i, text in enumerate(chunk):
            label = int(labels[i])
            shown = text if texts_b is None else f"{text}\t{texts_b[i]}"
            print(f"{names[label]}\t{float(probs[i][label]):.4f}\t{shown}", flush=False)
        sys.stdout.flush()
        done += len(chunk)
