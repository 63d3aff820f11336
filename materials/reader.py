"""Reading a materials file: provenance, arrays, and `tf.data` pipelines for students.

Owns `MaterialsFile`, the one way students (and `distill materials info`)
read teaching materials. A file is validated when opened, so a reader never
trains on a half-written or corrupted file, nor on NaN or infinite teacher
outputs (the check names the file, split, tensor and first bad row).

`dataset()` has two paths that yield the same rows:

- in memory (the usual case: a split that fits in `memory_limit` bytes) —
  arrays are loaded once and fed through `from_tensor_slices`, shuffled
  over the whole split each epoch;
- streaming (a split too big for memory, e.g. a million-row transfer set) —
  whole HDF5 chunks are read in a random order, `shuffle_chunks` of them at a
  time are pooled and shuffled, so reads stay sequential within a chunk and
  memory stays at a few chunks (random row reads from compressed chunks are
  what makes HDF5 slow; docs/design.md, "Stack choices").

Either way each batch is cut to its longest row, so short sentences do not
pay for `max_seq_len` padding.

A shard (`materials.shards`) is refused unless `allow_shard=True` (for
`distill materials info`): a student trained on one would silently learn
from a part of the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from materials import schema
from materials.schema import FIELDS, TARGET_FIELDS, MaterialsError

CHUNK_CACHE_BYTES = 64 << 20
IN_MEMORY_LIMIT_BYTES = 512 << 20
DEFAULT_FIELDS = ("x", "length", "y", "logits", "ysm")


class MaterialsFile:
    """A validated materials file opened read-only. Use as a context manager, or `close()`.

    `allow_partial=True` opens a `.partial` file that is still being written
    (for `distill materials info`): only committed rows (`rows`) are read.
    `allow_shard=True` opens a shard (`shard` then says which part it is).
    """

    def __init__(self, path: str | os.PathLike, chunk_cache_bytes: int = CHUNK_CACHE_BYTES,
                 allow_partial: bool = False, allow_shard: bool = False):
        self.path = Path(path)
        # A .partial file may be open in the process writing it: read it without taking HDF5's file lock.
        self._locking = not allow_partial
        schema.validate(self.path, require_complete=not allow_partial, locking=self._locking)
        self._cache_bytes = int(chunk_cache_bytes)
        self._h5 = _open(self.path, self._cache_bytes, self._locking)
        root = schema.read_root(self._h5)
        self.schema: str = root["schema"]
        self.task: str = root["task"]
        self.label_names: list[str] = list(root["label_names"])
        self.max_seq_len: int = int(root["max_seq_len"])
        self.teacher: dict = root["teacher"]
        self.tokenizer: dict = root["tokenizer"]
        self.dataset_info: dict = root["dataset"]
        self.shard: dict | None = root.get("shard")   # {index, count, window_rows} in a shard file
        if self.shard and not allow_shard:
            self.close()
            raise MaterialsError(f"{self.path}: is shard {self.shard['index']} of {self.shard['count']}, a part of "
                                 f"a materials file; merge the shards first (`distill materials merge`)")
        self.lowercase: bool = bool(self.tokenizer.get("lowercase", True))
        self.splits: list[str] = schema.splits_of(self._h5)
        self.is_pair: bool = "segment" in self._h5[self.splits[0]]
        self._vocab: list[str] | None = None
        self._embedding: np.ndarray | None = None

    # ------------------------------------------------------------ metadata
    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            raise MaterialsError(f"{self.path}: already closed")
        return self._h5

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = list(self.h5["vocab"].asstr()[:])
        return self._vocab

    @property
    def embedding(self) -> np.ndarray:
        """The teacher's word embeddings, float32 [vocab, hidden] (loaded once)."""
        if self._embedding is None:
            self._embedding = self.h5["embedding"][:]
        return self._embedding

    def rows(self, split: str) -> int:
        return int(self._group(split).attrs["rows"])

    def split_attrs(self, split: str) -> dict:
        """rows, complete, teacher_accuracy, seconds, it_per_s, source, metrics."""
        return schema.read_split_attrs(self._group(split))

    def _group(self, split: str) -> h5py.Group:
        if split not in self.splits:
            raise MaterialsError(f"{self.path}: no split {split!r} (has {', '.join(self.splits)})")
        return self.h5[split]

    # -------------------------------------------------------------- arrays
    def arrays(self, split: str, fields=DEFAULT_FIELDS, start: int = 0, stop: int | None = None) -> dict:
        """Rows [start, stop) of the named fields as numpy arrays (text fields as str arrays)."""
        group = self._group(split)
        _check_fields(fields, self.is_pair, self.path)
        stop = self.rows(split) if stop is None else min(int(stop), self.rows(split))
        return {name: _read(group[name], start, stop) for name in fields}

    def token_ids_used(self, splits, chunk_rows: int = 8192) -> np.ndarray:
        """The sorted distinct token ids of `splits`' rows (padding past each row's end left out), read
        in chunks so an augmented split is never loaded whole."""
        seen = np.zeros(self.h5["embedding"].shape[0], dtype=bool)
        for split in splits:
            for start in range(0, self.rows(split), chunk_rows):
                part = self.arrays(split, ("x", "length"), start, start + chunk_rows)
                real = np.arange(part["x"].shape[1])[None, :] < part["length"][:, None]
                seen[part["x"][real]] = True
        return np.flatnonzero(seen)

    # ------------------------------------------------------------- summary
    def metrics_table(self) -> str:
        """Per-split teacher metrics, seconds and it/s, in the table of `distill teacher eval`."""
        from distill.metrics import format_metrics_table, primary_metric

        rows = {}
        for split in self.splits:
            attrs = self.split_attrs(split)
            rows[split] = {**attrs["metrics"], "n": attrs["rows"], "seconds": attrs["seconds"],
                           "it_per_s": attrs["it_per_s"]}
        return format_metrics_table(rows, primary_metric(self.task))

    def describe(self) -> str:
        """What `distill materials info` prints: provenance, then the per-split table."""
        t, tok, data = self.teacher, self.tokenizer, self.dataset_info
        config = t.get("config") or {}
        shape = (f"{config.get('num_layers', '?')} layers, hidden {config.get('hidden_size', '?')}"
                 if config else "-")
        embedding = self.h5["embedding"].shape
        size = self.path.stat().st_size
        lines = [
            f"file           {self.path} ({size / 2**20:.1f} MiB, schema {self.schema})",
            f"task           {self.task} ({', '.join(self.label_names)}){' sentence pairs' if self.is_pair else ''}",
            f"dataset        {data.get('id')} sha256 {str(data.get('sha256'))[:16]}",
            f"teacher        {t.get('name')} ({shape}), weights sha256 {str(t.get('weights_sha256') or '-')[:16]}",
            f"teacher run    {t.get('run_dir') or '-'}",
            f"tokenizer      vocab sha256 {str(tok.get('vocab_sha256'))[:16]}, "
            f"{'uncased' if self.lowercase else 'cased'}, max_seq_len {self.max_seq_len}",
            f"embedding      {embedding[0]} x {embedding[1]} float32",
        ]
        if self.shard:
            lines.append(f"shard          {self.shard['index']} of {self.shard['count']} (windows of "
                         f"{self.shard['window_rows']} rows); merge all {self.shard['count']} with "
                         f"`distill materials merge`")
        for split in self.splits:
            source = self.split_attrs(split)["source"]
            part = self.split_attrs(split).get("shard_range")
            of = f" (rows {part['start']}-{part['stop']} of {part['total']})" if part else ""
            lines.append(f"{split:<15}{self.rows(split)} rows{of} from {_short_source(source)}")
            s = self.split_attrs(split).get("augment_stats")
            if s:
                lines.append(f"{'':<15}augmented: {s['variants']} variants of {s['sentences']} sentences, "
                             f"{s['duplicates']} duplicates dropped; word rates masked {s['mask_rate']:.3f}, "
                             f"replaced {s['replace_rate']:.3f}; n-gram sampled {s['ngram_rate']:.3f}")
        return "\n".join(lines) + "\n\n" + self.metrics_table()

    # ------------------------------------------------------------- tf.data
    def dataset(self, split: str, batch_size: int = 64, targets=("y", "logits"), shuffle: bool = False,
                seed: int = 0, drop_remainder: bool = False, in_memory: bool | None = None,
                memory_limit: int = IN_MEMORY_LIMIT_BYTES, shuffle_chunks: int = 8, epochs_done: int = 0,
                bucket: bool = False, bucket_batches: int = 32):
        """`tf.data.Dataset` of (features, targets) batches over one split.

        features: {"token_ids": int32 [B, Lb], "length": int32 [B]} (+ "segment_ids"
        int32 [B, Lb] for sentence pairs), where Lb is the batch's longest row.
        targets: {name: tensor} for each of `targets` ("y" int32 [B], "logits" /
        "ysm" float32 [B, C]). Every row appears exactly once per epoch; with
        `shuffle`, each epoch has a new order (seeded). `in_memory=None` picks
        the in-memory path when the split's arrays fit in `memory_limit` bytes.
        `epochs_done` skips that many epochs' orders, so that a resumed
        training sees the same order in each epoch as an uninterrupted one.
        `bucket` groups rows of similar length into the same batch (less
        padding, faster steps): the rows are cut into windows of
        `bucket_batches` batches (after the shuffle, when shuffled), each
        window is sorted by length and cut into batches, and the batches are
        shuffled; every row still comes exactly once per epoch.
        """
        import tensorflow as tf

        targets = tuple(targets)
        bad = [t for t in targets if t not in TARGET_FIELDS]
        if bad:
            raise MaterialsError(f"unknown target {bad[0]!r}; choose from {', '.join(TARGET_FIELDS)}")
        if batch_size < 1:
            raise MaterialsError(f"batch_size must be positive, got {batch_size}")
        group = self._group(split)
        fields = ("x", "length", *(("segment",) if self.is_pair else ()), *targets)
        if in_memory is None:
            in_memory = self.nbytes(split, fields) <= memory_limit
        if bucket and bucket_batches < 1:
            raise MaterialsError(f"bucket_batches must be positive, got {bucket_batches}")
        if in_memory and bucket:
            stream = _ArrayStream(self.arrays(split, fields), targets, batch_size, shuffle, seed, drop_remainder,
                                  bucket_batches)
            stream.epoch = epochs_done
            ds = tf.data.Dataset.from_generator(stream, output_signature=_batch_spec(group, fields, targets))
        elif in_memory:
            ds = _memory_dataset(self.arrays(split, fields), targets, batch_size, shuffle, seed, drop_remainder)
            for _ in range(epochs_done if shuffle else 0):
                iter(ds)   # each new iterator draws the next epoch's shuffle seeds
        else:
            spec = _batch_spec(group, fields, targets)
            stream = _ChunkStream(self.path, split, fields, targets, batch_size, shuffle, seed, drop_remainder,
                                  shuffle_chunks, self._cache_bytes, bucket_batches if bucket else 0)
            stream.epoch = epochs_done
            ds = tf.data.Dataset.from_generator(stream, output_signature=spec)
        return ds.prefetch(tf.data.AUTOTUNE)

    def nbytes(self, split: str, fields=DEFAULT_FIELDS) -> int:
        """Uncompressed bytes of the named numeric fields of a split."""
        group = self._group(split)
        total = 0
        for name in fields:
            ds = group[name]
            total += int(np.prod(ds.shape)) * (ds.dtype.itemsize if not FIELDS[name].is_text else 64)
        return total

    # ----------------------------------------------------------- lifetime
    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> "MaterialsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        rows = ", ".join(f"{s}={self.rows(s)}" for s in self.splits) if self._h5 is not None else "closed"
        return f"MaterialsFile({str(self.path)!r}, task={self.task!r}, {rows})"


