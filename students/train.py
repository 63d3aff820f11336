"""Training and evaluating a student from a materials file.

Owns `StudentConfig` (every hyper-parameter of a student run) and
`StudentTrainer`, which reads only the materials file (through
`materials.reader.MaterialsFile`) and writes a run folder in the same shape
as a teacher run, so `distill report` and `distill predict` treat both alike:

  run.json            `distill.runfiles.RunInfo`: kind "student", name (the
                      arch), task, config, label names, tokenizer facts,
                      parameter counts, provenance (the materials file and
                      its teacher), `complete` (false until the end)
  model.keras         the best student model (Keras format), saved whenever dev improves
  vocab.txt           the teacher's vocab (from the file's /vocab), for `distill predict`
  label_names.json
  epochs.jsonl        one line per epoch
  train_results.json  epochs run, best epoch, timings, examples/s
  eval_results.json   dev and test: metrics of the best weights, loss, agreement
                      with the teacher's predictions, logit MSE and correlation,
                      the teacher's own accuracy on the rows, seconds, it/s
  tensorboard/        batch loss; per-epoch train and dev scalars

Training is the engine's (`distill.training`: Keras `fit` on a `Distiller`,
whose `compute_loss` reads the cached teacher logits from the batch).
Batches are cut to their longest row, so shapes vary; the dataset's
signature has `None` dimensions and `fit` traces its step once. The transfer
split (y = -1, teacher logits only) is interleaved with train batch by batch
in a seeded random order; a transfer batch adds to the distillation term
only (`students.losses.ce` ignores y = -1 rows), and the `ce` baseline skips
it since it has nothing to learn from there.

`StudentTrainer(strategy=...)` trains on one device or several
(`distill.distribute`): the model is built in the strategy's scope, each
replica's loss is its share of the whole batch's (each term over the rows it
applies to), and only the chief writes the run folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from distill.errors import DistillError
from distill.metrics import classification_metrics, primary_metric
from distill import distribute, runfiles, training
from distill.runfiles import (EPOCHS_FILE, EVAL_RESULTS, LABELS_FILE, MODEL_FILE, TENSORBOARD_DIR,  # noqa: F401
                              TRAIN_RESULTS, VOCAB_FILE, RunInfo, TokenizerFacts, prepare_run_dir, resumed,
                              write_json_atomic, write_predictions, write_run)
from distill.sources import sha256_file
from distill.training import Schedule, Trainer, TrainingConfig
from materials.reader import MaterialsFile
from students import losses
from students.archs import (PYTHON_PREFIX, StudentFacts, build_student, builder_spec, check_arch_embedding,
                            check_arch_spec, check_student)
from students.kim_cnn import EMBEDDING_MODES
from students.lazy_adam import LazyAdam

KIND = "student"

EPOCH_METRICS = ("accuracy", "f1", "f1_macro", "f1_weighted", "mcc")
MONITORS = ("dev_loss", "dev_ce", "dev_agreement", "dev_primary", *(f"dev_{m}" for m in EPOCH_METRICS))
"""`dev_loss` is the training objective on dev; `dev_ce` the gold-label cross-entropy;
`dev_primary` the task's primary metric."""
LOWER_IS_BETTER = ("dev_loss", "dev_ce")


