"""Student training from toy materials files: learning, embedding modes, run folder, early stopping."""

import json

import numpy as np
import pytest

from distill.runfiles import read_run

from distill.errors import DistillError
from materials.reader import MaterialsFile
from materials.testing import write_toy_materials
from students.train import StudentConfig, StudentTrainer, finished_results, run_id

FAST = dict(filters=8, batch_size=16, lr=3e-3, epochs=2, patience=5, eval_batch_size=64)


def _fit(materials, run_dir, **overrides):
    config = StudentConfig(**{**FAST, **overrides})
    return StudentTrainer(config, progress=False, echo=None).fit(materials, run_dir)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_materials(tmp_path_factory.mktemp("m") / "toy.h5", n_per_split=200, transfer_rows=64)


@pytest.fixture(scope="module")
def mse_run(toy, tmp_path_factory):
    return _fit(toy, tmp_path_factory.mktemp("runs") / "mse", loss="mse", embedding="non-static",
                filters=16, epochs=15, patience=15)


def test_mse_student_tracks_the_teachers_logits(mse_run):
    test = mse_run.eval_results_["test"]
    assert test["agreement"] > 0.95
    assert test["logit_corr"] > 0.9
    assert test["accuracy"] > 0.95
    first, best = mse_run.history_[0], min(r["dev_loss"] for r in mse_run.history_)
    assert best < first["dev_loss"] / 3   # it learned, not just started well


def test_the_best_epoch_is_restored_and_evaluated(mse_run):
    best = mse_run.history_[mse_run.best_epoch_ - 1]
    assert best["dev_loss"] == min(r["dev_loss"] for r in mse_run.history_)
    assert mse_run.eval_results_["dev"]["loss"] == pytest.approx(best["dev_loss"], rel=1e-4)


