"""Fine-tuning a BERT teacher on a classification task.

Owns the recipe of the BERT paper and Google's `run_classifier.py`, run by
the training engine (`distill.training`: Keras `fit` with callbacks):

- AdamW with linear warm-up (default 10% of all steps) then linear decay to
  0; weight decay on every weight except LayerNorm parameters and biases;
  gradient clipping by global norm;
- batches padded to their own longest row, length-bucketed within shuffled
  windows (`teachers.batching`); one trace for all batch shapes;
- dev evaluation after every epoch, the best weights (by `monitor`) kept and
  saved to the run folder as soon as they improve, early stopping after
  `patience` epochs without improvement;
- seeded (`keras.utils.set_random_seed`) and repeatable; a killed run, run
  again with the same config, resumes from its last finished epoch (the
  engine's backup in `backup/`, removed when the run completes);
- on one device or several (`Finetuner(strategy=...)`, `distill.distribute`):
  the teacher's encoder is copied into the strategy's scope, the batch size
  stays the global one, and only the chief writes the run folder.

The run folder it writes (`runs/teacher/<id>/`):
  run.json            `distill.runfiles.RunInfo`: kind "teacher", name, task,
                      config, label names, tokenizer facts, parameters,
                      provenance (weights source, task hash), timings,
                      `complete` (false until the end: a Ctrl-C leaves the
                      best checkpoint so far, marked incomplete)
  model.keras         the best BertClassifier (Keras format)
  config.json         the BertConfig; vocab.txt; label_names.json
  epochs.jsonl        one line per epoch
  train_results.json  epochs run, best epoch, timings, examples/s, traces
  eval_results.json   dev and test metrics of the best weights + seconds, it/s
  tensorboard/        batch loss/accuracy/lr, epoch train and dev metrics
`teachers.run.TeacherRun.load` reads it back.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from distill.data.dataset import Dataset, Task
from distill.errors import DistillError
from distill import runfiles
from distill.metrics import classification_metrics
from distill.runfiles import (EPOCHS_FILE, EVAL_RESULTS, LABELS_FILE, MODEL_FILE, TENSORBOARD_DIR,  # noqa: F401
                              TRAIN_RESULTS, VOCAB_FILE, RunInfo, TokenizerFacts, prepare_run_dir, resumed,
                              write_json_atomic, write_run)
from distill import distribute, training
from distill.training import Schedule, Trainer, TrainingConfig
from teachers.batching import BATCH_SPEC, Traces, bucketed_batches, compiled_forward, cross_entropy, \
    logits_in_order, pad_rows
from teachers.classifier import POOLINGS, BertClassifier
from distill.wordpiece import Encoding, WordPieceTokenizer

KIND = "teacher"
CONFIG_FILE = "config.json"

MONITORS = ("dev_loss", "dev_accuracy", "dev_f1", "dev_f1_macro", "dev_f1_weighted", "dev_mcc", "dev_primary")
"""`dev_primary` is the task's primary metric (accuracy; MCC for CoLA; F1 for MRPC)."""
EPOCH_METRICS = ("accuracy", "f1", "f1_macro", "f1_weighted", "mcc")


# ------------------------------------------------------------------- config
@dataclass
class FinetuneConfig(TrainingConfig):
    """Hyper-parameters of one fine-tuning run.

    Defaults follow BERT's fine-tuning recipe; lr 3e-5 suits MiniLM-sized
    teachers (use 2e-5 for BERT-base/large; tiny test models want ~1e-3).
    `pooling` is what the head reads (`teachers.classifier.POOLINGS`): `cls`
    is BERT's recipe; `mean` suits teachers pre-trained as sentence embedders
    (all-MiniLM-L6-v2).
    `mode` "auto" minimises `dev_loss` and maximises the other monitors.
    `save_model=False` keeps the best weights in memory only (grid search).
    """

    lr: float = 3e-5
    batch_size: int = 32
    epochs: int = 3
    warmup: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    max_seq_len: int = 128
    patience: int = 2
    dropout: float = 0.1
    pooling: str = "cls"
    seed: int = 0
    eval_batch_size: int = 64
    bucket_window: int = 50
    save_model: bool = True

    MONITORS = MONITORS
    OPTIONS = training.options_of("lr", "batch_size", "epochs", "warmup", "weight_decay", "clip_norm", "max_seq_len",
                                  "patience", "dropout", "pooling", "seed", "monitor")
    """The fields `distill teacher finetune` sets, for messages (`--batch-size must be a positive int, got 0`)."""

    def __post_init__(self) -> None:
        self.check_positive_ints("batch_size", "epochs", "max_seq_len", "patience", "eval_batch_size",
                                 "bucket_window")
        self.check_common()
        if self.max_seq_len < 3:
            self.bad("max_seq_len", "must be at least 3")
        if self.pooling not in POOLINGS:
            self.bad("pooling", f"must be one of {', '.join(POOLINGS)}")
        if not 0.0 <= self.warmup < 1.0:
            self.bad("warmup", "(a fraction of all steps) must be in [0, 1)")
        for name in ("weight_decay", "clip_norm"):
            if getattr(self, name) < 0:
                self.bad(name, "must be >= 0")


