"""`distill teacher info|finetune|tune|eval`."""

from __future__ import annotations

import sys

from distill.app.cli.defaults import FINETUNE, given, with_default
from distill.errors import DistillError

FINETUNE_OPTIONS = ("epochs", "max_seq_len", "warmup", "weight_decay", "clip_norm", "dropout", "patience",
                    "monitor", "seed")
"""Options of `finetune` and `tune` that are FinetuneConfig fields of the same name."""


def register(subparsers) -> None:
    teacher = subparsers.add_parser("teacher", help="BERT teachers").add_subparsers(
        dest="teacher_command", required=True
    )
    p = teacher.add_parser("info", help="config, parameter count and weight source of a teacher")
    p.add_argument("name", help="minilm-l6, bert-base, bert-large, or a preset (tiny, mini, base, large)")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--random-init", action="store_true", help="random weights (throughput benchmarks only)")
    p.set_defaults(handler=info)

    p = teacher.add_parser("finetune", help="fine-tune a teacher on a task; writes runs/teacher/<id>/")
    _add_finetune_options(p)
    p.add_argument("--lr", type=float, help=with_default("peak learning rate", FINETUNE, "lr", "2e-5 for BERT-base"))
    p.add_argument("--batch-size", type=int, help=with_default("training batch size", FINETUNE, "batch_size"))
    p.add_argument("--out", help="run folder (default RUNS_DIR/teacher/<teacher>-<task>-<config hash>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the same folder, or restart an interrupted one (without it, "
                        "an interrupted run with the same options resumes from its last finished epoch)")
    p.set_defaults(handler=finetune)

    p = teacher.add_parser("tune", help="grid over batch size x learning rate on dev, then the best with N seeds")
    _add_finetune_options(p)
    p.add_argument("--batch-sizes", default="16,32", help="comma-separated batch sizes (default 16,32)")
    p.add_argument("--lrs", default="2e-5,3e-5,5e-5", help="comma-separated learning rates (default 2e-5,3e-5,5e-5)")
    p.add_argument("--seeds", type=int, default=5, help="re-train the best setting with this many seeds (default 5)")
    p.add_argument("--out", help="search folder (default RUNS_DIR/tune/<teacher>-<task>-<config hash>)")
    p.set_defaults(handler=tune)

    p = teacher.add_parser("eval", help="metrics, seconds and it/s of a fine-tuned teacher run on task splits")
    p.add_argument("run", help="teacher run folder (runs/teacher/<id>)")
    p.add_argument("--split", default="test", help="split(s), comma-separated (default test)")
    p.add_argument("--task", help="task to evaluate on (default: the run's own task)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics (with report and confusion matrix) here")
    p.set_defaults(handler=evaluate)


def _add_finetune_options(p) -> None:
    p.add_argument("--teacher", required=True, help="minilm-l6, bert-base, bert-large, or a preset (tiny, ...)")
    p.add_argument("--task", required=True, help="task name, as for `distill data prepare`")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--epochs", type=int, help=with_default("epochs", FINETUNE, "epochs", "BERT uses 2-5"))
    p.add_argument("--max-seq-len", type=int,
                   help=with_default("tokens per row incl. [CLS]/[SEP]", FINETUNE, "max_seq_len"))
    p.add_argument("--warmup", type=float, help=with_default("fraction of steps of linear warm-up", FINETUNE, "warmup"))
    p.add_argument("--weight-decay", type=float, help=with_default("AdamW weight decay", FINETUNE, "weight_decay"))
    p.add_argument("--clip-norm", type=float,
                   help=with_default("global gradient-norm clip, 0 = off", FINETUNE, "clip_norm"))
    p.add_argument("--dropout", type=float, help=with_default("classifier-head dropout", FINETUNE, "dropout"))
    p.add_argument("--patience", type=int,
                   help=with_default("early stop after this many epochs without gain", FINETUNE, "patience"))
    p.add_argument("--monitor",
                   choices=("dev_loss", "dev_accuracy", "dev_f1", "dev_f1_macro", "dev_f1_weighted", "dev_mcc",
                            "dev_primary"), help=with_default("what picks the best checkpoint", FINETUNE, "monitor"))
    p.add_argument("--seed", type=int, help=with_default("random seed", FINETUNE, "seed"))
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def finetune_config(args, extra=()):
    """A FinetuneConfig from the options the user gave; the dataclass supplies the rest."""
    from teachers.finetune import FinetuneConfig

    return FinetuneConfig(**given(args, (*FINETUNE_OPTIONS, *extra)))


def info(args) -> None:
    from teachers.registry import describe_teacher

    print(describe_teacher(args.name, checkpoint=args.checkpoint, random_init=args.random_init))


def finetune(args) -> None:
    from pathlib import Path

    import keras

    from distill.data import load_task
    from distill.metrics import format_metrics_table
    from teachers.finetune import Finetuner, finished_results, run_id
    from teachers.registry import load_teacher

    config = finetune_config(args, extra=("lr", "batch_size"))
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


def tune(args) -> None:
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
    base = finetune_config(args)
    task = load_task(args.task, data_dir=args.data_dir)
    grid = {"batch_sizes": batch_sizes, "lrs": lrs, "seeds": args.seeds}
    out = Path(args.out) if args.out else \
        Path(args.runs_dir) / "tune" / run_id(args.teacher, task, base, args.checkpoint, extra=grid)
    Tuner(base, batch_sizes, lrs, seeds=args.seeds, progress=not args.no_progress).fit(
        lambda: load_teacher(args.teacher, checkpoint=args.checkpoint, max_seq_len=base.max_seq_len), task, out)
    print(f"tune results: {out / 'tune_results.json'}")


def evaluate(args) -> None:
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