# ------------------------------------------------------------------ helpers
def _short_source(source: dict) -> str:
    if source.get("kind") == "dataset":
        return f"{source.get('source_id')} {source.get('split')} (sha256 {str(source.get('sha256'))[:12]})"
    if source.get("kind") == "augment":
        c = source.get("config") or {}
        return (f"augment ({source.get('algorithm')}) of {source.get('source_id')} {source.get('split')}: "
                f"up to {c.get('n_per_example')} per sentence, p_mask {c.get('p_mask')}, p_pos {c.get('p_pos')}, "
                f"p_ng {c.get('p_ng')}, seed {c.get('seed')}")
    return ", ".join(f"{k}={v}" for k, v in sorted(source.items()))


def _open(path: Path, cache_bytes: int, locking: bool = True) -> h5py.File:
    return schema.open_h5(path, "r", locking=locking, rdcc_nbytes=cache_bytes, rdcc_nslots=10007)


def _read(ds: h5py.Dataset, start: int, stop: int) -> np.ndarray:
    if FIELDS[ds.name.rsplit("/", 1)[-1]].is_text:
        return np.asarray(ds.asstr()[start:stop], dtype=object)
    return ds[start:stop]


def _check_fields(fields, is_pair: bool, path) -> None:
    for name in fields:
        if name not in FIELDS:
            raise MaterialsError(f"{path}: unknown field {name!r}; fields are {', '.join(FIELDS)}")
        if FIELDS[name].pair_only and not is_pair:
            raise MaterialsError(f"{path}: field {name!r} exists only in sentence-pair files")


