"""`distill run`: the whole pipeline. Its defaults (students' patience included) are PipelineConfig's."""

from __future__ import annotations

from distill.app.cli.defaults import PIPELINE, given, with_default

RUN_OPTIONS = ("task", "teacher", "data_dir", "checkpoint", "augment", "seeds", "runs_dir")
"""Options of `distill run` that are PipelineConfig fields of the same name."""


def register(subparsers) -> None:
    from distill.app.pipeline import STAGES

    p = subparsers.add_parser("run", help="the whole pipeline (data, teacher, materials, students, bench, report), "
                              "reusing finished stages")
    p.add_argument("--task", help=with_default("task", PIPELINE, "task"))
    p.add_argument("--teacher", help=with_default("teacher to fine-tune", PIPELINE, "teacher"))
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    p.add_argument("--checkpoint", help="Google BERT checkpoint directory (bert-base, bert-large)")
    p.add_argument("--augment", type=int,
                   help=with_default("variants per training sentence", PIPELINE, "augment", "fewer with --quick"))
    p.add_argument("--seeds", type=int, help=with_default("seeds per student loss", PIPELINE, "seeds",
                                                          "fewer with --quick"))
    p.add_argument("--runs-dir", help=with_default("where stage folders and report.md go", PIPELINE, "runs_dir"))
    p.add_argument("--force", action="append", default=[], choices=STAGES, metavar="STAGE",
                   help=f"redo this stage even if finished (repeatable): {', '.join(STAGES)}")
    p.add_argument("--quick", action="store_true", help="a reduced smoke run (minutes), under RUNS_DIR/quick")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def pipeline_config(args):
    """A PipelineConfig (or its quick variant) from the options the user gave; the dataclass supplies the rest."""
    from distill.app.pipeline import PipelineConfig

    options = {**given(args, RUN_OPTIONS), "force": tuple(args.force)}
    return PipelineConfig.quick_config(**options) if args.quick else PipelineConfig(**options)


def run(args) -> None:
    from distill.app.pipeline import run as run_pipeline

    run_pipeline(config=pipeline_config(args), progress=not args.no_progress)
