"""`distill run`: the whole pipeline. Its defaults (students' patience included) are PipelineConfig's.

Its options are built from `distill.app.experiment.OPTIONS`, the table that
also reads `--config FILE` (TOML) and checks PipelineConfig, so a flag, its
key in the file and the field accept the same values. The file is read and
checked in `check`, before TensorFlow and before anything is written;
options typed on the command line override it, key by key.
"""

from __future__ import annotations

import argparse
import sys

from distill.app.cli import checks, tasks
from distill.app.cli.defaults import PIPELINE, default_of, with_default


def register(subparsers) -> None:
    from distill.app import experiment

    p = subparsers.add_parser(
        "run", help="the whole pipeline (data, teacher, materials, students, bench, report), reusing finished stages",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The whole pipeline, reusing finished stages. Every option, and the ones without a flag, can "
        "be\nset in a TOML file (--config FILE); options given here override it. Its tables and keys (flag):\n"
        f"{experiment.layout()}\nList keys are TOML lists (archs = [\"kim-cnn\", \"bilstm\"]); the task options "
        "become part of the\ntask's name; paths are relative to the working folder. --print-config writes a run's "
        "whole\nconfig in this format, and every run keeps it as experiment.toml in its runs folder.")
    for option in experiment.OPTIONS:
        if option.field is not None and option.flag is not None:
            _add(p, option)
        if option.name == "task.data_dir":
            tasks.add_task_options(p)   # the task options (folded into the task's name) after the task's own
    p.add_argument("--config", metavar="FILE", help="a TOML file with any of the options (tables and keys above)")
    p.add_argument("--print-config", action="store_true",
                   help="write the run's whole config (defaults, --config and options applied) as TOML and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run, check=check)


def _add(parser, option) -> None:
    """The flag of one row of the table: its type= is the row's check, its help shows the field's default."""
    default = default_of(PIPELINE, option.field)
    shown = not (default is None or default is False or default == ())
    kwargs = dict(dest=option.field, help=with_default(option.help, PIPELINE, option.field, option.note) if shown
                  else option.help)
    if option.kind == "boolean":
        kwargs["action"] = "store_true"
    else:
        kwargs.update(type=option.check, metavar=option.metavar)
        if option.each:
            kwargs.update(action="append", default=[])
        choices = getattr(option.check, "choices", None)
        if choices and not option.metavar:
            kwargs["metavar"] = "{" + ",".join(choices) + "}"
    parser.add_argument(option.flag, **kwargs)


def pipeline_config(args):
    """A PipelineConfig (or its quick variant) from the config file and the options the user gave (they win);
    the dataclass supplies the rest."""
    from distill.app.experiment import configure

    return configure(args)[0]


def check(args) -> None:
    """The config file and the options, then names, files and the runs folder: all before TensorFlow and
    before the data stage, and nothing written. `--print-config` needs no TensorFlow at all."""
    from distill.app.experiment import blamed, configure

    config, loaded, from_file = configure(args)
    if args.print_config:
        args.needs_tensorflow = False
        return
    with blamed(loaded, from_file):
        checks.task(config.task, config.data_dir)
        checks.writable(config.runs_dir, "--runs-dir")
        checks.cache()


def run(args) -> None:
    config = pipeline_config(args)
    if args.print_config:
        from distill.app.experiment import dumps

        sys.stdout.write(dumps(config))
        return
    from distill import api

    api.run(config, progress=not args.no_progress)
