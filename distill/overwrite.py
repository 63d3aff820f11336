"""The one rule for writing where something already is: replace only what distill wrote itself.

Every command that writes to a path the user names (an export folder, a
materials file, a run folder, a tokenizer folder, a report, an HTML page, a
bench file) asks here first, before any work. What is there may be replaced
only when it is an output of the same kind that distill itself wrote,
recognised by its own marker (an export's `export.json`, a materials file's
schema, a run's `run.json`, a page's generator line), and, for outputs that
are not simply regenerated, only with `--overwrite`. A user's own folder or
file is never replaced, `--overwrite` or not, and neither is a folder that
holds one of the command's inputs (the run being exported, the shards being
merged), since replacing it would delete the input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from distill.errors import DistillError
from distill.runfiles import read_json_or_none

Recogniser = Callable[[Path], bool]


def check_replaceable(path: str | os.PathLike, *, what: str, ours: Recogniser, overwrite: bool,
                      inputs: Iterable[str | os.PathLike] = (), option: str = "--out") -> Path:
    """`path` may be written: absent, an empty folder, or `what` of ours (`ours(path)`) with `overwrite`.

    `what` names the output in messages ("an export folder"); `inputs` are
    paths the command reads, which `path` must neither be nor hold. Raises one
    line naming `option` and the path; returns the path."""
    path = Path(path).expanduser()
    _check_not_an_input(path, inputs, option)
    if not path.exists() and not path.is_symlink():
        return path
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return path
    if not ours(path):
        kind = "folder" if path.is_dir() else "file"
        raise DistillError(f"{option} {path}: a {kind} that is not {what} written by distill; it is never "
                           "replaced (not even with --overwrite); choose another path")
    if not overwrite:
        raise DistillError(f"{option} {path}: {what} is already there; pass --overwrite to replace it, "
                           "or choose another path")
    return path


def check_regenerable(path: str | os.PathLike, *, what: str, ours: Recogniser, option: str) -> Path:
    """A file distill writes again on every run (a report page, an HTML page, bench.json): replaced
    when it is ours, never when it is someone else's; a folder in its place is refused."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DistillError(f"{option} {path}: is a folder; give the path of {what} to write")
    if path.exists() and not ours(path):
        raise DistillError(f"{option} {path}: a file that is not {what} written by distill; it is not "
                           "replaced; choose another path")
    return path


def _check_not_an_input(path: Path, inputs: Iterable[str | os.PathLike], option: str) -> None:
    target = path.resolve()
    for source in inputs:
        source = Path(source).expanduser().resolve()
        if target == source or target in source.parents:
            raise DistillError(f"{option} {path}: {'is' if target == source else 'holds'} {source}, which this "
                               "command reads; writing there would destroy it; choose another path")


# ------------------------------------------------------------ recognisers
def has_json_kind(name: str, kinds: Iterable[str]) -> Recogniser:
    """A folder holding the JSON file `name` whose "kind" is one of `kinds` (export.json, run.json, ...)."""
    kinds = tuple(kinds)

    def recognise(path: Path) -> bool:
        return path.is_dir() and json_kind(path / name) in kinds
    return recognise


def json_kind(path: Path) -> str | None:
    """The "kind" of a JSON object file, or None when it is no such file."""
    value = read_json_or_none(path)
    return value.get("kind") if isinstance(value, dict) else None


def json_schema(prefix: str) -> Recogniser:
    """A JSON object file whose "schema" starts with `prefix` (report.json, bench.json)."""

    def recognise(path: Path) -> bool:
        value = read_json_or_none(path)
        return isinstance(value, dict) and str(value.get("schema", "")).startswith(prefix)
    return recognise


def starts_with(prefix: str, limit: int = 4096) -> Recogniser:
    """A text file whose first `limit` characters contain `prefix` at the start of a line (a page's own
    title or generator line)."""

    def recognise(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8") as handle:
                head = handle.read(limit)
        except (OSError, UnicodeDecodeError):
            return False
        return head.startswith(prefix) or f"\n{prefix}" in head
    return recognise