# ---------------------------------------------------------------- optimizer
@keras.saving.register_keras_serializable(package="distill")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ~0 to `peak` over `warmup_steps`, then linear decay
    to 0 at `total_steps` (BERT's schedule). Step s (0-based) gets
    peak·(s+1)/warmup during warm-up, so the very first update is not wasted
    on a learning rate of exactly 0."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = (step + 1.0) / max(1, self.warmup_steps)
        decay = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        factor = tf.where(step < self.warmup_steps, warm, decay)
        return self.peak * tf.clip_by_value(factor, 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def no_decay_variables(model: keras.Model) -> list:
    """LayerNorm scales/offsets and all biases: BERT does not decay them
    (decaying a LayerNorm gain towards 0 shrinks activations for no gain)."""
    variables = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.LayerNormalization):
            variables.extend(layer.trainable_weights)
    variables.extend(v for v in model.trainable_weights if v.name == "bias")
    unique = {id(v): v for v in variables}
    return list(unique.values())


def make_schedule(config: FinetuneConfig, total_steps: int) -> WarmupLinearDecay:
    """The learning-rate schedule of a run of `total_steps` optimizer steps."""
    return WarmupLinearDecay(config.lr, total_steps, int(round(config.warmup * total_steps)))


def make_optimizer(model: keras.Model, config: FinetuneConfig,
                   schedule: keras.optimizers.schedules.LearningRateSchedule) -> keras.optimizers.AdamW:
    """AdamW (epsilon 1e-6 as in BERT) with the warm-up/decay schedule, weight
    decay excluded from LayerNorm and biases, clipping by global norm; built
    on the model's trainable variables so no variable is created inside a trace."""
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=config.weight_decay,
        beta_1=0.9, beta_2=0.999, epsilon=1e-6,
        global_clipnorm=config.clip_norm or None,
    )
    optimizer.exclude_from_weight_decay(var_list=no_decay_variables(model))
    optimizer.build(model.trainable_variables)
    return optimizer


