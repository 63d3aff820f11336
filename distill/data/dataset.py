"""The typed objects every dataset reader returns.

One `Dataset` is one split of one task; a `Task` holds the splits plus what is
true of all of them (label names, whether inputs are sentence pairs, which
metric ranks models). Readers build these; nothing downstream ever sees a raw
file row.

A task split here from one file (`csv:FILE?split=...`) also carries
`split_rows`: per split, the source row numbers it took. Their fingerprint
(`split_sha256`) is part of `Task.sha256`, which teacher runs and materials
files record as the data's provenance, so a later stage can tell that it sees
the very same split, and a changed split changes every stage hash after it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

UNKNOWN_LABEL = -1
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Dataset:
    """One split: texts (and second texts for pairs) with integer labels.

    `labels` is int32 with `UNKNOWN_LABEL` (-1) where the gold label is not
    known (an unlabeled test split). `sha256` fingerprints the content so
    downstream stages can tell when their input changed.
    """

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    split: str
    source_id: str
    texts_b: list[str] | None = None
    groups: list[str] | None = field(default=None, compare=False)
    sha256: str = ""

    def __post_init__(self):
        labels = np.asarray(self.labels, dtype=np.int32)
        object.__setattr__(self, "labels", labels)
        if len(labels) != len(self.texts):
            raise ValueError(f"{self.split}: {len(self.texts)} texts but {len(labels)} labels")
        if self.texts_b is not None and len(self.texts_b) != len(self.texts):
            raise ValueError(f"{self.split}: {len(self.texts)} texts but {len(self.texts_b)} second texts")
        if not self.sha256:
            object.__setattr__(self, "sha256", content_sha256(self.texts, self.texts_b, labels))

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_pair(self) -> bool:
        return self.texts_b is not None

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool(np.all(self.labels != UNKNOWN_LABEL))


@dataclass(frozen=True)
class Task:
    """A classification task: named splits sharing one label set.

    `split_rows` (tasks split here from one file, else None): split name ->
    the 0-based source row numbers of its rows, in the order of its rows.
    """

    name: str
    splits: dict[str, Dataset]
    label_names: list[str]
    is_pair: bool = False
    primary_metric: str = "accuracy"
    split_rows: dict[str, np.ndarray] | None = field(default=None, compare=False)

    @property
    def split_sha256(self) -> str | None:
        """Fingerprint of `split_rows` (None when the task's splits are its files' own)."""
        return None if self.split_rows is None else rows_sha256(self.split_rows)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps([self.name, self.label_names, self.is_pair]).encode())
        for name in sorted(self.splits):
            digest.update(name.encode() + self.splits[name].sha256.encode())
        if self.split_rows is not None:   # only then: the hash of every other task stays as it was
            digest.update(b"split_rows" + self.split_sha256.encode())
        return digest.hexdigest()

    def __getitem__(self, split: str) -> Dataset:
        return self.splits[split]


def content_sha256(texts, texts_b, labels) -> str:
    """Order-sensitive fingerprint of a split's texts and labels."""
    digest = hashlib.sha256()
    for i, text in enumerate(texts):
        digest.update(text.encode("utf-8") + b"\x1f")
        if texts_b is not None:
            digest.update(texts_b[i].encode("utf-8") + b"\x1f")
        digest.update(str(int(labels[i])).encode() + b"\x1e")
    return digest.hexdigest()


def rows_sha256(split_rows: dict) -> str:
    """Fingerprint of {split: source row numbers}: split names sorted, rows in their order."""
    digest = hashlib.sha256()
    for name in sorted(split_rows):
        digest.update(f"{name}:{','.join(str(int(r)) for r in split_rows[name])}\n".encode())
    return digest.hexdigest()
