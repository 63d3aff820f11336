"""Run folders: the one module that knows their files.

Owns a run folder's contract for every kind of run (teacher, student, later
pretraining): the typed `RunInfo` behind `run.json` (`write_run` /
`read_run`, which names the file and the field when it is malformed), the
file names, the TensorBoard tag names the training engine writes and the
report reads, starting a folder (resume or restart an interrupted run, never
clobber a finished one or a folder that is not a run of that kind), and
atomic writes of JSON and the Keras model so a Ctrl-C never leaves half a
file. Teachers and students share it so `distill report` and `distill
predict` treat both alike; `students/` may not import `teachers/`, so it
lives in the foundation. `check_writable` is the up-front check every command
that writes runs before its long work (a read-only or misplaced output folder
is one line at the start, not a traceback at the end).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distill.errors import DistillError

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"


def improved(value, best, mode: str, min_delta: float) -> bool:
    """Whether `value` beats `best` by more than `min_delta` ("min": lower is better). NaN never does."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def save_model(model, run_dir: Path) -> str:
    """Write model.keras atomically (a Ctrl-C mid-save leaves the previous best intact); its sha256.

    The optimizer is left out: the run folder keeps the model for inference,
    the optimizer's state lives in the training backup (it would triple the
    file of a compiled BERT)."""
    from distill.sources import sha256_file

    tmp = run_dir / f".{MODEL_FILE}.partial.keras"
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        model.optimizer = None
    try:
        model.save(tmp)
    finally:
        if optimizer is not None:
            model.optimizer = optimizer
    os.replace(tmp, run_dir / MODEL_FILE)
    return sha256_file(run_dir / MODEL_FILE)


_PROBE = ".distill-write-check-"


def check_writable(path, what: str = "output folder", create: bool = True) -> Path:
    """Say now, not after an hour of work, when folder `path` cannot be written.

    With `create`, makes the folder when it is missing (with its parents) and
    creates and removes a temporary file in it; without, leaves the disk as it
    was and tries the nearest folder that exists (what making `path` needs).
    Any failure is one DistillError naming `what`, the path and the reason (a
    file in the way, read-only, no space). Returns the path."""
    path = Path(path).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), Path("."))
    if not existing.is_dir():
        where = "" if existing == path else f": {existing} is a file"
        raise DistillError(f"{what} {path}: not a folder{where}")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
            existing = path
        fd, probe = tempfile.mkstemp(dir=existing, prefix=_PROBE)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "" if existing == path else f" ({existing})"
        raise DistillError(f"{what} {path}: cannot write there{where}: {exc.strerror or exc}") from None
    return path


def _ours_half_written(name: str) -> bool:
    """Our own temporaries (`.<name>.partial...`, a write check's probe): a folder holding only these is empty."""
    return name.startswith(".") and (".partial" in name or name.startswith(_PROBE))


