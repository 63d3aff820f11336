"""Hyper-parameter search for teacher fine-tuning: batch size x learning rate,
then the best setting re-trained with several seeds.

Owns the grid (scikit-learn `ParameterGrid`), scoring each setting on dev
(the task's primary metric of the best checkpoint; lower dev loss breaks
ties), the table sorted by score, and the mean ± standard deviation of the
best setting over N seeds on dev and test. BERT fine-tuning varies a lot
from seed to seed on small data, so one run's number says little; the
seed runs use seeds other than the grid's (`seed+1 .. seed+N`) so their
mean is not biased by having picked the setting on the same seed.

Every trial is a normal teacher run folder under `out_dir/grid/` and
`out_dir/seeds/`; a finished trial with the same config and data is reused,
so an interrupted search picks up where it stopped. Grid trials keep their
best weights in memory only (no model file); seed runs save theirs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
from sklearn.model_selection import ParameterGrid

from distill.data.dataset import Task
from distill.errors import DistillError
from distill.runfiles import read_run_or_none, write_json_atomic
from teachers.finetune import EVAL_RESULTS, KIND, TRAIN_RESULTS, FinetuneConfig, Finetuner

RESULTS_FILE = "tune_results.json"
SUMMARY_METRICS = ("accuracy", "f1", "mcc", "loss")


@dataclass
class Trial:
    """One fine-tuning run of the search and what it scored."""

    params: dict
    seed: int
    run_dir: str
    score: float
    dev: dict
    test: dict | None
    best_epoch: int | None
    epochs_run: int
    seconds: float
    reused: bool = False


@dataclass
class SeedSummary:
    """mean ± sd of the best setting over seeds, per split and metric."""

    params: dict
    seeds: list[int]
    stats: dict = field(default_factory=dict)   # {split: {metric: {"mean", "sd", "values"}}}


class Tuner:
    """Grid search over `batch_sizes` x `lrs` on dev, then `seeds` re-trainings.

    `base` holds every other hyper-parameter (epochs, warm-up, ...). After
    `fit`: `grid_` (Trials sorted best first), `best_params_`, `seed_trials_`,
    `summary_` (SeedSummary), `primary_` (the metric that scored).
    """

    def __init__(self, base: FinetuneConfig | None = None, batch_sizes: Sequence[int] = (16, 32),
                 lrs: Sequence[float] = (2e-5, 3e-5, 5e-5), seeds: int = 5, *, progress: bool = True,
                 echo: Callable[[str], None] | None = print):
        self.base = base or FinetuneConfig()
        self.batch_sizes = [int(b) for b in batch_sizes]
        self.lrs = [float(x) for x in lrs]
        self.seeds = int(seeds)
        self.progress = progress
        self.echo = echo or (lambda line: None)
        if not self.batch_sizes or not self.lrs:
            raise DistillError("tune: the grid needs at least one batch size and one learning rate")
        if self.seeds < 1:
            raise DistillError(f"tune: seeds must be >= 1, got {seeds}")

    def fit(self, make_teacher: Callable[[], object], task: Task, out_dir) -> "Tuner":
        """`make_teacher()` must return a freshly loaded teacher each time:
        fine-tuning changes the encoder's weights in place."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.primary_ = task.primary_metric
        grid = list(ParameterGrid({"batch_size": self.batch_sizes, "lr": self.lrs}))
        trials = []
        for i, params in enumerate(grid, start=1):
            self.echo(f"[grid {i}/{len(grid)}] batch_size {params['batch_size']}, lr {params['lr']:g}")
            config = dataclasses.replace(self.base, **params, save_model=False)
            trials.append(self._trial(make_teacher, task, config, out_dir / "grid" / _trial_name(params)))
        self.grid_ = sorted(trials, key=lambda t: (-t.score, t.dev.get("loss", float("inf"))))
        self.best_params_ = dict(self.grid_[0].params)
        self.echo(self.grid_table())

        seeds = [self.base.seed + k for k in range(1, self.seeds + 1)]
        self.seed_trials_ = []
        for k, seed in enumerate(seeds, start=1):
            self.echo(f"[seed {k}/{len(seeds)}] seed {seed}, batch_size {self.best_params_['batch_size']}, "
                      f"lr {self.best_params_['lr']:g}")
            config = dataclasses.replace(self.base, **self.best_params_, seed=seed)
            self.seed_trials_.append(self._trial(make_teacher, task, config, out_dir / "seeds" / f"seed{seed}"))
        self.summary_ = SeedSummary(self.best_params_, seeds, _seed_stats(self.seed_trials_))
        self.echo(self.summary_table())
        write_json_atomic(out_dir / RESULTS_FILE, {
            "task": task.name,
            "task_sha256": task.sha256,
            "primary_metric": self.primary_,
            "base_config": self.base.to_dict(),
            "grid": [_trial_json(t) for t in self.grid_],
            "best_params": self.best_params_,
            "seeds": [_trial_json(t) for t in self.seed_trials_],
            "summary": dataclasses.asdict(self.summary_),
        })
        self.out_dir_ = out_dir
        return self

    # ------------------------------------------------------------- tables
    def grid_table(self) -> str:
        """The grid, best first: rank, batch size, lr, dev score, dev loss, epochs, seconds."""
        p = self.primary_
        header = (f"{'rank':<6}{'batch_size':>11}{'lr':>10}{'dev_' + p:>16}{'dev_loss':>10}"
                  f"{'best_epoch':>12}{'epochs':>8}{'seconds':>10}")
        lines = [header, "-" * len(header)]
        for rank, t in enumerate(self.grid_, start=1):
            lines.append(f"{rank:<6}{t.params['batch_size']:>11}{t.params['lr']:>10.3g}{t.score:>16.4f}"
                         f"{t.dev.get('loss', float('nan')):>10.4f}{t.best_epoch or 0:>12}{t.epochs_run:>8}"
                         f"{t.seconds:>10.1f}" + ("  (reused)" if t.reused else ""))
        return "\n".join(lines)

    def summary_table(self) -> str:
        """mean ± sd over the seed runs of the best setting, dev and test."""
        s = self.summary_
        lines = [f"best setting: batch_size {s.params['batch_size']}, lr {s.params['lr']:g}; "
                 f"{len(s.seeds)} seeds ({', '.join(map(str, s.seeds))}); mean ± sd (sample sd)"]
        header = f"{'split':<8}" + "".join(f"{m:>20}" for m in SUMMARY_METRICS)
        lines += [header, "-" * len(header)]
        for split, stats in s.stats.items():
            cells = "".join(f"{_pm(stats.get(m)):>20}" for m in SUMMARY_METRICS)
            lines.append(f"{split:<8}{cells}")
        return "\n".join(lines)

    # ------------------------------------------------------------ helpers
    def _trial(self, make_teacher, task: Task, config: FinetuneConfig, run_dir: Path) -> Trial:
        reused = _finished(run_dir, config, task)
        if reused is not None:
            self.echo(f"  reusing {run_dir}")
            return reused
        keras.utils.set_random_seed(config.seed)
        teacher = make_teacher()
        start = time.perf_counter()
        finetuner = Finetuner(config, progress=self.progress, echo=None).fit(teacher, task, run_dir, overwrite=True)
        seconds = time.perf_counter() - start
        trial = _make_trial(config, run_dir, finetuner.eval_results_, finetuner.train_results_, self.primary_,
                            seconds)
        self.echo(f"  dev {self.primary_} {trial.score:.4f}, dev loss {trial.dev.get('loss', float('nan')):.4f}, "
                  f"best epoch {trial.best_epoch}, {seconds:.1f} s")
        return trial


