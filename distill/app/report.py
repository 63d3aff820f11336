"""`distill report`: what a runs folder says about accuracy against speed.

Owns the read-only view over finished work: it collects teacher and student
run folders (`run.json` + `eval_results.json` + `tensorboard/`), benchmark
results (`bench.json` from `distill bench`) and materials files under one
runs folder, and writes, per task, a Markdown table (accuracy as mean ± sd
over seeds, it/s, speed-up and accuracy kept against every teacher), a PNG of
test accuracy against it/s with the Pareto front, PNG training curves from
the TensorBoard scalars, `report.md` embedding them and `report.json` holding
every number of the tables.

Why runs are grouped: a model is trained with several seeds so that a
difference between models can be told from seed noise; runs whose config
differs only in `seed` are one row, reported as mean ± sample sd (n - 1).

Why it/s comes from `distill bench` and not from the runs: only the bench
measures every model one after another on the same inputs and machine, so
only its numbers can be divided by each other. A run's own evaluation speed
is used (and marked) only where no bench row exists.

Nothing here writes outside the output folder; every file is written to a
temporary name and renamed, so a killed report leaves the previous one whole.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from distill.errors import DistillError
from distill.metrics import primary_metric

SCHEMA = "distill.app.report/1"
RUN_KINDS = ("teacher", "student")
ROW_KINDS = ("teacher", "student", "preset")
PREFERRED_MODE = "text"
EVAL_MODE = "eval"   # it/s a run measured itself while evaluating (no bench row)
NOT_CONFIG = {"seed", "run_dir", "out", "output_dir"}   # keys that do not make a different model
EVENT_PREFIX = "events.out.tfevents"


# ------------------------------------------------------------------ reading
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
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "tensorboard"
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
    (it may still be running), and so is one that kept no model file (a
    teachers/tune.py grid trial: picked on dev, never benchmarked or taught
    from); a run.json that is malformed is an error.
    """
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    meta = _read_json(meta_path)
    if not isinstance(meta, dict):
        raise DistillError(f"{meta_path}: expected a JSON object")
    kind = meta.get("kind")
    if kind not in RUN_KINDS:
        return f"kind {kind!r} is not a teacher or student run"
    if meta.get("complete") is False:
        return "not complete"
    if "model_file" in meta and meta["model_file"] is None:
        return "no saved model (a grid-search trial, kept out of the comparison)"
    results_path = run_dir / "eval_results.json"
    if not results_path.exists():
        return "no eval_results.json"
    task = _name_of(meta.get("task"))
    if not task:
        raise DistillError(f"{meta_path}: no 'task'")
    config = meta.get("config") or {}
    if not isinstance(config, dict):
        raise DistillError(f"{meta_path}: 'config' must be a JSON object")
    if kind == "teacher":
        name = _name_of(meta.get("teacher")) or _name_of(meta.get("name"))
    else:
        name = _name_of(meta.get("name")) or _name_of(meta.get("arch")) or _name_of(config.get("arch"))
    raw = _read_json(results_path)
    if not isinstance(raw, dict):
        raise DistillError(f"{results_path}: expected a JSON object of splits")
    results = {split: m for split, m in raw.items() if isinstance(m, dict) and "accuracy" in m}
    if not results:
        raise DistillError(f"{results_path}: no split with an 'accuracy' (expected {{\"dev\": {{...}}, ...}})")
    params = next((meta[k] for k in ("params", "num_parameters", "parameters") if isinstance(meta.get(k), int)), None)
    return RunRecord(path=run_dir, kind=kind, task=task, name=name or kind, config=config,
                     seed=config.get("seed", meta.get("seed")), results=results, params=params,
                     label_names=meta.get("label_names"), origin=_origin(kind, meta))


def _origin(kind: str, meta: dict) -> dict:
    """What makes two runs with equal configs different models: the teacher's starting weights, or the
    student's teacher and materials file (a student config does not name its materials)."""
    if kind == "teacher":
        origin = {"weights": meta.get("weights_source"), "random_init": meta.get("random_init")}
    else:
        materials = meta.get("materials") if isinstance(meta.get("materials"), dict) else {}
        origin = {"teacher": _name_of(meta.get("teacher")), "materials": (materials.get("sha256") or "")[:8] or None}
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
    for meta in filter(wanted, _walk(runs_dir, "run.json", skip)):
        run = load_run(meta.parent)
        if isinstance(run, str):
            found.skipped.append({"path": str(meta.parent), "reason": run})
        else:
            found.runs.append(run)
    for path in filter(wanted, _walk(runs_dir, "bench.json", skip)):
        rows, machine = load_bench(path)
        found.bench += rows
        found.machines.append({"source": str(path), "machine": machine})
    for dirpath, dirnames, filenames in os.walk(runs_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "tensorboard")
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


