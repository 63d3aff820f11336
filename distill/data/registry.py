"""`load_task(name)`: one entry point from a task name to a `Task`; `task_spec(...)` to spell the name.

Names are either built-in (`rt-polarity`, `glue/sst2`, `glue/cola`,
`glue/mrpc`, `synthetic`, `synthetic-pair`) or a reader plus a path and
options (`tsv:DIR`, `csv:DIR`, `csv:FILE?split=80/10/10&seed=0`, the same
for `parquet:` and `jsonl:`; the grammar is `spec`'s). For a reader, the path
may be left empty (`tsv:`) and given as `data_dir` instead. Everything
downstream takes a task name and calls this, so a new reader becomes usable
everywhere by adding one branch here, and every option that changes the data
(columns, how one file is split) travels in the name: `task_spec` adds
command-line options to a name, canonically, and `Task.name` is that
canonical name, which run folders and materials files record.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.data.dataset import Task
from distill.data.spec import BUILTIN, KNOWN_NAMES, READERS, TaskSpec, parse_task_name
from distill.errors import DistillError

__all__ = ["BUILTIN", "KNOWN_NAMES", "READERS", "load_task", "task_spec", "check_task"]


def task_spec(name: str, *, split: str | None = None, seed: int | None = None, group: str | None = None,
              text: str | None = None, text_b: str | None = None, label: str | None = None,
              data_dir: str | os.PathLike | None = None) -> str:
    """The canonical name of task `name` with these options added (None: not given).

    `task_spec("csv:books.csv", split="80/10/10", group="author", label="genre")` is
    `csv:books.csv?split=80/10/10&seed=0&group=author&label=genre` (seed and split get their defaults when
    the path is a file). An option both in `name` and here must agree. Reads no data: only whether the path
    is a file or a folder.
    """
    spec = _spec(name, dict(split=split, seed=seed, group=group, text=text, text_b=text_b, label=label))
    if spec.reader is not None and (spec.path or data_dir is not None):
        spec = spec.resolved(data_dir)
    return spec.name


def check_task(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """A task name `load_task` can read (its data is not read): known, options valid, its path there."""
    spec = parse_task_name(name)
    if spec.reader is None or not (spec.path or data_dir is not None):
        return
    spec = spec.resolved(data_dir)
    local = Path(spec.path).expanduser()
    if spec.reader == "tsv" and not local.is_dir():
        raise DistillError(f"{spec.path}: no such folder (task {spec.name})")
    if not local.exists():
        raise DistillError(f"{spec.path}: no such file or folder (task {spec.name})")


def load_task(name: str, data_dir: str | os.PathLike | None = None, text_column: str | None = None,
              text_b_column: str | None = None, label_column: str | None = None) -> Task:
    """Load, clean and split the named task.

    `data_dir`: local files for rt-polarity and GLUE (offline use), or the
    file or folder of a `tsv:`/`csv:`/`parquet:`/`jsonl:` name given without
    a path. The column arguments are the `text=`, `text_b=` and `label=`
    options of the name (csv, parquet, jsonl only).
    """
    spec = _spec(name, dict(text=text_column, text_b=text_b_column, label=label_column)).resolved(data_dir)
    if spec.reader is None:
        return _builtin(spec.path, data_dir)
    if spec.reader == "tsv":
        from distill.data.tsv_dir import load_tsv_dir

        return load_tsv_dir(spec.path)
    if spec.is_file:
        from distill.data.single_file import load_single_file

        return load_single_file(spec)
    from distill.data.table import load_table_dir

    if not Path(spec.path).expanduser().exists():
        raise DistillError(f"{spec.path}: no such file or folder (task {spec.name}: {spec.reader}:FILE is one file "
                           f"to split, {spec.reader}:DIR a folder of train/dev[/test].{spec.reader} files)")
    return load_table_dir(spec.reader, Path(spec.path).expanduser(), text_column=spec.column("text"),
                          text_b_column=spec.column("text_b"), label_column=spec.column("label"), name=spec.name)


def _spec(name: str, given: dict) -> TaskSpec:
    return parse_task_name(name).merged(given)


def _builtin(name: str, data_dir) -> Task:
    if name == "rt-polarity":
        from distill.data.rt_polarity import load_rt_polarity

        return load_rt_polarity(data_dir)
    if name.startswith("glue/"):
        from distill.data.glue import load_glue

        return load_glue(name, data_dir)
    from distill.data.synthetic import marker_task

    return marker_task(pair=name == "synthetic-pair")
