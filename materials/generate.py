"""Teacher -> materials file: length-bucketed inference, resumable, with timings.

Owns `generate`, behind `distill materials generate`. It runs a fine-tuned
teacher over each split and writes token ids, labels, logits and softmax,
texts, the teacher's word embeddings and vocab, and the provenance that says
which teacher, tokenizer and data made the file (layout: `materials.schema`).

How it is fast: texts are read in windows (`window_rows`, 8192 by default);
within a window rows are sorted by token length and cut into batches, each
padded only to its own longest row, so short sentences do not pay for
`max_seq_len` (this is most of a BERT teacher's inference time); the window's
results are put back in the original order before they are written.

How it is safe: only one window is in memory, so a million-row transfer set
works. The file is written as `FILE.partial`; after each window the rows are
flushed and only then does the split's `rows` attribute advance, so a killed
run resumes from `rows` (windows start at multiples of `window_rows`, so a
resumed run batches rows exactly as an uninterrupted one and writes the same
bytes). When every split is complete the file is renamed to `FILE`. A
complete `FILE` with the same provenance is left alone; a different one is
replaced only with `overwrite=True` (and only once the new one is complete).

How it meets a hostile file system: the output path is checked before any
work (a folder where the file should go, a file where a folder should be, no
permission to write); before each window is written the free space is
compared with what the window may take, and a full disk stops the run with
one line (rows committed per split) while the file is still as flushed; a
write the system refuses anyway detaches the file (`schema.guarded_writes`)
so that nothing more reaches it after the last flush. A `.partial` left behind is
inspected before it is resumed: unreadable (a run killed while creating it)
or with nothing committed, it is started over; with its committed rows
intact but its bookkeeping damaged (a kill during a flush, a refused write),
it is rebuilt from those rows; each case is said in one printed line.
Non-finite teacher logits are refused before they are written.

Splits come in as `SplitInput`s (`materials.split_input`): `DatasetInput`
wraps a `distill.data` split; transfer-set augmentation (materials/augment.py)
supplies its own input for the `transfer` split, streamed window by window,
through `extra_inputs`. The teacher comes in as a `MaterialsTeacher`
(`materials.teacher`): generation reads nothing else of it.

With `shard=Shard(i, n)` it writes `NAME.shard-i-of-n.h5` instead: each
split's input narrowed to the shard's whole windows (`materials.shards`),
the shard recorded in the file and compared on resume like the rest of the
provenance; resuming, the full-disk checks and the rename are the same as
for a whole file. `materials.merge` joins the shards.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np

from distill.data.dataset import Task
from distill.metrics import classification_metrics, softmax
from distill.overwrite import check_replaceable
from distill.wordpiece import pad_batch
from materials import schema
from materials.augment import AugmentConfig, TransferInput
from materials.schema import PARTIAL_SUFFIX, MaterialsError
from materials.shards import Shard, ShardInput
from materials.split_input import DatasetInput, Rows, SplitInput
from materials.teacher import MaterialsTeacher, missing_members

WINDOW_ROWS = 8192
REBUILD_SUFFIX = ".rebuild"
PROVENANCE_KEYS = ("task", "label_names", "max_seq_len", "teacher", "tokenizer", "dataset")
SHARD_KEY = "shard"   # compared on resume too: a shard file must go on as the same part of the same whole


# ----------------------------------------------------------------- generate
def generate(teacher: MaterialsTeacher, task: Task, out_path: str | os.PathLike,
             splits: Sequence[str] = ("train", "dev", "test"),
             batch_size: int = 32, bucket: bool = True, overwrite: bool = False, augment=0, *,
             extra_inputs: Sequence[SplitInput] = (), window_rows: int = WINDOW_ROWS,
             chunk_rows: int | None = None, progress: bool = True,
             on_commit: Callable[[str, int], None] | None = None,
             echo: Callable[[str], None] | None = print, shard: Shard | None = None) -> Path:
    """Write (or resume, or confirm) the materials file of `teacher` on `task` at `out_path`.

    `teacher` is anything that satisfies `materials.teacher.MaterialsTeacher`
    (a `teachers.run.TeacherRun` does).

    `splits` are task splits; `extra_inputs` add streamed splits (the
    augmented `transfer` split). `bucket=False` pads every batch to
    `max_seq_len` in the original order (the baseline the benchmark compares
    against; the file's contents are the same). `on_commit(split, rows)` is
    called after each committed window (tests use it to simulate a crash).
    `shard` writes only that part of every split, to `shard.path(out_path)`
    (the path returned); shards merge into the file an unsharded run with
    the same `window_rows` writes.
    `augment` (an int: variants per training sentence, or a full
    `materials.augment.AugmentConfig`) adds the augmented `transfer` split,
    made from the train split only. Returns the path of the complete file.
    """
    config = augment if isinstance(augment, AugmentConfig) else AugmentConfig(n_per_example=int(augment or 0))
    if config.n_per_example:
        if "train" not in task.splits:
            raise MaterialsError(f"augment: task {task.name} has no train split to make variants from")
        extra_inputs = [*extra_inputs, TransferInput(task.splits["train"], config)]
    if batch_size < 1 or window_rows < 1:
        raise MaterialsError(f"batch_size and window_rows must be positive, got {batch_size}, {window_rows}")
    say = echo or (lambda _msg: None)
    _check_teacher(teacher)
    if list(task.label_names) != list(teacher.label_names):
        raise MaterialsError(f"task {task.name} has labels {task.label_names} but the teacher was trained on "
                             f"{teacher.label_names}")
    inputs = _inputs(task, splits, extra_inputs)
    if bool(teacher.is_pair) != inputs[0].is_pair:
        kinds = ("single sentences", "sentence pairs")
        raise MaterialsError(f"task {task.name} has {kinds[inputs[0].is_pair]} but the teacher was trained on "
                             f"{kinds[bool(teacher.is_pair)]}")
    max_seq_len = int(teacher.max_seq_len)
    root = {"task": task.name, "label_names": list(task.label_names), "max_seq_len": max_seq_len,
            "teacher": teacher.teacher_provenance(),
            "tokenizer": {"vocab_sha256": teacher.vocab_sha256, "lowercase": bool(teacher.lowercase)},
            "dataset": {"id": task.name, "sha256": task.sha256}}
    if shard is not None:
        root["shard"] = shard.attrs(window_rows)
        inputs = [ShardInput(i, shard, window_rows, progress=progress) for i in inputs]
        out_path = shard.path(out_path)
    provenance = schema.root_attrs(**root)
    final = check_output_path(out_path)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    if overwrite:   # only a materials file replaces a materials file: never a user's file
        check_replaceable(final, what="a materials file", ours=schema.is_materials_file, overwrite=True)

    adding = final.exists() and not overwrite
    if adding:
        _validate_or_hint(final, require_complete=True)
        with schema.open_h5(final) as h5:
            _check_provenance(h5, provenance, final)
            todo = [i for i in inputs if i.name not in h5]
            for i in inputs:
                if i.name in h5:
                    _check_source(h5[i.name], i, final)
        if not todo:
            say(f"{final}: complete, same teacher, tokenizer and data; nothing to do")
            return final
    _check_writable(final)
    if partial.exists() and overwrite:
        partial.unlink()
    partial.with_name(partial.name + REBUILD_SUFFIX).unlink(missing_ok=True)   # a rebuild that was stopped
    if partial.exists():
        problem, rebuild = _inspect_partial(partial)
        if problem and rebuild:
            say(f"{partial}: {problem}; rebuilding it from its committed rows")
            _rebuild(final, partial)
        elif problem:
            say(f"{partial}: {problem}; starting over")
            partial.unlink()
    if adding:
        if not partial.exists():   # add splits to a copy; the complete file stays untouched until then
            _copy(final, partial)
        say(f"{final}: complete; adding {', '.join(i.name for i in todo)}")

    if partial.exists():
        h5 = schema.open_h5(partial, "r+")
        try:
            _check_provenance(h5, provenance, partial)
        except MaterialsError:
            h5.close()
            raise
        say(f"{partial}: resuming (" + ", ".join(f"{s} {int(h5[s].attrs['rows'])} rows"
                                                 for s in schema.splits_of(h5)) + ")")
    else:
        embedding = _word_embeddings(teacher, root["teacher"]["name"])
        vocab = list(teacher.vocab)
        _ensure_space(final, partial, embedding.nbytes + sum(len(t.encode()) + 32 for t in vocab) + SPACE_SLACK,
                      "to create the file", {}, inputs)
        h5 = _create(partial)
        try:
            schema.create_file(h5, embedding=embedding, vocab=vocab, **root)
        except schema.WriteFailed as exc:
            schema.close_quietly(h5)
            partial.unlink(missing_ok=True)     # ours, just created, holds nothing yet
            raise MaterialsError(f"{final}: {_what_failed(exc)} while creating {partial.name}; nothing was "
                                 f"written; {_fix_hint(exc, resume=False)}") from None
        except BaseException:
            h5.close()
            partial.unlink()     # ours, just created, holds nothing yet
            raise

    committed = {s: int(h5[s].attrs["rows"]) for s in schema.splits_of(h5)}
    totals = {i.name: _known_rows(i) for i in inputs}
    current = ""
    try:
        for item in inputs:
            current = item.name
            if item.name in h5:
                _check_source(h5[item.name], item, partial)
                group = h5[item.name]
                if bool(group.attrs["complete"]):
                    continue
                schema.truncate_split(group)
            else:
                rows_per_chunk = chunk_rows or min(schema.default_chunk_rows(max_seq_len), window_rows)
                group = schema.create_split(h5, item.name, pair=item.is_pair, source=item.source,
                                            chunk_rows=rows_per_chunk, shard_range=getattr(item, "range", None))
                committed[item.name] = 0

            def commit(split: str, rows: int) -> None:
                committed[split] = rows
                if on_commit is not None:
                    on_commit(split, rows)

            def room(block: dict, split: str = item.name, group: h5py.Group = group) -> None:
                _ensure_space(final, partial, _block_bytes(block, group), f"for the next window of {split}",
                              committed, inputs, totals)

            _write_split(group, item, teacher, batch_size, bucket, window_rows, progress, commit,
                         total=totals[item.name], before_write=room)
        unfinished = [s for s in schema.splits_of(h5) if not bool(h5[s].attrs["complete"])]
    except schema.WriteFailed as exc:
        schema.close_quietly(h5)
        raise MaterialsError(f"{final}: {_what_failed(exc)} while writing split {current}; "
                             f"{_kept(partial, committed, inputs, totals)}; {_fix_hint(exc)}") from None
    except BaseException:
        h5.close()
        raise
    h5.close()
    if unfinished:
        raise MaterialsError(f"{partial}: splits {', '.join(unfinished)} were started by an earlier run and are "
                             f"not complete; request them again to resume, or pass --overwrite")
    schema.validate(partial)
    os.replace(partial, final)
    say(summary_table(final))
    return final


# ------------------------------------------------------------ the output
def check_output_path(out_path: str | os.PathLike) -> Path:
    """Refuse, in one line and before any work, a materials path that cannot be written.

    A folder where the file should go, a file where a folder should be, a
    `.partial` that is a folder, or a folder that cannot be written in (as
    far as permissions and read-only mounts tell without writing) are all
    refused here, so no teacher runs for a file that could not be kept.
    Returns the path.
    """
    final = Path(out_path)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    if final.is_dir():
        raise MaterialsError(f"{final}: is a folder; the materials file needs a file name "
                             f"(e.g. {final / 'materials.h5'})")
    if partial.is_dir():
        raise MaterialsError(f"{partial}: is a folder, in the way of the file being written; move it away "
                             f"or choose another output file")
    folder = final.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MaterialsError(f"{final}: cannot be created, {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MaterialsError(f"{final}: cannot be written, no permission to write in {folder} "
                             f"(or it is on a read-only file system)")
    return final


def _check_writable(final: Path) -> None:
    """Create the output folder and a file in it (removed again): the file system's own answer, before any work."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".probe", dir=final.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise MaterialsError(f"{final}: cannot be written in {final.parent} "
                             f"({exc.strerror or exc})") from None