# ----------------------------------------------------------------- grouping
def _without_seed(value):
    if isinstance(value, dict):
        return {k: _without_seed(v) for k, v in value.items() if k not in NOT_CONFIG}
    return value


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@dataclass
class RunGroup:
    """Runs of one model: same kind, task, name and config except the seed."""

    kind: str
    task: str
    name: str
    config: dict             # the shared config, seed removed
    origin: dict             # the shared origin (teacher weights; student's teacher and materials)
    runs: list[RunRecord]
    label: str = ""

    @property
    def seeds(self) -> list:
        return [r.seed for r in self.runs]


def group_runs(runs: list[RunRecord]) -> list[RunGroup]:
    """Group runs differing only in seed; label groups so that same-named ones can be told apart."""
    groups: dict[str, RunGroup] = {}
    for run in sorted(runs, key=lambda r: (r.task, r.kind, r.name, str(r.seed), str(r.path))):
        config = _without_seed(run.config)
        key = json.dumps([run.kind, run.task, run.name, config, run.origin], sort_keys=True, default=str)
        if key not in groups:
            groups[key] = RunGroup(run.kind, run.task, run.name, config, run.origin, [])
        groups[key].runs.append(run)
    result = list(groups.values())
    by_name: dict[tuple, list[RunGroup]] = {}
    for g in result:
        by_name.setdefault((g.task, g.kind, g.name), []).append(g)
    for same in by_name.values():
        if len(same) == 1:
            same[0].label = same[0].name
            continue
        flats = [_flatten({**g.config, **g.origin}) for g in same]
        keys = sorted({k for f in flats for k in f})
        differing = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]
        short = [k for k in differing if all(len(str(f.get(k))) <= 24 for f in flats)]
        for i, (g, flat) in enumerate(zip(same, flats)):
            shown = ", ".join(f"{k.split('.')[-1]}={flat.get(k)}" for k in short[:3])
            g.label = f"{g.name} ({shown})" if shown else f"{g.name} #{i + 1}"
        labels = [g.label for g in same]
        for i, g in enumerate(same):
            if labels.count(g.label) > 1:   # they differ only in keys not shown: keep rows apart
                g.label += f" #{i + 1}"
    return result


# ------------------------------------------------------------------- tables
def mean_sd(values: list[float]) -> dict:
    """Mean, sample sd (n - 1; None for one value), n and the values themselves."""
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values) if values else None,
            "sd": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "values": values}


def _speed_key(row: BenchRow, batch_size: int):
    """Smaller is better: the preferred batch, then raw text, then the newest bench file."""
    return (row.batch_size != batch_size, abs(math.log(max(row.batch_size, 1) / batch_size)),
            row.mode != PREFERRED_MODE, -row.source_mtime)


def _speed_of(row: BenchRow) -> dict:
    return {"it_per_s": float(row.it_per_s["median"]), "min": row.it_per_s.get("min"),
            "max": row.it_per_s.get("max"), "repeats": row.it_per_s.get("repeats"),
            "batch_size": row.batch_size, "mode": row.mode, "source": str(row.source), "run": row.run}


def _match_runs(rows: list[BenchRow], runs: list[RunRecord], runs_dir: Path) -> dict[int, RunRecord]:
    """Bench row index -> the run folder it measured (by path, else by folder name and kind)."""
    by_path = {r.path.resolve(): r for r in runs}
    by_name: dict[tuple, list[RunRecord]] = {}
    for r in runs:
        by_name.setdefault((r.kind, r.path.name), []).append(r)
    matched = {}
    for i, row in enumerate(rows):
        if not row.run or row.kind == "preset":
            continue
        p = Path(row.run)
        bases = [Path.cwd(), runs_dir, runs_dir.parent, row.source.parent] if not p.is_absolute() else [Path("/")]
        hit = next((by_path[(b / p).resolve()] for b in bases if (b / p).resolve() in by_path), None)
        if hit is None and len(by_name.get((row.kind, p.name), [])) == 1:
            hit = by_name[(row.kind, p.name)][0]
        if hit is not None:
            matched[i] = hit
    return matched


