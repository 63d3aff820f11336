"""`distill teacher info|finetune|pretrain|tune|eval|export` (`pretrain` lives in `distill.app.cli.pretrain`).

A teacher is a name (minilm-l6, bert-base, a preset) or a folder (`--teacher
PATH`: a Hugging Face BERT folder or a Google checkpoint folder); `eval` takes
a run folder, or a fine-tuned model folder with `--task` (its classifier head
used as it is, labels matched by name, `--label-order` to say them).
"""

from __future__ import annotations

import sys

from distill import distribute
from distill.app.cli import checks, pretrain, tasks
from distill.app.cli.defaults import FINETUNE, given, with_default
from distill.app.cli.types import (fraction_below_one, non_negative_float, positive_float, positive_floats,
                                    positive_int, positive_ints, random_seed, seq_len)
from distill.errors import DistillError

FINETUNE_OPTIONS = ("epochs", "max_seq_len", "warmup", "weight_decay", "clip_norm", "dropout", "pooling",
                    "patience", "monitor", "seed")
"""Options of `finetune` and `tune` that are FinetuneConfig fields of the same name."""
EVAL_SCHEMA = "distill.teacher-eval/1"
"""What `teacher eval --json` writes, and how it knows its own file again."""


def register(subparsers) -> None:
    teacher = subparsers.add_parser("teacher", help="BERT teachers").add_subparsers(
        dest="teacher_command", required=True
    )
    p = teacher.add_parser("info", help="config, parameter count and weight source of a teacher")
    p.add_argument("name", help="minilm-l6, bert-base, bert-large, a preset (tiny, mini, base, large), or a folder: "
                   "Hugging Face BERT (config.json, model.safetensors) or Google checkpoint (bert_config.json)")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--random-init", action="store_true", help="random weights (throughput benchmarks only)")
    p.set_defaults(handler=info, check=check_info)

    p = teacher.add_parser("finetune", help="fine-tune a teacher on a task; writes runs/teacher/<id>/")
    _add_finetune_options(p)
    p.add_argument("--lr", type=positive_float,
                   help=with_default("peak learning rate", FINETUNE, "lr", "2e-5 for BERT-base"))
    p.add_argument("--batch-size", type=positive_int, help=with_default("training batch size", FINETUNE, "batch_size"))
    p.add_argument("--out", help="run folder (default RUNS_DIR/teacher/<teacher>-<task>-<config hash>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the same folder, or restart an interrupted one (without it, "
                        "an interrupted run with the same options resumes from its last finished epoch)")
    p.add_argument("--strategy", choices=distribute.STRATEGIES, default="auto", help=distribute.HELP)
    p.set_defaults(handler=finetune, check=check_finetune)

    pretrain.register(teacher)

    p = teacher.add_parser("tune", help="grid over batch size x learning rate on dev, then the best with N seeds")
    _add_finetune_options(p)
    p.add_argument("--batch-sizes", type=positive_ints, default="16,32",
                   help="comma-separated batch sizes (default 16,32)")
    p.add_argument("--lrs", type=positive_floats, default="2e-5,3e-5,5e-5",
                   help="comma-separated learning rates (default 2e-5,3e-5,5e-5)")
    p.add_argument("--seeds", type=positive_int, default=5,
                   help="re-train the best setting with this many seeds (default 5)")
    p.add_argument("--out", help="search folder (default RUNS_DIR/tune/<teacher>-<task>-<config hash>)")
    p.set_defaults(handler=tune, check=check_tune)

    p = teacher.add_parser("eval", help="metrics, seconds and it/s of a fine-tuned teacher run (or fine-tuned "
                           "model folder) on task splits")
    p.add_argument("run", help="teacher run folder (runs/teacher/<id>), or a fine-tuned model folder (HF "
                   "BertForSequenceClassification, Google run_classifier.py checkpoint) with --task")
    tasks.add_splits_option(p, "test", "the splits to evaluate, by name, comma-separated (default test)")
    p.add_argument("--task", help="task to evaluate on (default: the run's own task)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    tasks.add_task_options(p)
    p.add_argument("--batch-size", type=positive_int, default=32, help="inference batch size (default 32)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics (with report and confusion matrix) here")
    add_folder_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=evaluate, check=check_eval)

    p = teacher.add_parser("export", help="write a fine-tuned teacher run as a Hugging Face or Google folder")
    p.add_argument("run", help="teacher run folder (runs/teacher/<id>)")
    p.add_argument("--format", required=True, choices=("hf", "google"),
                   help="hf: BertForSequenceClassification folder (save_pretrained layout); google: run_classifier.py "
                   "checkpoint folder (bert_model.ckpt with output_weights/output_bias, bert_config.json, vocab.txt)")
    p.add_argument("out", help="folder to write (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")
    p.set_defaults(handler=export, check=check_export)


