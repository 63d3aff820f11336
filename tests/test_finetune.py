"""teachers.finetune: learns the toy task, saves a complete run folder, keeps the
best checkpoint, stops early, survives Ctrl-C, repeats exactly, traces once."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from distill.runfiles import read_run

from distill.data.synthetic import marker_task
from distill.errors import DistillError
from teachers import finetune as finetune_module
from teachers.finetune import FinetuneConfig, Finetuner, WarmupLinearDecay, make_optimizer, make_schedule, \
    no_decay_variables
from teachers.run import TeacherRun
from teachers.testing import TINY_FINETUNE, marker_pair_task, tiny_teacher, tiny_vocab


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    return tiny_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt")


@pytest.fixture(scope="module")
def task():
    return marker_task()


@pytest.fixture(scope="module")
def small_task():
    return marker_task(n_train=96, n_dev=48, n_test=32, seed=1)


@pytest.fixture(scope="module")
def trained(vocab, task, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny-synthetic"
    teacher = tiny_teacher(vocab, max_seq_len=TINY_FINETUNE.max_seq_len)
    return Finetuner(TINY_FINETUNE, progress=False, echo=None).fit(teacher, task, run_dir)


def _finetuner(seed=0, **overrides):
    return Finetuner(dataclasses.replace(TINY_FINETUNE, seed=seed, **overrides), progress=False, echo=None)


# ----------------------------------------------------------- learning
def test_reaches_high_dev_accuracy_on_the_marker_task(trained):
    assert trained.eval_results_["dev"]["accuracy"] > 0.95
    assert trained.eval_results_["test"]["accuracy"] > 0.9
    assert trained.history_[-1]["train_loss"] < trained.history_[0]["train_loss"]


def test_one_trace_per_compiled_function_although_batch_shapes_vary(trained, task):
    # Bucketed batches are padded to their own longest row: many distinct shapes.
    from teachers.batching import bucketed_batches
    from distill.wordpiece import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(trained.run_dir_ / "vocab.txt", max_seq_len=TINY_FINETUNE.max_seq_len)
    lengths = tokenizer.encode(task["train"].texts).lengths
    batches = bucketed_batches(lengths, TINY_FINETUNE.batch_size, np.random.default_rng(0))
    assert len({int(lengths[b].max()) for b in batches}) > 3
    assert dict(trained.traces_) == {"train": 1, "eval": 1}
    assert json.loads((trained.run_dir_ / "train_results.json").read_text())["traces"] == {"train": 1, "eval": 1}


def test_run_folder_holds_every_artefact(trained, task):
    run = trained.run_dir_
    for name in ("run.json", "model.keras", "config.json", "vocab.txt", "label_names.json",
                 "train_results.json", "eval_results.json", "epochs.jsonl"):
        assert (run / name).is_file(), name
    info = read_run(run, "teacher")
    assert info.complete is True and info.interrupted is False
    assert info.task == task.name and info.name == "tiny"
    assert info.label_names == task.label_names == json.loads((run / "label_names.json").read_text())
    assert info.config == TINY_FINETUNE.to_dict()
    assert info.max_seq_len == 32 and info.lowercase is True
    assert info.params == trained.model_.count_params() and info.provenance["random_init"] is True
    assert info.timings["train_seconds"] > 0
    assert not (run / "backup").exists()  # the training backup goes once the run is complete
    # Where it trained is recorded beside the results, not in the config: every strategy gives this run.
    assert json.loads((run / "train_results.json").read_text())["strategy"] == \
        {"name": "one", "replicas": 1, "workers": 1, "rank": 0}
    import io
    import zipfile

    import h5py
    with zipfile.ZipFile(run / "model.keras") as archive, \
            h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
        assert "optimizer" not in weights and "encoder" in weights   # the model only: its optimizer stays out
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(1, len(trained.history_) + 1))
    results = json.loads((run / "eval_results.json").read_text())
    for split in ("dev", "test"):
        assert {"accuracy", "f1", "f1_macro", "f1_weighted", "mcc", "report", "confusion_matrix", "loss",
                "seconds", "it_per_s"} <= set(results[split])
        assert results[split]["n"] == len(task[split])


def test_tensorboard_has_batch_and_epoch_scalars(trained):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained.run_dir_ / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    tags = set(events.Tags()["tensors"])
    assert {"batch/loss", "batch/accuracy", "batch/learning_rate", "epoch/dev_loss", "epoch/dev_accuracy"} <= tags
    assert len(events.Tensors("batch/loss")) == trained.train_results_["steps"]
    dev_loss = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("epoch/dev_loss")]
    assert dev_loss == pytest.approx([h["dev_loss"] for h in trained.history_], rel=1e-5)


def test_best_checkpoint_is_the_best_dev_loss_epoch(trained):
    losses = [h["dev_loss"] for h in trained.history_]
    best = int(np.argmin(losses)) + 1
    assert trained.best_epoch_ == best
    # The restored (and saved) weights reproduce that epoch's dev loss exactly.
    assert trained.eval_results_["dev"]["loss"] == pytest.approx(losses[best - 1], rel=1e-5)
    assert json.loads((trained.run_dir_ / "run.json").read_text())["best_epoch"] == best


def test_saved_model_reloads_with_the_same_logits(trained, task):
    run = TeacherRun.load(trained.run_dir_)
    dev = task["dev"]
    from teachers.batching import pad_rows

    encoding = run.tokenizer.encode(dev.texts[:16])
    expected = trained.model_(pad_rows(encoding, range(16)), training=False).numpy()
    np.testing.assert_allclose(run.predict_logits(dev.texts[:16]), expected, atol=1e-5)


# ------------------------------------------------- selection and stopping
def test_a_monitor_that_only_gets_worse_stops_after_patience_and_keeps_epoch_1(vocab, small_task, tmp_path,
                                                                               monkeypatch):
    calls = iter(range(1, 100))
    real = finetune_module.cross_entropy
    monkeypatch.setattr(finetune_module, "cross_entropy",
                        lambda logits, labels: float(next(calls)) if len(logits) == 48 else real(logits, labels))
    config = dataclasses.replace(TINY_FINETUNE, epochs=6, patience=2)
    snapshots = []
    finetuner = Finetuner(config, progress=False, echo=None,
                          on_epoch_end=lambda record: snapshots.append([w.numpy() for w in finetuner.model_.weights]))
    finetuner.fit(tiny_teacher(vocab), small_task, tmp_path / "run")
    assert [h["dev_loss"] for h in finetuner.history_] == [1.0, 2.0, 3.0]
    assert finetuner.stopped_early_ and finetuner.best_epoch_ == 1
    assert not all(np.array_equal(a, b) for a, b in zip(snapshots[0], snapshots[-1]))  # training moved on
    for final, first in zip(finetuner.model_.weights, snapshots[0]):
        np.testing.assert_array_equal(final.numpy(), first)
    for saved, first in zip(TeacherRun.load(tmp_path / "run").model.weights, snapshots[0]):
        np.testing.assert_array_equal(saved.numpy(), first)


def test_monitor_modes():
    assert FinetuneConfig().monitor_mode == "min"
    assert FinetuneConfig(monitor="dev_accuracy").monitor_mode == "max"
    assert FinetuneConfig(monitor="dev_mcc").monitor_mode == "max"
    assert FinetuneConfig(monitor="dev_loss", mode="max").monitor_mode == "max"


def test_same_seed_same_run(vocab, small_task, tmp_path):
    runs = []
    for i in range(2):
        finetuner = _finetuner(seed=3, epochs=2, save_model=False)
        finetuner.fit(tiny_teacher(vocab, seed=3), small_task, tmp_path / f"run{i}")
        runs.append([(h["train_loss"], h["dev_loss"]) for h in finetuner.history_])
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[0][1]  # the model did change between epochs
    assert not (tmp_path / "run0" / "model.keras").exists()  # save_model=False keeps weights in memory


def test_ctrl_c_leaves_the_best_checkpoint_usable(vocab, small_task, tmp_path):
    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    finetuner = Finetuner(dataclasses.replace(TINY_FINETUNE, epochs=4), progress=False, echo=None,
                          on_epoch_end=interrupt)
    with pytest.raises(KeyboardInterrupt):
        finetuner.fit(tiny_teacher(vocab), small_task, tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["complete"] is False and info["interrupted"] is True and info["best_epoch"] in (1, 2)
    run = TeacherRun.load(tmp_path / "run")
    assert not run.complete
    assert run.predict_logits(["a wonderful film"]).shape == (1, 2)
    # Restarting the interrupted folder with another config is allowed (the run was not finished).
    _finetuner(epochs=1, save_model=False).fit(tiny_teacher(vocab), small_task, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["complete"] is True


def _weights_of(run_dir):
    return [w.numpy() for w in TeacherRun.load(run_dir).model.weights]


def test_ctrl_c_then_the_same_command_resumes_to_the_uninterrupted_weights(vocab, small_task, tmp_path):
    config = dataclasses.replace(TINY_FINETUNE, epochs=4, patience=4)
    Finetuner(config, progress=False, echo=None).fit(tiny_teacher(vocab), small_task, tmp_path / "whole")

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Finetuner(config, progress=False, echo=None, on_epoch_end=interrupt).fit(
            tiny_teacher(vocab), small_task, tmp_path / "cut")
    lines = []
    resumed = Finetuner(config, progress=False, echo=lines.append).fit(tiny_teacher(vocab), small_task,
                                                                       tmp_path / "cut")
    assert resumed.resumed_epochs_ == 2 and any("resuming" in line for line in lines)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    assert len((tmp_path / "cut" / "epochs.jsonl").read_text().splitlines()) == 4
    whole = json.loads((tmp_path / "whole" / "train_results.json").read_text())["history"]
    assert [h["dev_loss"] for h in resumed.history_] == [h["dev_loss"] for h in whole]
    for a, b in zip(_weights_of(tmp_path / "whole"), _weights_of(tmp_path / "cut")):
        np.testing.assert_array_equal(a, b)


KILLED_CHILD = """
import dataclasses, os, signal, sys
import keras
from teachers.finetune import Finetuner
from distill.data.synthetic import marker_task
from teachers.testing import TINY_FINETUNE, tiny_teacher

class KillMidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)

config = dataclasses.replace(TINY_FINETUNE, epochs=4, patience=4)
Finetuner(config, progress=False, echo=None, callbacks=[KillMidEpoch()]).fit(
    tiny_teacher(sys.argv[1]), marker_task(n_train=160, n_dev=40, n_test=40, seed=5), sys.argv[2])
"""


def small_task_for_kill():
    return marker_task(n_train=160, n_dev=40, n_test=40, seed=5)


def test_sigkill_mid_epoch_then_the_same_command_resumes_from_the_last_finished_epoch(vocab, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, str(vocab), str(tmp_path / "cut")], env=env,
                           cwd=root, capture_output=True, text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert len((tmp_path / "cut" / "epochs.jsonl").read_text().splitlines()) == 2   # epochs 1 and 2 finished
    assert read_run(tmp_path / "cut").complete is False

    config = dataclasses.replace(TINY_FINETUNE, epochs=4, patience=4)
    resumed = Finetuner(config, progress=False, echo=None).fit(tiny_teacher(vocab), small_task_for_kill(),
                                                               tmp_path / "cut")
    whole = Finetuner(config, progress=False, echo=None).fit(tiny_teacher(vocab), small_task_for_kill(),
                                                             tmp_path / "whole")
    assert resumed.resumed_epochs_ == 2 and whole.resumed_epochs_ == 0
    assert resumed.eval_results_["test"]["accuracy"] == whole.eval_results_["test"]["accuracy"]
    for a, b in zip(_weights_of(tmp_path / "whole"), _weights_of(tmp_path / "cut")):
        np.testing.assert_array_equal(a, b)


def test_a_finished_run_is_replaced_only_on_request(trained, vocab, task):
    with pytest.raises(DistillError, match="finished teacher run"):
        Finetuner(TINY_FINETUNE, progress=False, echo=None).fit(tiny_teacher(vocab), task, trained.run_dir_)
    assert TeacherRun.load(trained.run_dir_).complete


def test_refuses_a_folder_that_is_not_a_teacher_run(vocab, small_task, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(DistillError, match="not a teacher run"):
        Finetuner(TINY_FINETUNE, progress=False, echo=None).fit(tiny_teacher(vocab), small_task, tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_pair_task_learns_from_the_second_segment(vocab, tmp_path):
    task = marker_pair_task()
    finetuner = _finetuner(epochs=6)
    finetuner.fit(tiny_teacher(vocab), task, tmp_path / "run")
    assert finetuner.eval_results_["dev"]["accuracy"] > 0.9
    run = TeacherRun.load(tmp_path / "run")
    assert run.is_pair
    labels, _ = run.predict(["a wonderful film", "the road"], texts_b=["the road", "a wonderful film"])
    assert list(labels) == [0, 1]


# ------------------------------------------------------------ optimizer
def test_schedule_warms_up_then_decays_to_zero():
    schedule = WarmupLinearDecay(1.0, total_steps=100, warmup_steps=10)
    lr = [float(schedule(s)) for s in range(101)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(lr[:10], lr[1:10]))
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))
    assert lr[55] == pytest.approx(0.5) and lr[100] == 0.0
    assert make_schedule(FinetuneConfig(warmup=0.1), 250).warmup_steps == 25


def test_weight_decay_skips_layernorm_and_biases(vocab):
    from teachers.classifier import BertClassifier

    model = BertClassifier(tiny_teacher(vocab).encoder, 2)
    excluded = {v.path for v in no_decay_variables(model)}
    assert excluded and all(p.endswith(("/gamma", "/beta", "/bias")) for p in excluded)
    assert {v.path for v in model.trainable_weights if v.path.endswith(("/gamma", "/beta", "/bias"))} == excluded
    optimizer = make_optimizer(model, FinetuneConfig(), make_schedule(FinetuneConfig(), 10))
    decayed = {v.path for v in model.trainable_weights if optimizer._use_weight_decay(v)}
    assert "bert/embeddings/word_embeddings" in decayed and "classifier/kernel" in decayed
    assert not decayed & excluded
    assert optimizer.global_clipnorm == 1.0


@pytest.mark.parametrize("bad, line", [
    (dict(lr=0), "--lr must be > 0, got 0"),
    (dict(batch_size=0), "--batch-size must be a positive int, got 0"),
    (dict(warmup=1.0), "--warmup (a fraction of all steps) must be in [0, 1), got 1.0"),
    (dict(monitor="loss"), "--monitor must be one of "),
    (dict(mode="up"), "mode must be auto, min or max, got 'up'"),
    (dict(max_seq_len=2), "--max-seq-len must be at least 3, got 2"),
    (dict(epochs=1.5), "--epochs must be a positive int, got 1.5"),
    (dict(eval_batch_size=0), "eval_batch_size must be a positive int, got 0")])
def test_config_rejects_bad_values_naming_the_option(bad, line):
    with pytest.raises(DistillError) as error:
        FinetuneConfig(**bad)
    assert str(error.value).startswith(line) and "FinetuneConfig" not in str(error.value)


def test_task_without_dev_split_is_refused(vocab, tmp_path):
    task = marker_task(n_train=8, n_dev=4, n_test=4)
    broken = dataclasses.replace(task, splits={"train": task["train"]})
    with pytest.raises(DistillError, match="no 'dev' split"):
        Finetuner(TINY_FINETUNE, progress=False, echo=None).fit(tiny_teacher(vocab), broken, tmp_path / "run")
