"""`csv:FILE`, `parquet:FILE`, `jsonl:FILE` — one file of your data, split here.

The usual start: a single table with a text column and a string label column
(book blurbs with genre names), no split of its own. Its rows are read and
checked as any table's (`table.read_records`: missing column, empty text,
empty or NaN label, each named by file, line or row and column), the labels
become ids (`table.label_maps`: sorted, integers numerically; taken from the
whole file, so every label has an id), and the rows are split by
`splits.split_rows` with the task name's `split`, `seed` and `group` options
(`spec`: `csv:books.csv?split=80/10/10&seed=0&group=author`).

The split is a pure function of the file's content and the name: the same
file and name give the same rows on every call and every machine. Rows keep
their file order inside each split, and the `Task` carries the source row
numbers of each split (`Task.split_rows`, 0-based, counting data records:
the first record after a CSV header is row 0) whose fingerprint is part of
`Task.sha256`, the hash that teacher runs and materials files record. A file
with only one label is an error, as for every reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.data.dataset import Dataset, Task
from distill.data.spec import TaskSpec
from distill.data.splits import split_rows
from distill.data.table import label_maps, read_records
from distill.errors import DistillError


def load_single_file(spec: TaskSpec) -> Task:
    """The task of a resolved single-FILE spec (`spec.is_file`)."""
    group_column = spec.column("group")
    records = read_records(spec.reader, Path(spec.path).expanduser(), spec.column("text"), spec.column("text_b"),
                           spec.column("label"), group_column)
    label2id, id2label = label_maps(records.labels)
    if len(id2label) < 2:
        raise DistillError(f"{records.name}: only one label ({id2label[0]!r} on all {len(records.labels):,} rows); "
                           "a classifier needs at least 2 distinct labels")
    labels = np.asarray([label2id[label] for label in records.labels], dtype=np.int32)
    rows = split_rows(labels, spec.shares, spec.seed, records.groups, label_names=id2label, where=records.name,
                      group_column=group_column)
    name = spec.name
    splits = {}
    for split, take in rows.items():
        splits[split] = Dataset(
            texts=[records.texts[i] for i in take],
            labels=labels[take],
            label_names=list(id2label),
            split=split,
            source_id=name,
            texts_b=[records.texts_b[i] for i in take] if records.texts_b is not None else None,
            groups=[records.groups[i] for i in take] if records.groups is not None else None,
        )
    return Task(name, splits, list(id2label), is_pair=records.texts_b is not None, split_rows=rows)