def _features_targets(block: dict, targets) -> tuple[dict, dict]:
    """Numpy block -> (features, targets), cut to the block's longest row."""
    longest = int(block["length"].max()) if len(block["length"]) else 0
    features = {"token_ids": block["x"][:, :longest].astype(np.int32, copy=False),
                "length": block["length"].astype(np.int32)}
    if "segment" in block:
        features["segment_ids"] = block["segment"][:, :longest].astype(np.int32)
    return features, {t: block[t] for t in targets}


def _batch_spec(group, fields, targets):
    import tensorflow as tf

    features = {"token_ids": tf.TensorSpec([None, None], tf.int32), "length": tf.TensorSpec([None], tf.int32)}
    if "segment" in fields:
        features["segment_ids"] = tf.TensorSpec([None, None], tf.int32)
    target_spec = {t: tf.TensorSpec([None, *group[t].shape[1:]], group[t].dtype.name) for t in targets}
    return features, target_spec


def _memory_dataset(arrays: dict, targets, batch_size, shuffle, seed, drop_remainder):
    import tensorflow as tf

    arrays = dict(arrays)
    arrays["length"] = arrays["length"].astype(np.int32)
    if "segment" in arrays:
        arrays["segment"] = arrays["segment"].astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        ds = ds.shuffle(len(arrays["x"]), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def cut(block):
        longest = tf.reduce_max(block["length"])
        features = {"token_ids": block["x"][:, :longest], "length": block["length"]}
        if "segment" in block:
            features["segment_ids"] = block["segment"][:, :longest]
        return features, {t: block[t] for t in targets}

    return ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE)