def _create(partial: Path) -> h5py.File:
    try:
        return h5py.File(partial, "w")
    except OSError as exc:
        raise MaterialsError(f"{partial}: cannot be created ({schema.describe_h5_error(exc)[1]})") from None


def _copy(final: Path, partial: Path) -> None:
    """The complete file copied to `partial`, to add splits to; a failed copy leaves nothing behind."""
    _ensure_space(final, partial, final.stat().st_size + SPACE_SLACK, "to copy the complete file", {}, [])
    try:
        shutil.copyfile(final, partial)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise MaterialsError(f"{final}: copying it to {partial.name} to add splits failed "
                             f"({exc.strerror or exc}); nothing was changed") from None


def _inspect_partial(partial: Path) -> tuple[str | None, bool]:
    """Why a `.partial` left by an earlier run cannot be resumed in place (None if it can), and whether
    its committed rows can be rebuilt into a fresh file instead of starting over.

    Unreadable as HDF5 (a run killed while creating it), nothing committed
    yet, or damaged (it fails validation, or its committed rows cannot be
    read back): start over. Committed rows intact but the file's own
    bookkeeping damaged (a run killed while flushing, or a write the disk
    refused, can leave a chunk index pointing past the end of the file):
    rebuild. A file another process is writing is refused
    (`schema.FileLocked`), never touched; one made from other data is left
    to `_check_provenance`.
    """
    try:
        h5 = schema.open_h5(partial)
    except schema.FileLocked:
        raise
    except MaterialsError as exc:
        return f"{_reason(exc, partial)}, left by an interrupted run", False
    try:
        with h5:
            splits = schema.splits_of(h5)
            if not any(int(h5[s].attrs.get("rows", 0)) or bool(h5[s].attrs.get("complete", False))
                       for s in splits):
                return "nothing was committed to it yet", False
            try:
                schema.validate_open(h5, partial, require_complete=False)
            except MaterialsError as exc:
                return f"damaged ({_reason(exc, partial)})", False
            for split in splits:
                _read_back(h5[split])
            try:
                for split in splits:
                    for ds in h5[split].values():
                        for i in range(ds.id.get_num_chunks()):
                            ds.id.get_chunk_info(i)
            except Exception as exc:   # noqa: BLE001  (whatever the library says: the index cannot be used)
                return f"its chunk index is damaged ({schema.describe_h5_error(exc)[1]})", True
    except MaterialsError:
        raise
    except Exception as exc:   # noqa: BLE001  (anything the library raises on our own file: it is damaged)
        return f"damaged ({schema.describe_h5_error(exc)[1]})", False
    return None, False