def add_folder_options(p) -> None:
    """Options for a fine-tuned model folder used as it is (not for a run, which has its own)."""
    p.add_argument("--label-order", metavar="NAMES",
                   help="model folder: the classifier's label names in output order, comma-separated (needed when "
                   "the folder does not name them, e.g. a Google checkpoint; wins over its id2label)")
    p.add_argument("--max-seq-len", type=seq_len,
                   help="model folder: tokens per row (default: its tokenizer_config.json model_max_length when below "
                   "the model's positions, else 128)")


def _add_finetune_options(p) -> None:
    p.add_argument("--teacher", required=True, help="minilm-l6, bert-base, bert-large, a preset (tiny, ...), or a "
                   "folder: Hugging Face BERT or Google checkpoint")
    p.add_argument("--task", required=True, help="task name, as for `distill data prepare`")
    tasks.add_task_options(p)
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--epochs", type=positive_int, help=with_default("epochs", FINETUNE, "epochs", "BERT uses 2-5"))
    p.add_argument("--max-seq-len", type=seq_len,
                   help=with_default("tokens per row incl. [CLS]/[SEP]", FINETUNE, "max_seq_len"))
    p.add_argument("--warmup", type=fraction_below_one,
                   help=with_default("fraction of steps of linear warm-up", FINETUNE, "warmup"))
    p.add_argument("--weight-decay", type=non_negative_float,
                   help=with_default("AdamW weight decay", FINETUNE, "weight_decay"))
    p.add_argument("--clip-norm", type=non_negative_float,
                   help=with_default("global gradient-norm clip, 0 = off", FINETUNE, "clip_norm"))
    p.add_argument("--dropout", type=fraction_below_one,
                   help=with_default("classifier-head dropout", FINETUNE, "dropout"))
    p.add_argument("--pooling", choices=("cls", "mean"),
                   help=with_default("what the classifier head reads: cls = BERT's pooled [CLS] vector, mean = the "
                                     "mean of the last layer over real tokens (what sentence embedders such as "
                                     "minilm-l6 were trained with)", FINETUNE, "pooling"))
    p.add_argument("--patience", type=positive_int,
                   help=with_default("early stop after this many epochs without gain", FINETUNE, "patience"))
    p.add_argument("--monitor",
                   choices=("dev_loss", "dev_accuracy", "dev_f1", "dev_f1_macro", "dev_f1_weighted", "dev_mcc",
                            "dev_primary"), help=with_default("what picks the best checkpoint", FINETUNE, "monitor"))
    p.add_argument("--seed", type=random_seed, help=with_default("random seed", FINETUNE, "seed"))
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def finetune_config(args, extra=()):
    """A FinetuneConfig from the options the user gave; the dataclass supplies the rest."""
    from teachers.finetune import FinetuneConfig

    return FinetuneConfig(**given(args, (*FINETUNE_OPTIONS, *extra)))


# ------------------------------------------------- checks before TensorFlow
def check_info(args) -> None:
    checks.teacher(args.name, args.checkpoint, args.random_init)


def check_finetune(args) -> None:
    checks.task(tasks.task_name(args), args.data_dir)
    checks.teacher(args.teacher, args.checkpoint)
    checks.output_folder(args.out, args.runs_dir, "teacher")
    checks.strategy(args.strategy)


def check_tune(args) -> None:
    checks.task(tasks.task_name(args), args.data_dir)
    checks.teacher(args.teacher, args.checkpoint)
    checks.output_folder(args.out, args.runs_dir, "tune")


def check_eval(args) -> None:
    """The run (or model) folder, the task (loaded here: it needs no TensorFlow), its labels and splits,
    the --json folder."""
    from pathlib import Path

    from distill.data import load_task

    name = tasks.task_name(args)
    checks.not_misplaced(args.run, "teacher eval", "teacher", model_folder=True)
    folder = checks.teacher_source(args.run, name, args.label_order, args.max_seq_len)
    info = None if folder else checks.run_folder(args.run, "teacher")
    task_name = tasks.task_name(args, info.task if info else None)
    checks.task(task_name, args.data_dir)
    if args.json:
        from distill.overwrite import check_regenerable, json_schema

        checks.writable(Path(args.json).expanduser().parent, "--json")
        check_regenerable(args.json, what="a teacher eval file", ours=json_schema(EVAL_SCHEMA.split("/")[0] + "/"),
                          option="--json")
    task = args.loaded_task = load_task(task_name, data_dir=args.data_dir)
    if info is not None:
        info.check_labels(task.name, task.label_names, args.run)
    else:
        checks.finetuned_folder(args.run, task, args.label_order)
    for split in tasks.split_names(args, "teacher eval"):
        if split not in task.splits:
            raise DistillError(f"task {task.name} has no split {split!r}; it has {', '.join(task.splits)}")


