"""The one training engine: Keras `Model.fit` with callbacks.

Teacher fine-tuning and student distillation (and, next, pretraining) train
through `train()`. The caller brings a compiled Keras model whose own
`compute_loss` defines the objective, a function that yields one epoch's
batches (each padded to its own longest row, so shapes vary: the dataset's
signature has `None` dimensions and `fit` traces its step once), a dev
evaluation, and a run folder. `fit` and its callbacks then give what users of
Keras expect:

- `EarlyStopping` (Keras's, judging improvement as the best-weights tracker
  does, its counters kept across a resume);
- best weights: kept in memory by `BestWeights` and handed to `on_improve`
  (the caller saves `model.keras`) whenever the monitored dev value improves;
  the model ends training with them;
- `BackupAndRestore` (Keras's, extended with the engine's own state: best
  weights, early-stopping counters, history, step clock and the dropout seed
  generators, which Keras's weights file leaves out): a killed training,
  run again, resumes from its last finished epoch and ends with the same
  weights as an uninterrupted run;
- TensorBoard scalars under the tag names of `distill.runfiles`, one
  `epochs.jsonl` line per epoch, a tqdm bar in examples/s, one printed line
  per epoch, examples/s with the first (tracing) step kept out.

On several devices or hosts (`placement`, from `distill.distribute.setup`:
`--strategy one|mirrored|multi-worker|auto`) the same `fit` runs under the
`tf.distribute` strategy: each batch is cut into one slice per replica, the
user's batch size stays the global one, the per-batch metrics are read from
the metric variables summed over the replicas, and the results are those of
one device up to floating-point order (see `distill.distribute` for what that
takes). Every worker runs every callback (saving joins collective ops); the
trainers point the workers other than the chief at a private folder, so only
the chief writes the run folder. On restart the workers first agree that
their backups are of the same epoch (otherwise they would run different
numbers of steps and wait on each other for ever); if not, all start over.

Why `fit` and not a loop of our own: with the same step function it gives
bit-identical weights, and its per-step cost against a hand-written
`tf.function` loop is measured by `bench/train_engine.py` (the issue's rule:
keep our own loop only if `fit` is more than 10% slower).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterable

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from distill import distribute
from distill.errors import DistillError
from distill.runfiles import (BACKUP_DIR, EPOCHS_FILE, EVAL_RESULTS, TAG_BATCH_LEARNING_RATE, TAG_BATCH_PREFIX, TAG_EPOCH_PREFIX, TENSORBOARD_DIR, TRAIN_RESULTS, RunInfo, improved,
                              json_default, read_json_or_none, save_model, write_json_atomic, write_run)
from distill.sources import sha256_file

STATE_FILE = "engine_state.json"


@dataclass
class Schedule:
    """When training stops and which epoch is best: `monitor` is a key of the
    epoch record (e.g. "dev_loss"), `mode` "min" or "max"."""

    epochs: int
    monitor: str
    mode: str
    patience: int
    min_delta: float = 0.0


@dataclass
class TrainingResult:
    """What one `train()` call did. `resumed_epochs` is how many finished
    epochs were restored from a backup instead of trained (0 for a fresh run)."""

    history: list = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False
    resumed_epochs: int = 0
    steps: int = 0
    train_seconds: float = 0.0
    train_examples: int = 0
    first_step_seconds: float = 0.0
    first_step_examples: int = 0
    traces: int | None = None

    @property
    def examples_per_s(self) -> float | None:
        return round(self.train_examples / self.train_seconds, 2) if self.train_seconds > 0 else None

    @property
    def steady_examples_per_s(self) -> float | None:
        seconds = self.train_seconds - self.first_step_seconds
        examples = self.train_examples - self.first_step_examples
        return round(examples / seconds, 2) if seconds > 0 and examples > 0 else None

    def timing(self) -> dict:
        """The timing fields of train_results.json."""
        return {"steps": self.steps, "train_seconds": round(self.train_seconds, 3),
                "train_examples": self.train_examples, "train_examples_per_s": self.examples_per_s,
                "first_step_seconds": round(self.first_step_seconds, 3),
                "steady_examples_per_s": self.steady_examples_per_s}


# ----------------------------------------------------------------- callbacks
def keep_freed_memory() -> None:
    """Undo what TensorFlow's `from_generator` does to glibc's malloc, which makes training steps pay
    the kernel for their memory every time.

    When its generator dataset starts, TensorFlow sets M_TRIM_THRESHOLD to 128 KB ("Memory patch
    applied" in the log). Setting it also freezes glibc's adaptive mmap threshold, so every buffer
    above 128 KB a step allocates is a fresh mmap and every free a munmap: page faults on each step,
    seen as system time. Raising both thresholds after TensorFlow's patch keeps freed buffers for
    reuse (`bench/malloc_thresholds.py` times a training run both ways). A no-op where the C library
    is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 1 << 30)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)