def _rebuild(final: Path, partial: Path) -> None:
    """Copy the committed rows of `partial` (and its splits' attributes) into a fresh file that replaces it."""
    fresh = partial.with_name(partial.name + REBUILD_SUFFIX)
    _ensure_space(final, fresh, partial.stat().st_size + SPACE_SLACK, f"to rebuild {partial.name}", {}, [])
    with schema.open_h5(partial) as src:
        dst = _create(fresh)
        try:
            root = schema.read_root(src)
            root.pop("schema")
            schema.create_file(dst, embedding=src["embedding"][:], vocab=list(src["vocab"].asstr()[:]), **root)
            for split in schema.splits_of(src):
                _copy_committed(src[split], dst)
        except schema.WriteFailed as exc:
            schema.close_quietly(dst)
            fresh.unlink(missing_ok=True)
            raise MaterialsError(f"{final}: {_what_failed(exc)} while rebuilding {partial.name}; it is left as it "
                                 f"was; {_fix_hint(exc, resume=False)}") from None
        except BaseException:
            dst.close()
            fresh.unlink(missing_ok=True)
            raise
        dst.close()
    os.replace(fresh, partial)


def _copy_committed(group: h5py.Group, dst: h5py.File) -> None:
    rows = int(group.attrs["rows"])
    chunk = int(group["x"].chunks[0])
    source = json.loads(group.attrs["source"])
    copy = schema.create_split(dst, group.name.lstrip("/"), pair="segment" in group, source=source, chunk_rows=chunk)
    step = chunk * 16
    for lo in range(0, rows, step):
        hi = min(rows, lo + step)
        schema.append_rows(copy, {name: (ds.asstr()[lo:hi] if schema.FIELDS[name].is_text else ds[lo:hi])
                                  for name, ds in group.items()})
    with schema.guarded_writes(dst):
        for key, value in group.attrs.items():
            copy.attrs[key] = value
        dst.flush()