def _metric_summary(runs: list[RunRecord], split: str, names) -> dict:
    out = {}
    for name in names:
        values = [r.results[split][name] for r in runs
                  if split in r.results and isinstance(r.results[split].get(name), (int, float))]
        if values:
            out[name] = mean_sd(values)
    return out


def build_tables(found: Collection, batch_size: int = 32) -> dict[str, dict]:
    """Per task: the rows of the report table, with every number `report.json` records."""
    groups = group_runs(found.runs)
    matched = _match_runs(found.bench, found.runs, found.runs_dir)
    run_group = {id(r): g for g in groups for r in g.runs}
    group_bench: dict[int, list[BenchRow]] = {}
    loose: list[BenchRow] = []        # presets and runs not found under runs_dir
    for i, row in enumerate(found.bench):
        if i in matched:
            group = run_group[id(matched[i])]
            if row.task in (None, group.task):
                group_bench.setdefault(id(group), []).append(row)
        else:
            loose.append(row)
    tasks = sorted({g.task for g in groups} | {r.task for r in loose if r.task})
    tables = {}
    for task in tasks:
        primary = primary_metric(task)
        names = ("accuracy",) if primary == "accuracy" else ("accuracy", primary)
        names += ("agreement",)   # students: agreement with the teacher's predictions
        rows = []
        for g in (g for g in groups if g.task == task):
            bench = sorted(group_bench.get(id(g), []), key=lambda r: _speed_key(r, batch_size))
            speed = _speed_of(bench[0]) if bench else _eval_speed(g)
            params = next((r.params for r in bench if isinstance(r.params, int)), None)
            params = params if params is not None else next((r.params for r in g.runs if r.params), None)
            rows.append({
                "model": g.label, "kind": g.kind, "random_weights": False,
                "runs": [str(r.path) for r in g.runs], "seeds": g.seeds, "params": params,
                "config": g.config, "origin": g.origin,
                "dev": _metric_summary(g.runs, "dev", names), "test": _metric_summary(g.runs, "test", names),
                "speed": speed, "it_per_s": speed["it_per_s"] if speed else None,
                "bench": [r.to_dict() for r in bench],
            })
        presets: dict[tuple, list[BenchRow]] = {}
        for row in loose:
            if row.task in (None, task):   # a bench row that names no task stands for every task
                presets.setdefault((row.model, row.kind, row.random_weights), []).append(row)
        for (model, kind, random_weights), bench in sorted(presets.items()):
            bench.sort(key=lambda r: _speed_key(r, batch_size))
            label = f"{model} (random weights)" if random_weights else model
            rows.append({
                "model": label, "kind": kind if kind == "preset" else f"{kind} (bench only)",
                "random_weights": random_weights, "runs": [], "seeds": [], "params": bench[0].params,
                "config": {}, "dev": {}, "test": {}, "speed": _speed_of(bench[0]),
                "it_per_s": float(bench[0].it_per_s["median"]), "bench": [r.to_dict() for r in bench],
            })
        order = {"teacher": 0, "student": 1}
        rows.sort(key=lambda r: (order.get(r["kind"], 2), -(r["it_per_s"] or 0), r["model"]))
        teachers = [r for r in rows if r["kind"] == "teacher"]
        for row in rows:
            row["speedup"] = {t["model"]: row["it_per_s"] / t["it_per_s"]
                              for t in teachers if row["it_per_s"] and t["it_per_s"]}
            row["accuracy_kept"] = {}
            for t in teachers:
                split = "test" if "accuracy" in row["test"] and "accuracy" in t["test"] else "dev"
                if "accuracy" in row[split] and "accuracy" in t[split] and t[split]["accuracy"]["mean"]:
                    row["accuracy_kept"][t["model"]] = {
                        "percent": 100 * row[split]["accuracy"]["mean"] / t[split]["accuracy"]["mean"],
                        "split": split}
        tables[task] = {"task": task, "primary_metric": primary, "batch_size": batch_size,
                        "teachers": [t["model"] for t in teachers], "rows": rows}
    return tables


