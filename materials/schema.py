"""The HDF5 layout of a materials file, in one place: names, dtypes, shapes, attributes, version.

Owns what a materials file *is* (DESIGN.md, "Materials file") and the only
low-level code that writes or checks that layout: `create_file` /
`create_split` / `append_rows` are used by `materials.generate` and
`materials.testing`, `validate` by `materials.reader` and `distill materials
info`. Nothing outside `materials/` knows these names.

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

Why these choices: `x` is rectangular at `max_seq_len` so a row is one slice
and chunks line up across datasets (gzip makes the padding nearly free on
disk; readers cut each batch to its longest row). Every dataset of a split is
resizable along rows and chunked with the same number of rows per chunk, so a
reader can fetch whole, aligned chunks. Datasets may hold more rows than the
`rows` attribute while a file is being written: `rows` counts only rows that
were flushed, and a resumed writer cuts the datasets back to it.
"""

from __future__ import annotations

import json
import math
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
OPTIONAL_JSON_SPLIT_ATTRS = ("augment_stats",)   # the transfer split: what augmentation did (counts, rates)

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


def split_fields(pair: bool) -> list[str]:
    return [name for name, f in FIELDS.items() if pair or not f.pair_only]


def default_chunk_rows(max_seq_len: int, target_bytes: int = 1 << 19) -> int:
    """Rows per HDF5 chunk so an `x` chunk is about 512 KiB uncompressed: big
    enough for fast streaming reads, small enough for the default chunk cache."""
    return int(max(64, 2 ** int(math.log2(max(1, target_bytes // (4 * max_seq_len))))))


# ------------------------------------------------------------------ writing
def create_file(h5: h5py.File, *, task: str, label_names: list[str], max_seq_len: int,
                teacher: dict, tokenizer: dict, dataset: dict,
                embedding: np.ndarray, vocab: list[str]) -> None:
    """Write the root attributes, /embedding and /vocab into a new, empty file."""
    embedding = np.asarray(embedding, dtype=np.float32)
    if embedding.ndim != 2 or embedding.shape[0] != len(vocab):
        raise MaterialsError(
            f"embedding has shape {embedding.shape} but the vocab has {len(vocab)} tokens")
    h5.attrs.update(root_attrs(task=task, label_names=label_names, max_seq_len=max_seq_len,
                               teacher=teacher, tokenizer=tokenizer, dataset=dataset))
    # Uncompressed: float embeddings shrink by under 10% with gzip, which costs over a second per file.
    h5.create_dataset("embedding", data=embedding)
    h5.create_dataset("vocab", data=np.asarray(vocab, dtype=object), dtype=STR)


def root_attrs(*, task, label_names, max_seq_len, teacher, tokenizer, dataset) -> dict:
    """The root attributes as stored (JSON where the schema says JSON)."""
    return {
        "schema": SCHEMA,
        "task": str(task),
        "label_names": json.dumps(list(label_names)),
        "max_seq_len": int(max_seq_len),
        "teacher": json.dumps(teacher, sort_keys=True),
        "tokenizer": json.dumps(tokenizer, sort_keys=True),
        "dataset": json.dumps(dataset, sort_keys=True),
    }


def create_split(h5: h5py.File, name: str, *, pair: bool, source: dict,
                 chunk_rows: int | None = None, compression: str = "gzip") -> h5py.Group:
    """An empty, resizable split group (rows = 0, complete = False)."""
    if name not in SPLIT_NAMES:
        raise MaterialsError(f"unknown split {name!r}; a materials file holds {', '.join(SPLIT_NAMES)}")
    max_seq_len = int(h5.attrs["max_seq_len"])
    num_labels = len(json.loads(h5.attrs["label_names"]))
    chunk_rows = int(chunk_rows or default_chunk_rows(max_seq_len))
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
    return group


def truncate_split(group: h5py.Group) -> None:
    """Cut every dataset back to the `rows` attribute (rows beyond it were never committed)."""
    rows = int(group.attrs["rows"])
    for name in group:
        if group[name].shape[0] != rows:
            group[name].resize(rows, axis=0)


def append_rows(group: h5py.Group, data: dict[str, np.ndarray], seconds: float = 0.0) -> int:
    """Append one block of rows to every dataset, flush, then advance `rows`.

    The order matters for crash safety: the data is on disk before `rows`
    says it is there, so a killed writer leaves at worst uncommitted rows
    past `rows`, which `truncate_split` drops on resume.
    """
    start = int(group.attrs["rows"])
    missing = sorted(set(group) - set(data))
    if missing:
        raise MaterialsError(f"{group.name}: block lacks {', '.join(missing)}")
    counts = {name: len(data[name]) for name in group}
    n = counts["x"]
    if len(set(counts.values())) != 1:
        raise MaterialsError(f"{group.name}: block has unequal row counts {counts}")
    for name in group:
        ds = group[name]
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


def finish_split(group: h5py.Group, metrics: dict) -> None:
    """Mark a split complete with its teacher metrics (may be {"n": 0} without gold labels)."""
    accuracy = metrics.get("accuracy")
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
    """Root attributes with JSON decoded (assumes a validated file)."""
    out = {}
    for key in ROOT_ATTRS:
        value = h5.attrs[key]
        out[key] = json.loads(value) if key in JSON_ROOT_ATTRS else _plain(value)
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
def validate(path, require_complete: bool = True, check_values: bool = True) -> None:
    """Check a materials file fully; raise `MaterialsError` naming the first problem.

    Checks: it is HDF5; the schema version is known; every root attribute is
    present and well-formed; /embedding and /vocab agree; every split has all
    its datasets with the right dtype and shape and as many rows as its
    `rows` attribute; every split is `complete` (unless `require_complete` is
    False, as for a `.partial` file being resumed); `length` and `y` hold
    possible values. Token ids and logits are not scanned (too big to read
    for a check).
    """
    path = Path(path)
    if not path.exists():
        raise MaterialsError(f"{path}: no such materials file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise MaterialsError(f"{path}: not a readable HDF5 file ({exc})") from None
    with h5:
        _validate_open(h5, path, require_complete, check_values)


def _validate_open(h5: h5py.File, path: Path, require_complete: bool, check_values: bool) -> None:
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
