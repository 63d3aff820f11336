"""Reading a runs folder: the run folders, bench files and materials files under it.

Owns turning files into records: `load_run` (a teacher or student run folder,
read through `distill.runfiles.read_run`, plus its `eval_results.json`),
`load_bench` (one `bench.json` from `distill bench`), `load_materials` (the
per-split facts a materials file records) and `collect`, which walks a runs
folder and gathers them all into a `Collection`. Runs that are not (yet)
reportable are skipped with a reason; malformed files are errors naming the
file (and, for run.json, the field).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from distill.errors import DistillError
from distill.runfiles import EVAL_RESULTS, RUN_FILE, TENSORBOARD_DIR, read_run

RUN_KINDS = ("teacher", "student")
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
class Collection:
    """Everything found under a runs folder."""

    runs_dir: Path
    runs: list[RunRecord] = field(default_factory=list)
    bench: list[BenchRow] = field(default_factory=list)
    machines: list[dict] = field(default_factory=list)      # {"source": str, "machine": {...}}
    materials: list[MaterialsRecord] = field(default_factory=list)
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


def load_run(run_dir: str | os.PathLike) -> RunRecord | str:
    """The run in `run_dir`, or a string saying why it is not (yet) reportable.

    A run that is not complete, or has no eval_results.json yet, is skipped
    (it may still be running), and so is one that kept no model file
    (`model_file` null: picked on dev, never benchmarked or taught from); a
    malformed run.json is an error naming the file and the field.
    """
    run_dir = Path(run_dir)
    info = read_run(run_dir)
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
                     label_names=info.label_names, origin=_origin(info.kind, info.provenance))


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


def load_bench(path: str | os.PathLike) -> tuple[list[BenchRow], dict]:
    """The rows of one bench.json (and its machine), checked for the fields the report needs."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise DistillError(f"{path}: expected an object with a 'rows' list")
    machine = data.get("machine") or {}
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
    for meta in filter(wanted, _walk(runs_dir, RUN_FILE, skip)):
        run = load_run(meta.parent)
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


def _is_materials(path: Path) -> bool:
    """Whether an .h5 file claims to be a materials file (runs also hold Keras weight files)."""
    import h5py

    from materials.schema import SCHEMA as MATERIALS_SCHEMA

    try:
        with h5py.File(path, "r") as h5:
            schema = h5.attrs.get("schema")
    except OSError:
        return False
    schema = schema.decode() if isinstance(schema, bytes) else schema
    return isinstance(schema, str) and schema.startswith(MATERIALS_SCHEMA.split("/")[0])