# --------------------------------------------------------------- finetuner
class Finetuner(Trainer):
    """Fine-tunes a loaded teacher on a task and writes a run folder.

    `fit` trains the teacher's encoder in place (load a fresh teacher per
    run) through the training engine (`distill.training`: Keras `fit`, the
    BertClassifier compiled with AdamW and the warm-up/decay schedule). Seed
    before loading the teacher too (`keras.utils.set_random_seed`) when the
    encoder is randomly initialised: its initial weights and dropout seeds are
    drawn when it is built. A folder holding an interrupted run of the same
    config is resumed from its last finished epoch. After `fit`: `model_`
    (best weights), `history_` (one dict per epoch), `best_epoch_`,
    `stopped_early_`, `eval_results_`, `train_results_`, `traces_` (traces
    per compiled function: 1 each, whatever the batch shapes), `run_dir_`,
    `resumed_epochs_`.

    `on_epoch_end(record)` is called after each epoch's checkpoint is saved
    (tests use it to simulate a Ctrl-C); `callbacks` are extra Keras callbacks;
    `strategy` (default one device) is where it trains: under `mirrored` or
    `multi-worker` the teacher is copied into the strategy's scope (the caller
    may load it anywhere), and a worker other than the chief trains in a
    private folder that it removes at the end (`distill.distribute`).
    """

    config_class = FinetuneConfig

    # ------------------------------------------------------------ public
    def fit(self, teacher, task: Task, run_dir, overwrite: bool = False) -> "Finetuner":
        """Fine-tune `teacher` (a `teachers.registry.LoadedTeacher`) on `task`
        into `run_dir`; the model ends with the best epoch's weights."""
        c = self.config
        started = time.perf_counter()
        train, dev, test = _splits(task)
        if c.max_seq_len > teacher.config.max_position:
            raise DistillError(f"--max-seq-len {c.max_seq_len} exceeds teacher {teacher.name}'s "
                               f"{teacher.config.max_position} positions")
        placement = distribute.setup(self.strategy)
        self.run_dir_ = Path(run_dir)
        run_dir = distribute.worker_folder(run_dir, placement)   # the run folder, unless not the chief
        resuming = prepare_run_dir(run_dir, overwrite, KIND, same_run={
            "name": teacher.name, "task": task.name, "config": c.to_dict(), "label_names": list(task.label_names),
            "provenance": {"task_sha256": task.sha256, "pretrained_weights_sha256": teacher.weights_sha256}})
        with placement.scope():   # before seeding: the copy's random init must not shift the head's draws
            encoder = placed_encoder(teacher.encoder, placement)
        keras.utils.set_random_seed(c.seed)

        tokenizer = WordPieceTokenizer(teacher.vocab_path, lowercase=teacher.tokenizer.lowercase,
                                       max_seq_len=c.max_seq_len)
        t0 = time.perf_counter()
        train_enc, train_labels = _encode(tokenizer, train, labeled_only=True), train.labels[train.labels >= 0]
        dev_enc = _encode(tokenizer, dev)
        test_enc = _encode(tokenizer, test) if test is not None and len(test) else None
        tokenize_seconds = time.perf_counter() - t0

        steps_per_epoch = math.ceil(len(train_enc) / c.batch_size)
        schedule = make_schedule(c, steps_per_epoch * c.epochs)
        with placement.scope():
            model = self.model_ = BertClassifier(encoder, len(task.label_names), dropout=c.dropout,
                                                       pooling=c.pooling)
            # weighted: under a strategy a replica's filler row has sample weight 0 (distill.distribute.cuts)
            model.compile(optimizer=make_optimizer(model, c, schedule),
                          weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                          jit_compile=False)
        self.traces_ = Traces()
        forward = compiled_forward(model, self.traces_, key="eval")
        monitor_key = f"dev_{task.primary_metric}" if c.monitor == "dev_primary" else c.monitor

        info = resumed(_run_info(teacher, task, c, tokenizer, monitor_key, model,
                                 {"train": len(train_enc), "dev": len(dev_enc), "test": len(test_enc or [])}), resuming)
        info.timings["tokenize_seconds"] = round(tokenize_seconds, 3)
        write_run(run_dir, info)   # first: a kill before it would leave a folder that is no run
        if resuming is None:
            write_json_atomic(run_dir / CONFIG_FILE, teacher.config.to_dict())
            shutil.copyfile(teacher.vocab_path, run_dir / VOCAB_FILE)
            write_json_atomic(run_dir / LABELS_FILE, list(task.label_names))
        self.echo(f"fine-tuning {teacher.name} on {task.name}: {len(train_enc)} train / {len(dev_enc)} dev rows, "
                  f"{c.epochs} epochs x {steps_per_epoch} steps, batch {c.batch_size}, lr {c.lr:g}, "
                  f"max_seq_len {c.max_seq_len}, {placement.line()} -> {run_dir}")

        def batches(epoch):
            for rows in bucketed_batches(train_enc.lengths, c.batch_size, np.random.default_rng([c.seed, epoch]),
                                         c.bucket_window):
                yield pad_rows(train_enc, rows), train_labels[rows].astype(np.int32), len(rows)

        def evaluate():
            dev_logits = logits_in_order(forward, dev_enc, c.eval_batch_size)
            dev_metrics = classification_metrics(dev.labels, dev_logits.argmax(1), list(task.label_names))
            return {"dev_loss": cross_entropy(dev_logits, dev.labels),
                    **{f"dev_{k}": dev_metrics.get(k) for k in EPOCH_METRICS}}

        def train_record(logs):
            return {"train_loss": float(logs["loss"]), "train_accuracy": float(logs["accuracy"]),
                    "learning_rate": float(schedule(max(0, model.optimizer.iterations.numpy() - 1)))}

        try:
            result = training.train(model, batches, (BATCH_SPEC, LABELS_SPEC), steps_per_epoch, len(train_enc), evaluate,
                           run_dir, Schedule(c.epochs, monitor_key, c.monitor_mode, c.patience, c.min_delta),
                           train_record=train_record, epoch_line=lambda r: _epoch_line(r, c.epochs, monitor_key),
                           on_improve=training.saver_of_best(model, run_dir, info, c.save_model),
                           on_epoch_end=self.on_epoch_end, callbacks=self.callbacks,
                           progress=self.progress, echo=self.echo, placement=placement)
        except KeyboardInterrupt:
            training.mark_interrupted(run_dir, info, c.save_model, self.echo)
            raise
        self.traces_["train"] = result.traces

        with placement.scope():   # where `forward` was traced during training: no second trace
            eval_results = {"dev": _evaluate(forward, dev_enc, dev, task, c.eval_batch_size)}
            if test_enc is not None:
                eval_results["test"] = _evaluate(forward, test_enc, test, task, c.eval_batch_size)
        train_results = training.finish_run(run_dir, info, result, eval_results, started, mode=c.monitor_mode,
                                            steps_per_epoch=steps_per_epoch,
                                            tokenize_seconds=round(tokenize_seconds, 3), traces=dict(self.traces_),
                                            strategy=placement.describe())
        self._keep(result, eval_results, train_results)
        if not placement.chief:   # its private folder served the collectives only
            shutil.rmtree(run_dir, ignore_errors=True)
        return self


