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

Splits come in as `SplitInput`s (`materials.split_input`): `DatasetInput`
wraps a `distill.data` split; transfer-set augmentation (materials/augment.py)
supplies its own input for the `transfer` split, streamed window by window,
through `extra_inputs`. The teacher comes in as a `MaterialsTeacher`
(`materials.teacher`): generation reads nothing else of it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np

from distill.data.dataset import Task
from distill.metrics import classification_metrics, softmax
from distill.wordpiece import pad_batch
from materials import schema
from materials.augment import AugmentConfig, TransferInput
from materials.schema import PARTIAL_SUFFIX, MaterialsError
from materials.split_input import DatasetInput, Rows, SplitInput
from materials.teacher import MaterialsTeacher, missing_members

WINDOW_ROWS = 8192
PROVENANCE_KEYS = ("task", "label_names", "max_seq_len", "teacher", "tokenizer", "dataset")


# ----------------------------------------------------------------- generate
def generate(teacher: MaterialsTeacher, task: Task, out_path: str | os.PathLike,
             splits: Sequence[str] = ("train", "dev", "test"),
             batch_size: int = 32, bucket: bool = True, overwrite: bool = False, augment=0, *,
             extra_inputs: Sequence[SplitInput] = (), window_rows: int = WINDOW_ROWS,
             chunk_rows: int | None = None, progress: bool = True,
             on_commit: Callable[[str, int], None] | None = None,
             echo: Callable[[str], None] | None = print) -> Path:
    """Write (or resume, or confirm) the materials file of `teacher` on `task` at `out_path`.

    `teacher` is anything that satisfies `materials.teacher.MaterialsTeacher`
    (a `teachers.run.TeacherRun` does).

    `splits` are task splits; `extra_inputs` add streamed splits (the
    augmented `transfer` split). `bucket=False` pads every batch to
    `max_seq_len` in the original order (the baseline the benchmark compares
    against; the file's contents are the same). `on_commit(split, rows)` is
    called after each committed window (tests use it to simulate a crash).
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
    provenance = schema.root_attrs(**root)
    final = Path(out_path)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    final.parent.mkdir(parents=True, exist_ok=True)

    if final.exists() and not overwrite:
        _validate_or_hint(final, require_complete=True)
        with h5py.File(final, "r") as h5:
            _check_provenance(h5, provenance, final)
            todo = [i for i in inputs if i.name not in h5]
            for i in inputs:
                if i.name in h5:
                    _check_source(h5[i.name], i, final)
        if not todo:
            say(f"{final}: complete, same teacher, tokenizer and data; nothing to do")
            return final
        if not partial.exists():   # add splits to a copy; the complete file stays untouched until then
            shutil.copyfile(final, partial)
        say(f"{final}: complete; adding {', '.join(i.name for i in todo)}")
    if partial.exists() and overwrite:
        partial.unlink()

    if partial.exists():
        _validate_or_hint(partial, require_complete=False)
        h5 = h5py.File(partial, "r+")
        try:
            _check_provenance(h5, provenance, partial)
        except MaterialsError:
            h5.close()
            raise
        say(f"{partial}: resuming (" + ", ".join(f"{s} {int(h5[s].attrs['rows'])} rows"
                                                 for s in schema.splits_of(h5)) + ")")
    else:
        embedding = _word_embeddings(teacher, root["teacher"]["name"])
        h5 = h5py.File(partial, "w")
        try:
            schema.create_file(h5, embedding=embedding, vocab=list(teacher.vocab), **root)
        except BaseException:
            h5.close()
            partial.unlink()     # ours, just created, holds nothing yet
            raise
    with h5:
        for item in inputs:
            if item.name in h5:
                _check_source(h5[item.name], item, partial)
                group = h5[item.name]
                if bool(group.attrs["complete"]):
                    continue
                schema.truncate_split(group)
            else:
                rows_per_chunk = chunk_rows or min(schema.default_chunk_rows(max_seq_len), window_rows)
                group = schema.create_split(h5, item.name, pair=item.is_pair, source=item.source,
                                            chunk_rows=rows_per_chunk)
            _write_split(group, item, teacher, batch_size, bucket, window_rows, progress, on_commit)
        unfinished = [s for s in schema.splits_of(h5) if not bool(h5[s].attrs["complete"])]
    if unfinished:
        raise MaterialsError(f"{partial}: splits {', '.join(unfinished)} were started by an earlier run and are "
                             f"not complete; request them again to resume, or pass --overwrite")
    schema.validate(partial)
    os.replace(partial, final)
    say(summary_table(final))
    return final


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


def _comparable(attrs: dict) -> dict:
    """Provenance as compared: the run folder may move, the teacher may not change."""
    out = {}
    for key in PROVENANCE_KEYS:
        value = attrs.get(key)
        value = value.item() if isinstance(value, np.generic) else value
        if key in schema.JSON_ROOT_ATTRS and isinstance(value, (str, bytes)):
            value = json.loads(value)
        if key == "teacher" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "run_dir"}
        out[key] = value
    return out


def _check_provenance(h5: h5py.File, provenance: dict, path: Path) -> None:
    have, want = _comparable(dict(h5.attrs)), _comparable(provenance)
    for key in PROVENANCE_KEYS:
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


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


# -------------------------------------------------------------- one split
def _write_split(group: h5py.Group, item: SplitInput, teacher: MaterialsTeacher, batch_size: int, bucket: bool,
                 window_rows: int, progress: bool, on_commit) -> None:
    from tqdm import tqdm

    start = int(group.attrs["rows"])
    bar = tqdm(desc=item.name, initial=start, unit="it", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        for rows in item.windows(start, window_rows):
            if not len(rows):
                continue
            began = time.perf_counter()
            block = label_window(teacher, rows, batch_size, bucket, on_batch=bar.update)
            rows_now = schema.append_rows(group, block, seconds=time.perf_counter() - began)
            if on_commit is not None:
                on_commit(item.name, rows_now)
    finally:
        bar.close()
    stats = getattr(item, "stats", None)   # an augmented split says what its variants went through
    if stats is not None:
        group.attrs["augment_stats"] = json.dumps(stats.to_dict(), sort_keys=True)
        tqdm.write(stats.summary(), file=sys.stderr)
    schema.finish_split(group, _split_metrics(group, list(teacher.label_names)))


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


def _split_metrics(group: h5py.Group, label_names: list[str]) -> dict:
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

    with MaterialsFile(path) as m:
        return m.metrics_table()
