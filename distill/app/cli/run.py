"""`distill run`: the whole pipeline. Its defaults (students' patience included) are PipelineConfig's."""

from __future__ import annotations

from distill.app.cli import checks, tasks
from distill.app.cli.defaults import PIPELINE, default_of, given, with_default
from distill.app.cli.types import non_negative_int, positive_int, words

RUN_OPTIONS = ("task", "teacher", "data_dir", "checkpoint", "augment", "seeds", "runs_dir", "label_order", "strategy",
               "no_augment_seeds", "teacher_pooling", "student_embedding", "transfer_epochs")
"""Options of `distill run` that are PipelineConfig fields of the same name."""


def register(subparsers) -> None:
    from distill.app.pipeline import STAGES

    p = subparsers.add_parser("run", help="the whole pipeline (data, teacher, materials, students, bench, report), "
                              "reusing finished stages")
    p.add_argument("--task", help=with_default("task", PIPELINE, "task"))
    p.add_argument("--teacher", help=with_default("teacher to fine-tune: a name, or a folder (Hugging Face BERT, "
                                                  "Google checkpoint); a folder with a fine-tuned classifier head is "
                                                  "used as it is, without fine-tuning", PIPELINE, "teacher"))
    p.add_argument("--label-order", metavar="NAMES",
                   help="a fine-tuned folder teacher: its classifier's label names in output order, comma-separated "
                   "(when the folder does not name them)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    tasks.add_task_options(p)
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--augment", type=non_negative_int,
                   help=with_default("variants per training sentence", PIPELINE, "augment", "fewer with --quick"))
    p.add_argument("--seeds", type=positive_int, help=with_default("seeds per student loss", PIPELINE, "seeds",
                                                          "fewer with --quick"))
    p.add_argument("--losses", type=words(("mse", "kl", "ce", "mix", "mix-mse")),
                   help=with_default("student losses, comma-separated; ce is the no-distillation baseline",
                                     PIPELINE, "losses"))
    p.add_argument("--no-augment-seeds", type=positive_int,
                   help=with_default("seeds of the mse student trained without the transfer split",
                                     PIPELINE, "no_augment_seeds"))
    p.add_argument("--transfer-epochs", type=positive_int,
                   help=with_default("passes over train + transfer split of each distilled student", PIPELINE,
                                     "transfer_epochs"))
    p.add_argument("--teacher-pooling", choices=("cls", "mean"),
                   help=with_default("what the teacher's classifier head reads (see `distill teacher finetune "
                                     "--help`)", PIPELINE, "teacher_pooling"))
    p.add_argument("--student-embedding", choices=("static", "non-static", "multichannel", "delta", "rand"),
                   help=with_default("the students' embedding mode (see `distill student train --help`)", PIPELINE,
                                     "student_embedding"))
    p.add_argument("--runs-dir", help=with_default("where stage folders and report.md go", PIPELINE, "runs_dir"))
    p.add_argument("--force", action="append", default=[], choices=STAGES, metavar="STAGE",
                   help=f"redo this stage even if finished (repeatable): {', '.join(STAGES)}")
    p.add_argument("--quick", action="store_true", help="a reduced smoke run (minutes), under RUNS_DIR/quick")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--strategy", choices=("auto", "one", "mirrored"),
                   help=with_default("where the teacher and students train: one device, mirrored (this host's GPUs), "
                                     "auto (mirrored when more than one GPU is visible, else one); several hosts "
                                     "train with `distill teacher finetune` / `distill student train "
                                     "--strategy multi-worker`", PIPELINE, "strategy"))
    p.set_defaults(handler=run, check=check)


def pipeline_config(args):
    """A PipelineConfig (or its quick variant) from the options the user gave; the dataclass supplies the rest."""
    from distill.app.pipeline import PipelineConfig

    options = {**given(args, RUN_OPTIONS), "force": tuple(args.force)}
    if args.losses:
        options["losses"] = tuple(args.losses)
    if name := tasks.task_name(args):   # --task with the task options folded into its name
        options["task"] = name
    return PipelineConfig.quick_config(**options) if args.quick else PipelineConfig(**options)


def check(args) -> None:
    """Names, files and the runs folder, before TensorFlow and before the data stage."""
    checks.task(tasks.task_name(args) or default_of(PIPELINE, "task"), args.data_dir)
    checks.teacher(args.teacher or default_of(PIPELINE, "teacher"), args.checkpoint)
    checks.writable(args.runs_dir or default_of(PIPELINE, "runs_dir"), "--runs-dir")
    checks.cache()
    checks.strategy(args.strategy or default_of(PIPELINE, "strategy"), one_host="distill run")


def run(args) -> None:
    from distill.app.pipeline import run as run_pipeline

    run_pipeline(config=pipeline_config(args), progress=not args.no_progress)