def placed_encoder(encoder, placement: distribute.Placement):
    """`encoder` for training under `placement`: itself on one device; under a strategy a copy made in
    its scope (variables must be created there to be mirrored), with the same weights and seed states."""
    if not placement.distributed:
        return encoder
    copy = type(encoder)(encoder.config, name=encoder.name)
    if [tuple(v.shape) for v in copy.variables] != [tuple(v.shape) for v in encoder.variables]:
        raise DistillError(f"teacher {encoder.name}: its copy for --strategy {placement.name} has other variables")
    for target, source in zip(copy.variables, encoder.variables):
        target.assign(source.numpy())
    return copy


def _run_info(teacher, task: Task, c: FinetuneConfig, tokenizer: WordPieceTokenizer, monitor_key: str,
              model, rows: dict) -> RunInfo:
    """The first run.json: everything needed to reload and to trace provenance."""
    return RunInfo(
        kind=KIND, name=teacher.name, task=task.name, config=c.to_dict(), label_names=list(task.label_names),
        tokenizer=TokenizerFacts(bool(tokenizer.lowercase), c.max_seq_len, tokenizer.vocab_sha256),
        primary_metric=task.primary_metric, is_pair=bool(task.is_pair),
        params=int(model.count_params()),
        trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        provenance={"task_sha256": task.sha256, "weights_source": teacher.weights_source,
                    "pretrained_weights_sha256": teacher.weights_sha256, "random_init": bool(teacher.random_init)},
        rows=rows, model_file=MODEL_FILE if c.save_model else None, monitor=monitor_key,
        versions={"tensorflow": tf.__version__, "keras": keras.__version__})


# ---------------------------------------------------------------- run ids
def run_id(teacher_name: str, task: Task, config: FinetuneConfig, checkpoint: str | None = None,
           extra=None) -> str:
    """`<teacher>-<task>-<8 hex>`: the hash covers the config, the task's data
    (sha256) and the checkpoint, so the same command finds its finished run
    again and any change gets a new folder."""
    payload = json.dumps({"teacher": teacher_name, "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else None,
                          "task": task.name, "task_sha256": task.sha256, "config": config.to_dict(),
                          "extra": extra}, sort_keys=True)
    return f"{_slug(teacher_name)}-{_slug(task.name)}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def finished_results(run_dir) -> dict | None:
    """eval_results of a finished teacher run in `run_dir`, or None (missing, interrupted, other kind)."""
    return runfiles.finished_results(run_dir, KIND)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "-" for c in name).strip("-") or "x"


