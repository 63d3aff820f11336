"""distill.training: the engine on a toy Keras model (best weights, early stopping, backup and resume)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from distill.errors import DistillError
from distill.runfiles import EPOCHS_FILE
from distill.training import Schedule, TrainingConfig, discard_backup, train

SIGNATURE = (tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.float32))


class Toy(keras.Model):
    """Mean of each row's features -> dense -> dropout; squared error. Rows vary in length per batch."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.dropout = keras.layers.Dropout(0.3, seed=1)
        self.dense.build((None, 1))
        self.built = True

    def call(self, x, training=False):
        return self.dropout(self.dense(tf.reduce_mean(x, axis=1, keepdims=True)), training=training)[:, 0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return tf.reduce_mean(tf.square(y_pred - y))


def _batches(epoch):
    rng = np.random.default_rng([7, epoch])
    for b in range(5):
        length = 2 + b
        x = rng.normal(size=(4, length)).astype(np.float32)
        yield x, (3 * x.mean(axis=1) + 1).astype(np.float32), 4


def _fresh():
    keras.utils.set_random_seed(0)
    model = Toy()
    model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=False)
    return model


def _train(model, run_dir, dev, schedule=None, **kwargs):
    return train(model, _batches, SIGNATURE, 5, 20, dev, run_dir, schedule or Schedule(6, "dev_loss", "min", 6),
                 progress=False, echo=None, **kwargs)


def _stop_at(epoch):
    def stop(record):
        if record["epoch"] == epoch:
            raise KeyboardInterrupt
    return stop


def _dev_of(model):
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(8, 2)
    return lambda: {"dev_loss": float(np.mean((model(x).numpy() - (3 * x.mean(axis=1) + 1)) ** 2))}


def test_the_model_ends_with_its_best_epochs_weights(tmp_path):
    model = _fresh()
    snapshots = {}
    values = iter([0.5, 0.2, 0.3, 0.4])
    result = _train(model, tmp_path, lambda: {"dev_loss": next(values)}, Schedule(4, "dev_loss", "min", 4),
                    on_epoch_end=lambda r: snapshots.__setitem__(r["epoch"], [w.numpy() for w in model.weights]))
    assert result.best_epoch == 2 and result.best_value == 0.2 and not result.stopped_early
    for a, b in zip(model.weights, snapshots[2]):
        np.testing.assert_array_equal(a.numpy(), b)
    lines = [json.loads(line) for line in (tmp_path / EPOCHS_FILE).read_text().splitlines()]
    assert [line["improved"] for line in lines] == [True, True, False, False]
    # 5 batch shapes x 4 epochs: the step is traced a fixed number of times (Keras's reduce_retracing may
    # trace once more to relax a first concrete shape), never once per shape or per epoch.
    assert result.traces <= 2 and result.steps == 20 and result.train_examples == 80


def test_early_stopping_after_patience_epochs_without_gain_and_nan_never_improves(tmp_path):
    values = iter([0.5, float("nan"), 0.6, 0.7, 0.1])
    result = _train(_fresh(), tmp_path, lambda: {"dev_loss": next(values)}, Schedule(5, "dev_loss", "min", 2))
    assert [h["epoch"] for h in result.history] == [1, 2, 3] and result.stopped_early
    assert result.best_epoch == 1