class _Clock(keras.callbacks.Callback):
    """Epoch counter for the batch generator, progress bar, per-batch TensorBoard
    scalars and the timing of training steps."""

    def __init__(self, result: TrainingResult, sizes: list, examples_per_epoch: int, epochs: int, writer,
                 progress: bool, distributed: bool = False, unit: str = "ex", work_per_epoch: int | None = None):
        super().__init__()
        self.result, self.sizes, self.writer = result, sizes, writer
        self.examples_per_epoch, self.epochs, self.progress = examples_per_epoch, epochs, progress
        self.unit, self.work_per_epoch = unit, work_per_epoch or examples_per_epoch
        self.distributed = distributed
        self.epoch = 0          # 1-based, read by the batch generator
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.epoch_start = time.perf_counter()
        self.epoch_examples = 0
        self.counted = {}       # per metric: the rows its running mean is over (see on_train_batch_end)
        self.running = {}
        self.sums = {}
        self.bar = tqdm(total=self.work_per_epoch, unit=self.unit, unit_scale=self.unit != "ex", desc=f"epoch {self.epoch}/{self.epochs}",
                        disable=not self.progress, leave=False, dynamic_ncols=True)

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            keep_freed_memory()
        self.step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        n, fed, work = self.sizes.pop(0) if self.sizes else (0, 0, 0)
        r = self.result
        if r.steps == 0 and r.resumed_epochs == 0:  # includes tracing: kept out of the steady rate
            r.first_step_seconds, r.first_step_examples = time.perf_counter() - self.step_start, n
        # Keras logs each metric's running mean over the epoch, weighted by examples;
        # the batch's own value is what the running sums gained on it. Under a strategy the
        # logs are each replica's own running means, so the means are read from the metric
        # variables, summed over the replicas; the loss tracker then counts a replica's
        # weight-0 filler rows too (`distill.distribute.fed_rows`), the other metrics do not.
        values = {}
        means = self.model.get_metrics_result() if self.distributed else (logs or {})
        for key, value in means.items():
            mean, before = float(value), self.counted.get(key, 0)
            rows = fed if key == "loss" else n
            self.counted[key] = before + rows
            values[key] = (mean * (before + rows) - self.running.get(key, 0.0) * before) / rows if rows else mean
            self.running[key] = mean
            self.sums[key] = self.sums.get(key, 0.0) + values[key] * n
        loss = values.get("loss", float("nan"))
        with self.writer.as_default(step=r.steps):
            for key, value in values.items():
                tf.summary.scalar(TAG_BATCH_PREFIX + key, value)
            schedule = getattr(self.model.optimizer, "_learning_rate", None)
            if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
                tf.summary.scalar(TAG_BATCH_LEARNING_RATE, float(schedule(r.steps)))
        r.steps += 1
        self.epoch_examples += n
        self.bar.update(work)
        self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()
        seconds = time.perf_counter() - self.epoch_start
        self.result.train_seconds += seconds
        self.result.train_examples += self.epoch_examples
        if self.distributed and self.epoch_examples:   # each batch weighed by its own rows, as on one device
            logs.update({key: total / self.epoch_examples for key, total in self.sums.items() if key in logs})
        logs["train_seconds"] = round(seconds, 3)
        logs["train_examples_per_s"] = round(self.epoch_examples / seconds, 2) if seconds > 0 else None