# ------------------------------------------------------------------- config
@dataclass
class StudentConfig(TrainingConfig):
    """Hyper-parameters of one student run.

    `arch` is a built-in architecture (`kim-cnn`, `bilstm`) or a user's
    builder, `module:function` (`students.archs`); `filters`, `widths` and
    `max_norm` are the Kim CNN's, and a builder reads what it needs from
    `StudentFacts.config`. Architecture defaults are Kim (2014): widths 3/4/5, 100 filters each,
    dropout 0.5, max-norm 3 on the output layer. `embedding` defaults to
    `static`, the fastest to train: every trainable mode (`non-static`,
    `multichannel`, `delta`) adds the convolutions' gradient with respect to
    their input and an update of table rows, and trains at about half of
    static's examples/s or less (`bench/student_train_modes.py`). The
    optimizer is `students.lazy_adam.LazyAdam` (Adam; a table's rows are
    updated only where a batch looked them up).
    `loss` is one of `students.losses.LOSSES` (`ce` = no-distillation
    baseline); `temperature` applies to `kl` and `mix`, `alpha` (the weight of
    gold-label CE) to `mix` and `mix-mse`. `transfer` trains on the file's
    transfer split too (distillation losses only).
    """

    arch: str = "kim-cnn"
    loss: str = "mse"
    temperature: float = 2.0
    alpha: float = 0.5
    embedding: str = "static"
    filters: int = 100
    widths: tuple = (3, 4, 5)
    dropout: float = 0.5
    max_norm: float | None = 3.0
    lr: float = 1e-3
    batch_size: int = 50
    epochs: int = 20
    patience: int = 3
    seed: int = 0
    transfer: bool = True
    eval_batch_size: int = 256
    save_model: bool = True

    MONITORS = MONITORS
    LOWER_IS_BETTER = LOWER_IS_BETTER
    OPTIONS = training.options_of("arch", "loss", "temperature", "alpha", "embedding", "filters", "widths", "dropout",
                                  "lr", "batch_size", "epochs", "patience", "monitor", "seed")
    """The fields `distill student train` sets, for messages (`--lr must be > 0, got 0`)."""

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        check_arch_spec(self.arch, self.option_name("arch"))
        check_arch_embedding(self.arch, self.embedding, self.option_name("embedding"))
        for name, allowed in (("loss", losses.LOSSES), ("embedding", EMBEDDING_MODES)):
            if getattr(self, name) not in allowed:
                self.bad(name, f"must be one of {', '.join(allowed)}")
        if not self.temperature > 0:
            self.bad("temperature", "must be > 0")
        if not 0.0 <= self.alpha <= 1.0:
            self.bad("alpha", "must be in [0, 1]")
        self.check_positive_ints("filters", "batch_size", "epochs", "patience", "eval_batch_size")
        if not self.widths or any(not isinstance(w, int) or w < 1 for w in self.widths):
            self.bad("widths", "must be positive ints")
        if self.max_norm is not None and not self.max_norm > 0:
            self.bad("max_norm", "must be > 0 or None")
        self.check_common()


