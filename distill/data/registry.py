"""`load_task(name)`: one entry point from a task name to a `Task`.

Names are either built-in (`rt-polarity`, `glue/sst2`, `glue/cola`,
`glue/mrpc`, `synthetic`, `synthetic-pair`) or a reader plus a path
(`tsv:DIR`, `csv:DIR`, `parquet:DIR`). For a reader, the path may be left
empty (`tsv:`) and given as `data_dir` instead. Everything downstream takes a
task name and calls this, so a new reader becomes usable everywhere by adding
one branch here.
"""

from __future__ import annotations

import os

from distill.data.dataset import Task
from distill.errors import DistillError

BUILTIN = ("rt-polarity", "glue/sst2", "glue/cola", "glue/mrpc", "synthetic", "synthetic-pair")
READERS = ("tsv", "csv", "parquet")
KNOWN_NAMES = BUILTIN + tuple(f"{reader}:DIR" for reader in READERS)


def load_task(name: str, data_dir: str | os.PathLike | None = None, text_column: str = "text",
              text_b_column: str | None = None, label_column: str = "label") -> Task:
    """Load, clean and split the named task.

    `data_dir`: local files for rt-polarity and GLUE (offline use), or the
    folder of a `tsv:`/`csv:`/`parquet:` name given without a path. The column
    arguments apply to `csv:` and `parquet:` only.
    """
    if name == "rt-polarity":
        from distill.data.rt_polarity import load_rt_polarity

        return load_rt_polarity(data_dir)
    if name.startswith("glue/"):
        from distill.data.glue import TASKS, load_glue

        if name in TASKS:
            return load_glue(name, data_dir)
    if name in ("synthetic", "synthetic-pair"):
        from distill.data.synthetic import marker_task

        return marker_task(pair=name == "synthetic-pair")
    reader, sep, path = name.partition(":")
    if sep and reader in READERS:
        path = path or (os.fspath(data_dir) if data_dir is not None else "")
        if not path:
            raise DistillError(f"{reader}: needs a directory: {reader}:DIR (or --data-dir DIR)")
        if reader == "tsv":
            from distill.data.tsv_dir import load_tsv_dir

            return load_tsv_dir(path)
        from distill.data.table import load_table_dir

        return load_table_dir(reader, path, text_column=text_column, text_b_column=text_b_column,
                              label_column=label_column)
    raise DistillError(f"unknown task {name!r}; known: {', '.join(KNOWN_NAMES)}")
