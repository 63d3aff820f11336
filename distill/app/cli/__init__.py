"""The `distill` command: parses arguments, then calls the packages.

Kept thin on purpose: one module per command group (`data`, `tokenizer`,
`teacher`, `materials`, `student`, `predict`, `explain`, `bench`, `report`,
`run`), each with a `register(subparsers)` and its handlers. Every handler
imports its package lazily (so `distill --help` does not pay for importing
TensorFlow) and holds no logic beyond turning arguments into a call. Option
defaults come from the config dataclasses (`distill.app.cli.defaults`), never
restated here. A command may also register `check=`: cheap argument checks
(names, files, writable folders: `distill.app.cli.checks`) run before
TensorFlow is imported, so a mistake is reported at once, not after ~5 s of
imports or an hour of work. A `DistillError` becomes one line on stderr and
exit status 2. Every parser is a `distill.app.cli.parsing.Parser`: option
prefixes are never guessed, and a mistyped option or command is one line with
the closest known one.
"""

from __future__ import annotations

import os
import re
import sys

from distill.app.cli import bench, data, explain, materials, predict, report, run, student, teacher, tokenizer
from distill.app.cli.parsing import Parser
from distill.api import PREDICTORS, load_predictor  # noqa: F401  (the public names of the old module)
from distill.errors import DistillError

COMMAND_GROUPS = (data, tokenizer, teacher, predict, explain, materials, student, bench, run, report)
"""In the order `distill --help` lists them."""


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
    from distill.quiet import filtered_stderr

    with filtered_stderr(_TF_IMPORT_NOISE):
        import tensorflow  # noqa: F401


def build_parser() -> Parser:
    parser = Parser(
        prog="distill",
        description="Distil fine-tuned BERT teachers into fast CNN students.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        check = getattr(args, "check", None)
        if check is not None:
            check(args)          # before TensorFlow: a bad argument costs no import
        if getattr(args, "needs_tensorflow", True):
            _import_tensorflow_quietly()
        args.handler(args)
    except DistillError as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("distill: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`distill predict ... | head -1`): stop quietly, as a
        # process killed by SIGPIPE would, and keep Python's exit flush from failing again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):   # stdout is not a real file (embedded, captured)
            pass
        return 141
    except OSError as exc:   # the file system said no: name the path, no traceback
        print(f"distill: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    return 0


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the path(s) and what the system said."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    what = exc.strerror or str(exc)
    return f"{paths}: {what}" if paths else what


if __name__ == "__main__":
    sys.exit(main())