def prepare_run_dir(run_dir: Path, overwrite: bool, kind: str, same_run: dict | None = None) -> RunInfo | None:
    """A folder for a `kind` run; the RunInfo of an interrupted run to resume, else None.

    An interrupted run of that kind whose run.json matches `same_run` (its
    fields name, task, config, label_names and, within provenance, the
    hashes given) and that has a training backup (`backup/`) is kept, so the
    engine resumes it from its last finished epoch; any other interrupted run
    is restarted cleanly; a finished one is only replaced with
    `overwrite=True`; a non-empty folder that is not such a run never is.
    A folder holding only our own half-written temporaries (`.<name>.partial`,
    left by a kill before the first run.json) counts as empty."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DistillError(f"{run_dir}: exists and is not a folder; choose another run folder")
    if run_dir.exists() and any(not _ours_half_written(p.name) for p in run_dir.iterdir()):
        raw = read_json_or_none(run_dir / RUN_FILE)
        if not (isinstance(raw, dict) and raw.get("kind") == kind):
            raise DistillError(f"{run_dir}: not empty and not a {kind} run; choose another folder")
        if raw.get("complete") and not overwrite:
            raise DistillError(f"{run_dir}: a finished {kind} run; choose another folder or pass "
                               "overwrite (--overwrite) to replace it")
        old = read_run_or_none(run_dir, kind)
        if (not raw.get("complete") and not overwrite and same_run is not None and old is not None
                and _matches(old.to_dict(), same_run) and (run_dir / BACKUP_DIR).is_dir()):
            return old
        shutil.rmtree(run_dir)
    elif run_dir.is_dir():   # a kill between the first temporary file and its rename left only that
        for leftover in run_dir.iterdir():
            leftover.unlink() if leftover.is_file() or leftover.is_symlink() else shutil.rmtree(leftover)
    run_dir.mkdir(parents=True, exist_ok=True)
    return None


def check_same_options(run_dir: Path, kind: str, config: dict, option_name=lambda field: field) -> None:
    """One line when the finished `kind` run in `run_dir` was made with other options than `config`
    (its run.json's config): reusing it would hand back a model the user did not ask for. The line
    names each option that differs (`option_name` turns a field into the flag the user typed)."""
    info = read_run_or_none(run_dir, kind)
    if info is None:
        return
    recorded = info.config or {}
    differ = [key for key in sorted(set(recorded) | set(config)) if recorded.get(key) != config.get(key)]
    if differ:
        shown = "; ".join(f"{option_name(key)} {recorded.get(key)!r} there, {config.get(key)!r} now"
                          for key in differ)
        raise DistillError(f"{run_dir}: a finished {kind} run made with other options ({shown}); give another "
                           "output folder, or overwrite (--overwrite) to replace it")


def _matches(have, want) -> bool:
    """`want` is contained in `have`: equal values, dicts compared on `want`'s keys only."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _matches(have[k], v) for k, v in want.items())
    return have == want


def resumed(info: "RunInfo", old: "RunInfo | None") -> "RunInfo":
    """`info` of a run being resumed, keeping what the interrupted run had recorded."""
    if old is not None:
        info.best_epoch, info.best_value, info.model_sha256 = old.best_epoch, old.best_value, old.model_sha256
        info.created = old.created
    return info


def read_json_or_none(path: Path):
    """The JSON in `path`, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON atomically: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(obj, indent=2, default=json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_predictions(run_dir: Path, predictions: dict[str, np.ndarray]) -> None:
    """`PREDICTIONS_FILE` in `run_dir`, atomically (integer arrays by name)."""
    path = Path(run_dir) / PREDICTIONS_FILE
    tmp = path.with_name(f".{path.name}.partial.npz")
    np.savez(tmp, **{name: np.asarray(values, dtype=np.int32) for name, values in predictions.items()})
    os.replace(tmp, path)


def read_predictions(run_dir: Path) -> dict[str, np.ndarray] | None:
    """`PREDICTIONS_FILE` of a run as {name: int array}, or None when it has none (older runs) or it
    cannot be read."""
    path = Path(run_dir) / PREDICTIONS_FILE
    try:
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError):
        return None


def json_default(obj):
    """numpy scalars and arrays, and paths, as JSON."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


# ------------------------------------------------------------ run records
RUN_SCHEMA = 2
KINDS = ("teacher", "student", "pretrain")

# Files every run folder has, whatever its kind.
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "label_names.json"
EPOCHS_FILE = "epochs.jsonl"
TRAIN_RESULTS = "train_results.json"
EVAL_RESULTS = "eval_results.json"
PREDICTIONS_FILE = "predictions.npz"
"""Per evaluated split, the label id each row got: `<split>_model` (this run), `<split>_teacher` (the
teacher, where the run learned from one) and `<split>_gold`, in the split's row order. What the
report's paired bootstrap compares two models on, row by row."""
TENSORBOARD_DIR = "tensorboard"
BACKUP_DIR = "backup"

# TensorBoard tags the training engine writes and the report reads.
TAG_BATCH_PREFIX = "batch/"
"""Per-batch scalars are `batch/<metric>`, by optimizer step: the epoch's running mean after
that batch, as Keras logs it (`batch/loss`, `batch/accuracy` for a teacher, `batch/agreement`
for a student), and `batch/learning_rate` when the learning rate follows a schedule."""
TAG_BATCH_LOSS = TAG_BATCH_PREFIX + "loss"
TAG_BATCH_LEARNING_RATE = TAG_BATCH_PREFIX + "learning_rate"
TAG_EPOCH_PREFIX = "epoch/"
"""Per-epoch scalars are `epoch/<key>` for each numeric key of an epochs.jsonl record, by epoch."""
TAG_TRAIN_LOSS = TAG_EPOCH_PREFIX + "train_loss"
TAG_DEV_ACCURACY = TAG_EPOCH_PREFIX + "dev_accuracy"
TAG_DEV_LOSS = TAG_EPOCH_PREFIX + "dev_loss"


@dataclass
class TokenizerFacts:
    """What turns raw text into a run's token ids: the vocab (by hash), case, truncation length."""

    lowercase: bool
    max_seq_len: int
    vocab_sha256: str | None = None


@dataclass
class RunInfo:
    """The typed `run.json` of a run folder, for every kind of run.

    `name` is the teacher's name for a teacher run, the architecture for a
    student run. `provenance` says where the run's inputs came from (teacher:
    pretrained weights and the task's data hash; student: the materials file
    and its teacher). `complete` stays false until training and evaluation
    have finished; `interrupted` is set by a Ctrl-C.
    """

    kind: str
    name: str
    task: str
    config: dict
    label_names: list
    tokenizer: TokenizerFacts
    primary_metric: str = "accuracy"
    is_pair: bool = False
    params: int | None = None
    trainable_params: int | None = None
    provenance: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    complete: bool = False
    interrupted: bool = False
    model_file: str | None = MODEL_FILE
    model_sha256: str | None = None
    monitor: str | None = None
    best_epoch: int | None = None
    best_value: float | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    timings: dict = field(default_factory=dict)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    versions: dict = field(default_factory=dict)
    schema: int = RUN_SCHEMA

    @property
    def lowercase(self) -> bool:
        return self.tokenizer.lowercase

    @property
    def max_seq_len(self) -> int:
        return self.tokenizer.max_seq_len

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check_labels(self, task_name: str, label_names, run_dir=None) -> None:
        """One DistillError listing both label lists when a task's labels are not this run's
        (same names, same order: the outputs are indexed by them)."""
        if list(label_names) != list(self.label_names):
            where = f" {run_dir}" if run_dir is not None else ""
            raise DistillError(f"task {task_name} has labels {list(label_names)} but the {self.kind} run{where} "
                               f"was trained on {list(self.label_names)} (task {self.task})")

    @classmethod
    def from_dict(cls, d: dict, path: Path | str = RUN_FILE) -> "RunInfo":
        """A RunInfo from parsed JSON; one DistillError naming `path` and the field at fault."""
        if not isinstance(d, dict):
            raise DistillError(f"{path}: not a JSON object")
        d = _upgrade_schema_1(d) if d.get("schema", 1) == 1 else dict(d)
        if d.get("schema") != RUN_SCHEMA:
            raise DistillError(f"{path}: field 'schema' is {d.get('schema')!r}; this version reads {RUN_SCHEMA}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise DistillError(f"{path}: unknown field {unknown[0]!r}")
        for name, f in fields.items():
            if name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DistillError(f"{path}: missing field {name!r}")
        tok = d.get("tokenizer")
        if not isinstance(tok, dict) or not isinstance(tok.get("lowercase"), bool) \
                or not _is_int(tok.get("max_seq_len")) or set(tok) - {"lowercase", "max_seq_len", "vocab_sha256"}:
            raise DistillError(f"{path}: field 'tokenizer' must be an object with lowercase (bool), "
                               f"max_seq_len (int) and vocab_sha256, got {tok!r}")
        d["tokenizer"] = TokenizerFacts(**tok)
        checks = {"kind": lambda v: v in KINDS, "name": _is_str, "task": _is_str,
                  "config": lambda v: isinstance(v, dict),
                  "label_names": lambda v: isinstance(v, list) and len(v) >= _min_labels(d.get("kind"))
                  and all(map(_is_str, v)),
                  "primary_metric": _is_str, "is_pair": _is_bool, "complete": _is_bool, "interrupted": _is_bool,
                  "params": _int_or_none, "trainable_params": _int_or_none, "best_epoch": _int_or_none,
                  "model_file": lambda v: v is None or _is_str(v), "epochs_run": _is_int,
                  "provenance": lambda v: isinstance(v, dict), "rows": lambda v: isinstance(v, dict),
                  "timings": lambda v: isinstance(v, dict), "stopped_early": _is_bool}
        for name, ok in checks.items():
            if name in d and not ok(d[name]):
                raise DistillError(f"{path}: field {name!r} has a bad value {d[name]!r}")
        return cls(**d)


def _min_labels(kind) -> int:
    """A classifier (teacher, student) has at least two labels; a pretraining run has none (MLM only)."""
    return 0 if kind == "pretrain" else 2


def _is_str(v) -> bool:
    return isinstance(v, str) and bool(v)


def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_or_none(v) -> bool:
    return v is None or _is_int(v)


def _upgrade_schema_1(d: dict) -> dict:
    """A run.json written before RunInfo (schema 1, flat tokenizer fields) in today's shape."""
    d = dict(d)
    kind = d.get("kind")
    name = d.pop("teacher", None) if kind == "teacher" else d.pop("arch", None) or d.get("name")
    if kind == "student":
        d.pop("teacher", None)
    d.pop("name", None)
    tokenizer = {"lowercase": d.pop("lowercase", None), "max_seq_len": d.pop("max_seq_len", None),
                 "vocab_sha256": d.pop("vocab_sha256", None)}
    provenance = {k: d.pop(k) for k in ("task_sha256", "weights_source", "pretrained_weights_sha256",
                                        "random_init", "materials") if k in d}
    monitor = d.get("monitor")
    best = d.pop(f"best_{monitor}", None) if monitor else None
    for key in [k for k in d if k.startswith("best_") and k != "best_epoch"]:
        d.pop(key)
    return {**d, "schema": RUN_SCHEMA, "name": name, "tokenizer": tokenizer, "provenance": provenance,
            "best_value": best}


def write_run(run_dir, info: RunInfo) -> None:
    """Write `run.json` atomically."""
    write_json_atomic(Path(run_dir) / RUN_FILE, info.to_dict())


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first 8 bytes of an HDF5 file (a materials file, a shard, a .partial one)."""


def is_hdf5(path) -> bool:
    """Whether `path` is an HDF5 file, by its .h5 suffix or its signature: what a materials file given
    where a run folder belongs looks like (this module reads no HDF5 and imports no materials/)."""
    path = Path(path).expanduser()
    if not path.is_file():
        return False
    if path.suffix == ".h5":
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def run_folder_wanted(kind: str | None = None) -> str:
    """'a teacher run folder (runs/teacher/<id>)', or of a student, or of either when `kind` is None."""
    if kind is None:
        return "a teacher or student run folder (runs/teacher/<id>, runs/student/<id>)"
    return f"a {kind} run folder (runs/{kind}/<id>)"


def read_run(run_dir, kind: str | None = None) -> RunInfo:
    """The RunInfo of a run folder; one DistillError naming the file (and the field) when it is
    missing, unreadable, malformed or of another `kind`, and saying what was given instead when it is
    a file (a materials file, say)."""
    if Path(run_dir).is_file():
        what = "a materials file (HDF5)" if is_hdf5(run_dir) else "a file"
        raise DistillError(f"{run_dir} is {what}, not a run folder; give {run_folder_wanted(kind)}")
    path = Path(run_dir) / RUN_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DistillError(f"{run_dir}: no {RUN_FILE}; not a run folder") from None
    except OSError as exc:
        raise DistillError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise DistillError(f"{path}: not valid JSON ({exc})") from None
    if kind is not None and isinstance(raw, dict) and raw.get("kind") != kind:
        raise DistillError(f"{path}: kind is {raw.get('kind')!r}, not a {kind} run")
    info = RunInfo.from_dict(raw, path)
    if kind is not None and info.kind != kind:
        raise DistillError(f"{path}: kind is {info.kind!r}, not a {kind} run")
    return info


def read_run_or_none(run_dir, kind: str | None = None) -> RunInfo | None:
    """The RunInfo of a run folder, or None when there is none readable (of that `kind`)."""
    try:
        return read_run(run_dir, kind)
    except DistillError:
        return None


def finished_results(run_dir, kind: str) -> dict | None:
    """eval_results of a finished run of `kind` in `run_dir`, or None (missing, interrupted, other kind).
    What `distill run` and the CLI use to reuse a run instead of training it again."""
    info = read_run_or_none(run_dir, kind)
    if info is None or not info.complete:
        return None
    results = read_json_or_none(Path(run_dir) / EVAL_RESULTS)
    return results if isinstance(results, dict) else None