def _eval_speed(group: RunGroup) -> dict | None:
    """The run's own evaluation it/s (test, else dev; median over seeds), when no bench row exists."""
    for split in ("test", "dev"):
        values = [r.results[split]["it_per_s"] for r in group.runs
                  if isinstance(r.results.get(split, {}).get("it_per_s"), (int, float))
                  and r.results[split]["it_per_s"] > 0]
        if values:
            return {"it_per_s": statistics.median(values), "min": min(values), "max": max(values),
                    "repeats": len(values), "batch_size": None, "mode": EVAL_MODE,
                    "source": f"eval_results.json:{split}", "run": None}
    return None


# -------------------------------------------------------------------- plots
def _new_figure(width: float, height: float):
    """A figure drawn by Agg directly, never through pyplot: no global backend state, no GUI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both speed and accuracy, fastest first."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(x2 >= x and y2 >= y and (x2 > x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: -points[i][0])


def _speed_words(table: dict) -> str:
    modes = {(r["speed"]["batch_size"], r["speed"]["mode"]) for r in table["rows"] if r["speed"]}
    if len(modes) == 1:
        batch, mode = next(iter(modes))
        return _setting(batch, mode)
    return "mixed settings, see table"


def _setting(batch, mode) -> str:
    if mode == EVAL_MODE:
        return "run's own evaluation"
    what = {"text": "raw text, tokenization included", "ids": "token ids"}.get(mode, mode)
    return f"batch {batch}, {what}"


def plot_accuracy_vs_speed(table: dict, path: str | os.PathLike) -> dict:
    """Test accuracy (%) against it/s (log x) for one task; returns what was drawn.

    Teachers and students get different markers and colours, error bars are
    the sd over seeds, the dashed line is the Pareto front, and
    random-weight presets (no accuracy) are vertical dotted lines at their
    it/s. The returned dict holds the plotted points and the Figure (for tests).
    """
    split = "test" if any("accuracy" in r["test"] for r in table["rows"]) else "dev"
    fig = _new_figure(8, 5.5)
    ax = fig.add_subplot()
    style = {"teacher": dict(marker="s", color="tab:blue", label="teacher (fine-tuned)"),
             "student": dict(marker="o", color="tab:orange", label="student (CNN)")}
    points, labels, drawn = [], [], {}
    for kind, st in style.items():
        rows = [r for r in table["rows"] if r["kind"] == kind and r["it_per_s"] and "accuracy" in r[split]]
        if not rows:
            continue
        xs = [r["it_per_s"] for r in rows]
        ys = [100 * r[split]["accuracy"]["mean"] for r in rows]
        err = [100 * (r[split]["accuracy"]["sd"] or 0.0) for r in rows]
        bars = ax.errorbar(xs, ys, yerr=err, linestyle="none", markersize=8, capsize=3, **st)
        bars.lines[0].set_gid(f"{kind}-points")
        drawn[kind] = [{"model": r["model"], "it_per_s": x, "accuracy": y / 100} for r, x, y in zip(rows, xs, ys)]
        for r, x, y in zip(rows, xs, ys):
            points.append((x, y))
            labels.append(r["model"])
    front = pareto_front(points)
    if front:
        line, = ax.plot([points[i][0] for i in front], [points[i][1] for i in front], linestyle="--",
                        color="tab:green", linewidth=1.2, zorder=0, label="Pareto front")
        line.set_gid("pareto")
    presets = [r for r in table["rows"] if r["kind"] not in style and r["it_per_s"]]
    for k, r in enumerate(presets):
        ax.axvline(r["it_per_s"], linestyle=":", color="grey", gid=f"preset-{k}",
                   label="no accuracy, it/s only (presets)" if k == 0 else None)
        ax.text(r["it_per_s"], 0.02, f" {r['model']}", rotation=90, fontsize=8, color="dimgrey",
                transform=ax.get_xaxis_transform(), va="bottom", ha="right")
    xs_all = [p[0] for p in points] + [r["it_per_s"] for r in presets]
    ax.set_xscale("log")
    if xs_all:
        ax.set_xlim(min(xs_all) / 2, max(xs_all) * 2)
    if points:
        lo, hi = min(p[1] for p in points), max(p[1] for p in points)
        pad = max(2.0, (hi - lo) * 0.15)
        ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))
    ax.set_xlabel(f"throughput (examples/s, log scale; {_speed_words(table)})")
    ax.set_ylabel(f"{split} accuracy (%)")
    ax.set_title(f"{table['task']}: {split} accuracy vs throughput (error bars: sd over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    if points or presets:
        ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    _label_points(ax, points, labels)
    _save_png(fig, Path(path))
    return {"split": split, "points": drawn, "pareto": [labels[i] for i in front],
            "presets": [{"model": r["model"], "it_per_s": r["it_per_s"]} for r in presets], "figure": fig}


def _label_points(ax, points: list[tuple[float, float]], labels: list[str], fontsize: int = 8) -> None:
    """Name each point without labels overlapping: points in the right half of the axes are labelled on
    their left (so names stay inside the figure), the others on their right; on each side labels are
    stacked at least one text line apart, joined to their point by a thin line when moved."""
    if not points:
        return
    to_pixels = ax.transData.transform
    left, right = ax.get_window_extent().x0, ax.get_window_extent().x1
    line = fontsize * ax.figure.dpi / 72 * 1.35
    sides: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    for i, point in enumerate(points):
        px, py = to_pixels(point)
        sides[px > (left + right) / 2].append((py, px, i))
    for on_left, items in sides.items():
        previous = None
        for py, px, i in sorted(items, reverse=True):        # top to bottom
            target = py if previous is None else min(py, previous - line)
            previous = target
            moved = abs(target - py) > 1
            ax.annotate(labels[i], points[i], xytext=(-12 if on_left else 12, target - py), textcoords="offset pixels",
                        fontsize=fontsize, ha="right" if on_left else "left", va="center",
                        arrowprops=dict(arrowstyle="-", color="grey", linewidth=0.5) if moved else None)


# ----------------------------------------------------------- training curves
def read_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar under a TensorBoard log folder: "subdir/tag" -> [(step, value)] sorted by step.

    Reads TF2 summaries (stored as tensors) and TF1 ones (simple values);
    when a resumed run logged a step twice the later value wins.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    logdir = Path(logdir)
    scalars: dict[str, list[tuple[int, float]]] = {}
    if not logdir.is_dir():
        return scalars
    for dirpath, dirnames, filenames in sorted(os.walk(logdir)):
        dirnames.sort()
        if not any(f.startswith(EVENT_PREFIX) for f in filenames):
            continue
        sub = Path(dirpath).relative_to(logdir).as_posix()
        acc = ea.EventAccumulator(dirpath, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
        try:
            acc.Reload()
        except Exception as exc:   # a truncated event file from a killed run: say which
            raise DistillError(f"{dirpath}: cannot read TensorBoard events ({exc})") from None
        tags = acc.Tags()
        series = {}
        for tag in tags.get("scalars", []):
            series[tag] = [(e.step, float(e.value)) for e in acc.Scalars(tag)]
        for tag in tags.get("tensors", []):
            values = []
            for e in acc.Tensors(tag):
                array = tensor_util.make_ndarray(e.tensor_proto)
                if array.size == 1 and array.dtype.kind in "fiu":
                    values.append((e.step, float(array.reshape(-1)[0])))
            if values:
                series[tag] = values
        for tag, values in series.items():
            by_step = dict(values)
            scalars[f"{sub}/{tag}" if sub != "." else tag] = sorted(by_step.items())
    return scalars


def _tokens(tag: str) -> set[str]:
    return set(re.split(r"[/_\-. ]+", tag.lower()))


def pick_curves(scalars: dict) -> dict:
    """The dev-accuracy-per-epoch and training-loss series among a run's tags (names vary by writer).

    Keras's callback writes `validation/epoch_accuracy` and `train/batch_loss`;
    custom loops write things like `dev/accuracy`. Returns {"dev_accuracy":
    (tag, series) | None, "loss": (tag, series, "per batch" | "per epoch") | None}.
    """
    dev_words, acc_words = {"validation", "val", "dev", "eval"}, {"accuracy", "acc"}

    def first(cands):
        return min(cands, key=lambda t: (len(t), t)) if cands else None

    dev = first([t for t in scalars if _tokens(t) & dev_words and _tokens(t) & acc_words
                 and "iterations" not in _tokens(t)])
    train = [t for t in scalars if "loss" in _tokens(t) and not _tokens(t) & dev_words]
    batch = first([t for t in train if "batch" in _tokens(t)])
    epoch = first([t for t in train if "epoch" in _tokens(t)])
    loss = (batch, scalars[batch], "per batch") if batch else (epoch, scalars[epoch], "per epoch") if epoch else None
    return {"dev_accuracy": (dev, scalars[dev]) if dev else None, "loss": loss}


def _smooth(values: list[float]) -> list[float]:
    """TensorBoard-style debiased EMA; weight grows with the series so short curves are not flattened."""
    n = len(values)
    weight = 0.0 if n < 20 else 0.6 if n < 200 else 0.9
    out, last = [], 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out.append(last / (1 - weight ** (i + 1)))
    return out


def plot_training_curves(groups: list[dict], path: str | os.PathLike, title: str) -> dict:
    """Dev accuracy per epoch and training loss for groups of runs, one colour per group.

    `groups` is [{"label": str, "runs": [{"seed": ..., "scalars": read_scalars(...)}]}]; every
    seed is its own line. Loss is drawn as logged (faint when a smoothed line is drawn over it).
    Long series are also drawn smoothed. Returns the plotted series per group and the Figure.
    """
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(12, 4.8)
    ax_acc, ax_loss = fig.subplots(1, 2)
    drawn = {}
    loss_units, smoothed, all_losses = set(), False, []
    colours = [f"C{i}" for i in range(10)]
    for i, group in enumerate(groups):
        colour = colours[i % len(colours)]
        entry = drawn.setdefault(group["label"], {"dev_accuracy": [], "loss": []})
        for j, run in enumerate(group["runs"]):
            picked = pick_curves(run["scalars"])
            label = group["label"] if j == 0 else None
            if picked["dev_accuracy"]:
                tag, series = picked["dev_accuracy"]
                steps, values = zip(*series)
                ax_acc.plot(steps, [100 * v for v in values], marker="o", markersize=4, color=colour,
                            label=label, gid=f"acc:{group['label']}:{run['seed']}")
                entry["dev_accuracy"].append({"seed": run["seed"], "tag": tag, "steps": list(steps),
                                              "values": list(values)})
            if picked["loss"]:
                tag, series, unit = picked["loss"]
                loss_units.add(unit)
                steps, values = zip(*series)
                all_losses += values
                if len(values) >= 20:
                    smoothed = True
                    ax_loss.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
                ax_loss.plot(steps, _smooth(list(values)), color=colour, linewidth=1.5, label=label,
                             gid=f"loss:{group['label']}:{run['seed']}")
                entry["loss"].append({"seed": run["seed"], "tag": tag, "unit": unit, "steps": list(steps),
                                      "values": list(values)})
    ax_acc.set_xlabel("epoch (as logged)")
    ax_acc.set_ylabel("dev accuracy (%)")
    ax_acc.set_title("dev accuracy per epoch")
    unit = next(iter(loss_units)) if len(loss_units) == 1 else "per batch or epoch"
    ax_loss.set_xlabel("training step (batch)" if unit == "per batch" else "epoch (as logged)")
    ax_loss.set_ylabel("training loss (log scale)" if all_losses and min(all_losses) > 0 else "training loss")
    if all_losses and min(all_losses) > 0:   # objectives (mse, kl, ce) differ in scale: compare shapes
        ax_loss.set_yscale("log")
    ax_loss.set_title(f"training loss {unit}" + (" (faint: as logged, solid: smoothed)" if smoothed else ""))
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_acc, ax_loss):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, title="one line per seed", title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save_png(fig, Path(path))
    return {"groups": drawn, "figure": fig}


# ------------------------------------------------------------------ writing
@dataclass
class Report:
    """Where the report went, and what it holds (the report.json content)."""

    markdown: Path
    json: Path
    images: list[Path]
    data: dict


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "task"


def _pct(stat: dict | None) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    text = f"{100 * stat['mean']:.2f}"
    return text + (f" ± {100 * stat['sd']:.2f}" if stat.get("sd") is not None else "")


def _num(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _params(n) -> str:
    if not isinstance(n, (int, float)):
        return "—"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(int(n))


def task_table_markdown(table: dict) -> str:
    """The Markdown table of one task (numbers as in report.json: accuracy in %, sd over seeds)."""
    primary = table["primary_metric"]
    teachers = table["teachers"]
    header = ["model", "kind", "params", "seeds", "dev acc (%)", "test acc (%)"]
    if primary != "accuracy":
        header.append(f"test {primary} (%)")
    header.append("it/s")
    header += [f"speed-up vs {t}" for t in teachers] + [f"acc kept vs {t} (%)" for t in teachers]
    default = (table["batch_size"], PREFERRED_MODE)
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "|".join(["---:"] * (len(header) - 2)) + "|"]
    notes = set()
    for r in table["rows"]:
        speed = r["speed"]
        its = _num(r["it_per_s"], ",.1f")
        if speed and (speed["batch_size"], speed["mode"]) != default:
            its += f" ({_setting(speed['batch_size'], speed['mode'])})"
            notes.add("it/s in brackets were measured in another setting than the header's")
        cells = [r["model"], r["kind"], _params(r["params"]), str(len(r["seeds"])) if r["seeds"] else "—",
                 _pct(r["dev"].get("accuracy")), _pct(r["test"].get("accuracy"))]
        if primary != "accuracy":
            cells.append(_pct(r["test"].get(primary)))
        cells.append(its)
        cells += [f"{r['speedup'][t]:.2f}×" if t in r["speedup"] else "—" for t in teachers]
        cells += [f"{r['accuracy_kept'][t]['percent']:.1f}" + (" (dev)" if r["accuracy_kept"][t]["split"] == "dev"
                                                               else "") if t in r["accuracy_kept"] else "—"
                  for t in teachers]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    text = "\n".join(lines)
    for note in sorted(notes):
        text += f"\n\n_{note}._"
    return text


def _bench_detail_markdown(table: dict) -> str:
    lines = ["| model | batch | input | it/s median | min–max | repeats | GFLOP/s | bench file |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for r in table["rows"]:
        for b in sorted(r["bench"], key=lambda b: (b["batch_size"], b["mode"])):
            s = b["it_per_s"]
            lines.append(f"| {r['model']} | {b['batch_size']} | {b['mode']} | {s['median']:,.1f} | "
                         f"{_num(s.get('min'), ',.1f')}–{_num(s.get('max'), ',.1f')} | {s.get('repeats', '—')} | "
                         f"{_num(b.get('gflops'), '.1f')} | {Path(b['source']).parent.name} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def _curve_groups(table: dict, kind: str, runs_of: dict) -> list[dict]:
    """The TensorBoard scalars of every run of the table's `kind` rows, grouped as in the table."""
    out = []
    for r in table["rows"]:
        if r["kind"] != kind:
            continue
        runs = [{"seed": run.seed, "scalars": read_scalars(run.path / "tensorboard")}
                for run in runs_of[(table["task"], kind, r["model"])]]
        runs = [x for x in runs if x["scalars"]]
        if runs:
            out.append({"label": r["model"], "runs": runs})
    return out


