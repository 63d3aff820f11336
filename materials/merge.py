"""Shards -> the file an unsharded run writes: checked to belong together, then streamed.

Owns `merge`, behind `distill materials merge`. Shards are written by
`materials.generate` with `shard=` (`materials.shards`); merging them gives
a file whose every dataset and attribute equals the unsharded run's with the
same `window_rows`, except timing.

What it checks first, each failure one line naming the shard: every path is
a complete shard (a `.partial`, or a path whose `.partial` alone is there, is
an unfinished shard; a whole materials file is not a shard); all are parts of
the same count cut at the same window size; none is given twice; none is
missing (named by the file it would be); all have the same provenance (task,
labels, teacher, tokenizer, data; the teacher's run folder may differ, the
first shard's is kept), /vocab and /embedding, and the same splits made from
the same input (`source`, and the whole split's `augment_stats`); each
split holds exactly its shard's range of the same total.

How it writes: to `OUT.partial`, split by split, shard by shard, a window
(`window_rows`) at a time, so memory holds one window and the embedding
table, never a split; then the file is validated and renamed to OUT. The
metrics are recomputed over each merged split as generation computes them.
Timing is the one difference from an unsharded run: a split's `seconds` is
the sum of its shards' (teacher time over all workers) and `it_per_s` is rows
over that sum (one worker's rate). A merge is only copying: a killed one is
not resumed but run again with `--overwrite`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np

from distill.overwrite import check_replaceable
from materials import schema
from materials.generate import PROVENANCE_KEYS, check_output_path, comparable_provenance, split_metrics, summary_table
from materials.schema import FIELDS, PARTIAL_SUFFIX, MaterialsError
from materials.shards import Shard, merged_path, shard_range

EMBEDDING_BLOCK_ROWS = 4096
SPACE_SLACK = 1 << 20


@dataclass
class _ShardFile:
    path: Path
    h5: h5py.File
    index: int
    count: int
    window_rows: int

    def describe(self) -> str:
        return f"shard {self.index} of {self.count} (windows of {self.window_rows} rows)"


def merge(shards: Sequence[str | os.PathLike], out: str | os.PathLike, *, overwrite: bool = False,
          progress: bool = True, echo: Callable[[str], None] | None = print) -> Path:
    """Check that `shards` are all the parts of one sharded run, then write them as one file at `out`."""
    say = echo or (lambda _msg: None)
    if not shards:
        raise MaterialsError("merge: no shard files given")
    out = check_output_path(out)
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    check_replaceable(out, what="a materials file", ours=schema.is_materials_file, overwrite=overwrite,
                      inputs=shards)
    files: list[_ShardFile] = []
    try:
        for path in shards:
            files.append(_open_shard(Path(path)))
        ordered = _check_together(files, out)
        _clear(partial, overwrite)
        _write(ordered, partial, out, progress)
    finally:
        for f in files:
            f.h5.close()
    schema.validate(partial)
    os.replace(partial, out)
    say(summary_table(out))
    return out


# ------------------------------------------------------------- the checks
def _open_shard(path: Path) -> _ShardFile:
    """A complete shard file, open; anything else is one line naming it."""
    if path.name.endswith(PARTIAL_SUFFIX) or (not path.exists() and _partial_of(path).exists()):
        partial = path if path.name.endswith(PARTIAL_SUFFIX) else _partial_of(path)
        raise MaterialsError(f"{path}: not complete (an unfinished shard, {partial.name} is being written or was "
                             f"interrupted); run its `distill materials generate ... --shard I/N` again to finish "
                             f"it, then merge")
    try:
        schema.validate(path)
    except MaterialsError as exc:
        text = str(exc)
        raise MaterialsError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    h5 = schema.open_h5(path)
    if "shard" not in h5.attrs:
        h5.close()
        raise MaterialsError(f"{path}: not a shard (a whole materials file, no 'shard' attribute); only the "
                             f"files of `distill materials generate --shard I/N` are merged")
    shard = json.loads(h5.attrs["shard"])
    return _ShardFile(path, h5, shard["index"], shard["count"], shard["window_rows"])


def _partial_of(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _check_together(files: list[_ShardFile], out: Path) -> list[_ShardFile]:
    """The shards in order, once each checked to be a part of the same whole as the first."""
    first = files[0]
    seen: dict[int, _ShardFile] = {}
    for f in files:
        if (f.count, f.window_rows) != (first.count, first.window_rows):
            raise MaterialsError(f"{f.path}: {f.describe()}, but {first.path} is {first.describe()}: "
                                 f"not parts of the same sharded run")
        if f.index in seen:
            raise MaterialsError(f"{f.path}: shard {f.index} of {f.count} is given twice "
                                 f"(also as {seen[f.index].path})")
        seen[f.index] = f
    missing = [i for i in range(1, first.count + 1) if i not in seen]
    if missing:
        name = Shard(missing[0], first.count).path(merged_path(first.path) or out)
        raise MaterialsError(f"shard {missing[0]} of {first.count} is missing: {name} was not given "
                             f"(all {first.count} shards are needed)")
    ordered = [seen[i] for i in range(1, first.count + 1)]
    for f in ordered:
        _check_same_whole(first, f)
    return ordered


def _check_same_whole(first: _ShardFile, f: _ShardFile) -> None:
    def foreign(what: str):
        raise MaterialsError(f"{f.path}: {what} than {first.path}: not a shard of the same run")

    have, want = comparable_provenance(dict(f.h5.attrs)), comparable_provenance(dict(first.h5.attrs))
    for key in PROVENANCE_KEYS:
        if have[key] != want[key]:
            foreign(f"made from a different {key} ({_short(have[key])} here, {_short(want[key])} there)")
    if f is not first:
        if not _same_rows(first.h5["vocab"], f.h5["vocab"]):
            foreign("another /vocab")
        if not _same_rows(first.h5["embedding"], f.h5["embedding"]):
            foreign("another /embedding (another teacher's weights)")
    splits, first_splits = schema.splits_of(f.h5), schema.splits_of(first.h5)
    if splits != first_splits:
        foreign(f"other splits ({', '.join(splits)})")
    for split in splits:
        group, like = f.h5[split], first.h5[split]
        mine, theirs = schema.read_split_attrs(group), schema.read_split_attrs(like)
        if mine["source"] != theirs["source"]:
            foreign(f"split {split} made from other input ({_short(mine['source'])})")
        if mine.get("augment_stats") != theirs.get("augment_stats"):
            foreign(f"split {split} made by another augmentation pass ({_short(mine.get('augment_stats'))})")
        part, total = mine["shard_range"], theirs["shard_range"]["total"]
        expected = shard_range(f.index, f.count, total, f.window_rows)
        if part["total"] != total or (part["start"], part["stop"]) != expected:
            foreign(f"split {split} has rows {part['start']}-{part['stop']} of {part['total']}, not "
                    f"{expected[0]}-{expected[1]} of {total} (shard {f.index} of {f.count}'s)")


def _same_rows(a: h5py.Dataset, b: h5py.Dataset) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    for lo in range(0, a.shape[0], EMBEDDING_BLOCK_ROWS):
        hi = min(a.shape[0], lo + EMBEDDING_BLOCK_ROWS)
        if not np.array_equal(a[lo:hi], b[lo:hi]):
            return False
    return True


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


# ------------------------------------------------------------- the output
def _clear(partial: Path, overwrite: bool) -> None:
    """Make way for `partial`: an earlier one is replaced only with `overwrite`, and never while it is written."""
    if not partial.exists():
        return
    if not overwrite:
        raise MaterialsError(f"{partial}: is there (an interrupted generate or merge of this file); pass "
                             f"--overwrite to replace it")
    try:
        schema.open_h5(partial).close()
    except schema.FileLocked:
        raise
    except MaterialsError:
        pass    # not readable: nobody is writing it
    partial.unlink()


def _write(ordered: list[_ShardFile], partial: Path, out: Path, progress: bool) -> None:
    from tqdm import tqdm

    need = sum(f.path.stat().st_size for f in ordered) + SPACE_SLACK
    partial.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(partial.parent).free
    if free < need:
        raise MaterialsError(f"{out}: the disk is full ({free / 2**20:.1f} MiB free in {partial.parent}, about "
                             f"{need / 2**20:.1f} MiB needed to merge); free some space and run the same command "
                             f"again")
    first = ordered[0]
    try:
        h5 = h5py.File(partial, "w")
    except OSError as exc:
        raise MaterialsError(f"{partial}: cannot be created ({schema.describe_h5_error(exc)[1]})") from None
    try:
        root = schema.read_root(first.h5)
        root.pop("schema")
        root.pop("shard")
        schema.create_file(h5, embedding=first.h5["embedding"][:], vocab=list(first.h5["vocab"].asstr()[:]), **root)
        for split in schema.splits_of(first.h5):
            like = first.h5[split]
            total = json.loads(like.attrs["shard_range"])["total"]
            group = schema.create_split(h5, split, pair="segment" in like, source=json.loads(like.attrs["source"]),
                                        chunk_rows=int(like["x"].chunks[0]))
            seconds = 0.0
            with tqdm(desc=f"merge {split}", total=total, unit=" rows", file=sys.stderr, disable=not progress,
                      dynamic_ncols=True) as bar:
                for f in ordered:
                    seconds += _copy_rows(f.h5[split], group, f.window_rows, bar.update)
            schema.set_timing(group, seconds)
            if "augment_stats" in like.attrs:
                with schema.guarded_writes(h5):
                    group.attrs["augment_stats"] = like.attrs["augment_stats"]
            schema.finish_split(group, split_metrics(group, root["label_names"]))
    except schema.WriteFailed as exc:
        schema.close_quietly(h5)
        partial.unlink(missing_ok=True)
        what = "the disk is full" if exc.disk_full else exc.what
        raise MaterialsError(f"{out}: {what} while merging; nothing was kept; "
                             f"{'free some space and ' if exc.disk_full else ''}run the same command again") \
            from None
    except BaseException:
        h5.close()
        partial.unlink(missing_ok=True)
        raise
    h5.close()


def _copy_rows(src: h5py.Group, dst: h5py.Group, window_rows: int, on_rows: Callable[[int], object]) -> float:
    """Append a shard split's rows to `dst`, a window at a time; returns the shard's seconds."""
    rows = int(src.attrs["rows"])
    for lo in range(0, rows, window_rows):
        hi = min(rows, lo + window_rows)
        schema.append_rows(dst, {name: (ds.asstr()[lo:hi] if FIELDS[name].is_text else ds[lo:hi])
                                 for name, ds in src.items()})
        on_rows(hi - lo)
    return float(src.attrs["seconds"])
