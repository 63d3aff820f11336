"""The HDF5 layout of a materials file, in one place: names, dtypes, shapes, attributes, version.

Owns what a materials file *is* (docs/design.md, "Materials file") and the only
low-level code that writes or checks that layout: `create_file` /
`create_split` / `append_rows` are used by `materials.generate`,
`materials.merge` and `materials.testing`, `validate` by `materials.reader`
and `distill materials info`. Nothing outside `materials/` knows these names. Every write goes
through `guarded_writes`: a write the file system refuses (a full disk)
becomes one `WriteFailed` with the file detached, never a crash of the HDF5
library nor a half-flushed file; `open_h5` says in one line why a path
cannot be opened (a folder, not HDF5, locked by a writer).

Layout of schema "distill.materials/1"::

    /                attrs: schema, task, label_names (JSON list), max_seq_len,
                     teacher (JSON: name, config, weights_sha256, run_dir),
                     tokenizer (JSON: vocab_sha256, lowercase),
                     dataset (JSON: id, sha256)
    /embedding       float32 [V, H]   the teacher's word-embedding table
    /vocab           str [V]          token of each id, so raw text can be tokenized later
    /<split>/        train, dev, test, transfer
        x            int32 [N, L]     token ids, 0-padded to L = max_seq_len
        length       int16 [N]        real tokens per row ([CLS] ... [SEP] included)
        y            int32 [N]        gold label, -1 where unknown
        logits       float32 [N, C]   teacher logits
        ysm          float32 [N, C]   softmax(logits)
        text         str [N]          source text (first sentence of a pair)
        segment      int8 [N, L]      segment ids          } sentence pairs only:
        text_b       str [N]          second sentence      } both or neither
        attrs: rows, complete, teacher_accuracy (NaN without gold labels),
               seconds, it_per_s,
               source  (JSON: where the split's texts came from; compared on resume),
               metrics (JSON: the split's teacher metrics, as `distill teacher eval` shows them)

A shard (`NAME.shard-i-of-n.h5`, `materials.shards`) is a materials file of
the same layout holding a contiguous range of each split's rows, with two
more attributes: on the root `shard` (JSON: index 1..count, count,
window_rows) and on each split `shard_range` (JSON: start, stop, total: rows
[start, stop) of the whole split's `total`). A merged file
(`materials.merge`) has neither and is the unsharded run's file.

Why these choices: `x` is rectangular at `max_seq_len` so a row is one slice
and chunks line up across datasets (gzip makes the padding nearly free on
disk; readers cut each batch to its longest row). Every dataset of a split is
resizable along rows and chunked with the same number of rows per chunk, so a
reader can fetch whole, aligned chunks. Datasets may hold more rows than the
`rows` attribute while a file is being written: `rows` counts only rows that
were flushed, and a resumed writer cuts the datasets back to it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from distill.errors import DistillError

SCHEMA = "distill.materials/1"
SPLIT_NAMES = ("train", "dev", "test", "transfer")
PARTIAL_SUFFIX = ".partial"

ROOT_ATTRS = ("schema", "task", "label_names", "max_seq_len", "teacher", "tokenizer", "dataset")
JSON_ROOT_ATTRS = ("label_names", "teacher", "tokenizer", "dataset")
SPLIT_ATTRS = ("rows", "complete", "teacher_accuracy", "seconds", "it_per_s", "source", "metrics")
JSON_SPLIT_ATTRS = ("source", "metrics")
OPTIONAL_JSON_ROOT_ATTRS = ("shard",)            # a shard file: which part of the whole it is
OPTIONAL_JSON_SPLIT_ATTRS = ("augment_stats",    # the transfer split: what augmentation did (counts, rates)
                             "shard_range")      # a shard file's split: its rows of the whole split
TIMING_SPLIT_ATTRS = ("seconds", "it_per_s")     # the only attributes two runs of the same work may differ in

STR = h5py.string_dtype("utf-8")


@dataclass(frozen=True)
class Field:
    """One per-split dataset: dtype and the shape of one row ("L" = max_seq_len, "C" = classes)."""

    name: str
    dtype: object
    row_shape: tuple
    pair_only: bool = False

    @property
    def is_text(self) -> bool:
        return self.dtype is STR

    def shape_for(self, rows: int, max_seq_len: int, num_labels: int) -> tuple:
        sizes = {"L": max_seq_len, "C": num_labels}
        return (rows, *(sizes[d] for d in self.row_shape))


FIELDS = {
    f.name: f
    for f in (
        Field("x", np.dtype("int32"), ("L",)),
        Field("length", np.dtype("int16"), ()),
        Field("y", np.dtype("int32"), ()),
        Field("logits", np.dtype("float32"), ("C",)),
        Field("ysm", np.dtype("float32"), ("C",)),
        Field("text", STR, ()),
        Field("segment", np.dtype("int8"), ("L",), pair_only=True),
        Field("text_b", STR, (), pair_only=True),
    )
}
TARGET_FIELDS = ("y", "logits", "ysm")


class MaterialsError(DistillError):
    """A materials file that is missing, malformed, or not what the caller expects."""


class WriteFailed(MaterialsError):
    """The file system refused a write (disk full, quota, I/O error) while a materials file was written.

    By the time this is raised the file has been detached (`detach`): nothing
    more reaches it, so what was flushed before the failure stays as it was.
    `errno` is the system's error number (None when the library did not say).
    """

    def __init__(self, path, errno_: int | None, what: str):
        self.path, self.errno, self.what = Path(path), errno_, what
        super().__init__(f"{path}: {what}")

    @property
    def disk_full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


def split_fields(pair: bool) -> list[str]:
    return [name for name, f in FIELDS.items() if pair or not f.pair_only]


def default_chunk_rows(max_seq_len: int, target_bytes: int = 1 << 19) -> int:
    """Rows per HDF5 chunk so an `x` chunk is about 512 KiB uncompressed: big
    enough for fast streaming reads, small enough for the default chunk cache."""
    return int(max(64, 2 ** int(math.log2(max(1, target_bytes // (4 * max_seq_len))))))


# ------------------------------------------------------------------ writing
def create_file(h5: h5py.File, *, task: str, label_names: list[str], max_seq_len: int,
                teacher: dict, tokenizer: dict, dataset: dict,
                embedding: np.ndarray, vocab: list[str], shard: dict | None = None) -> None:
    """Write the root attributes, /embedding and /vocab into a new, empty file (`shard`: a shard's part)."""
    embedding = np.asarray(embedding, dtype=np.float32)
    if embedding.ndim != 2 or embedding.shape[0] != len(vocab):
        raise MaterialsError(
            f"embedding has shape {embedding.shape} but the vocab has {len(vocab)} tokens")
    with guarded_writes(h5):
        h5.attrs.update(root_attrs(task=task, label_names=label_names, max_seq_len=max_seq_len,
                                   teacher=teacher, tokenizer=tokenizer, dataset=dataset, shard=shard))
        # Uncompressed: float embeddings shrink by under 10% with gzip, which costs over a second per file.
        h5.create_dataset("embedding", data=embedding)
        h5.create_dataset("vocab", data=np.asarray(vocab, dtype=object), dtype=STR)
        h5.flush()


def root_attrs(*, task, label_names, max_seq_len, teacher, tokenizer, dataset, shard=None) -> dict:
    """The root attributes as stored (JSON where the schema says JSON); `shard` only in a shard file."""
    return {**({} if shard is None else {"shard": json.dumps(shard, sort_keys=True)}),
        "schema": SCHEMA,
        "task": str(task),
        "label_names": json.dumps(list(label_names)),
        "max_seq_len": int(max_seq_len),
        "teacher": json.dumps(teacher, sort_keys=True),
        "tokenizer": json.dumps(tokenizer, sort_keys=True),
        "dataset": json.dumps(dataset, sort_keys=True),
    }


def create_split(h5: h5py.File, name: str, *, pair: bool, source: dict,
                 chunk_rows: int | None = None, compression: str = "gzip",
                 shard_range: dict | None = None) -> h5py.Group:
    """An empty, resizable split group (rows = 0, complete = False); `shard_range` in a shard file."""
    if name not in SPLIT_NAMES:
        raise MaterialsError(f"unknown split {name!r}; a materials file holds {', '.join(SPLIT_NAMES)}")
    max_seq_len = int(h5.attrs["max_seq_len"])
    num_labels = len(json.loads(h5.attrs["label_names"]))
    chunk_rows = int(chunk_rows or default_chunk_rows(max_seq_len))
    with guarded_writes(h5):
        group = h5.create_group(name)
        for field_name in split_fields(pair):
            f = FIELDS[field_name]
            shape = f.shape_for(0, max_seq_len, num_labels)
            options = {} if f.is_text else {"compression": compression, "shuffle": True}
            if compression == "gzip" and not f.is_text:
                options["compression_opts"] = 4
            group.create_dataset(field_name, shape=shape, maxshape=(None, *shape[1:]), dtype=f.dtype,
                                 chunks=(chunk_rows, *shape[1:]), **options)
        group.attrs.update({"rows": 0, "complete": False, "teacher_accuracy": float("nan"),
                            "seconds": 0.0, "it_per_s": 0.0, "source": json.dumps(source, sort_keys=True),
                            "metrics": json.dumps({})})
        if shard_range is not None:
            group.attrs["shard_range"] = json.dumps(shard_range, sort_keys=True)
        h5.flush()
    return group


def truncate_split(group: h5py.Group) -> None:
    """Cut every dataset back to the `rows` attribute (rows beyond it were never committed)."""
    rows = int(group.attrs["rows"])
    datasets = {name: group[name] for name in group}
    with guarded_writes(group.file):
        for ds in datasets.values():
            if ds.shape[0] != rows:
                ds.resize(rows, axis=0)
        group.file.flush()


# ------------------------------------------------------- failed writes
_H5_ERRNO = re.compile(r"errno = (\d+)")
_H5_MESSAGE = re.compile(r"error message = '([^']*)'")


@contextmanager
def guarded_writes(h5: h5py.File):
    """Writes to `h5` inside this block either succeed or raise `WriteFailed` with the file detached.

    HDF5 has no way back from a write the file system refused (a full disk,
    say): its cache is left half-flushed, and closing the file, or even
    letting go of an object in it, tries to write again and can crash the
    process. So on the first such error the file is detached: the library's
    descriptor is pointed at the null device, nothing more reaches the file,
    and what was flushed before the failure (every committed window) stays
    intact on disk for a resumed run.
    """
    try:
        yield
    except (OSError, RuntimeError) as exc:
        path = h5.filename
        detach(h5)
        number, what = describe_h5_error(exc)
        raise WriteFailed(path, number, f"writing failed ({what})") from None


def describe_h5_error(exc: BaseException) -> tuple[int | None, str]:
    """(errno, one-line reason) of an exception from h5py / HDF5."""
    text = " ".join(str(exc).split()).strip("'\"")    # a KeyError's message comes quoted
    number = getattr(exc, "errno", None)
    found = _H5_ERRNO.search(text)
    if found and not number:
        number = int(found.group(1))
    if number:
        return number, os.strerror(number)
    said = _H5_MESSAGE.search(text)
    if said:
        return None, said.group(1)
    inner = re.search(r"\(([^()]*)\)\s*$", text)
    return None, inner.group(1) if inner else text


def detach(h5: h5py.File) -> None:
    """Point the HDF5 library's descriptor of `h5` at the null device, so nothing more reaches the file.

    Used after a failed write (see `guarded_writes`): the library may still
    try to flush its cache while the file and its objects are closed; those
    writes now go nowhere, and what was on disk stays as it was.
    """
    try:
        fd = h5.id.get_vfd_handle()
    except Exception:    # noqa: BLE001  (no plain descriptor: nothing to detach)
        return
    if not isinstance(fd, int) or fd < 0:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def close_quietly(h5: h5py.File) -> None:
    """Close a detached file: the library may complain about the cache it could not write; that is expected."""
    try:
        h5.close()
    except Exception:   # noqa: BLE001  (best effort: nothing of it reaches the file any more)
        pass


def append_rows(group: h5py.Group, data: dict[str, np.ndarray], seconds: float = 0.0) -> int:
    """Append one block of rows to every dataset, flush, then advance `rows`.

    The order matters for crash safety: the data is on disk before `rows`
    says it is there, so a killed writer leaves at worst uncommitted rows
    past `rows`, which `truncate_split` drops on resume. A write the file
    system refuses raises `WriteFailed` (see `guarded_writes`).
    """
    start = int(group.attrs["rows"])
    missing = sorted(set(group) - set(data))
    if missing:
        raise MaterialsError(f"{group.name}: block lacks {', '.join(missing)}")
    counts = {name: len(data[name]) for name in group}
    n = counts["x"]
    if len(set(counts.values())) != 1:
        raise MaterialsError(f"{group.name}: block has unequal row counts {counts}")
    # The datasets stay open until the flush: a dataset closed earlier writes its chunks as it closes,
    # where the library reports a failed write only as a warning and goes on in a broken state.
    datasets = {name: group[name] for name in group}
    with guarded_writes(group.file):
        for name, ds in datasets.items():
            ds.resize(start + n, axis=0)
            values = data[name]
            if FIELDS[name].is_text:
                values = np.asarray(list(values), dtype=object)
            ds[start:start + n] = values
        group.file.flush()
        total_seconds = float(group.attrs["seconds"]) + float(seconds)
        group.attrs["rows"] = start + n
        group.attrs["seconds"] = total_seconds
        group.attrs["it_per_s"] = (start + n) / total_seconds if total_seconds > 0 else 0.0
        group.file.flush()
    return start + n


def set_timing(group: h5py.Group, seconds: float) -> None:
    """Set a split's `seconds` and the `it_per_s` they imply (a merge: the sum of its shards' seconds)."""
    rows = int(group.attrs["rows"])
    with guarded_writes(group.file):
        group.attrs["seconds"] = float(seconds)
        group.attrs["it_per_s"] = rows / float(seconds) if seconds > 0 else 0.0
        group.file.flush()


def finish_split(group: h5py.Group, metrics: dict) -> None:
    """Mark a split complete with its teacher metrics (may be {"n": 0} without gold labels)."""
    accuracy = metrics.get("accuracy")
    with guarded_writes(group.file):
        group.attrs["teacher_accuracy"] = float(accuracy) if accuracy is not None else float("nan")
        group.attrs["metrics"] = json.dumps(_jsonable(metrics), sort_keys=True)
        group.attrs["complete"] = True
        group.file.flush()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# ------------------------------------------------------------------ reading
def read_root(h5: h5py.File) -> dict:
    """Root attributes with JSON decoded (assumes a validated file); `shard` only where present."""
    out = {}
    for key in ROOT_ATTRS:
        value = h5.attrs[key]
        out[key] = json.loads(value) if key in JSON_ROOT_ATTRS else _plain(value)
    for key in OPTIONAL_JSON_ROOT_ATTRS:
        if key in h5.attrs:
            out[key] = json.loads(h5.attrs[key])
    return out


def read_split_attrs(group: h5py.Group) -> dict:
    out = {}
    for key in SPLIT_ATTRS:
        value = group.attrs[key]
        out[key] = json.loads(value) if key in JSON_SPLIT_ATTRS else _plain(value)
    for key in OPTIONAL_JSON_SPLIT_ATTRS:
        if key in group.attrs:
            out[key] = json.loads(group.attrs[key])
    return out


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def splits_of(h5: h5py.File) -> list[str]:
    """Split groups present, in the canonical order."""
    return [name for name in SPLIT_NAMES if name in h5]


# --------------------------------------------------------------- validation
def validate(path, require_complete: bool = True, check_values: bool = True, locking: bool = True) -> None:
    """Check a materials file fully; raise `MaterialsError` naming the first problem.

    Checks: it is a file, and HDF5; the schema version is known; every root
    attribute is present and well-formed; /embedding and /vocab agree; every
    split has all its datasets with the right dtype and shape and as many
    rows as its `rows` attribute; every split is `complete` (unless
    `require_complete` is False, as for a `.partial` file being resumed);
    `length` and `y` hold possible values and `logits` and `ysm` are finite
    (NaN or inf there would train a student on garbage). Token ids are not
    scanned (too big to read for a check). `locking=False` reads a file that
    another process is writing (`distill materials info` on a `.partial`).
    """
    path = Path(path)
    h5 = open_h5(path, locking=locking)
    with h5:
        validate_open(h5, path, require_complete, check_values)


def is_materials_file(path) -> bool:
    """`path` is an HDF5 file that distill wrote (its root says a distill.materials schema), complete or
    not: what `--overwrite` may replace. Read without taking the file lock."""
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r", locking=False) as h5:
            return str(_plain(h5.attrs.get("schema", ""))).startswith("distill.materials/")
    except OSError:
        return False


class FileLocked(MaterialsError):
    """Another process has the file open for writing (HDF5's file lock is taken)."""


def open_h5(path, mode: str = "r", locking: bool = True, **options) -> h5py.File:
    """`h5py.File(path, mode)`, with what can go wrong said in one line naming the path."""
    path = Path(path)
    if not path.exists():
        raise MaterialsError(f"{path}: no such materials file")
    if path.is_dir():
        raise MaterialsError(f"{path}: is a folder, not a materials file (.h5)")
    try:
        return h5py.File(path, mode, **({} if locking else {"locking": False}), **options)
    except OSError as exc:
        number, what = describe_h5_error(exc)
        if number in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in str(exc):
            raise FileLocked(f"{path}: another process is writing it (the file is locked); wait for it to "
                             f"finish, or stop it") from None
        if number:
            raise MaterialsError(f"{path}: cannot open it ({what})") from None
        raise MaterialsError(f"{path}: not a readable HDF5 file ({what})") from None


def validate_open(h5: h5py.File, path: Path, require_complete: bool = True, check_values: bool = True) -> None:
    """`validate` on a file already open (`path` names it in messages)."""
    def fail(message: str):
        raise MaterialsError(f"{path}: {message}")

    for key in ROOT_ATTRS:
        if key not in h5.attrs:
            fail(f"root attribute {key!r} is missing")
    schema = _plain(h5.attrs["schema"])
    if schema != SCHEMA:
        fail(f"unknown schema version {schema!r} (this distill reads {SCHEMA!r})")
    decoded = {}
    for key in JSON_ROOT_ATTRS:
        try:
            decoded[key] = json.loads(h5.attrs[key])
        except (TypeError, ValueError):
            fail(f"root attribute {key!r} is not valid JSON")
    label_names = decoded["label_names"]
    if not (isinstance(label_names, list) and len(label_names) >= 2
            and all(isinstance(n, str) for n in label_names)):
        fail("root attribute 'label_names' must be a JSON list of at least 2 strings")
    for key, fields in (("teacher", ("name", "config", "weights_sha256")),
                        ("tokenizer", ("vocab_sha256", "lowercase")), ("dataset", ("id", "sha256"))):
        if not isinstance(decoded[key], dict) or any(f not in decoded[key] for f in fields):
            fail(f"root attribute {key!r} must be a JSON object with {', '.join(fields)}")
    max_seq_len = _plain(h5.attrs["max_seq_len"])
    if not isinstance(max_seq_len, int) or max_seq_len < 1:
        fail(f"root attribute 'max_seq_len' must be a positive integer, got {max_seq_len!r}")
    num_labels = len(label_names)

    for name in ("embedding", "vocab"):
        if name not in h5 or not isinstance(h5[name], h5py.Dataset):
            fail(f"dataset /{name} is missing")
    embedding, vocab = h5["embedding"], h5["vocab"]
    if embedding.dtype != np.float32 or embedding.ndim != 2:
        fail(f"/embedding must be float32 [vocab, hidden], got {embedding.dtype} {embedding.shape}")
    if vocab.ndim != 1 or h5py.check_string_dtype(vocab.dtype) is None:
        fail(f"/vocab must be a 1-d string dataset, got {vocab.dtype} {vocab.shape}")
    if vocab.shape[0] != embedding.shape[0]:
        fail(f"/vocab has {vocab.shape[0]} tokens but /embedding has {embedding.shape[0]} rows")

    unknown = sorted(set(h5) - {"embedding", "vocab", *SPLIT_NAMES})
    if unknown:
        fail(f"unexpected member /{unknown[0]} (splits are {', '.join(SPLIT_NAMES)})")
    splits = splits_of(h5)
    if not splits:
        fail("no split groups (expected some of " + ", ".join(SPLIT_NAMES) + ")")
    pair = "segment" in h5[splits[0]]
    for split in splits:
        _validate_split(h5[split], fail, pair, max_seq_len, num_labels, embedding.shape[0],
                        require_complete, check_values)
    if "shard" in h5.attrs or any("shard_range" in h5[split].attrs for split in splits):
        _validate_shard(h5, fail, splits)


def _validate_shard(h5: h5py.File, fail, splits: list[str]) -> None:
    """A shard file: `shard` says which of how many, and each split's `shard_range` fits its rows."""
    try:
        shard = json.loads(h5.attrs["shard"]) if "shard" in h5.attrs else None
    except (TypeError, ValueError):
        fail("root attribute 'shard' is not valid JSON")
    if not (isinstance(shard, dict) and all(isinstance(shard.get(k), int) for k in ("index", "count", "window_rows"))
            and 1 <= shard["index"] <= shard["count"] and shard["window_rows"] >= 1):
        fail("root attribute 'shard' must be a JSON object with index (1..count), count and window_rows "
             "(each split then has a 'shard_range')")
    for split in splits:
        group = h5[split]
        try:
            part = json.loads(group.attrs["shard_range"]) if "shard_range" in group.attrs else None
        except (TypeError, ValueError):
            part = None
        if not (isinstance(part, dict) and all(isinstance(part.get(k), int) for k in ("start", "stop", "total"))
                and 0 <= part["start"] <= part["stop"] <= part["total"]):
            fail(f"{group.name}: attribute 'shard_range' must be a JSON object with 0 <= start <= stop <= total")
        rows, span = int(group.attrs["rows"]), part["stop"] - part["start"]
        if rows > span or (bool(group.attrs["complete"]) and rows != span):
            fail(f"{group.name}: holds {rows} rows but its shard range is rows {part['start']}-{part['stop']}")


def _validate_split(group, fail, pair: bool, max_seq_len: int, num_labels: int, vocab_size: int,
                    require_complete: bool, check_values: bool) -> None:
    where = group.name
    if not isinstance(group, h5py.Group):
        fail(f"{where} is not a group")
    for key in SPLIT_ATTRS:
        if key not in group.attrs:
            fail(f"{where}: attribute {key!r} is missing")
    for key in JSON_SPLIT_ATTRS:
        try:
            json.loads(group.attrs[key])
        except (TypeError, ValueError):
            fail(f"{where}: attribute {key!r} is not valid JSON")
    rows = _plain(group.attrs["rows"])
    if not isinstance(rows, int) or rows < 0:
        fail(f"{where}: attribute 'rows' must be a non-negative integer, got {rows!r}")
    complete = bool(group.attrs["complete"])
    if require_complete and not complete:
        fail(f"{where}: not complete ({rows} rows committed); re-run `distill materials generate` to resume")
    expected = split_fields(pair)
    for name in expected:
        if name not in group or not isinstance(group[name], h5py.Dataset):
            what = " (sentence-pair files have segment and text_b in every split)" if FIELDS[name].pair_only else ""
            fail(f"{where}/{name} is missing{what}")
    extra = sorted(set(group) - set(expected))
    if extra:
        what = " (only sentence-pair files have it)" if extra[0] in ("segment", "text_b") else ""
        fail(f"{where}/{extra[0]} is unexpected{what}")
    for name in expected:
        f, ds = FIELDS[name], group[name]
        want_shape = f.shape_for(rows, max_seq_len, num_labels)
        if f.is_text:
            if h5py.check_string_dtype(ds.dtype) is None:
                fail(f"{where}/{name} must be a string dataset, got {ds.dtype}")
        elif ds.dtype != f.dtype:
            fail(f"{where}/{name} must be {f.dtype}, got {ds.dtype}")
        if ds.shape[1:] != want_shape[1:]:
            fail(f"{where}/{name} has shape {ds.shape}, expected {('N', *want_shape[1:])}")
        if ds.shape[0] != rows and (complete or ds.shape[0] < rows):
            fail(f"{where}/{name} has {ds.shape[0]} rows but the split's 'rows' attribute says {rows}")
    if check_values and rows:
        _validate_values(group, fail, rows, max_seq_len, num_labels)


def _validate_values(group, fail, rows: int, max_seq_len: int, num_labels: int) -> None:
    block = max(1, group["x"].chunks[0] * 16)
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        length = group["length"][start:stop]
        bad = np.flatnonzero((length < 1) | (length > max_seq_len))
        if bad.size:
            fail(f"{group.name}/length row {start + bad[0]} is {length[bad[0]]}, outside 1..{max_seq_len}")
        y = group["y"][start:stop]
        bad = np.flatnonzero((y < -1) | (y >= num_labels))
        if bad.size:
            fail(f"{group.name}/y row {start + bad[0]} is {y[bad[0]]}, outside -1..{num_labels - 1}")
        for name in ("logits", "ysm"):
            values = group[name][start:stop]
            bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
            if bad.size:
                row = values[bad[0]]
                fail(f"split {group.name.lstrip('/')}: {name} row {start + bad[0]} is not finite "
                     f"({', '.join(f'{v:g}' for v in row)}); no student can learn from it: check the teacher "
                     f"run, then generate the materials again with --overwrite")