class _ChunkStream:
    """A generator factory for `from_generator`: whole chunks in, padded batches out.

    Opens its own read-only handle per epoch (so the dataset outlives the
    `MaterialsFile` it came from) and draws a fresh order per epoch from
    (seed, epoch).
    """

    def __init__(self, path, split, fields, targets, batch_size, shuffle, seed, drop_remainder,
                 shuffle_chunks, cache_bytes, bucket_batches: int = 0):
        self.path, self.split, self.fields, self.targets = path, split, tuple(fields), tuple(targets)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.drop_remainder, self.shuffle_chunks = bool(drop_remainder), max(1, int(shuffle_chunks))
        self.cache_bytes = cache_bytes
        self.bucket_batches = int(bucket_batches)   # 0: no bucketing
        self.epoch = 0

    def __call__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        with _open(self.path, self.cache_bytes) as h5:
            group = h5[self.split]
            rows = int(group.attrs["rows"])
            chunk = int(group["x"].chunks[0])
            starts = np.arange(0, rows, chunk)
            if self.shuffle:
                starts = rng.permutation(starts)
            pending: dict | None = None
            for w in range(0, len(starts), self.shuffle_chunks):
                blocks = [{name: group[name][s:min(rows, s + chunk)] for name in self.fields}
                          for s in starts[w:w + self.shuffle_chunks]]
                window = {name: np.concatenate([b[name] for b in blocks]) for name in self.fields}
                if self.shuffle:
                    order = rng.permutation(len(window["x"]))
                    window = {name: values[order] for name, values in window.items()}
                if pending is not None:
                    window = {name: np.concatenate([pending[name], window[name]]) for name in self.fields}
                n_full = len(window["x"]) // self.batch_size * self.batch_size
                if self.bucket_batches and n_full:   # full batches of rows of similar length, in a random order
                    full = {k: v[:n_full] for k, v in window.items()}
                    for rows_ in _bucketed(full["length"], self.batch_size, self.batch_size * self.bucket_batches,
                                           rng if self.shuffle else None):
                        yield _features_targets({k: v[rows_] for k, v in full.items()}, self.targets)
                else:
                    for b in range(0, n_full, self.batch_size):
                        yield _features_targets({k: v[b:b + self.batch_size] for k, v in window.items()},
                                                self.targets)
                pending = {k: v[n_full:] for k, v in window.items()}
            if pending is not None and len(pending["x"]) and not self.drop_remainder:
                yield _features_targets(pending, self.targets)