def test_run_folder_has_the_teacher_runs_files(mse_run):
    run_dir = mse_run.run_dir_
    info = json.loads((run_dir / "run.json").read_text())
    assert info["kind"] == "student" and info["complete"] is True and info["task"] == "toy"
    assert info["config"]["loss"] == "mse" and info["label_names"] == ["negative", "positive"]
    assert info["provenance"]["materials"]["train_splits"] == ["train", "transfer"]
    assert info["params"] > info["trainable_params"] - 1 > 0
    typed = read_run(run_dir, "student")
    assert typed.name == "kim-cnn" and typed.tokenizer.lowercase is True and typed.best_epoch == mse_run.best_epoch_
    assert not (run_dir / "backup").exists()
    results = json.loads((run_dir / "eval_results.json").read_text())
    for split in ("dev", "test"):
        for key in ("accuracy", "f1", "mcc", "seconds", "it_per_s", "agreement", "teacher_accuracy", "loss"):
            assert key in results[split], (split, key)
        assert results[split]["rows"] == 200
    train = json.loads((run_dir / "train_results.json").read_text())
    assert train["epochs_run"] == len(mse_run.history_) and train["traces"] == {"train": 1, "forward": 1}
    assert train["steps_per_epoch"] == 13 + 4          # 200 train + 64 transfer rows, batch 16
    assert train["strategy"] == {"name": "one", "replicas": 1, "workers": 1, "rank": 0}
    epochs = (run_dir / "epochs.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in epochs] == list(range(1, train["epochs_run"] + 1))
    assert list((run_dir / "tensorboard").glob("events.out.tfevents*"))
    assert (run_dir / "vocab.txt").read_text().splitlines()[:3] == ["[PAD]", "[UNK]", "[CLS]"]
    assert (run_dir / "model.keras").exists()
    assert finished_results(run_dir)["test"]["accuracy"] == results["test"]["accuracy"]


def test_the_run_keeps_each_rows_prediction_for_the_report(mse_run, toy):
    """predictions.npz: the student's, the teacher's and the gold label of every dev and test row, in
    file order, agreeing with eval_results.json (what the report's paired bootstrap reads)."""
    from distill.runfiles import read_predictions

    kept = read_predictions(mse_run.run_dir_)
    assert sorted(kept) == sorted(f"{s}_{w}" for s in ("dev", "test") for w in ("model", "teacher", "gold"))
    with MaterialsFile(toy) as mf:
        arrays = mf.arrays("test", ("y", "logits"))
    np.testing.assert_array_equal(kept["test_gold"], arrays["y"])
    np.testing.assert_array_equal(kept["test_teacher"], arrays["logits"].argmax(1))
    results = mse_run.eval_results_["test"]
    assert (kept["test_model"] == kept["test_gold"]).mean() == pytest.approx(results["accuracy"])
    assert (kept["test_model"] == kept["test_teacher"]).mean() == pytest.approx(results["agreement"])


def test_static_embedding_is_left_unchanged(toy, tmp_path):
    with MaterialsFile(toy) as mf:
        teacher_table = mf.embedding.copy()
    static = _fit(toy, tmp_path / "static", embedding="static")
    np.testing.assert_array_equal(static.model_.embedding.embeddings.numpy(), teacher_table)
    multi = _fit(toy, tmp_path / "multi", embedding="multichannel", epochs=1)
    np.testing.assert_array_equal(multi.model_.static_embedding.embeddings.numpy(), teacher_table)
    # the fine-tuned channel does move (so the check above could fail)
    assert not np.allclose(multi.model_.embedding.embeddings.numpy(), teacher_table)


def test_delta_corrects_exactly_the_rows_the_training_splits_use(toy, tmp_path):
    with MaterialsFile(toy) as mf:
        teacher_table = mf.embedding.copy()
        used = mf.token_ids_used(["train", "transfer"])
        rows = [mf.arrays(s, ("x", "length")) for s in ("train", "transfer")]
    expected = sorted({int(t) for part in rows for ids, n in zip(part["x"], part["length"]) for t in ids[:n]})
    assert used.tolist() == expected
    run = _fit(toy, tmp_path / "delta", embedding="delta", epochs=1)
    model = run.model_
    assert model.delta_rows == len(used)
    np.testing.assert_array_equal(np.flatnonzero(model.delta_slot.numpy()), used)
    np.testing.assert_array_equal(model.embedding.embeddings.numpy(), teacher_table)
    assert np.abs(model.delta.embeddings.numpy()[1:]).max() > 0   # it trained
    assert json.loads((run.run_dir_ / "run.json").read_text())["config"]["embedding"] == "delta"


def test_ce_baseline_ignores_the_transfer_split(toy, tmp_path):
    run = _fit(toy, tmp_path / "ce", loss="ce", epochs=1)
    assert run.train_results_["train_splits"] == ["train"]
    assert run.train_results_["steps_per_epoch"] == 13


@pytest.mark.parametrize("loss", ["kl", "mix"])
def test_other_losses_train(toy, tmp_path, loss):
    run = _fit(toy, tmp_path / loss, loss=loss, epochs=1, temperature=2.0, alpha=0.3)
    assert np.isfinite(run.history_[0]["train_loss"])
    assert run.eval_results_["dev"]["rows"] == 200


def test_sentence_pair_materials_train(tmp_path):
    pair = write_toy_materials(tmp_path / "pair.h5", n_per_split=32, pair=True)
    run = _fit(pair, tmp_path / "run", epochs=1)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["is_pair"] is True
    assert run.eval_results_["test"]["rows"] == 32


def test_finished_runs_and_foreign_folders_are_not_overwritten(toy, tmp_path):
    run_dir = tmp_path / "run"
    _fit(toy, run_dir, epochs=1)
    before = (run_dir / "run.json").read_text()
    with pytest.raises(DistillError, match="finished student run"):
        _fit(toy, run_dir, epochs=1)
    assert (run_dir / "run.json").read_text() == before
    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DistillError, match="not a student run"):
        _fit(toy, foreign, epochs=1)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_bad_config_and_unusable_materials_are_refused(tmp_path):
    with pytest.raises(DistillError, match="loss"):
        StudentConfig(loss="hinge")
    with pytest.raises(DistillError, match="embedding"):
        StudentConfig(embedding="frozen")
    with pytest.raises(DistillError, match="monitor"):
        StudentConfig(monitor="train_loss")
    no_dev = write_toy_materials(tmp_path / "nodev.h5", n_per_split=16, splits=("train", "test"))
    with pytest.raises(DistillError, match="'dev'"):
        _fit(no_dev, tmp_path / "run")
    assert StudentConfig.from_dict(StudentConfig(widths=(2, 3)).to_dict()).widths == (2, 3)


def test_run_id_names_the_materials_and_changes_with_the_config(toy, tmp_path):
    a = run_id(toy, StudentConfig(loss="kl"))
    assert a.startswith("toy-kim-cnn-kl-") and a == run_id(toy, StudentConfig(loss="kl"))
    assert a != run_id(toy, StudentConfig(loss="kl", seed=1))
    assert finished_results(tmp_path) is None


@pytest.mark.parametrize("in_memory", [True, False])
def test_ctrl_c_then_the_same_command_resumes_to_the_uninterrupted_weights(toy, tmp_path, monkeypatch, in_memory):
    # Both reader paths (in memory, and streamed by chunks) give a resumed epoch its own shuffle.
    if not in_memory:
        streamed = MaterialsFile.dataset
        monkeypatch.setattr(MaterialsFile, "dataset", lambda self, *a, **k: streamed(self, *a, **{**k, "in_memory": False}))
    settings = dict(loss="mse", epochs=4, patience=4, batch_size=16)
    whole = _fit(toy, tmp_path / "whole", **settings)

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        StudentTrainer(StudentConfig(**{**FAST, **settings}), progress=False, echo=None, on_epoch_end=interrupt).fit(
            toy, tmp_path / "cut")
    assert read_run(tmp_path / "cut").interrupted
    again = _fit(toy, tmp_path / "cut", **settings)
    assert again.resumed_epochs_ == 2 and len(again.history_) == 4
    assert [h["dev_loss"] for h in again.history_] == [h["dev_loss"] for h in whole.history_]
    for a, b in zip(whole.model_.weights, again.model_.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
