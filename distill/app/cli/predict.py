"""`distill predict`: label texts with a teacher or student run, or an exported student."""

from __future__ import annotations

import sys

from distill.api import load_predictor
from distill.app.cli.types import positive_int
from distill.errors import DistillError

PREDICT_CHUNK = 1024


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="label texts with a teacher or student run: label, confidence, text")
    p.add_argument("run", help="run folder (runs/teacher/<id> or runs/student/<id>) or an exported student's "
                   "folder (distill student export)")
    p.add_argument("texts", nargs="*", help="texts to label; '-' reads one text per line from stdin, line for "
                   "line as --file (sentence-pair runs take 'A<TAB>B'); an empty text is an error")
    p.add_argument("--file", help="one text per line, UTF-8 ('-' for stdin). Every input line gets exactly one "
                   "output line, in order: a blank line gives a line with an empty label and confidence, so "
                   "output line N always belongs to input line N")
    p.add_argument("--batch-size", type=positive_int, default=32, help="inference batch size (default 32)")
    p.set_defaults(handler=predict, check=check)


def check(args) -> None:
    """Before TensorFlow: RUN is a run folder (with a readable run.json) or an export folder; a materials
    file or folder given instead is one line saying so."""
    from distill.app.cli import checks
    from students.exported import is_export_dir

    checks.not_misplaced(args.run, "predict", export=True)
    if not is_export_dir(args.run):
        checks.run_folder(args.run)


def _lines(args, file_handle=None):
    """`(where, text)` of every input, lazily: the arguments ('-' = stdin), then --file (`file_handle`).

    `where` names the input in messages: "text 2" for an argument, "stdin, line 7" or "FILE, line 7".
    """
    for n, text in enumerate(args.texts, 1):
        if text == "-":
            yield from _read_lines(_stdin(), "stdin")
        else:
            yield f"text {n}", text
    if args.file == "-":
        yield from _read_lines(_stdin(), "stdin")
    elif args.file:
        yield from _read_lines(file_handle, args.file)


def _stdin():
    """Standard input as bytes when it has them (so a bad byte is reported by line), else as text."""
    if sys.stdin is None:
        raise DistillError("stdin is closed; give texts as arguments or --file FILE")
    return getattr(sys.stdin, "buffer", sys.stdin)


def _read_lines(stream, name: str):
    """`(where, line)` per line of `stream` (bytes or text), line ends removed; bytes must be UTF-8."""
    n = 0
    try:
        for n, line in enumerate(stream, 1):
            if isinstance(line, bytes):
                if n == 1 and line.startswith(b"\xef\xbb\xbf"):   # a UTF-8 byte order mark
                    line = line[3:]
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DistillError(f"{name}, line {n}: not UTF-8 (byte 0x{line[exc.start]:02x} at column "
                                       f"{exc.start + 1}); give UTF-8 text") from None
            yield f"{name}, line {n}", line.rstrip("\r\n")
    except UnicodeDecodeError:   # a text stream decoding on its own
        raise DistillError(f"{name}, line {n + 1}: not UTF-8; give UTF-8 text") from None


def predict(args) -> None:
    """Prints `label<TAB>confidence<TAB>text` per text, streaming in chunks; one line per input line.

    A blank line of stdin or --file prints `<TAB><TAB>line` (no label), so the output stays line for
    line with the input; an empty text argument is an error, found before the model is loaded.
    """
    import contextlib
    import itertools

    if not args.texts and not args.file:
        raise DistillError("predict: give texts, '-' for stdin, or --file FILE")
    for n, text in enumerate(args.texts, 1):
        if text != "-" and not text.strip():
            raise DistillError(f"predict: text {n} is empty; give a text to label")
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open(args.file, "rb")) if args.file and args.file != "-" else None
        predictor = load_predictor(args.run)
        names = list(predictor.label_names)
        pair = bool(getattr(predictor, "is_pair", False))
        lines = _lines(args, handle)
        while chunk := list(itertools.islice(lines, PREDICT_CHUNK)):
            texts = [text for _, text in chunk if text.strip()]
            texts_b = None
            if pair:
                texts, texts_b = _split_pairs([(where, text) for where, text in chunk if text.strip()])
            labels, probs = predictor.predict(texts, texts_b=texts_b, batch_size=args.batch_size) \
                if texts else ([], [])
            i = 0
            for _, text in chunk:
                if not text.strip():
                    print(f"\t\t{text}", flush=False)
                    continue
                label = int(labels[i])
                print(f"{names[label]}\t{float(probs[i][label]):.4f}\t{text}", flush=False)
                i += 1
            sys.stdout.flush()


def _split_pairs(items):
    """`(texts_a, texts_b)` of 'A<TAB>B' inputs; no TAB or an empty side is an error naming the input."""
    texts_a, texts_b = [], []
    for where, text in items:
        parts = text.split("\t", 1)
        if len(parts) != 2:
            raise DistillError(f"predict: {where} has no TAB; this run labels sentence pairs given as 'A<TAB>B'")
        for side, part in zip("AB", parts):
            if not part.strip():
                raise DistillError(f"predict: {where}: sentence {side} of 'A<TAB>B' is empty")
        texts_a.append(parts[0])
        texts_b.append(parts[1])
    return texts_a, texts_b