def test_ctrl_c_then_train_again_resumes_to_the_same_weights(tmp_path):
    whole = _fresh()
    _train(whole, tmp_path / "whole", _dev_of(whole))

    cut = _fresh()
    with pytest.raises(KeyboardInterrupt):
        _train(cut, tmp_path / "cut", _dev_of(cut), on_epoch_end=_stop_at(3))
    again = _fresh()
    result = _train(again, tmp_path / "cut", _dev_of(again))
    assert result.resumed_epochs == 3 and [h["epoch"] for h in result.history] == list(range(1, 7))
    for a, b in zip(whole.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    discard_backup(tmp_path / "cut")
    assert not (tmp_path / "cut" / "backup").exists()


def test_a_backup_half_written_falls_back_to_the_previous_epoch(tmp_path):
    cut = _fresh()
    with pytest.raises(KeyboardInterrupt):
        _train(cut, tmp_path, _dev_of(cut), on_epoch_end=_stop_at(3))
    # A kill between Keras's files and the engine's state: the state still says epoch 2.
    state_path = tmp_path / "backup" / "engine_state.json"
    state = json.loads(state_path.read_text())
    previous = json.loads((tmp_path / "backup" / "training_metadata.json.bkp").read_text())
    state["epoch"] = previous["epoch"]
    state["history"] = state["history"][:previous["epoch"]]
    state_path.write_text(json.dumps(state))
    again = _fresh()
    result = _train(again, tmp_path, _dev_of(again))
    assert result.resumed_epochs == previous["epoch"] == 2


def test_an_unreadable_backup_is_one_clear_error(tmp_path):
    cut = _fresh()
    with pytest.raises(KeyboardInterrupt):
        _train(cut, tmp_path, _dev_of(cut), on_epoch_end=_stop_at(2))
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (tmp_path / "backup" / name).write_bytes(b"truncated")
    again = _fresh()
    with pytest.raises(DistillError, match="cannot restore the training backup.*--overwrite"):
        _train(again, tmp_path, _dev_of(again))


def test_training_config_checks_name_the_option_the_user_typed_never_the_class():
    from dataclasses import dataclass

    from distill.training import options_of

    @dataclass
    class ToyConfig(TrainingConfig):
        MONITORS = ("dev_loss", "dev_accuracy")
        OPTIONS = options_of("lr", "batch_size")
        lr: float = 0.1
        dropout: float = 0.0
        epochs: int = 2
        batch_size: int = 4

        def __post_init__(self):
            self.check_positive_ints("epochs", "batch_size")
            self.check_common()

    assert ToyConfig(monitor="dev_accuracy").monitor_mode == "max" and ToyConfig().monitor_mode == "min"
    assert ToyConfig.from_dict(ToyConfig(epochs=3).to_dict()) == ToyConfig(epochs=3)
    for bad, line in ((dict(epochs=0), "epochs must be a positive int, got 0"),   # no option sets it: its name
                      (dict(batch_size=0), "--batch-size must be a positive int, got 0"),
                      (dict(lr=0), "--lr must be > 0, got 0"),
                      (dict(monitor="x"), "monitor must be one of dev_loss, dev_accuracy, got 'x'"),
                      (dict(mode="up"), "mode must be auto, min or max, got 'up'"),
                      (dict(min_delta=-1), "min_delta must be >= 0, got -1")):
        with pytest.raises(DistillError) as error:
            ToyConfig(**bad)
        assert str(error.value) == line and "ToyConfig" not in str(error.value)
    with pytest.raises(DistillError, match="unknown training settings colour; known: ") as error:
        ToyConfig.from_dict({"colour": 1})
    assert "ToyConfig" not in str(error.value)


def test_a_resumed_run_early_stops_where_the_uninterrupted_one_did(tmp_path):
    values = [0.5, 0.4, 0.45, 0.46, 0.3, 0.2, 0.1, 0.05]
    schedule = Schedule(8, "dev_loss", "min", 2)

    def dev():
        calls = iter(values)
        return lambda: {"dev_loss": next(calls)}

    whole = _train(_fresh(), tmp_path / "whole", dev(), schedule)
    assert [h["epoch"] for h in whole.history] == [1, 2, 3, 4] and whole.stopped_early
    with pytest.raises(KeyboardInterrupt):
        _train(_fresh(), tmp_path / "cut", dev(), schedule, on_epoch_end=_stop_at(3))
    rest = iter(values[3:])
    again = _train(_fresh(), tmp_path / "cut", lambda: {"dev_loss": next(rest)}, schedule)
    assert again.resumed_epochs == 3 and [h["epoch"] for h in again.history] == [1, 2, 3, 4]
    assert again.stopped_early and again.best_epoch == whole.best_epoch == 2


def test_a_run_killed_after_it_stopped_early_does_not_train_on(tmp_path):
    values = iter([0.5, 0.6, 0.7])
    schedule = Schedule(6, "dev_loss", "min", 2)
    with pytest.raises(KeyboardInterrupt):
        _train(_fresh(), tmp_path, lambda: {"dev_loss": next(values)}, schedule, on_epoch_end=_stop_at(3))
    again = _train(_fresh(), tmp_path, lambda: pytest.fail("no epoch may run"), schedule)
    assert again.resumed_epochs == 3 and again.stopped_early and again.best_epoch == 1


def test_per_batch_tensorboard_values_are_each_batchs_own(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    model = _fresh()
    _train(model, tmp_path, _dev_of(model), Schedule(1, "dev_loss", "min", 1),
           train_record=lambda logs: {"train_loss": float(logs["loss"])})
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    batch = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("batch/loss")]
    epoch = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("epoch/train_loss")]
    assert len(batch) == 5 and len(set(np.round(batch, 5))) == 5
    # Equal batch sizes: the epoch's loss (Keras's running mean) is the mean of the batches' own losses.
    assert epoch == pytest.approx([np.mean(batch)], rel=1e-4)


MALLOC_CHILD = """
import json, resource, sys
import numpy as np
import tensorflow as tf
from distill.training import keep_freed_memory

# A generator dataset, as the engine's: TensorFlow sets malloc's trim threshold when it starts.
for _ in tf.data.Dataset.from_generator(lambda: iter([1]), output_signature=tf.TensorSpec([], tf.int32)):
    pass
if sys.argv[1] == "kept":
    keep_freed_memory()

def faults(rounds=50):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        buffer = np.ones(1 << 20, np.float32)   # 4 MiB, freed at once: a training step's temporaries
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults(5)
print("RESULT", json.dumps(faults()))
"""


def test_keep_freed_memory_stops_each_large_buffer_costing_fresh_pages():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    counts = {}
    for variant in ("tensorflow", "kept"):
        child = subprocess.run([sys.executable, "-c", MALLOC_CHILD, variant], env=env, cwd=root,
                               capture_output=True, text=True, timeout=300)
        assert child.returncode == 0, child.stderr[-2000:]
        counts[variant] = json.loads(child.stdout.split("RESULT ")[-1])
    # TensorFlow's setting: every 4 MiB buffer is a new mapping (1,024 pages, faulted as they are
    # written; here at least a quarter of them); kept: the freed buffer is reused
    assert counts["tensorflow"] > 50 * 256
    assert counts["kept"] < counts["tensorflow"] / 10
