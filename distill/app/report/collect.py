"""Reading a runs folder: the run folders, bench files and materials files under it.

Owns turning files into records: `load_run` (a teacher or student run folder,
read through `distill.runfiles.read_run`, plus its `eval_results.json`),
`load_pretrain` (a pretraining run folder from `distill teacher pretrain`:
its epochs.jsonl, train_results.json and finetune.jsonl, complete or still
running), `load_bench` (one `bench.json` from `distill bench`),
`load_materials` (the per-split facts a materials file records) and
`collect`, which walks a runs folder and gathers them all into a
`Collection`. Runs that are not (yet) reportable are skipped with a reason;
malformed files are errors naming the file (and, for run.json, the field).

Run folders inside a pretraining run (its `finetune/epoch-K/` teacher runs)
are not models of the main tables: they answer "how good is the encoder
after K epochs of pretraining" and are reported in the pretraining section
only. The JSON-lines files are read here, without TensorFlow; a line a kill
cut short is skipped and counted, as `teachers.pretrain.read_finetunes` does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from distill.errors import DistillError
from distill.runfiles import (EPOCHS_FILE, EVAL_RESULTS, RUN_FILE, TENSORBOARD_DIR, TRAIN_RESULTS, RunInfo,
                              read_json_or_none, read_run)

RUN_KINDS = ("teacher", "student")
PRETRAIN_KIND = "pretrain"
FINETUNE_FILE = "finetune.jsonl"     # teachers.pretrain.FINETUNE_FILE (not imported: that imports TensorFlow)
ROW_KINDS = ("teacher", "student", "preset")


@dataclass
class RunRecord:
    """One finished teacher or student run folder."""

    path: Path
    kind: str
    task: str
    name: str
    config: dict
    seed: object
    results: dict            # split -> metrics dict (accuracy, f1, mcc, n, seconds, it_per_s, ...)
    params: int | None = None
    label_names: list | None = None
    origin: dict = field(default_factory=dict)   # what the run was made from, beyond its config
    trainable_params: int | None = None           # the rest is frozen (a student's static table)


@dataclass
class BenchRow:
    """One row of a bench.json, with the file and machine it came from."""

    model: str
    kind: str
    run: str | None
    random_weights: bool
    params: int | None
    flops_per_example: float | None
    batch_size: int
    mode: str
    it_per_s: dict
    gflops: float | None
    task: str | None
    split: str | None
    source: Path
    source_mtime: float
    machine: dict

    def to_dict(self) -> dict:
        return {"model": self.model, "kind": self.kind, "run": self.run, "random_weights": self.random_weights,
                "params": self.params, "flops_per_example": self.flops_per_example,
                "batch_size": self.batch_size, "mode": self.mode, "it_per_s": self.it_per_s,
                "gflops": self.gflops, "task": self.task, "split": self.split, "source": str(self.source)}


@dataclass
class MaterialsRecord:
    path: Path
    task: str
    teacher: str
    splits: dict             # split -> {rows, teacher_accuracy, seconds, it_per_s}


@dataclass
class PretrainRecord:
    """One pretraining run folder (`distill teacher pretrain`), finished or not."""

    path: Path
    name: str                # the encoder: a preset ("mini") or the teacher continued ("minilm-l6")
    corpus: str              # run.json's task: the corpus sources joined by " + "
    config: dict             # PretrainConfig
    complete: bool
    interrupted: bool
    epochs_run: int          # epochs finished (the last in epochs.jsonl)
    epochs_planned: int | None
    random_init: bool | None
    start: str | None        # where the start weights came from
    params: int | None
    history: list[dict]      # epochs.jsonl records, one per epoch, in order
    throughput: dict         # tokens_per_s, gflop_per_s, ... and "source" (train_results.json | epochs.jsonl)
    finetunes: list[dict]    # finetune.jsonl records, the last for each pretraining epoch, in order
    notes: list[str] = field(default_factory=list)   # lines skipped (cut short by a kill)

    @property
    def status(self) -> str:
        if self.complete:
            return "complete"
        return "interrupted" if self.interrupted else "not complete (still running, or killed)"


@dataclass
class Collection:
    """Everything found under a runs folder."""

    runs_dir: Path
    runs: list[RunRecord] = field(default_factory=list)
    bench: list[BenchRow] = field(default_factory=list)
    machines: list[dict] = field(default_factory=list)      # {"source": str, "machine": {...}}
    materials: list[MaterialsRecord] = field(default_factory=list)
    pretrains: list[PretrainRecord] = field(default_factory=list)
    explains: list[dict] = field(default_factory=list)      # explain.json records, with "path"
    skipped: list[dict] = field(default_factory=list)       # {"path": str, "reason": str}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DistillError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except OSError as exc:
        raise DistillError(f"{path}: cannot read ({exc.strerror})") from None


def _walk(root: Path, filename: str, exclude: Path | None) -> list[Path]:
    """Every `filename` under root, sorted, skipping hidden folders, TensorBoard logs and `exclude`."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != TENSORBOARD_DIR
                             and (exclude is None or (here / d).resolve() != exclude))
        if filename in filenames:
            found.append(here / filename)
    return found