def _trial_name(params: dict) -> str:
    return f"bs{params['batch_size']}-lr{params['lr']:g}"


def _make_trial(config: FinetuneConfig, run_dir: Path, eval_results: dict, train_results: dict,
                primary: str, seconds: float, reused: bool = False) -> Trial:
    dev = _scalars(eval_results["dev"])
    test = _scalars(eval_results["test"]) if "test" in eval_results else None
    return Trial(params={"batch_size": config.batch_size, "lr": config.lr}, seed=config.seed, run_dir=str(run_dir),
                 score=float(dev.get(primary, float("nan"))), dev=dev, test=test,
                 best_epoch=train_results.get("best_epoch"), epochs_run=int(train_results.get("epochs_run", 0)),
                 seconds=round(seconds, 3), reused=reused)


def _finished(run_dir: Path, config: FinetuneConfig, task: Task) -> Trial | None:
    """The trial in `run_dir` if it finished with this config on this data."""
    info = read_run_or_none(run_dir, KIND)
    if not (info is not None and info.complete and info.config == config.to_dict()
            and info.provenance.get("task_sha256") == task.sha256):
        return None
    try:
        eval_results = json.loads((run_dir / EVAL_RESULTS).read_text())
        train_results = json.loads((run_dir / TRAIN_RESULTS).read_text())
    except (OSError, ValueError):
        return None
    seconds = float(info.timings.get("total_seconds", 0.0))
    return _make_trial(config, run_dir, eval_results, train_results, task.primary_metric, seconds, reused=True)


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _seed_stats(trials: list[Trial]) -> dict:
    stats = {}
    for split in ("dev", "test"):
        rows = [getattr(t, split) for t in trials]
        if any(r is None or not r.get("n") for r in rows):
            continue
        stats[split] = {}
        for metric in SUMMARY_METRICS:
            values = [float(r[metric]) for r in rows if metric in r]
            if len(values) != len(rows):
                continue
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            stats[split][metric] = {"mean": float(np.mean(values)), "sd": sd, "values": values}
    return stats


def _pm(stat: dict | None) -> str:
    return "-" if not stat else f"{stat['mean']:.4f} ± {stat['sd']:.4f}"


def _trial_json(t: Trial) -> dict:
    return dataclasses.asdict(t)
