"""`csv:DIR`, `parquet:DIR` and `jsonl:DIR` — your own data as tables with named columns.

Convention (one, on purpose): DIR holds `train.<ext>`, `dev.<ext>` and
optionally `test.<ext>`, where `<ext>` is `csv`, `parquet` or `jsonl`.
Columns are chosen by name (`text_column`, optional `text_b_column` for
sentence pairs, `label_column`). CSV files are UTF-8 with a header row and
standard quoting; JSON Lines files are read by `jsonl` (one object a line,
columns are its keys). `read_records` reads one such file, and is what
`single_file` reads a whole task from (`csv:FILE`, split there).

Labels may be any strings ("pos", "neg", "3"). The label set is taken from
the training split and sorted (numerically when every label is an integer,
else as strings), so the same data always gives the same label ids;
`label_maps(labels)` returns `(label2id, id2label)`. A dev or test label that
train does not have is an error naming the file, row and label: a model
trained on train can never predict it. Empty or blank texts and labels, a
label that is a missing value (parquet null or NaN, or a CSV cell such as
`nan`, `None`, `NULL`), and a train split with fewer than two distinct labels
are errors too, naming the file, row and column; so is a column name that a
CSV header or a parquet schema gives twice (which one a name means would be a
guess), naming both positions. A parquet label column of
floats (as pandas writes integer labels once a NaN has been in the column)
names its whole numbers as integers: labels "0", "1", not "0.0", "1.0".

Rows are named like an editor would: CSV and JSONL by line (a quoted CSV
record spanning several lines is named by its first line), parquet by 1-based
row number. A group column (`group_column`, for grouped splits of one file)
is checked like a label: every row needs one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from distill.data.dataset import Dataset, Task
from distill.data.delimited import (check_unique_columns, read_bytes, read_table, require_label, require_text,
                                    require_two_labels)
from distill.errors import DistillError

FORMATS = ("csv", "parquet", "jsonl")
SPLITS = ("train", "dev", "test")
OPTIONAL = {"test"}
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Records:
    """The rows of one split file, before labels become ids."""

    name: str            # the file, for messages
    where: list[str]     # "line 7" / "row 7", one per record
    texts: list[str]
    texts_b: list[str] | None
    labels: list[str]
    groups: list[str] | None = None


def label_maps(labels) -> tuple[dict[str, int], list[str]]:
    """`(label2id, id2label)` from the distinct labels: sorted, integers numerically."""
    distinct = set(labels)
    if all(_INTEGER.fullmatch(v) for v in distinct):
        id2label = sorted(distinct, key=int)
    else:
        id2label = sorted(distinct)
    return {label: i for i, label in enumerate(id2label)}, id2label


def load_table_dir(fmt: str, directory: str | os.PathLike, text_column: str = "text",
                   text_b_column: str | None = None, label_column: str = "label",
                   name: str | None = None) -> Task:
    if fmt not in FORMATS:
        raise DistillError(f"unknown table format {fmt!r}; known: {', '.join(FORMATS)}")
    folder = Path(directory)
    if not folder.is_dir():
        raise DistillError(f"{folder}: not a directory; {fmt}:DIR needs a folder with train.{fmt}, "
                           f"dev.{fmt} and optionally test.{fmt}")
    records = {}
    for split in SPLITS:
        path = folder / f"{split}.{fmt}"
        if split in OPTIONAL and not path.exists():
            continue
        records[split] = read_records(fmt, path, text_column, text_b_column, label_column)

    require_two_labels(records["train"].labels, records["train"].name)
    label2id, id2label = label_maps(records["train"].labels)
    task_name = name or f"{fmt}:{folder}"
    splits = {}
    for split, rec in records.items():
        ids = []
        for where, label in zip(rec.where, rec.labels):
            if label not in label2id:
                raise DistillError(f"{rec.name}, {where}: label {label!r} does not occur in train "
                                   f"(train labels: {', '.join(id2label)})")
            ids.append(label2id[label])
        splits[split] = Dataset(rec.texts, ids, list(id2label), split, task_name, texts_b=rec.texts_b)
    return Task(task_name, splits, list(id2label), is_pair=text_b_column is not None)


def read_records(fmt: str, path: str | os.PathLike, text_column: str = "text", text_b_column: str | None = None,
                 label_column: str = "label", group_column: str | None = None) -> Records:
    """The checked rows of one `fmt` file (csv, parquet, jsonl), labels still strings."""
    if fmt == "jsonl":
        from distill.data.jsonl import read_jsonl

        return read_jsonl(Path(path), text_column, text_b_column, label_column, group_column)
    read = _read_csv if fmt == "csv" else _read_parquet
    return read(Path(path), text_column, text_b_column, label_column, group_column)


def _read_csv(path: Path, text_column: str, text_b_column: str | None, label_column: str,
              group_column: str | None = None) -> Records:
    table = read_table(read_bytes(path), str(path), delimiter=",", quoted=True).require_rows()
    columns = {key: table.column(col) for key, col in
               (("text", text_column), ("text_b", text_b_column), ("label", label_column), ("group", group_column))
               if col}
    values = {key: [r.fields[i] for r in table.rows] for key, i in columns.items()}
    where = [f"line {r.line}" for r in table.rows]
    return checked_records(str(path), where, values, text_column, text_b_column, label_column, group_column)


def _read_parquet(path: Path, text_column: str, text_b_column: str | None, label_column: str,
                  group_column: str | None = None) -> Records:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DistillError(f"{path}: no such file")
    try:
        check_unique_columns(pq.read_schema(path).names, str(path), what="its schema")   # before pyarrow trips on it
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DistillError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})") from None
    if table.num_rows == 0:
        raise DistillError(f"{path}: no rows (empty split)")
    values = {}
    for key, col in (("text", text_column), ("text_b", text_b_column), ("label", label_column),
                     ("group", group_column)):
        if not col:
            continue
        if col not in table.column_names:
            raise DistillError(f"{path}: no column {col!r} (columns: {', '.join(table.column_names)})")
        column = table.column(col)
        if key.startswith("text") and not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise DistillError(f"{path}: column {col!r} holds {column.type}, not text")
        values[key] = [None if v is None else str(v) for v in column.to_pylist()]
        if key in ("label", "group") and pa.types.is_floating(column.type):
            values[key] = whole_floats_as_ints(column.to_pylist(), values[key])
    where = [f"row {i + 1}" for i in range(table.num_rows)]
    return checked_records(str(path), where, values, text_column, text_b_column, label_column, group_column)


def whole_floats_as_ints(numbers, shown):
    """Float labels that are whole numbers shown as integers (1.0 -> "1"), value by value so that every
    file agrees; others (0.5, and NaN, which is refused later) keep their text."""
    import math

    return [str(int(v)) if v is not None and math.isfinite(v) and v == int(v) else s
            for v, s in zip(numbers, shown)]


def checked_records(name, where, values, text_column, text_b_column, label_column, group_column=None) -> Records:
    """Records from {"text", "text_b", "label", "group": values}: empty texts, labels and groups are errors."""
    for key, col in (("text", text_column), ("text_b", text_b_column)):
        for i, value in enumerate(values.get(key, ())):
            require_text(value, name, where[i], col)
    labels = [require_label(v, name, where[i], label_column) for i, v in enumerate(values["label"])]
    groups = None
    if group_column:
        groups = [require_label(v, name, where[i], group_column, what="group") for i, v in enumerate(values["group"])]
    return Records(name, where, values["text"], values.get("text_b"), labels, groups)
