"""`tsv:DIR` — a folder of `train.txt`, `dev.txt` and (optionally) `test.txt`.

Each file is tab-separated with a header line naming the two columns
`sentence` and `Label` (matched case-insensitively, in either order), the
format many sentence-classification repositories use. Labels are
non-negative integers; the label names are their decimal strings "0".."K-1",
where K-1 is the largest label in train. A dev/test label that train never
reaches is an error, because a model trained on train could never predict it;
so is a train split with fewer than two distinct labels, an empty or blank
sentence, and an empty label (each naming the file, line and column). Lines
of any length are read.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.data.dataset import Dataset, Task
from distill.data.delimited import Table, read_bytes, read_table, require_two_labels
from distill.data.delimited import parse_label as _parse_label
from distill.errors import DistillError

FILES = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
OPTIONAL = {"test"}


def load_tsv_dir(directory: str | os.PathLike) -> Task:
    folder = Path(directory)
    if not folder.is_dir():
        raise DistillError(f"{folder}: no such directory (tsv:DIR needs a folder with train.txt, dev.txt, test.txt)")
    parsed: dict[str, tuple[Table, list[str], list[int]]] = {}
    for split, filename in FILES.items():
        path = folder / filename
        if split in OPTIONAL and not path.exists():
            continue
        table = read_table(read_bytes(path), str(path)).require_rows()
        i_text, i_label = _column(table, "sentence"), _column(table, "label")
        labels = [_parse_label(r.fields[i_label], table.name, r.line, column=table.header[i_label])
                  for r in table.rows]
        for row, label in zip(table.rows, labels):
            if label < 0:
                raise DistillError(f"{table.name}, line {row.line}: label {label} is negative")
        parsed[split] = (table, table.texts(i_text), labels)

    train_table, _, train_labels = parsed["train"]
    require_two_labels(train_labels, train_table.name)
    n_labels = max(train_labels) + 1
    label_names = [str(i) for i in range(n_labels)]
    for split, (table, _, labels) in parsed.items():
        for row, label in zip(table.rows, labels):
            if label >= n_labels:
                raise DistillError(f"{table.name}, line {row.line}: label {label} never occurs in train "
                                   f"(train labels are 0..{n_labels - 1})")
    source_id = f"tsv:{folder}"
    splits = {split: Dataset(texts, labels, list(label_names), split, source_id)
              for split, (_, texts, labels) in parsed.items()}
    return Task(source_id, splits, label_names, is_pair=False)


def _column(table: Table, wanted: str) -> int:
    lowered = [c.lower() for c in table.header]
    if wanted not in lowered:
        raise DistillError(f"{table.name}, line 1: no column {wanted!r} in the header "
                           f"(columns: {', '.join(table.header)}; expected sentence<TAB>Label)")
    return lowered.index(wanted)
