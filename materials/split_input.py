"""Where one split's texts come from, as materials generation reads them.

Owns `Rows` (a block of consecutive input rows), the `SplitInput` protocol
(a named, resumable stream of such blocks) and `DatasetInput` (a
`distill.data` split as one). It is its own module so that the producers of
inputs (`materials.augment.TransferInput`) and their consumer
(`materials.generate`) both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from distill.data.dataset import Dataset


@dataclass
class Rows:
    """A block of consecutive input rows: texts (and second texts for pairs) and gold labels (-1 unknown)."""

    texts: list[str]
    texts_b: list[str] | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


class SplitInput(Protocol):
    """Where one split's texts come from.

    `source` is a JSON-able description stored as the split's `source`
    attribute and compared on resume, so a resumed split continues the same
    stream. `windows(start, size)` yields consecutive blocks of at most `size`
    rows beginning at row `start`, the same rows every time it is called; the
    stream ends when the input does (its length need not be known ahead).
    """

    name: str
    source: dict
    is_pair: bool

    def windows(self, start: int, size: int) -> Iterator[Rows]: ...


class DatasetInput:
    """A `distill.data.Dataset` split as a `SplitInput`."""

    def __init__(self, dataset: Dataset, name: str | None = None):
        self.dataset = dataset
        self.name = name or dataset.split
        self.is_pair = dataset.is_pair
        self.source = {"kind": "dataset", "split": dataset.split, "source_id": dataset.source_id,
                       "sha256": dataset.sha256, "rows": len(dataset)}

    def windows(self, start: int, size: int) -> Iterator[Rows]:
        d = self.dataset
        for lo in range(start, len(d), size):
            hi = min(len(d), lo + size)
            yield Rows(list(d.texts[lo:hi]), None if d.texts_b is None else list(d.texts_b[lo:hi]),
                       np.asarray(d.labels[lo:hi], dtype=np.int32))
