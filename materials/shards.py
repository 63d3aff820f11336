"""Sharded generation: worker i of n writes a contiguous part of every split into its own file.

Owns `Shard` (which part, 1-based: `--shard 1/3` .. `3/3`, and its file,
`NAME.shard-i-of-n.h5` beside `NAME.h5`), `shard_range` (which rows of a
split that part is) and `ShardInput` (a split's input narrowed to those
rows, for `materials.generate`). `materials.merge` puts the parts together.

Why whole windows: generation labels a split window by window
(`window_rows`); within a window rows are sorted by length and each batch is
padded to its longest row, so the width a row is run at depends on which
rows share its window, and a BERT's logits move in the last bits with that
width (MiniLM-L6 here: 15 of 32 rows differ, by up to 4e-8, cut to their
longest row against padded to 64). Cutting splits at window boundaries makes
every shard label exactly the windows, and batches, an unsharded run labels,
so the merged file is the unsharded file bit for bit. Shard i of n takes
windows [(i-1)*W/n, i*W/n) of a split's W windows (rounded down), so shards
differ by at most one window, and a split of fewer windows than shards
leaves some shards with no rows of it.

Why the transfer split is cut on its output rows, not on the train sentences
that seed it: augmentation draws from one random stream and drops variants
equal to earlier ones across the whole split (`materials.augment`), so a
variant's text depends on every sentence before it. Regenerating that stream
is cheap (about 35,000 variants/s here, against a few hundred rows/s of
teacher inference), so every shard regenerates it from the start: once to
count its rows (which fixes the ranges and records the whole pass's
`augment_stats`, the same in every shard), then up to the end of its own
range, labelling only that. No change to augmentation was needed, and the
transfer split of a merge equals an unsharded run's including its dedupe.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from materials.schema import MaterialsError
from materials.split_input import DatasetInput, Rows, SplitInput

SHARD_NAME = re.compile(r"^(?P<stem>.+)\.shard-(?P<index>\d+)-of-(?P<count>\d+)(?P<suffix>\.[^.]*)?$")


@dataclass(frozen=True)
class Shard:
    """Part `index` (1-based) of `count`."""

    index: int
    count: int

    def __post_init__(self):
        if not (isinstance(self.index, int) and isinstance(self.count, int) and 1 <= self.index <= self.count):
            raise MaterialsError(f"shard {self.index}/{self.count}: needs 1 <= i <= n (shards are numbered "
                                 f"1/n .. n/n)")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """`"2/3"` -> Shard(2, 3)."""
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not found:
            raise MaterialsError(f"shard {text}: expected I/N, e.g. 1/3 (shards are numbered 1/N .. N/N)")
        return cls(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def path(self, out) -> Path:
        """The shard's file beside the merged one: `NAME.h5` -> `NAME.shard-i-of-n.h5`."""
        out = Path(out)
        return out.with_name(f"{out.stem}.shard-{self.index}-of-{self.count}{out.suffix}")

    def attrs(self, window_rows: int) -> dict:
        """What the shard file records of itself (the root attribute `shard`)."""
        return {"index": self.index, "count": self.count, "window_rows": int(window_rows)}

    def range(self, total: int, window_rows: int) -> tuple[int, int]:
        return shard_range(self.index, self.count, total, window_rows)


def shard_range(index: int, count: int, total: int, window_rows: int) -> tuple[int, int]:
    """Rows [start, stop) of a `total`-row split that shard `index` of `count` labels: whole windows."""
    windows = -(-int(total) // int(window_rows))
    first, last = (index - 1) * windows // count, index * windows // count
    return min(total, first * window_rows), min(total, last * window_rows)


def merged_path(path) -> Path | None:
    """`NAME.shard-i-of-n.h5` -> `NAME.h5`; None for a name that is not a shard's."""
    found = SHARD_NAME.match(Path(path).name)
    return Path(path).with_name(found["stem"] + (found["suffix"] or "")) if found else None


class ShardInput:
    """A `SplitInput` narrowed to one shard's rows, read in the windows that fix them.

    `range` ({start, stop, total}) is measured on first use: from the
    dataset's length, or, for a stream of unknown length (augmentation), by
    one pass over the stream without the teacher (with a progress bar), whose
    `stats` it keeps: those of the whole split, as an unsharded run records.
    """

    def __init__(self, inner: SplitInput, shard: Shard, window_rows: int, progress: bool = False):
        self.inner, self.shard, self.window_rows, self.progress = inner, shard, int(window_rows), progress
        self.name, self.is_pair, self.source = inner.name, inner.is_pair, inner.source
        self._range: dict | None = None
        self._stats = None

    @property
    def range(self) -> dict:
        if self._range is None:
            total = _known_total(self.inner)
            if total is None:
                total = self._count()
            start, stop = self.shard.range(total, self.window_rows)
            self._range = {"start": start, "stop": stop, "total": total}
        return self._range

    @property
    def total_rows(self) -> int:
        return self.range["stop"] - self.range["start"]

    @property
    def stats(self):
        """The whole split's augmentation stats (None for a dataset split)."""
        _ = self.range
        return self._stats

    def _count(self) -> int:
        from tqdm import tqdm

        rows = 0
        with tqdm(desc=f"{self.name} (counting, shard {self.shard})", unit=" rows", file=sys.stderr,
                  disable=not self.progress, dynamic_ncols=True) as bar:
            for block in self.inner.windows(0, self.window_rows):
                rows += len(block)
                bar.update(len(block))
        self._stats = getattr(self.inner, "stats", None)   # kept: the next pass starts new stats
        return rows

    def windows(self, start: int, size: int) -> Iterator[Rows]:
        if size != self.window_rows:
            raise MaterialsError(f"shard {self.shard}: read in windows of {size} rows, but its ranges were cut "
                                 f"at windows of {self.window_rows}")
        position, stop = self.range["start"] + int(start), self.range["stop"]
        if position >= stop:
            return
        for block in self.inner.windows(position, size):
            keep = min(len(block), stop - position)
            if keep < len(block):     # only if the input yields other blocks than it was counted in
                block = Rows(block.texts[:keep], None if block.texts_b is None else block.texts_b[:keep],
                             block.labels[:keep])
            yield block
            position += keep
            if position >= stop:
                return


def _known_total(item: SplitInput) -> int | None:
    if isinstance(item, DatasetInput):
        return len(item.dataset)
    rows = getattr(item, "total_rows", None)
    return int(rows) if rows is not None else None