def _name_of(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"]
    return None


def load_run(run_dir: str | os.PathLike, info: RunInfo | None = None) -> RunRecord | str:
    """The run in `run_dir`, or a string saying why it is not (yet) reportable.

    A run that is not complete, or has no eval_results.json yet, is skipped
    (it may still be running), and so is one that kept no model file
    (`model_file` null: picked on dev, never benchmarked or taught from); a
    malformed run.json is an error naming the file and the field.
    """
    run_dir = Path(run_dir)
    info = info if info is not None else read_run(run_dir)
    if info.kind not in RUN_KINDS:
        return f"kind {info.kind!r} is not a teacher or student run"
    if not info.complete:
        return "not complete"
    if info.model_file is None:
        return "no saved model (a grid-search trial, kept out of the comparison)"
    results_path = run_dir / EVAL_RESULTS
    if not results_path.exists():
        return f"no {EVAL_RESULTS}"
    raw = _read_json(results_path)
    if not isinstance(raw, dict):
        raise DistillError(f"{results_path}: expected a JSON object of splits")
    results = {split: m for split, m in raw.items() if isinstance(m, dict) and "accuracy" in m}
    if not results:
        raise DistillError(f"{results_path}: no split with an 'accuracy' (expected {{\"dev\": {{...}}, ...}})")
    return RunRecord(path=run_dir, kind=info.kind, task=info.task, name=info.name, config=info.config,
                     seed=info.config.get("seed"), results=results, params=info.params,
                     label_names=info.label_names, origin=_origin(info.kind, info.provenance),
                     trainable_params=info.trainable_params)


def _origin(kind: str, provenance: dict) -> dict:
    """What makes two runs with equal configs different models: the teacher's starting weights, or the
    student's teacher and materials file (a student config does not name its materials)."""
    if kind == "teacher":
        origin = {"weights": provenance.get("weights_source"), "random_init": provenance.get("random_init")}
    else:
        materials = provenance.get("materials") if isinstance(provenance.get("materials"), dict) else {}
        origin = {"teacher": _name_of(materials.get("teacher")),
                  "materials": (materials.get("sha256") or "")[:8] or None}
    return {k: v for k, v in origin.items() if v is not None}


def read_jsonl(path: Path) -> tuple[list[tuple[int, dict]], int]:
    """The (line number, object) of every line of a JSON-lines file, and how many lines were cut short.

    A line that is not JSON is what a kill mid-write leaves (and a resumed run appends after it), so
    it is skipped and counted; a line that is JSON but not an object is an error naming the line.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DistillError(f"{path}: cannot read ({exc.strerror})") from None
    records, cut = [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            cut += 1
            continue
        if not isinstance(record, dict):
            raise DistillError(f"{path}: line {number}: expected a JSON object")
        records.append((number, record))
    return records, cut


def _by_epoch(path: Path, key: str, notes: list[str]) -> list[dict]:
    """A JSON-lines file's records keyed by the int `key`, the last line for each value winning
    (a resumed run may repeat one), in order of `key`."""
    if not path.is_file():
        return []
    records, cut = read_jsonl(path)
    if cut:
        notes.append(f"{path.name}: {cut} line(s) cut short (a killed run), skipped")
    by_key = {}
    for number, record in records:
        value = record.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DistillError(f"{path}: line {number}: {key!r} must be an int >= 0, got {value!r}")
        by_key[value] = record
    return [by_key[k] for k in sorted(by_key)]


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _pretrain_throughput(run_dir: Path, history: list[dict]) -> dict:
    """tokens/s and GFLOP/s of a pretraining run: train_results.json's (written at the end), else the
    median of epochs.jsonl's epochs after the first (the first pays for tracing), else of all."""
    results = read_json_or_none(run_dir / TRAIN_RESULTS)
    if isinstance(results, dict) and isinstance(results.get("tokens_per_s"), (int, float)):
        keys = ("tokens_per_s", "gflop_per_s", "train_flops_per_token", "mean_row_tokens", "tokens_per_epoch")
        return {**{k: results.get(k) for k in keys}, "source": f"{TRAIN_RESULTS}: median of the epochs after the first"}
    out = {"source": None}
    for key in ("tokens_per_s", "gflop_per_s"):
        values = [r[key] for r in history if isinstance(r.get(key), (int, float))]
        steady = [r[key] for r in history[1:] if isinstance(r.get(key), (int, float))]
        out[key] = _median(steady or values)
        if out[key] is not None:
            out["source"] = f"{EPOCHS_FILE}: median of the epochs" + (" after the first" if steady else "")
    return out


def load_pretrain(run_dir: str | os.PathLike, info: RunInfo | None = None) -> PretrainRecord:
    """The pretraining run in `run_dir`, as far as it got: MLM history, throughput, fine-tunings."""
    run_dir = Path(run_dir)
    info = info if info is not None else read_run(run_dir, PRETRAIN_KIND)
    notes: list[str] = []
    history = _by_epoch(run_dir / EPOCHS_FILE, "epoch", notes)
    finetunes = _by_epoch(run_dir / FINETUNE_FILE, "pretrain_epoch", notes)
    for record in finetunes:
        for split in ("dev", "test"):
            if record.get(split) is not None and not isinstance(record[split], dict):
                raise DistillError(f"{run_dir / FINETUNE_FILE}: pretraining epoch {record['pretrain_epoch']}: "
                                   f"{split!r} must be an object of metrics or null")
        if not isinstance(record.get("curve", []), list):
            raise DistillError(f"{run_dir / FINETUNE_FILE}: pretraining epoch {record['pretrain_epoch']}: "
                               "'curve' must be a list")
    planned = info.config.get("epochs")
    random_init = info.provenance.get("random_init")
    return PretrainRecord(
        path=run_dir, name=info.name, corpus=info.task, config=info.config, complete=info.complete,
        interrupted=info.interrupted, epochs_run=max([r["epoch"] for r in history] + [info.epochs_run]),
        epochs_planned=planned if isinstance(planned, int) else None,
        random_init=random_init if isinstance(random_init, bool) else None,
        start=info.provenance.get("start") if isinstance(info.provenance.get("start"), str) else None,
        params=info.params, history=history, throughput=_pretrain_throughput(run_dir, history),
        finetunes=finetunes, notes=notes)


def load_bench(path: str | os.PathLike) -> tuple[list[BenchRow], dict]:
    """The rows of one bench.json (and its machine), checked for the fields the report needs."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise DistillError(f"{path}: expected an object with a 'rows' list")
    machine = dict(data.get("machine") or {})
    if isinstance(data.get("matmul_peak_gflops"), (int, float)):   # measured in the same run as the rows
        machine["matmul_peak_gflops"] = data["matmul_peak_gflops"]
    mtime = path.stat().st_mtime
    rows = []
    for i, row in enumerate(data["rows"]):
        where = f"{path}: rows[{i}]"
        if not isinstance(row, dict):
            raise DistillError(f"{where}: expected an object")
        for key in ("model", "kind", "batch_size", "mode", "it_per_s"):
            if key not in row:
                raise DistillError(f"{where}: no {key!r}")
        if row["kind"] not in ROW_KINDS:
            raise DistillError(f"{where}: kind {row['kind']!r} is not one of {', '.join(ROW_KINDS)}")
        speed = row["it_per_s"]
        if not isinstance(speed, dict) or not isinstance(speed.get("median"), (int, float)):
            raise DistillError(f"{where}: 'it_per_s' needs a numeric 'median'")
        rows.append(BenchRow(model=str(row["model"]), kind=row["kind"], run=row.get("run"),
                             random_weights=bool(row.get("random_weights", False)), params=row.get("params"),
                             flops_per_example=row.get("flops_per_example"), batch_size=int(row["batch_size"]),
                             mode=str(row["mode"]), it_per_s=speed, gflops=row.get("gflops"),
                             task=row.get("task", data.get("task")), split=row.get("split", data.get("split")),
                             source=path, source_mtime=mtime, machine=machine))
    return rows, machine


def load_materials(path: str | os.PathLike) -> MaterialsRecord:
    """Per-split rows, teacher accuracy and teacher it/s recorded in a materials file."""
    from materials.reader import MaterialsFile

    with MaterialsFile(path) as m:
        splits = {}
        for split in m.splits:
            attrs = m.split_attrs(split)
            metrics = attrs.get("metrics") or {}
            accuracy = metrics.get("accuracy", attrs.get("teacher_accuracy"))
            splits[split] = {"rows": int(attrs["rows"]),
                             "teacher_accuracy": float(accuracy) if accuracy is not None and int(attrs["rows"])
                             and split != "transfer" else None,
                             "seconds": float(attrs["seconds"]), "it_per_s": float(attrs["it_per_s"])}
        return MaterialsRecord(path=Path(path), task=m.task, teacher=str(m.teacher.get("name")), splits=splits)


def collect(runs_dir: str | os.PathLike, exclude: str | os.PathLike | None = None,
            include: list | None = None) -> Collection:
    """Read every run, bench and materials file under `runs_dir` (except under `exclude`).

    `include`, a list of folders, keeps only what lies under one of them
    (`distill run` reports exactly its own stages, not stale ones beside them).
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise DistillError(f"{runs_dir}: no such runs folder")
    skip = Path(exclude).resolve() if exclude else None
    kept = [Path(p).resolve() for p in include] if include is not None else None

    def wanted(path: Path) -> bool:
        return kept is None or any(path.resolve().is_relative_to(k) for k in kept)

    found = Collection(runs_dir=runs_dir)
    inside = _InsidePretrain(runs_dir)
    for meta in filter(wanted, _walk(runs_dir, RUN_FILE, skip)):
        if inside(meta.parent):
            continue   # a pretraining run's fine-tuning: shown with that run, not in the main tables
        info = read_run(meta.parent)
        if info.kind == PRETRAIN_KIND:
            found.pretrains.append(load_pretrain(meta.parent, info))
            continue
        run = load_run(meta.parent, info)
        if isinstance(run, str):
            found.skipped.append({"path": str(meta.parent), "reason": run})
        else:
            found.runs.append(run)
    for path in filter(wanted, _walk(runs_dir, "bench.json", skip)):
        rows, machine = load_bench(path)
        found.bench += rows
        found.machines.append({"source": str(path), "machine": machine})
    for path in filter(wanted, _walk(runs_dir, "explain.json", skip)):
        record = _read_json(path)
        if isinstance(record, dict) and record.get("kind") == "explain":
            found.explains.append({**record, "path": str(path)})
    for dirpath, dirnames, filenames in os.walk(runs_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != TENSORBOARD_DIR)
        for name in sorted(filenames):
            if name.endswith(".h5") and wanted(Path(dirpath) / name) and _is_materials(Path(dirpath) / name):
                found.materials.append(load_materials(Path(dirpath) / name))
    return found


class _InsidePretrain:
    """Whether a folder lies inside a pretraining run folder (a run.json of kind "pretrain" in one of
    its parents, up to the runs folder), with the answer for each parent remembered."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.known: dict[Path, bool] = {}

    def is_pretrain(self, folder: Path) -> bool:
        if folder not in self.known:
            raw = read_json_or_none(folder / RUN_FILE)
            self.known[folder] = isinstance(raw, dict) and raw.get("kind") == PRETRAIN_KIND
        return self.known[folder]

    def __call__(self, folder: Path) -> bool:
        folder = folder.resolve()
        if not folder.is_relative_to(self.root):
            return False
        return any(self.is_pretrain(parent) for parent in folder.parents if parent.is_relative_to(self.root))


def _is_materials(path: Path) -> bool:
    """Whether an .h5 file is a materials file (runs also hold Keras weight files); only `materials/`
    knows the HDF5 layout, so it is asked."""
    from materials.schema import is_materials_file

    return is_materials_file(path)


