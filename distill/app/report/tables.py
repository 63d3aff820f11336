"""The report's numbers: runs grouped into models, mean ± sd over seeds, speeds and ratios.

Owns `group_runs` (runs whose config differs only in `seed` are one model,
labelled so that same-named models can be told apart), `mean_sd`, and
`build_tables`: per task, one row per model (or bench-only preset) with
accuracy as mean ± sample sd, the it/s picked from the bench rows (or the
run's own evaluation speed when no bench row exists), speed-up and accuracy
kept against every teacher: every number `report.json` records, and
`distillation_gain`: what the best distilled student bought over the same
network trained on gold labels only. Also `pretraining_summary`: the numbers of one pretraining run (throughput, MLM
history, and fine-tuned accuracy against pretraining epochs).

Why runs are grouped: a model is trained with several seeds so that a
difference between models can be told from seed noise; runs whose config
differs only in `seed` are one row, reported as mean ± sample sd (n - 1).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.app.report.collect import BenchRow, Collection, PretrainRecord, RunRecord
from distill.metrics import paired_bootstrap, primary_metric
from distill.runfiles import read_predictions

PREFERRED_MODE = "text"
EVAL_MODE = "eval"   # it/s a run measured itself while evaluating (no bench row)
NOT_CONFIG = {"seed", "run_dir", "out", "output_dir"}   # keys that do not make a different model


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


CAPS = ("epochs", "patience")
"""Config keys that bound a run rather than describe it."""


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
        # epochs and patience are caps (early stopping ends most runs sooner): named only when nothing else differs
        telling = [k for k in short if k.split(".")[-1] not in CAPS]
        short = telling or short
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


def _exported_test_metrics(row: BenchRow) -> dict:
    """Test accuracy and agreement of an exported student, from its export.json verification; {} otherwise."""
    from distill.errors import DistillError
    from students.exported import is_export_dir, read_export_info

    if row.kind != "student" or not row.run or not is_export_dir(row.run):
        return {}
    try:
        check = read_export_info(row.run).get("verification") or {}
    except DistillError:
        return {}
    out = {}
    if isinstance(check.get("accuracy"), (int, float)):
        out["accuracy"] = mean_sd([check["accuracy"]])
    if isinstance(check.get("agreement_with_keras"), (int, float)):
        out["agreement_with_keras"] = mean_sd([check["agreement_with_keras"]])
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
            trainable = next((r.trainable_params for r in g.runs if r.trainable_params is not None), None)
            rows.append({
                "model": g.label, "kind": g.kind, "role": role(g.kind, g.config), "random_weights": False,
                "trainable_params": trainable,
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
                "role": ("preset, random weights: speed only" if random_weights else "preset") if kind == "preset"
                else f"{kind} (bench only)", "trainable_params": None,
                "random_weights": random_weights, "runs": [], "seeds": [], "params": bench[0].params,
                "config": {}, "dev": {}, "test": _exported_test_metrics(bench[0]), "speed": _speed_of(bench[0]),
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
                        "teachers": [t["model"] for t in teachers], "rows": rows,
                        "distillation": distillation_gain(rows, teachers)}
    return tables


def role(kind: str, config: dict) -> str:
    """What a row is in the comparison, in words: the teacher, a distilled student (its loss, and
    whether it also learned from the transfer set), or the baseline on gold labels only."""
    if kind != "student":
        return kind
    loss = config.get("loss")
    if loss == BASELINE_LOSS:
        return "baseline: gold labels only"
    if not loss:
        return "student"
    return f"distilled: {loss}" + (" + transfer set" if config.get("transfer", True) else ", no transfer set")


# ------------------------------------------------------------- distillation
BASELINE_LOSS = "ce"     # students.losses: gold labels only, no teacher: the no-distillation baseline
SAME_NETWORK = ("arch", "embedding", "filters", "widths")   # student config keys that make the same network


def _accuracy_mean(row: dict, split: str) -> float | None:
    stat = row[split].get("accuracy")
    return stat["mean"] if stat else None


def _network(row: dict) -> str:
    return json.dumps([row["config"].get(k) for k in SAME_NETWORK], default=str)


def distillation_gain(rows: list[dict], teachers: list[dict]) -> dict | None:
    """What distillation bought on one task, or None without a `ce` student and a distilled one of the
    same network and the same number of seeds: the distilled student group against the same network
    trained on gold labels only.

    The distilled group is picked on dev accuracy, never test: picking the best of several groups on
    test would report the luckiest draw as the gain. Its baseline is the `ce` group of the same
    arch/embedding/filters/widths (the best on dev if several) with as many seeds: a mean over one
    seed set against a mean over three is not like with like. Accuracies in % (`*_pct`; the rows keep
    fractions), the difference in points, with a 95% paired bootstrap interval over the test rows
    (`interval_points`) when the runs kept their per-row predictions, and the same for the gap to
    the teacher (`teacher_gap`)."""
    students = [r for r in rows if r["kind"] == "student" and r["config"].get("loss")
                and _accuracy_mean(r, "dev") is not None and _accuracy_mean(r, "test") is not None]
    baselines: dict[tuple, dict] = {}
    for row in (r for r in students if r["config"]["loss"] == BASELINE_LOSS):
        best = baselines.get(_like(row))
        if best is None or _accuracy_mean(row, "dev") > _accuracy_mean(best, "dev"):
            baselines[_like(row)] = row
    pairs = [(r, baselines[_like(r)]) for r in students
             if r["config"]["loss"] != BASELINE_LOSS and _like(r) in baselines]
    if not pairs:
        return None
    distilled, baseline = max(pairs, key=lambda pair: _accuracy_mean(pair[0], "dev"))
    teacher = teachers[0] if teachers else None
    teacher_speed = teacher["it_per_s"] if teacher else None
    gain = {"picked_on": "dev", "split": "test", "distilled": _gain_side(distilled), "baseline": _gain_side(baseline),
            "difference_points": 100 * (_accuracy_mean(distilled, "test") - _accuracy_mean(baseline, "test")),
            "interval_points": None, "teacher_gap": None,
            "teacher": {"model": teacher["model"], "it_per_s": teacher_speed} if teacher else None,
            "speedup_vs_teacher": distilled["speedup"].get(teacher["model"]) if teacher else None}
    ours, theirs = _row_correctness(distilled), _row_correctness(baseline)
    if ours is not None and theirs is not None and np.array_equal(ours["gold"], theirs["gold"]):
        gain["interval_points"] = _in_points(paired_bootstrap(ours["model"], theirs["model"]))
    if ours is not None:
        gain["teacher_gap"] = _in_points(paired_bootstrap(ours["model"], ours["teacher"]))
    return gain


def _like(row: dict) -> tuple[str, int]:
    """Rows compared with each other: the same network, over the same number of seeds."""
    return _network(row), row["test"]["accuracy"]["n"]


def _row_correctness(row: dict, split: str = "test") -> dict | None:
    """Per labelled row of `split`: the share of the row's runs (its seeds) that got it right, the
    teacher's correctness (from the materials the runs learned from) and the gold labels; None when a
    run kept no predictions (runs made before they were kept) or the runs saw different rows."""
    kept = [read_predictions(Path(path)) for path in row["runs"]]
    names = (f"{split}_model", f"{split}_teacher", f"{split}_gold")
    if not kept or any(k is None or any(n not in k for n in names) for k in kept):
        return None
    gold = kept[0][f"{split}_gold"]
    if any(not np.array_equal(k[f"{split}_gold"], gold) for k in kept):
        return None
    labelled = gold >= 0
    return {"model": np.mean([k[f"{split}_model"][labelled] == gold[labelled] for k in kept], axis=0),
            "teacher": (kept[0][f"{split}_teacher"][labelled] == gold[labelled]).astype(float),
            "gold": gold[labelled]}


def _in_points(interval: dict) -> dict:
    return {**interval, **{k: 100 * interval[k] for k in ("difference", "low", "high")}}


def _gain_side(row: dict) -> dict:
    test = row["test"]["accuracy"]
    return {"model": row["model"], "loss": row["config"]["loss"], "seeds": test["n"],
            "dev_mean_pct": 100 * row["dev"]["accuracy"]["mean"], "test_mean_pct": 100 * test["mean"],
            "test_sd_pct": None if test["sd"] is None else 100 * test["sd"], "it_per_s": row["it_per_s"]}


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


def speed_words(table: dict) -> str:
    """The setting every row's it/s was measured in, or "mixed settings" (plot axis, Markdown)."""
    modes = {(r["speed"]["batch_size"], r["speed"]["mode"]) for r in table["rows"] if r["speed"]}
    if len(modes) == 1:
        batch, mode = next(iter(modes))
        return setting(batch, mode)
    return "mixed settings, see table"