def _reason(exc: MaterialsError, path: Path) -> str:
    text = str(exc)
    return text[len(f"{path}: "):] if text.startswith(f"{path}: ") else text


def _read_back(group: h5py.Group) -> None:
    """Read every committed row of every dataset of a split (what a resumed run builds on must be readable)."""
    rows = int(group.attrs["rows"])
    for ds in group.values():
        step = max(1, int(ds.chunks[0]) * 16) if ds.chunks else rows
        for lo in range(0, rows, step):
            ds[lo:min(rows, lo + step)]


# ------------------------------------------------------------ disk space
SPACE_SLACK = 64 << 10
"""Bytes kept free beyond a window's estimate: the file's own bookkeeping (chunk index, heap, headers)."""


def _block_bytes(block: dict, group: h5py.Group) -> int:
    """An upper bound of the bytes one window adds to the file: its rows uncompressed, plus the
    split's last, partly filled chunk, which is written again, and the text heap."""
    n = len(block["x"])
    carry = int(group.attrs["rows"]) % int(group["x"].chunks[0])
    numeric = sum(np.asarray(v).nbytes for k, v in block.items() if not schema.FIELDS[k].is_text)
    text = sum(len(t.encode()) + 32 for k, v in block.items() if schema.FIELDS[k].is_text for t in v)
    return numeric * (n + carry) // max(n, 1) + text + SPACE_SLACK