def check_export(args) -> None:
    from distill.overwrite import check_replaceable, has_json_kind
    from teachers.export import MARKER_FILE, MARKER_KIND

    checks.run_folder(args.run, "teacher", "teacher export")
    out = check_replaceable(args.out, what="a teacher export folder", ours=has_json_kind(MARKER_FILE, (MARKER_KIND,)),
                            overwrite=args.overwrite, inputs=(args.run,), option="OUT")
    checks.writable(out.parent, "output folder")


def teacher_run_id(args, task, config, extra=None) -> str:
    """The run folder id of `finetune`/`tune`: a folder teacher is named by its folder and hashed by its path."""
    from teachers.finetune import run_id
    from teachers.registry import is_folder, teacher_label

    checkpoint = args.teacher if is_folder(args.teacher) else args.checkpoint
    return run_id(teacher_label(args.teacher), task, config, checkpoint, extra=extra)


# ----------------------------------------------------------------- handlers
def info(args) -> None:
    from distill import api

    print(api.describe_teacher(args.name, checkpoint=args.checkpoint, random_init=args.random_init))


def finetune(args) -> None:
    from pathlib import Path

    from distill import api
    from distill.metrics import format_metrics_table

    placement = distribute.setup(args.strategy)   # first: multi-worker must exist before TensorFlow starts
    config = finetune_config(args, extra=("lr", "batch_size"))
    task = api.load_task(tasks.task_name(args), data_dir=args.data_dir)
    run_dir = Path(args.out) if args.out else Path(args.runs_dir) / "teacher" / teacher_run_id(args, task, config)
    api.finetune_teacher(task, args.teacher, run_dir, checkpoint=args.checkpoint, config=config,
                         overwrite=args.overwrite, progress=not args.no_progress, strategy=args.strategy, load=False)
    if placement.chief:
        from distill.runfiles import finished_results

        print(format_metrics_table(finished_results(run_dir, "teacher"), task.primary_metric))
    print(f"teacher run: {run_dir}" if placement.chief else
          f"worker {placement.rank}: done; the chief writes the teacher run {run_dir}")


def tune(args) -> None:
    from pathlib import Path

    from distill import api

    try:
        batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
        lrs = [float(x) for x in args.lrs.split(",") if x.strip()]
    except ValueError as exc:
        raise DistillError(f"--batch-sizes/--lrs: {exc}") from None
    task = api.load_task(tasks.task_name(args), data_dir=args.data_dir)
    tuner = api.tune_teacher(task, args.teacher, Path(args.out) if args.out else None, batch_sizes=batch_sizes,
                             lrs=lrs, seeds=args.seeds, checkpoint=args.checkpoint, config=finetune_config(args),
                             progress=not args.no_progress, runs_dir=args.runs_dir)
    print(f"tune results: {tuner.out_dir_ / 'tune_results.json'}")


def evaluate(args) -> None:
    import json

    from distill import api
    from distill.metrics import format_metrics_table
    from teachers.labels import parse_label_order

    task = getattr(args, "loaded_task", None)
    run = api.open_teacher(args.run, task, parse_label_order(args.label_order), args.max_seq_len)
    task = task or api.load_task(tasks.task_name(args, run.task_name), data_dir=args.data_dir)
    head = run.provenance_extra.get("head_labels")   # a model folder: its own head, no training here
    if head:
        print(f"note: {args.run} evaluated as it is (fine-tuned elsewhere; head outputs {', '.join(head)})",
              file=sys.stderr)
    elif not run.complete:
        print(f"note: {args.run} is an interrupted run; evaluating its best checkpoint so far", file=sys.stderr)
    run.info.check_labels(task.name, task.label_names, args.run)
    results = api.evaluate(run, task, tasks.split_names(args, "teacher eval"), batch_size=args.batch_size,
                           progress=not args.no_progress)
    print(format_metrics_table(results, task.primary_metric))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"schema": EVAL_SCHEMA, "run": str(args.run), "task": task.name, "results": results}, handle,
                      indent=2)


def export(args) -> None:
    from distill import api

    out = api.export_teacher(args.run, args.out, args.format, overwrite=args.overwrite)
    print(f"exported {args.run} as a {'Hugging Face' if args.format == 'hf' else 'Google'} folder: {out}")