class BestWeights(keras.callbacks.Callback):
    """Evaluates on dev after each epoch, keeps the best weights (by the
    schedule's monitor) and records the epoch: epochs.jsonl, TensorBoard,
    one printed line, `on_improve(record)`. (`on_epoch_end(record)` is called
    by `BackupAndRestore`, once the epoch is backed up.)"""

    def __init__(self, engine: "_Engine"):
        super().__init__()
        self.engine = engine

    def on_epoch_end(self, epoch, logs=None):
        e, s, r = self.engine, self.engine.schedule, self.engine.result
        record = {"epoch": epoch + 1, "step": r.steps}
        record.update(e.train_record(logs))
        t_eval = time.perf_counter()
        record.update(e.evaluate())
        record["train_seconds"] = logs.get("train_seconds")
        record["train_examples_per_s"] = logs.get("train_examples_per_s")
        record["dev_seconds"] = round(time.perf_counter() - t_eval, 3)
        value = record.get(s.monitor)
        record["improved"] = improved(value, r.best_value, s.mode, s.min_delta)
        logs[s.monitor] = float("nan") if value is None else value   # what EarlyStopping reads
        if record["improved"]:
            r.best_value, r.best_epoch = value, epoch + 1
            e.best_weights = [w.numpy() for w in self.model.weights]
            if e.on_improve is not None:
                e.on_improve(record)
        r.history.append(record)
        with open(e.run_dir / EPOCHS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=json_default) + "\n")
        with e.writer.as_default(step=epoch + 1):
            for key, v in record.items():
                if key not in ("epoch", "step", "improved") and not key.endswith("_seconds") \
                        and isinstance(v, float) and math.isfinite(v):
                    tf.summary.scalar(TAG_EPOCH_PREFIX + key, v)
        e.writer.flush()
        e.echo(e.epoch_line(record))
        e.last_record = record


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping, judging improvement exactly as `BestWeights`
    does (a NaN never improves); its counters are part of the backup."""

    def __init__(self, schedule: Schedule):
        super().__init__(monitor=schedule.monitor, mode=schedule.mode, patience=schedule.patience,
                         min_delta=schedule.min_delta)
        self.schedule = schedule

    def _is_improvement(self, monitor_value, reference_value):
        return improved(monitor_value, reference_value, self.schedule.mode, self.schedule.min_delta)

    def state(self) -> dict:
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch}

    def set_state(self, state: dict) -> None:
        self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]


WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore (model and optimizer weights, epoch; the
    previous epoch's copy kept as `.bkp`), plus the engine's state in the same
    folder, written last. On restore, the Keras files whose epoch matches the
    engine's state are used (the previous copy when a kill fell between the
    two writes); a backup that does not hang together is dropped and training
    starts over. Runs last among the callbacks, after `EarlyStopping` has
    reset itself, so the restored counters stay."""

    def __init__(self, engine: "_Engine", early_stopping: EarlyStopping):
        super().__init__(str(engine.run_dir / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False)
        self.engine, self.early_stopping = engine, early_stopping
        self.dir = engine.run_dir / BACKUP_DIR

    def on_train_begin(self, logs=None):
        state = read_json_or_none(self.dir / STATE_FILE)
        usable = state is not None and self._pick_files(state["epoch"]) and (
            state["best_saved_epoch"] is None or (self.dir / _best_file(state["best_saved_epoch"])).is_file())
        placement = self.engine.placement
        epochs = distribute.gather(placement, state["epoch"] if usable else -1)
        if usable and len(set(epochs)) > 1:   # every worker sees the same list, so all decide alike
            self.engine.echo(f"the workers' backups are of different epochs ({', '.join(map(str, epochs))}); "
                             "training starts over")
            usable = False
        if not usable:
            if self.dir.is_dir() and any(self.dir.iterdir()):
                self.engine.echo(f"{self.dir}: the training backup is incomplete; training starts over")
            self.engine.restore(None)
            discard_backup(self.engine.run_dir)
            return
        try:
            super().on_train_begin(logs)
        except Exception as exc:  # a truncated weights file: say which and how to start over
            raise DistillError(f"{self.dir}: cannot restore the training backup ({type(exc).__name__}: {exc}); "
                               "pass --overwrite to start the run again") from None
        self.engine.restore(state)
        self.early_stopping.set_state(state["early_stopping"])
        if state["stopped"]:   # it had stopped early, then was killed before the run was written
            self.model._initial_epoch = self.engine.schedule.epochs

    def _pick_files(self, epoch: int) -> bool:
        """Make Keras's files those of `epoch` (the previous copy if need be); False when neither is."""
        if (read_json_or_none(self.dir / METADATA) or {}).get("epoch") == epoch and (self.dir / WEIGHTS).is_file():
            return True
        if (read_json_or_none(self.dir / f"{METADATA}.bkp") or {}).get("epoch") == epoch \
                and (self.dir / f"{WEIGHTS}.bkp").is_file():
            for name in (WEIGHTS, METADATA):
                os.replace(self.dir / f"{name}.bkp", self.dir / name)
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        self.engine.stopping = bool(self.model.stop_training)   # the batch generator ends with training
        super().on_epoch_end(epoch, logs)
        if self.engine.on_epoch_end is not None:   # after the backup: the epoch is safe
            self.engine.on_epoch_end(self.engine.last_record)

    def _save_model(self):
        super()._save_model()
        engine, r = self.engine, self.engine.result
        if engine.best_weights is not None and engine.best_saved_epoch != r.best_epoch:
            name = _best_file(r.best_epoch)   # named by epoch: never overwritten in place
            tmp = self.dir / f".{name}.partial.npz"
            np.savez(tmp, *engine.best_weights)
            os.replace(tmp, self.dir / name)
            engine.best_saved_epoch = r.best_epoch
        best_file = _best_file(engine.best_saved_epoch) if engine.best_saved_epoch else None
        write_json_atomic(self.dir / STATE_FILE, {
            "epoch": self._current_epoch, "stopped": engine.stopping,
            "history": r.history, "best_epoch": r.best_epoch, "best_value": r.best_value,
            "best_saved_epoch": engine.best_saved_epoch,
            "steps": r.steps, "train_seconds": r.train_seconds, "train_examples": r.train_examples,
            "first_step_seconds": r.first_step_seconds, "first_step_examples": r.first_step_examples,
            "early_stopping": self.early_stopping.state(),
            "seed_states": distribute.seed_bases(_seed_states(self.model), engine.placement),
        })
        for old in self.dir.glob("best_weights-epoch*.npz"):   # only once the state points elsewhere
            if old.name != best_file:
                old.unlink()


def _best_file(epoch: int) -> str:
    return f"best_weights-epoch{epoch}.npz"


def _seed_states(model) -> list:
    """The random seed generators' state variables (dropout): not in `model.weights`,
    so not in Keras's backup; needed for a resumed run to draw the same masks."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights and "seed_generator_state" in v.path]


# -------------------------------------------------------------------- engine
class _Engine:
    def __init__(self, run_dir, schedule, evaluate, train_record, epoch_line, on_improve, on_epoch_end, echo,
                 placement=None):
        self.run_dir, self.schedule, self.evaluate = Path(run_dir), schedule, evaluate
        self.placement = placement
        self.train_record, self.epoch_line = train_record, epoch_line
        self.on_improve, self.on_epoch_end, self.echo = on_improve, on_epoch_end, echo
        self.result = TrainingResult()
        self.best_weights = None
        self.best_saved_epoch = None
        self.last_record = None
        self.stopping = False
        self.model = None
        self.writer = None

    def restore(self, state: dict | None) -> None:
        """Take up the state of a backup (None: a fresh start); epochs.jsonl keeps its finished epochs only."""
        r = self.result
        history = state["history"] if state else []
        (self.run_dir / EPOCHS_FILE).write_text("".join(json.dumps(h, default=json_default) + "\n"
                                                        for h in history), encoding="utf-8")
        if not state:
            if self.placement.distributed:   # each replica its own dropout masks
                distribute.spread_seeds(_seed_states(self.model), self.placement)
            return
        r.history = history
        r.best_epoch, r.best_value = state["best_epoch"], state["best_value"]
        r.steps, r.train_seconds, r.train_examples = state["steps"], state["train_seconds"], state["train_examples"]
        r.first_step_seconds, r.first_step_examples = state["first_step_seconds"], state["first_step_examples"]
        r.resumed_epochs = state["epoch"]
        self.stopping = state["stopped"]
        distribute.spread_seeds(_seed_states(self.model), self.placement, state["seed_states"])
        if state["best_saved_epoch"] is not None:
            with np.load(self.run_dir / BACKUP_DIR / _best_file(state["best_saved_epoch"])) as saved:
                self.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            self.best_saved_epoch = state["best_saved_epoch"]
        self.echo(f"resuming {self.run_dir} after epoch {r.resumed_epochs} (best so far: epoch {r.best_epoch})")


def train(model: keras.Model, batches: Callable[[int], Iterable], signature, steps_per_epoch: int,
          examples_per_epoch: int, evaluate: Callable[[], dict], run_dir, schedule: Schedule, *,
          train_record: Callable[[dict], dict] | None = None, epoch_line: Callable[[dict], str] = str,
          on_improve: Callable[[dict], None] | None = None, on_epoch_end: Callable[[dict], None] | None = None,
          callbacks: list | None = None, progress: bool = True,
          echo: Callable[[str], None] = print, placement: distribute.Placement | None = None,
          unit: str = "ex", work_per_epoch: int | None = None) -> TrainingResult:
    """Train a compiled `model` with `fit`, recording into `run_dir`; the model
    ends with its best epoch's weights.

    `batches(epoch)` (epoch 1-based) yields `(x, y, n)`: inputs, targets and
    the number of examples, for one epoch, `steps_per_epoch` of them, matching
    `signature` (the `(x, y)` TensorSpecs). `evaluate()` returns the epoch's
    dev metrics (keys such as "dev_loss"); `train_record(logs)` turns Keras's
    epoch logs into the record's train fields. A folder holding a backup of an
    interrupted run (see `distill.runfiles.prepare_run_dir`) is resumed.
    `placement` (default one device) is where it trains; the model must have
    been created and compiled in `placement.scope()`. The progress bar counts
    examples, or, when `batches` yields `(x, y, n, work)`, `work` in `unit`s
    (pretraining counts tokens: `unit="tok"`, `work_per_epoch` tokens).
    """
    run_dir = Path(run_dir)
    echo = echo or (lambda line: None)
    placement = placement or distribute.setup("one")
    writer = tf.summary.create_file_writer(str(run_dir / TENSORBOARD_DIR))
    engine = _Engine(run_dir, schedule, evaluate, train_record or (lambda logs: {}), epoch_line, on_improve,
                     on_epoch_end, echo, placement)
    engine.model, engine.writer = model, writer
    sizes: list = []
    clock = _Clock(engine.result, sizes, examples_per_epoch, schedule.epochs, writer, progress, placement.distributed,
                   unit, work_per_epoch)

    def generate():
        # One pass over every epoch still to run, so `fit` keeps one iterator for the whole
        # training: an iterator dropped at each epoch's end makes TensorFlow wait for its
        # generator thread while Python holds the GIL, a stall of tens of seconds per epoch.
        epoch = clock.epoch   # set by on_epoch_begin before the first batch is asked for
        while epoch <= schedule.epochs and not engine.stopping:
            for x, y, n, *work in batches(epoch):
                sizes.append((n, distribute.fed_rows(n, placement.replicas), work[0] if work else n))
                yield x, y
            epoch += 1

    traces = [0]
    step = model.train_step

    def counted_train_step(data):  # Python runs this once per trace of fit's compiled step (and replica)
        traces[0] += 1
        logs = step(data)
        # Keras 3.15 averages a multi-worker step's logs with strategy.reduce(MEAN, axis=0), which
        # fails on scalars (tensorflow/tensorflow#72388); the engine reads the metrics itself.
        return {k: tf.reshape(v, [1]) for k, v in logs.items()} if placement.distributed else logs

    if placement.distributed:
        dataset = distribute.distribute_batches(placement, generate, signature)
        # fit's own symbolic build would pull a batch from the one-pass generator and reduce the
        # replicas' slices, which fails when they differ in size: build from the signature instead.
        with placement.scope():
            model._symbolic_build(data_batch=signature)
        model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
        distribute.sum_before_clipping(model.optimizer)
    else:
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)
    model.train_step = counted_train_step
    model.train_function = None
    early_stopping = EarlyStopping(schedule)
    backup = BackupAndRestore(engine, early_stopping)
    all_callbacks = [clock, BestWeights(engine), early_stopping, *(callbacks or []), backup]
    try:
        with placement.scope():
            model.fit(dataset, epochs=schedule.epochs, steps_per_epoch=steps_per_epoch, callbacks=all_callbacks,
                      verbose=0, shuffle=False)
    finally:
        model.train_step = step
        model.__dict__.pop("_maybe_symbolic_build", None)
        if clock.bar is not None:
            clock.bar.close()
        writer.close()
    result = engine.result
    result.stopped_early = len(result.history) < schedule.epochs
    if result.stopped_early:
        echo(f"early stop: {schedule.monitor} has not improved for {schedule.patience} epochs; "
             f"best was epoch {result.best_epoch}")
    result.traces = traces[0] // placement.local_replicas
    if engine.best_weights is not None:
        for variable, value in zip(model.weights, engine.best_weights):
            variable.assign(value)
    return result


def discard_backup(run_dir) -> None:
    """Remove a finished run's training backup (the run folder keeps the best model)."""
    folder = Path(run_dir) / BACKUP_DIR
    if folder.is_dir():
        shutil.rmtree(folder)


# -------------------------------------------------------- run-folder steps
def saver_of_best(model, run_dir, info: RunInfo, save: bool) -> Callable[[dict], None]:
    """An `on_improve` that records the new best epoch in run.json and, when
    `save`, writes the model (atomically) as soon as it improves."""
    def on_improve(record: dict) -> None:
        info.best_epoch, info.best_value = record["epoch"], record.get(info.monitor)
        if save:
            info.model_sha256 = save_model(model, run_dir)
        write_run(run_dir, info)

    return on_improve


def mark_interrupted(run_dir, info: RunInfo, save: bool, echo: Callable[[str], None]) -> None:
    """After a Ctrl-C: run.json says so; the best checkpoint so far and the backup stay."""
    info.interrupted = True
    write_run(run_dir, info)
    echo(f"interrupted: {run_dir} keeps the best checkpoint so far (epoch {info.best_epoch}); the same command "
         "resumes it" if info.best_epoch and save else f"interrupted: {run_dir} has no checkpoint; the same "
         "command resumes it")


def finish_run(run_dir, info: RunInfo, result: TrainingResult, eval_results: dict, started: float,
               **train_fields) -> dict:
    """Write eval_results.json, train_results.json (the result's history and
    timing plus `train_fields`) and the completed run.json, then drop the
    training backup. Returns the train results."""
    run_dir = Path(run_dir)
    write_json_atomic(run_dir / EVAL_RESULTS, eval_results)
    train_results = {"epochs_run": len(result.history), "best_epoch": result.best_epoch, "monitor": info.monitor,
                     "best_value": result.best_value, "stopped_early": result.stopped_early,
                     "resumed_epochs": result.resumed_epochs, **train_fields, **result.timing(),
                     "history": result.history}
    write_json_atomic(run_dir / TRAIN_RESULTS, train_results)
    info.best_epoch, info.best_value = result.best_epoch, result.best_value
    if info.model_file and (run_dir / info.model_file).exists():   # the file as it stands, whatever a kill left
        info.model_sha256 = sha256_file(run_dir / info.model_file)
    info.complete, info.interrupted = True, False
    info.stopped_early, info.epochs_run = result.stopped_early, len(result.history)
    info.timings.update(train_seconds=train_results["train_seconds"],
                        eval_seconds=round(sum(r.get("seconds") or 0 for r in eval_results.values()), 3),
                        total_seconds=round(time.perf_counter() - started, 3))
    write_run(run_dir, info)
    discard_backup(run_dir)
    return train_results


# ------------------------------------------------- what every trainer shares
@dataclass
class TrainingConfig:
    """What every training config (`FinetuneConfig`, `StudentConfig`, ...)
    shares: the fields that pick the best epoch and stop training (`monitor`
    a key of the epoch record, `mode` "auto", "min" or "max", `min_delta`),
    validation whose messages name what the user typed (the command-line
    option, `--lr must be > 0, got 0`), the monitor's direction, and a dict
    round trip that refuses unknown fields. Subclasses are dataclasses with
    `lr` and `dropout` fields too; `MONITORS` lists their allowed monitors,
    `LOWER_IS_BETTER` those minimised under mode "auto", `OPTIONS` maps the
    fields a command sets to its options (see `options_of`)."""

    MONITORS: ClassVar[tuple] = ("dev_loss",)
    LOWER_IS_BETTER: ClassVar[tuple] = ("dev_loss",)
    OPTIONS: ClassVar[dict] = {}
    """field -> the command-line option that sets it; a field no option sets is named as it is."""

    monitor: str = "dev_loss"
    mode: str = "auto"
    min_delta: float = 0.0

    @classmethod
    def option_name(cls, field: str) -> str:
        """What a message calls `field`: its option (`--batch-size`) or, with none, the field's own name."""
        return cls.OPTIONS.get(field, field)

    def bad(self, field: str, why: str):
        raise DistillError(f"{self.option_name(field)} {why}, got {getattr(self, field)!r}")

    def check_positive_ints(self, *fields: str) -> None:
        for name in fields:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                self.bad(name, "must be a positive int")

    def check_common(self) -> None:
        """The checks every training config needs: lr, dropout, monitor, mode, min_delta."""
        if not self.lr > 0:
            self.bad("lr", "must be > 0")
        if not 0.0 <= self.dropout < 1.0:
            self.bad("dropout", "must be in [0, 1)")
        if self.monitor not in self.MONITORS:
            self.bad("monitor", f"must be one of {', '.join(self.MONITORS)}")
        if self.mode not in ("auto", "min", "max"):
            self.bad("mode", "must be auto, min or max")
        if self.min_delta < 0:
            self.bad("min_delta", "must be >= 0")

    @property
    def monitor_mode(self) -> str:
        """"min" or "max": `mode`, or under "auto" the monitor's natural direction."""
        if self.mode != "auto":
            return self.mode
        return "min" if self.monitor in self.LOWER_IS_BETTER else "max"

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DistillError(f"unknown training settings {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)


def options_of(*fields: str) -> dict:
    """{field: "--field-name"} for config fields set by the option of the same name (`batch_size` -> `--batch-size`)."""
    return {name: "--" + name.replace("_", "-") for name in fields}


class Trainer:
    """The front every trainer shares, scikit-learn style: settings in
    `__init__`, `fit(...)` returns self with learned state in attributes with
    a trailing underscore. `config_class` builds the default config;
    `on_epoch_end(record)` runs once each epoch is backed up (tests use it);
    `callbacks` are extra Keras callbacks given to `fit`; `strategy` is where
    it trains (`distill.distribute.STRATEGIES`; not part of the config: a run
    gives the same results, and resumes, on any of them)."""

    config_class: type = TrainingConfig

    def __init__(self, config=None, *, progress: bool = True, echo: Callable[[str], None] | None = print,
                 on_epoch_end: Callable[[dict], None] | None = None, callbacks: list | None = None,
                 strategy: str = "one"):
        distribute.check(strategy)
        self.config = config if config is not None else self.config_class()
        self.strategy = strategy
        self.progress = progress
        self.echo = echo or (lambda line: None)
        self.on_epoch_end = on_epoch_end
        self.callbacks = callbacks

    def _keep(self, result: TrainingResult, eval_results: dict, train_results: dict) -> None:
        """The learned state every trainer exposes after `fit`."""
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.stopped_early_ = result.stopped_early
        self.resumed_epochs_ = result.resumed_epochs
        self.eval_results_ = eval_results
        self.train_results_ = train_results