def _ensure_space(final: Path, partial: Path, need: int, what: str, committed: dict,
                  inputs: Sequence[SplitInput], totals: dict | None = None) -> None:
    """Stop, before writing, when the disk has less free space than `need` bytes: the file stays as flushed."""
    try:
        free = shutil.disk_usage(partial.parent).free
    except OSError:
        return
    if free < need:
        kept = _kept(partial, committed, inputs, totals or {}) if committed else "nothing was written"
        raise MaterialsError(f"{final}: the disk is full ({_size(free)} free in {partial.parent}, about "
                             f"{_size(need)} needed {what}); {kept}; free some space and run the same command "
                             f"again{' to resume' if committed else ''}")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _what_failed(exc: schema.WriteFailed) -> str:
    reason = exc.what.removeprefix("writing failed (").removesuffix(")")
    return f"the disk is full ({reason})" if exc.disk_full else f"writing failed ({reason})"


def _fix_hint(exc: schema.WriteFailed, resume: bool = True) -> str:
    again = "run the same command again" + (" to resume" if resume else "")
    if exc.disk_full:
        return f"free some space and {again}"
    if exc.errno is None:   # the library's own complaint, not the system's: the file's structure is at fault
        return f"{again}; if this repeats, pass --overwrite to start over"
    return f"{again} once the cause is fixed"


def _kept(partial: Path, committed: dict, inputs: Sequence[SplitInput], totals: dict) -> str:
    parts = []
    for item in inputs:
        total = totals.get(item.name)
        parts.append(f"{item.name} {committed.get(item.name, 0)}" + (f"/{total}" if total is not None else ""))
    return f"kept in {partial.name}: {', '.join(parts)} rows committed"


def _known_rows(item: SplitInput) -> int | None:
    """Rows the split will have, where known ahead (a dataset split; not an augmented stream)."""
    if isinstance(item, DatasetInput):
        return len(item.dataset)
    rows = getattr(item, "total_rows", None)
    return int(rows) if rows is not None else None


def _check_teacher(teacher) -> None:
    """Refuse, in one line, a teacher that lacks a member of the `MaterialsTeacher` protocol."""
    missing = missing_members(teacher)
    if missing:
        raise MaterialsError(f"{type(teacher).__name__} is not a teacher materials can be generated from: "
                             f"it lacks {', '.join(missing)} (see materials.teacher.MaterialsTeacher)")


def _word_embeddings(teacher: MaterialsTeacher, name: str) -> np.ndarray:
    """The teacher's word-embedding matrix as float32, checked to have one row per vocab token."""
    table = np.asarray(teacher.word_embeddings(), dtype=np.float32)
    if table.ndim != 2 or table.shape[0] != len(teacher.vocab):
        raise MaterialsError(f"teacher {name}: word embeddings have shape {table.shape} but the vocab has "
                             f"{len(teacher.vocab)} tokens (one row per token expected)")
    return table


