"""`distill report`."""

from __future__ import annotations

from distill.app.cli.types import positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="accuracy-vs-it/s tables and plots, training curves, from a runs folder")
    p.add_argument("runs_dir", metavar="RUNS_DIR", help="folder holding teacher/, student/, bench/ and materials")
    p.add_argument("--out", metavar="DIR", help="write everything here (default: images and report.json in "
                   "RUNS_DIR/report/, the entry point RUNS_DIR/report.md)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="bench batch size the table reports (default 32)")
    p.set_defaults(handler=report, check=check)


def check(args) -> None:
    """The runs folder exists and the report's folders can be written, before TensorFlow."""
    from pathlib import Path

    from distill.app.cli import checks

    checks.folder(args.runs_dir, "RUNS_DIR")
    checks.writable(args.out or Path(args.runs_dir) / "report", "--out" if args.out else "report folder")


def report(args) -> None:
    from distill import api

    api.report(args.runs_dir, args.out, batch_size=args.batch_size)