def setting(batch, mode) -> str:
    """One bench setting in words: "batch 32, raw text, tokenization included"."""
    if mode == EVAL_MODE:
        return "run's own evaluation"
    what = {"text": "raw text, tokenization included", "ids": "token ids"}.get(mode, mode)
    return f"batch {batch}, {what}"




# -------------------------------------------------------------- pretraining
MLM_KEYS = ("epoch", "step", "train_loss", "train_accuracy", "dev_loss", "dev_accuracy", "learning_rate",
            "tokens_per_s", "gflop_per_s", "train_seconds")


def epoch_label(epoch: int, random_init: bool | None) -> str:
    """How the report names a pretraining epoch: epoch 0 is the start (random weights, or a teacher's)."""
    if epoch == 0:
        return "0 (random init)" if random_init else "0 (start)"
    return str(epoch)


def _number(*values):
    return next((float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)), None)


def _metric_scalars(metrics) -> dict | None:
    return None if not isinstance(metrics, dict) else \
        {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}


def pretraining_summary(record: PretrainRecord) -> dict:
    """Every number the report shows of one pretraining run (an entry of report.json's `pretraining`).

    A fine-tuning's MLM numbers are those finetune.jsonl copied when it ran, else those epochs.jsonl
    holds for that epoch (epoch 0 has none there: it is measured before training)."""
    mlm = {r["epoch"]: r for r in record.history}
    finetunes = []
    for f in record.finetunes:
        epoch = f["pretrain_epoch"]
        at = mlm.get(epoch, {})
        dev, test = _metric_scalars(f.get("dev")), _metric_scalars(f.get("test"))
        finetunes.append({
            "pretrain_epoch": epoch, "label": epoch_label(epoch, record.random_init), "task": f.get("task"),
            "mlm_dev_loss": _number(f.get("mlm_dev_loss"), at.get("dev_loss")),
            "mlm_dev_accuracy": _number(f.get("mlm_dev_accuracy"), at.get("dev_accuracy")),
            "dev_accuracy": _number((dev or {}).get("accuracy")),
            "test_accuracy": _number((test or {}).get("accuracy")),
            "best_epoch": f.get("best_epoch"), "run": str(record.path / f["run"]) if f.get("run") else None,
            "dev": dev, "test": test, "curve": [c for c in f.get("curve") or [] if isinstance(c, dict)],
            "seconds": f.get("seconds")})
    last = record.history[-1] if record.history else {}
    return {
        "path": str(record.path), "folder": record.path.name, "name": record.name, "corpus": record.corpus,
        "status": record.status, "complete": record.complete, "interrupted": record.interrupted,
        "epochs_run": record.epochs_run, "epochs_planned": record.epochs_planned,
        "random_init": record.random_init, "start": record.start, "params": record.params, "config": record.config,
        "throughput": record.throughput,
        "final": {k: last.get(k) for k in ("epoch", "train_loss", "train_accuracy", "dev_loss", "dev_accuracy")},
        "history": [{k: r.get(k) for k in MLM_KEYS if k in r} for r in record.history],
        "finetune_tasks": sorted({str(f["task"]) for f in finetunes if f["task"]}),
        "finetunes": finetunes, "notes": record.notes,
    }