def _validate_or_hint(path: Path, require_complete: bool) -> None:
    try:
        schema.validate(path, require_complete=require_complete)
    except MaterialsError as exc:
        raise MaterialsError(f"{exc} — cannot reuse it; pass --overwrite to start over, or choose another --out") \
            from None


def _inputs(task: Task, splits: Sequence[str], extra_inputs: Sequence[SplitInput]) -> list[SplitInput]:
    inputs: list[SplitInput] = []
    for name in splits:
        if name not in task.splits:
            raise MaterialsError(f"task {task.name} has no split {name!r} (has {', '.join(task.splits)})")
        inputs.append(DatasetInput(task.splits[name]))
    inputs += list(extra_inputs)
    names = [i.name for i in inputs]
    for name in names:
        if name not in schema.SPLIT_NAMES:
            raise MaterialsError(f"unknown split {name!r}; a materials file holds {', '.join(schema.SPLIT_NAMES)}")
        if names.count(name) > 1:
            raise MaterialsError(f"split {name!r} requested twice")
    if not inputs:
        raise MaterialsError("no splits requested")
    if len({i.is_pair for i in inputs}) > 1:
        raise MaterialsError("splits disagree on whether inputs are sentence pairs")
    return inputs


def comparable_provenance(attrs: dict, keys: Sequence[str] = PROVENANCE_KEYS) -> dict:
    """Provenance as compared (root attributes, stored or as `schema.root_attrs` makes them): the run
    folder may move, the teacher may not change. `materials.merge` compares shards with it too."""
    out = {}
    for key in keys:
        value = attrs.get(key)
        value = value.item() if isinstance(value, np.generic) else value
        if key in (*schema.JSON_ROOT_ATTRS, *schema.OPTIONAL_JSON_ROOT_ATTRS) and isinstance(value, (str, bytes)):
            value = json.loads(value)
        if key == "teacher" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "run_dir"}
        out[key] = value
    return out


def _check_provenance(h5: h5py.File, provenance: dict, path: Path) -> None:
    keys = (*PROVENANCE_KEYS, SHARD_KEY)
    have, want = comparable_provenance(dict(h5.attrs), keys), comparable_provenance(provenance, keys)
    for key in keys:
        if have[key] != want[key]:
            raise MaterialsError(
                f"{path}: made from a different {key} ({_short(have[key])} here, {_short(want[key])} now); "
                f"pass --overwrite to replace it, or choose another --out")


def _check_source(group: h5py.Group, item: SplitInput, path: Path) -> None:
    have = json.loads(group.attrs["source"])
    want = json.loads(json.dumps(item.source, sort_keys=True))
    if have != want:
        raise MaterialsError(f"{path}: split {item.name} was made from other input ({_short(have)} there, "
                             f"{_short(want)} now); pass --overwrite to replace it")
    part = getattr(item, "range", None)    # a shard's split: the same rows of the same whole
    held = json.loads(group.attrs.get("shard_range", "null"))
    if part is not None and held != part:
        raise MaterialsError(f"{path}: split {item.name} holds other rows ({_short(held)} there, {_short(part)} "
                             f"now); pass --overwrite to replace it")


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