def _bucketed(length: np.ndarray, batch_size: int, window: int, rng) -> list[np.ndarray]:
    """Row indices of batches: each `window` rows sorted by length (stable) and cut into batches; the
    batches in a random order when `rng` is given. Only the last batch may be short."""
    batches = []
    for start in range(0, len(length), window):
        rows = np.arange(start, min(start + window, len(length)))
        rows = rows[np.argsort(length[rows], kind="stable")]
        batches += [rows[b:b + batch_size] for b in range(0, len(rows), batch_size)]
    if rng is not None:
        full = [b for b in batches if len(b) == batch_size]
        short = [b for b in batches if len(b) < batch_size]
        batches = [full[i] for i in rng.permutation(len(full))] + short
    return batches


class _ArrayStream:
    """A generator factory for `from_generator` over arrays in memory, bucketed by length
    (`MaterialsFile.dataset(bucket=True)`); a fresh order per epoch from (seed, epoch)."""

    def __init__(self, arrays, targets, batch_size, shuffle, seed, drop_remainder, bucket_batches):
        self.arrays, self.targets = arrays, tuple(targets)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.drop_remainder, self.window = bool(drop_remainder), int(batch_size) * int(bucket_batches)
        self.epoch = 0

    def __call__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        rows = len(self.arrays["x"])
        order = rng.permutation(rows) if self.shuffle else np.arange(rows)
        shuffled = {k: v[order] for k, v in self.arrays.items()}
        for batch in _bucketed(shuffled["length"], self.batch_size, self.window, rng if self.shuffle else None):
            if len(batch) == self.batch_size or not self.drop_remainder:
                yield _features_targets({k: v[batch] for k, v in shuffled.items()}, self.targets)
