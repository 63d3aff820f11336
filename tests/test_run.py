"""teachers.run: a saved teacher run reloads, predicts in input order, evaluates, and says what is wrong."""

import json
import shutil

import numpy as np
import pytest

from distill.data.synthetic import marker_task
from distill.errors import DistillError
from distill.sources import sha256_file
from teachers.bert import BertConfig
from teachers.run import TeacherRun
from teachers.testing import train_tiny_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("runs") / "tiny-synthetic").run_dir_


@pytest.fixture(scope="module")
def run(run_dir):
    return TeacherRun.load(run_dir)


def test_contract_attributes(run, run_dir):
    assert run.label_names == ["negative", "positive"]
    assert run.max_seq_len == 32 and run.tokenizer.max_seq_len == 32
    assert run.task_name == "synthetic" and run.teacher_name == "tiny"
    assert isinstance(run.config, BertConfig) and run.config.num_layers == 2
    assert run.encoder is run.model.encoder
    assert run.weights_sha256 == sha256_file(run_dir / "model.keras")
    assert run.vocab_path == run_dir / "vocab.txt" and run.lowercase and run.complete and not run.is_pair
    assert run.precision == "fp32" and set(run.teacher_provenance()) == {"name", "config", "weights_sha256", "run_dir"}


def test_a_bf16_run_says_so_in_its_provenance_and_returns_float32(run_dir):
    bf16 = TeacherRun.load(run_dir, precision="bf16")
    assert bf16.teacher_provenance()["precision"] == "bf16"
    ids = bf16.tokenizer.encode(["the film was wonderful"])
    logits = bf16.logits_for_ids(ids.ids[0][None], np.zeros((1, ids.lengths[0]), np.int32),
                                 np.ones((1, ids.lengths[0]), np.int32))
    assert logits.dtype == np.float32 and logits.shape == (1, 2)


def test_predict_logits_match_one_row_at_a_time(run):
    texts = marker_task(n_train=1, n_dev=1, n_test=20, seed=7)["test"].texts
    together = run.predict_logits(texts, batch_size=6)
    for text, row in zip(texts, together):
        ids = run.tokenizer.encode([text])
        single = run.logits_for_ids(ids.ids[0][None], ids.segments[0][None].astype(np.int32),
                                    np.ones((1, len(ids.ids[0])), np.int32))
        np.testing.assert_allclose(row, single[0], atol=1e-5)
    assert dict(run.traces) == {"forward": 1}


def test_predict_and_evaluate(run):
    labels, probs = run.predict(["the film was wonderful", "a long dark road"])
    assert [run.label_names[i] for i in labels] == ["positive", "negative"]
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    metrics = run.evaluate(marker_task()["dev"])
    assert metrics["accuracy"] > 0.95 and metrics["n"] == 100
    assert metrics["seconds"] > 0 and metrics["it_per_s"] > 0 and "confusion_matrix" in metrics
    assert run.predict_logits([]).shape == (0, 2)


def test_pairs_given_to_a_single_sentence_run_are_refused(run):
    with pytest.raises(DistillError, match="single sentences"):
        run.predict_logits(["a"], texts_b=["b"])
    with pytest.raises(DistillError, match="single sentences"):
        run.evaluate(marker_task(n_train=2, n_dev=2, n_test=2, pair=True)["dev"])


def _copy(run_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(run_dir, target)
    return target


def test_load_errors_name_the_file(run_dir, tmp_path):
    with pytest.raises(DistillError, match="no such run folder"):
        TeacherRun.load(tmp_path / "missing")
    broken = _copy(run_dir, tmp_path)
    info = json.loads((broken / "run.json").read_text())
    (broken / "run.json").write_text(json.dumps({**info, "kind": "student"}))
    with pytest.raises(DistillError, match="not a teacher run"):
        TeacherRun.load(broken)
    (broken / "run.json").write_text(json.dumps({**info, "complete": False}))
    (broken / "model.keras").unlink()
    with pytest.raises(DistillError, match="model.keras: no saved model .training was interrupted"):
        TeacherRun.load(broken)


def test_mismatched_config_or_labels_are_refused(run_dir, tmp_path):
    broken = _copy(run_dir, tmp_path)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "num_layers": 3}))
    with pytest.raises(DistillError, match="config.json: does not match"):
        TeacherRun.load(broken)
    (broken / "config.json").write_text(json.dumps(config))
    info = json.loads((broken / "run.json").read_text())
    (broken / "run.json").write_text(json.dumps({**info, "label_names": ["a", "b", "c"]}))
    with pytest.raises(DistillError, match="3 label names but the model has 2 outputs"):
        TeacherRun.load(broken)
    (broken / "run.json").write_text(json.dumps(info))
    (broken / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(DistillError, match="model.keras: cannot load"):
        TeacherRun.load(broken)


def test_evaluating_a_split_with_other_label_names_is_refused_listing_both(run):
    import dataclasses

    dev = marker_task()["dev"]
    other = dataclasses.replace(dev, label_names=["bad", "good"])
    with pytest.raises(DistillError) as error:
        run.evaluate(other)
    assert str(error.value) == (f"task {dev.source_id} has labels ['bad', 'good'] but the teacher run {run.run_dir} "
                                "was trained on ['negative', 'positive'] (task synthetic)")
    seen = []
    assert run.evaluate(dev, on_batch=seen.append)["rows"] == len(dev) == sum(seen)   # progress, batch by batch