def write_report(runs_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                 batch_size: int = 32, echo=print, include: list | None = None, note: str | None = None) -> Report:
    """Collect `runs_dir`, write tables, plots, report.md and report.json; return where they are.

    Default layout: images and report.json in RUNS_DIR/report/, the entry point RUNS_DIR/report.md.
    With `out_dir`, everything (report.md included) goes into out_dir.
    """
    runs_dir = Path(runs_dir)
    out = Path(out_dir) if out_dir else runs_dir / "report"
    md_path = (out if out_dir else runs_dir) / "report.md"
    found = collect(runs_dir, exclude=out, include=include)
    if not found.runs and not found.bench:
        skipped = f" ({len(found.skipped)} runs skipped: not complete or no eval_results.json)" if found.skipped else ""
        raise DistillError(f"{runs_dir}: no finished teacher/student runs (run.json + eval_results.json) "
                           f"and no bench.json found{skipped}")
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(found, batch_size=batch_size)
    runs_of = {(g.task, g.kind, g.label): g.runs for g in group_runs(found.runs)}
    images: list[Path] = []

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, md_path.parent)).as_posix()

    md = [f"# distill report: {runs_dir}", "",
          f"Generated {time.strftime('%Y-%m-%d %H:%M')} from `{runs_dir}`. Accuracy is mean ± sample sd "
          f"over seeds (runs whose config differs only in the seed); **it/s** is examples per second measured "
          f"by `distill bench` at batch {batch_size} on raw text (tokenization included) where available; "
          f"speed-up = it/s ÷ the teacher's it/s; accuracy kept = accuracy ÷ the teacher's (test split "
          f"unless marked dev). Random-weight presets have it/s only."]
    if note:   # e.g. a reduced smoke run must say so where its numbers are read
        md.append(f"\n**{note}**")
    machines = {json.dumps(m["machine"], sort_keys=True) for m in found.machines}
    for m in found.machines:
        info = m["machine"]
        md.append(f"\n- bench `{m['source']}`: {info.get('cpu', '?')}, {info.get('cores', '?')} cores, "
                  f"GPUs {info.get('gpus') or 'none'}, TensorFlow {info.get('tensorflow', '?')}")
    if len(machines) > 1:
        md.append("\n**Warning:** the bench files come from different machines or settings; speed-ups "
                  "between them compare different machines.")
    for task, table in tables.items():
        slug = _slug(task)
        md += ["", f"## {task}", "", f"Primary metric: {table['primary_metric']}. "
               f"it/s: {_speed_words(table)}.", "", task_table_markdown(table)]
        if any(r["speed"] and r["speed"]["mode"] == EVAL_MODE for r in table["rows"]):
            md.append("\n_\"run's own evaluation\": no bench row for this model; the it/s the run measured while "
                      "evaluating, not comparable with bench numbers._")
        plot_path = out / f"accuracy_vs_speed_{slug}.png"
        plotted = plot_accuracy_vs_speed(table, plot_path)
        images.append(plot_path)
        table["plot"] = {"path": rel(plot_path), "split": plotted["split"], "points": plotted["points"],
                         "pareto": plotted["pareto"], "presets": plotted["presets"]}
        md += ["", f"![{task}: accuracy vs it/s]({rel(plot_path)})",
               "", f"Pareto front (fastest first): {', '.join(plotted['pareto']) or '—'}."]
        detail = _bench_detail_markdown(table)
        if detail:
            md += ["", "### Throughput, every setting measured", "", detail]
        table["curves"] = {}
        for kind in RUN_KINDS:
            curve_groups = _curve_groups(table, kind, runs_of)
            if not curve_groups:
                continue
            curve_path = out / f"curves_{slug}_{kind}.png"
            curves = plot_training_curves(curve_groups, curve_path, f"{task}: {kind} training curves")
            images.append(curve_path)
            table["curves"][kind] = {"path": rel(curve_path), "groups": curves["groups"]}
            md += ["", f"### {kind.capitalize()} training curves", "", f"![{task}: {kind} curves]({rel(curve_path)})"]
        with_curves = {label for curves in table["curves"].values() for label in curves["groups"]}
        missing = [r["model"] for r in table["rows"] if r["kind"] in RUN_KINDS and r["model"] not in with_curves]
        if missing:
            md.append(f"\nNo TensorBoard scalars for: {', '.join(missing)}.")
    if found.materials:
        md += ["", "## Teaching materials", "", "| file | task | teacher | split | rows | teacher acc (%) | "
               "teacher it/s |", "|---|---|---|---|---:|---:|---:|"]
        for m in found.materials:
            for split, s in m.splits.items():
                acc = "—" if s["teacher_accuracy"] is None else f"{100 * s['teacher_accuracy']:.2f}"
                md.append(f"| {m.path.name} | {m.task} | {m.teacher} | {split} | {s['rows']:,} | {acc} | "
                          f"{s['it_per_s']:,.1f} |")
    if found.skipped:
        md += ["", "## Skipped", ""] + [f"- `{s['path']}`: {s['reason']}" for s in found.skipped]
    data = {
        "schema": SCHEMA, "runs_dir": str(runs_dir), "batch_size": batch_size, "preferred_mode": PREFERRED_MODE,
        "machines": found.machines, "tasks": tables,
        "materials": [{"path": str(m.path), "task": m.task, "teacher": m.teacher, "splits": m.splits}
                      for m in found.materials],
        "skipped": found.skipped, "images": [rel(p) for p in images],
    }
    json_path = out / "report.json"
    _write_text(json_path, json.dumps(data, indent=2, default=str))
    _write_text(md_path, "\n".join(md) + "\n")
    echo(f"report: {md_path} ({len(tables)} task(s), {len(found.runs)} runs, {len(found.bench)} bench rows, "
         f"{len(images)} images in {out})")
    return Report(markdown=md_path, json=json_path, images=images, data=data)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