# -------------------------------------------------------------- one split
def _write_split(group: h5py.Group, item: SplitInput, teacher: MaterialsTeacher, batch_size: int, bucket: bool,
                 window_rows: int, progress: bool, on_commit, total: int | None = None,
                 before_write: Callable[[dict], None] | None = None) -> None:
    from tqdm import tqdm

    start = int(group.attrs["rows"])
    stream_of = item.source.get("rows") if total is None and hasattr(item, "stats") else None
    bar = tqdm(desc=item.name, total=total, initial=start, unit=" rows", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        for rows in item.windows(start, window_rows):
            if not len(rows):
                continue
            began = time.perf_counter()
            block = label_window(teacher, rows, batch_size, bucket, on_batch=bar.update)
            _check_finite(block["logits"], item.name, int(group.attrs["rows"]))
            if before_write is not None:
                before_write(block)
            rows_now = schema.append_rows(group, block, seconds=time.perf_counter() - began)
            if stream_of is not None:    # an augmented stream's length is unknown: say how far its input is
                bar.set_postfix_str(f"from {item.stats.sentences}/{stream_of} train sentences", refresh=False)
            if on_commit is not None:
                on_commit(item.name, rows_now)
    finally:
        bar.close()
    stats = getattr(item, "stats", None)   # an augmented split says what its variants went through
    if stats is not None:
        with schema.guarded_writes(group.file):
            group.attrs["augment_stats"] = json.dumps(stats.to_dict(), sort_keys=True)
        tqdm.write(stats.summary(), file=sys.stderr)
    schema.finish_split(group, split_metrics(group, list(teacher.label_names)))


def _check_finite(logits: np.ndarray, split: str, first_row: int) -> None:
    """Refuse a window whose logits hold NaN or inf (a diverged teacher): nothing of it is written."""
    bad = np.flatnonzero(~np.isfinite(logits).all(axis=1))
    if bad.size:
        row = logits[bad[0]]
        raise MaterialsError(f"the teacher returned non-finite logits ({', '.join(f'{v:g}' for v in row)}) for row "
                             f"{first_row + int(bad[0])} of split {split}; its weights may have diverged: "
                             f"check the teacher run (rows before this window are kept)")


def label_window(teacher: MaterialsTeacher, rows: Rows, batch_size: int, bucket: bool,
                 on_batch: Callable[[int], object] | None = None) -> dict:
    """Tokenize one window, run the teacher in (bucketed) batches, return the block to write in row order."""
    max_len = int(teacher.max_seq_len)
    encoding = teacher.encode(rows.texts, rows.texts_b)
    n = len(rows)
    lengths = np.asarray(encoding.lengths)
    if lengths.max(initial=0) > max_len:
        raise MaterialsError(f"tokenizer returned {lengths.max()} tokens, more than max_seq_len {max_len}")
    padded = pad_batch(encoding.ids, encoding.segments, length=max_len)
    x, segment, mask = padded["token_ids"], padded["segment_ids"], padded["padding_mask"]
    order = np.argsort(lengths, kind="stable") if bucket else np.arange(n)
    logits = None
    for lo in range(0, n, batch_size):
        idx = order[lo:lo + batch_size]
        width = int(lengths[idx].max()) if bucket else max_len
        out = np.asarray(teacher.logits_for_ids(x[idx, :width], segment[idx, :width], mask[idx, :width]),
                         dtype=np.float32)
        if logits is None:
            logits = np.zeros((n, out.shape[1]), dtype=np.float32)
        logits[idx] = out
        if on_batch is not None:
            on_batch(len(idx))
    if logits.shape[1] != len(teacher.label_names):
        raise MaterialsError(f"teacher returned {logits.shape[1]} logits per row for "
                             f"{len(teacher.label_names)} labels")
    block = {"x": x, "length": lengths.astype(np.int16), "y": np.asarray(rows.labels, dtype=np.int32),
             "logits": logits, "ysm": softmax(logits), "text": list(rows.texts)}
    if rows.texts_b is not None:
        block["segment"] = segment.astype(np.int8)
        block["text_b"] = list(rows.texts_b)
    return block


def split_metrics(group: h5py.Group, label_names: list[str]) -> dict:
    """Teacher metrics over the split's known labels, reading the file a block at a time."""
    rows = int(group.attrs["rows"])
    step = int(group["x"].chunks[0]) * 16
    y_true = np.empty(rows, dtype=np.int32)
    y_pred = np.empty(rows, dtype=np.int32)
    for lo in range(0, rows, step):
        hi = min(rows, lo + step)
        y_true[lo:hi] = group["y"][lo:hi]
        y_pred[lo:hi] = group["logits"][lo:hi].argmax(axis=1)
    return classification_metrics(y_true, y_pred, label_names)


# ------------------------------------------------------------------ summary
def summary_table(path: str | os.PathLike) -> str:
    """Per-split teacher metrics and timing, in the table of `distill teacher eval`."""
    from materials.reader import MaterialsFile

    with MaterialsFile(path, allow_shard=True) as m:
        return m.metrics_table()