# ---------------------------------------------------------------- distiller
class Distiller(keras.Model):
    """A student as a Keras model that learns from cached teacher logits.

    `call` is the student; `compute_loss` reads the targets of a batch,
    `{"y": gold labels (-1 = none), "logits": the teacher's logits}`, and
    applies `students.losses.student_loss` (rows with y = -1 add to the
    distillation term only). `fit` then trains it like any Keras model; the
    `agreement` metric is the share of rows where student and teacher pick
    the same label. Only `student` is saved: it is what predicts.
    """

    def __init__(self, student: keras.Model, loss: str, temperature: float, alpha: float, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.loss_name, self.temperature, self.alpha = loss, temperature, alpha
        self.agreement = keras.metrics.Mean(name="agreement")
        self.built = True

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher_logits = y["logits"]
        agree = tf.cast(tf.equal(tf.argmax(y_pred, 1), tf.argmax(teacher_logits, 1)), tf.float32)
        self.agreement.update_state(agree, sample_weight=sample_weight)   # weight 0: a replica's filler row
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return losses.student_loss(self.loss_name, y_pred, y["y"], teacher_logits,
                                       temperature=self.temperature, alpha=self.alpha)
        return distribute.replica_loss(*self._terms(y_pred, y["y"], teacher_logits), sample_weight=sample_weight)

    def _terms(self, y_pred, labels, teacher_logits) -> list:
        """The loss as (mean, rows it is over, weight) terms, for `distill.distribute.replica_loss`:
        gold-label ce is over the labelled rows only, the distillation term over all."""
        rows = tf.shape(y_pred)[0]
        labelled = tf.reduce_sum(tf.cast(tf.reshape(labels, [-1]) >= 0, tf.int32))
        if self.loss_name == "ce":
            return [(losses.ce(y_pred, labels), labelled)]
        distill = (losses.mse(y_pred, teacher_logits) if losses.DISTILL_TERM[self.loss_name] == "mse"
                   else losses.kl(y_pred, teacher_logits, self.temperature))
        if self.loss_name in ("mse", "kl"):
            return [(distill, rows)]
        return [(losses.ce(y_pred, labels), labelled, self.alpha), (distill, rows, 1.0 - self.alpha)]


# ------------------------------------------------------------------ trainer
class StudentTrainer(Trainer):
    """Trains one student on a materials file and writes its run folder.

    Training runs through the engine (`distill.training`: Keras `fit` on a
    `Distiller`), so a folder holding an interrupted run of the same config
    resumes from its last finished epoch. After `fit`: `model_` (best
    weights), `history_` (one dict per epoch), `best_epoch_`,
    `stopped_early_`, `eval_results_`, `train_results_`, `run_dir_`,
    `traces_` (traces per compiled function; 1 each), `resumed_epochs_`.
    `on_epoch_end(record)` is called after each epoch (tests use it);
    `callbacks` are extra Keras callbacks; `strategy` (default one device) is
    where it trains (a worker other than the chief trains in a private folder
    that it removes at the end: `distill.distribute`).
    """

    config_class = StudentConfig

    def __init__(self, config=None, *, student=None, **kwargs):
        """`student`: None (the architecture `config.arch` names), a builder function
        `build(facts: StudentFacts) -> keras.Model`, or a ready `keras.Model` taking the materials'
        inputs. A builder or model handed in here is recorded in the run as `config.arch`
        (`module:function` when the builder can be imported by that name, else `python:<name>`)."""
        super().__init__(config, **kwargs)
        self.student = student
        if student is not None:
            spec = (PYTHON_PREFIX + type(student).__name__ if isinstance(student, keras.Model)
                    else builder_spec(student) if callable(student) else None)
            if spec is None:
                raise DistillError(f"student must be a keras.Model or a builder function, got "
                                   f"{type(student).__name__}")
            self.config = dataclasses.replace(self.config, arch=spec)   # what the run records and reloads by

    def _build(self, facts: StudentFacts, placement):
        """The student model, built in the current strategy scope (or the one handed in, checked)."""
        spec = self.config.arch
        if isinstance(self.student, keras.Model):
            if placement.distributed:
                raise DistillError(f"student {spec}: a ready model cannot be placed on several devices; "
                                   "hand in its builder function instead")
            return check_student(self.student, facts, spec)
        return build_student(spec, facts, builder=self.student)

    def fit(self, materials_path, run_dir, overwrite: bool = False) -> "StudentTrainer":
        c = self.config
        placement = distribute.setup(self.strategy)
        self.run_dir_ = Path(run_dir)
        run_dir = distribute.worker_folder(run_dir, placement)   # the run folder, unless not the chief
        started = time.perf_counter()
        with MaterialsFile(materials_path) as mf:
            splits = _check_splits(mf, c)
            materials_sha256 = sha256_file(mf.path)
            resuming = prepare_run_dir(run_dir, overwrite, KIND, same_run={
                "name": c.arch, "task": mf.task, "config": c.to_dict(), "label_names": list(mf.label_names),
                "provenance": {"materials": {"sha256": materials_sha256}}})
            keras.utils.set_random_seed(c.seed)
            facts = StudentFacts(embedding=mf.embedding, num_labels=mf.num_labels, max_seq_len=int(mf.max_seq_len),
                                 task=mf.task, label_names=tuple(mf.label_names), config=c,
                                 delta_ids=mf.token_ids_used(splits) if c.embedding == "delta" else None)
            with placement.scope():
                model = self._build(facts, placement)
                optimizer = LazyAdam(learning_rate=c.lr)   # Adam; a table's rows only where a batch used them
                optimizer.build(model.trainable_variables)
                distiller = Distiller(model, c.loss, c.temperature, c.alpha)
                distiller.compile(optimizer=optimizer, jit_compile=False)
            self.traces_: dict[str, int] = {"train": 0, "forward": 0}
            num_labels = mf.num_labels
            forward = _compiled_forward(model, self.traces_)

            primary = primary_metric(mf.task)
            monitor_key = f"dev_{primary}" if c.monitor == "dev_primary" else c.monitor
            rows = {s: mf.rows(s) for s in mf.splits}
            train_rows = sum(rows[s] for s in splits)
            info = resumed(_run_info(mf, c, model, rows, splits, primary, monitor_key, materials_sha256, run_dir),
                           resuming)
            _write_run_files(run_dir, mf, info, resuming is not None)

            batches_per_split = {s: math.ceil(rows[s] / c.batch_size) for s in splits}
            steps_per_epoch = sum(batches_per_split.values())
            dev_y, dev_teacher = _targets(mf, "dev")
            self.echo(f"training {c.arch} ({c.embedding}, loss {c.loss}) on {mf.task} from {mf.path.name}: "
                      + " + ".join(f"{rows[s]} {s}" for s in splits) + f" rows, {rows['dev']} dev; "
                      f"{c.epochs} epochs x {steps_per_epoch} steps, batch {c.batch_size}, lr {c.lr:g}, "
                      f"{placement.line()} -> {run_dir}")

            streams = {}

            def batches(epoch):
                # Train and transfer batches interleaved in a seeded order that depends on the epoch;
                # each split's shuffle is epoch `epoch`'s, a resumed run's included.
                if not streams:
                    streams.update({s: mf.dataset(s, batch_size=c.batch_size, targets=("y", "logits"), shuffle=True,
                                                  seed=c.seed + i, epochs_done=epoch - 1)
                                    for i, s in enumerate(splits)})
                order = np.random.default_rng([c.seed, epoch]).permutation(
                    np.repeat(np.arange(len(splits)), [batches_per_split[s] for s in splits]))
                iterators = [iter(streams[s]) for s in splits]
                for which in order:
                    features, targets = next(iterators[which])
                    yield (_model_inputs(features), {"y": targets["y"], "logits": targets["logits"]},
                           int(features["length"].shape[0]))

            def evaluate():
                dev = _score(_logits(forward, mf, "dev", c.eval_batch_size), dev_y, dev_teacher, c, mf.label_names)
                return {f"dev_{k}": dev.get(k) for k in ("loss", "ce", "agreement", "logit_mse", *EPOCH_METRICS)}

            def train_record(logs):
                return {"train_loss": float(logs["loss"]), "train_agreement": float(logs["agreement"])}

            signature = (FEATURE_SPEC, {"y": tf.TensorSpec([None], tf.int32, name="y"),
                                        "logits": tf.TensorSpec([None, num_labels], tf.float32, name="logits")})
            try:
                result = training.train(
                    distiller, batches, signature, steps_per_epoch, train_rows, evaluate, run_dir,
                    Schedule(c.epochs, monitor_key, c.monitor_mode, c.patience, c.min_delta),
                    train_record=train_record, epoch_line=lambda r: _epoch_line(r, c.epochs, monitor_key),
                    on_improve=training.saver_of_best(model, run_dir, info, c.save_model),
                    on_epoch_end=self.on_epoch_end, callbacks=self.callbacks, progress=self.progress, echo=self.echo,
                    placement=placement)
            except KeyboardInterrupt:
                training.mark_interrupted(run_dir, info, c.save_model, self.echo)
                raise
            self.traces_["train"] = result.traces

            if result.best_epoch is None:
                raise DistillError(f"{mf.path}: {monitor_key} was never a number on dev (no labelled dev rows?); "
                                   "choose --monitor dev_loss or dev_agreement")
            with placement.scope():   # where `forward` was traced during training: no second trace
                evaluated = {s: _evaluate(forward, mf, s, c, mf.label_names)
                             for s in ("dev", "test") if s in mf.splits and mf.rows(s)}
            eval_results = {s: metrics for s, (metrics, _) in evaluated.items()}
            write_predictions(run_dir, {f"{s}_{who}": labels for s, (_, predictions) in evaluated.items()
                                        for who, labels in predictions.items()})
            train_results = training.finish_run(run_dir, info, result, eval_results, started, mode=c.monitor_mode,
                                                steps_per_epoch=steps_per_epoch, train_splits=list(splits),
                                                traces=dict(self.traces_), strategy=placement.describe())
        self._keep(result, eval_results, train_results)
        self.model_ = model
        if not placement.chief:   # its private folder served the collectives only
            shutil.rmtree(run_dir, ignore_errors=True)
        return self


def finished_results(run_dir) -> dict | None:
    """eval_results of a finished student run in `run_dir`, or None (missing, interrupted, other kind).

    The CLI reuses such a run instead of training it again."""
    return runfiles.finished_results(run_dir, KIND)


def run_id(materials_path, config: StudentConfig) -> str:
    """`<materials stem>-<arch>-<loss>-<8 hex>`: the hash covers the config and the materials file
    (its resolved path and provenance: teacher, dataset, rows per split), so the same command finds
    its finished run again and any change gets a new folder. Not a hash of the file's bytes: that
    would read gigabytes of an augmented file just to name a folder."""
    path = Path(materials_path)
    with MaterialsFile(path) as mf:
        provenance = {"path": str(path.resolve()), "teacher": mf.teacher, "dataset": mf.dataset_info,
                      "rows": {s: mf.rows(s) for s in mf.splits}}
    payload = json.dumps({"materials": provenance, "config": config.to_dict()}, sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:8]
    return f"{_slug(path.stem)}-{_slug(config.arch)}-{_slug(config.loss)}-{digest}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "-" for c in name).strip("-") or "x"


# ------------------------------------------------------------------ helpers
def _check_splits(mf: MaterialsFile, c: StudentConfig) -> list[str]:
    for name in ("train", "dev"):
        if name not in mf.splits or mf.rows(name) == 0:
            raise DistillError(f"{mf.path}: no {name!r} rows (a student trains on train and stops early on dev)")
    y = mf.arrays("train", ("y",))["y"]
    if losses.uses_labels(c.loss) and not (y >= 0).any():
        raise DistillError(f"{mf.path}: split 'train' has no gold labels, which loss {c.loss!r} needs")
    splits = ["train"]
    if c.transfer and losses.uses_teacher(c.loss) and "transfer" in mf.splits and mf.rows("transfer"):
        splits.append("transfer")
    return splits


def _run_info(mf, c, model, rows, splits, primary, monitor_key, materials_sha256, run_dir) -> RunInfo:
    return RunInfo(
        kind=KIND, name=c.arch, task=mf.task, config=c.to_dict(), label_names=list(mf.label_names),
        tokenizer=TokenizerFacts(bool(mf.lowercase), int(mf.max_seq_len), mf.tokenizer.get("vocab_sha256")),
        primary_metric=primary, is_pair=bool(mf.is_pair), params=int(model.count_params()),
        trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        # the path relative to the run too: a runs folder copied or moved as a whole finds its own file
        provenance={"materials": {"path": str(mf.path.resolve()),
                                  "relative_path": os.path.relpath(mf.path.resolve(), Path(run_dir).resolve()),
                                  "sha256": materials_sha256, "rows": rows,
                                  "train_splits": list(splits), "teacher": mf.teacher, "dataset": mf.dataset_info}},
        rows={s: rows[s] for s in splits}, model_file=MODEL_FILE if c.save_model else None, monitor=monitor_key,
        versions={"tensorflow": tf.__version__, "keras": keras.__version__})


def _write_run_files(run_dir: Path, mf: MaterialsFile, info: RunInfo, resuming: bool) -> None:
    """vocab + labels + run.json: what `students.predictor` needs to turn raw text into ids."""
    write_run(run_dir, info)   # first: a kill before it would leave a folder that is no run
    if not resuming:
        tmp = run_dir / f".{VOCAB_FILE}.partial"
        tmp.write_text("".join(token + "\n" for token in mf.vocab), encoding="utf-8")
        os.replace(tmp, run_dir / VOCAB_FILE)
        write_json_atomic(run_dir / LABELS_FILE, list(mf.label_names))


FEATURE_SPEC = {"token_ids": tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                "length": tf.TensorSpec([None], tf.int32, name="length")}


def _model_inputs(features: dict) -> dict:
    """Only what the CNN reads: a pair's segment ids are not an input (the [SEP] token marks the boundary)."""
    return {"token_ids": features["token_ids"], "length": features["length"]}


def _compiled_forward(model, traces: dict | None = None):
    @tf.function(input_signature=[FEATURE_SPEC])
    def forward(features):
        if traces is not None:
            traces["forward"] += 1
        return model(features, training=False)

    return forward


def _targets(mf: MaterialsFile, split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = mf.arrays(split, ("y", "logits"))
    return arrays["y"], arrays["logits"]


def _logits(forward, mf: MaterialsFile, split: str, batch_size: int) -> np.ndarray:
    """Student logits for every row of a split, in file order."""
    parts = [forward(_model_inputs(features)).numpy()
             for features, _ in mf.dataset(split, batch_size=batch_size, targets=("y",))]
    return np.concatenate(parts).astype(np.float32)


def _score(logits, y, teacher_logits, c: StudentConfig, label_names) -> dict:
    """Task metrics against gold labels, plus how closely the student follows the teacher."""
    pred = logits.argmax(1)
    metrics = classification_metrics(y, pred, list(label_names))
    metrics["loss"] = float(losses.student_loss(c.loss, logits, y, teacher_logits, temperature=c.temperature,
                                                alpha=c.alpha))
    metrics["ce"] = float(losses.ce(logits, y)) if (np.asarray(y) >= 0).any() else None
    metrics["agreement"] = float((pred == teacher_logits.argmax(1)).mean())
    metrics["logit_mse"] = float(losses.mse(logits, teacher_logits))
    metrics["logit_corr"] = float(np.corrcoef(logits.ravel(), teacher_logits.ravel())[0, 1]) \
        if logits.size > 1 and logits.std() > 0 and teacher_logits.std() > 0 else None
    teacher = classification_metrics(y, teacher_logits.argmax(1), list(label_names))
    metrics["teacher_accuracy"] = teacher.get("accuracy")
    return metrics


def _evaluate(forward, mf: MaterialsFile, split: str, c: StudentConfig, label_names) -> tuple[dict, dict]:
    """The split's metrics, and each row's label id by the student, the teacher and the gold labels."""
    y, teacher_logits = _targets(mf, split)
    start = time.perf_counter()
    logits = _logits(forward, mf, split, c.eval_batch_size)
    seconds = time.perf_counter() - start
    metrics = _score(logits, y, teacher_logits, c, label_names)
    metrics["rows"] = int(len(logits))
    metrics["seconds"] = round(seconds, 4)
    metrics["it_per_s"] = round(len(logits) / seconds, 2) if seconds > 0 else None
    return metrics, {"model": logits.argmax(1), "teacher": teacher_logits.argmax(1), "gold": y}


def _epoch_line(r: dict, epochs: int, monitor_key: str) -> str:
    def num(key):
        v = r.get(key)
        return f"{v:.4f}" if isinstance(v, float) and math.isfinite(v) else "-"

    mark = f"  * best {monitor_key}" if r["improved"] else ""
    return (f"epoch {r['epoch']}/{epochs}: train loss {r['train_loss']:.4f} agree {r['train_agreement']:.4f} | "
            f"dev loss {num('dev_loss')} acc {num('dev_accuracy')} agree {num('dev_agreement')} "
            f"| {r['train_seconds']:.1f} s, {r['train_examples_per_s']:.1f} ex/s{mark}")
