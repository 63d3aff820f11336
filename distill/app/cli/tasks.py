"""The task options every command that takes a task shares, folded into one task name.

Every stage loads its task by name and records that name, so the options
that change the data (`--split`, `--split-seed`, `--group-column`, and the
column options) are not passed beside the name but written into it:
`--task csv:books.csv --split 80/10/10 --label-column genre` is the task
`csv:books.csv?split=80/10/10&seed=0&label=genre` (`distill.data.spec` has
the grammar; `task_spec` spells it). The name given that way directly works
the same. `add_task_options` adds the options to a command, `task_name`
reads them back as the one name.

Across every command, `--split` means the percentages of one FILE's split
(this option) and `--splits` the names of the splits a command reads
(`add_splits_option`: `teacher eval`, `materials generate`, `bench`,
`explain`). `teacher eval` and `bench` once took split names as `--split`;
such a value (`--split test`) is now one line saying to use `--splits test`.
"""

from __future__ import annotations

from distill.app.cli.types import random_seed
from distill.errors import DistillError

DESTS = {"split": "task_split", "seed": "split_seed", "group": "group_column", "text": "text_column",
         "text_b": "text_b_column", "label": "label_column"}
"""Key of the task name's option -> argparse dest."""
SPLIT_METAVAR = "TRAIN/DEV[/TEST]"
"""How `--split` shows its value (percentages) in every command's help."""
SPLITS_DEST = "splits"
"""The argparse dest of `--splits` (split names) in every command that has it."""


def add_task_options(parser) -> None:
    """--split, --split-seed, --group-column, --text-column, --text-b-column, --label-column: all default
    None (not given), so a name's own options stand."""
    group = parser.add_argument_group("task options", "csv:, parquet:, jsonl: tasks; they become part of the task "
                                      "name (csv:FILE?split=80/10/10&seed=0&group=COL&text=COL&label=COL)")
    group.add_argument("--split", dest=DESTS["split"], metavar=SPLIT_METAVAR,
                       help="split one FILE into train/dev/test percentages, e.g. 80/10/10, or 80/20 for "
                            "train/dev (default 80/10/10), stratified by label")
    group.add_argument("--split-seed", dest=DESTS["seed"], type=random_seed, metavar="N",
                       help="random seed of a FILE's split (default 0)")
    group.add_argument("--group-column", dest=DESTS["group"], metavar="COL",
                       help="split a FILE by this column's values: no value in two splits")
    group.add_argument("--text-column", dest=DESTS["text"], metavar="COL", help="column (JSONL: key) of the text "
                       "(default text)")
    group.add_argument("--text-b-column", dest=DESTS["text_b"], metavar="COL",
                       help="second text column, for sentence pairs (default none)")
    group.add_argument("--label-column", dest=DESTS["label"], metavar="COL", help="column of the label "
                       "(default label)")


def add_splits_option(parser, default: str, help: str, one: bool = False) -> None:
    """--splits: the names of the splits a command reads, comma-separated (`one`: the command reads one;
    `split_names(args, command, one=True)` then refuses more)."""
    parser.add_argument("--splits", dest=SPLITS_DEST, default=default, metavar="NAME" if one else "NAME[,NAME...]",
                        help=help)


def split_names(args, command: str, one: bool = False) -> list[str]:
    """The names of `--splits`, checked: at least one, and exactly one where the command reads one split."""
    names = [name.strip() for name in str(getattr(args, SPLITS_DEST)).split(",") if name.strip()]
    if not names:
        raise DistillError(f"--splits {getattr(args, SPLITS_DEST)!r}: give a split name (e.g. --splits test)")
    if one and len(names) != 1:
        raise DistillError(f"--splits {','.join(names)}: {command} reads one split; give one name "
                           f"(e.g. --splits {names[0]})")
    return names


def _looks_like_names(value: str) -> bool:
    """A --split value that is split names (test, dev,test), not percentages (80/10/10)."""
    return not any(c.isdigit() or c == "/" for c in value)


def check_split(args) -> None:
    """A split NAME given as --split (the percentages) where the command reads named splits: one line
    saying to use --splits. (`teacher eval` and `bench` used to take names as --split.)"""
    value = getattr(args, DESTS["split"], None)
    if value is not None and hasattr(args, SPLITS_DEST) and _looks_like_names(value):
        raise DistillError(f"--split {value}: --split is a FILE's split percentages (e.g. 80/10/10); to name the "
                           f"splits to read, use --splits {value}")


def given_options(args) -> dict:
    """{key: value} of the task options the user gave."""
    return {key: getattr(args, dest) for key, dest in DESTS.items() if getattr(args, dest, None) is not None}


def task_name(args, default: str | None = None) -> str | None:
    """The canonical task name: `args.task` (else `default`) with the task options added; None when neither
    a name nor an option is given. Idempotent: checks and handlers may both call it."""
    from distill.data.registry import task_spec
    from distill.data.spec import FLAGS

    check_split(args)
    name = getattr(args, "task", None) or default
    options = given_options(args)
    if name is None:
        if options:
            raise DistillError(f"{', '.join(FLAGS[k] for k in options)}: give the task too (--task NAME)")
        return None
    return task_spec(name, data_dir=getattr(args, "data_dir", None), **options)