# ------------------------------------------------------------------ helpers
def _splits(task: Task) -> tuple[Dataset, Dataset, Dataset | None]:
    for name in ("train", "dev"):
        if name not in task.splits:
            raise DistillError(f"task {task.name}: has no {name!r} split (fine-tuning needs train and dev)")
    train, dev = task.splits["train"], task.splits["dev"]
    if not (train.labels >= 0).any():
        raise DistillError(f"task {task.name}: the train split has no labeled rows")
    if not (dev.labels >= 0).any():
        raise DistillError(f"task {task.name}: the dev split has no labeled rows")
    for split in (train, dev):
        bad = split.labels >= len(task.label_names)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DistillError(f"task {task.name}, {split.split} row {row}: label {int(split.labels[row])} "
                               f"is outside the {len(task.label_names)} label names")
    return train, dev, task.splits.get("test")


def _encode(tokenizer: WordPieceTokenizer, dataset: Dataset, labeled_only: bool = False) -> Encoding:
    texts, texts_b = dataset.texts, dataset.texts_b
    if labeled_only:
        keep = np.flatnonzero(dataset.labels >= 0)
        if len(keep) != len(texts):
            texts = [texts[i] for i in keep]
            texts_b = None if texts_b is None else [texts_b[i] for i in keep]
    return tokenizer.encode(texts, texts_b)


def train_step_function(model, optimizer, traces: Traces | None = None) -> Callable:
    """One optimizer step on a padded batch, as a plain Python function
    (returns loss and accuracy): the same step `fit` runs through
    `BertClassifier.compute_loss`, kept as the hand-written-loop baseline of
    bench/train_engine.py and bench/teacher_train_step.py (training itself
    goes through `distill.training`)."""
    variables = model.trainable_variables

    def train_step(batch, labels):
        if traces is not None:
            traces["train"] += 1
        with tf.GradientTape() as tape:
            logits = model(batch, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels), tf.float32))
        return loss, accuracy

    return train_step


LABELS_SPEC = tf.TensorSpec([None], tf.int32, name="labels")


def compiled_train_step(model, optimizer, traces: Traces | None = None) -> Callable:
    """The baseline step as a tf.function over [None, None] batches: traced
    once for every batch size and padded length (benchmarks only)."""
    return tf.function(train_step_function(model, optimizer, traces), input_signature=[BATCH_SPEC, LABELS_SPEC])


def _evaluate(forward, encoding: Encoding, dataset: Dataset, task: Task, batch_size: int) -> dict:
    start = time.perf_counter()
    logits = logits_in_order(forward, encoding, batch_size)
    return split_metrics(logits, dataset.labels, list(task.label_names), time.perf_counter() - start)


def split_metrics(logits: np.ndarray, labels: np.ndarray, label_names: list[str], seconds: float) -> dict:
    """sklearn metrics of argmax(logits) + mean loss + rows, seconds and it/s (examples/s)."""
    metrics = classification_metrics(labels, logits.argmax(1), label_names)
    loss = cross_entropy(logits, labels)
    metrics["loss"] = None if math.isnan(loss) else loss  # None: no known labels (strict JSON has no NaN)
    metrics["rows"] = int(len(logits))
    metrics["seconds"] = round(seconds, 4)
    metrics["it_per_s"] = round(len(logits) / seconds, 2) if seconds > 0 else None
    return metrics


def _epoch_line(r: dict, epochs: int, monitor_key: str) -> str:
    mark = f"  * best {monitor_key}" if r["improved"] else ""
    return (f"epoch {r['epoch']}/{epochs}: train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.4f} | "
            f"dev loss {r['dev_loss']:.4f} acc {r['dev_accuracy']:.4f} f1 {r['dev_f1']:.4f} mcc {r['dev_mcc']:.4f}"
            f" | {r['train_seconds']:.1f} s, {r['train_examples_per_s']:.1f} ex/s{mark}")
