"""teachers.export: a fine-tuned run written as an HF or Google folder that reads back bit for bit."""

import json

import numpy as np
import pytest
import tensorflow as tf
from safetensors import safe_open

from distill.app import cli
from distill.errors import DistillError
from teachers.export import export_teacher
from teachers.folder import load_model_folder
from teachers.run import TeacherRun
from teachers.testing import train_tiny_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return TeacherRun.load(train_tiny_run(tmp_path_factory.mktemp("export") / "run").run_dir_)


def test_hf_export_is_a_sequence_classification_folder_transformers_reads(run, tmp_path):
    out = export_teacher(run.run_dir, "hf", tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "distill_export.json", "model.safetensors",
                                                     "special_tokens_map.json",
                                                     "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and config["model_type"] == "bert"
    assert config["id2label"] == {"0": "negative", "1": "positive"} and config["label2id"]["positive"] == 1
    assert config["hidden_size"] == 32 and config["num_hidden_layers"] == 2 and config["layer_norm_eps"] == 1e-12
    tokenizer = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer["do_lower_case"] is True and tokenizer["model_max_length"] == run.max_seq_len == 32
    with safe_open(str(out / "model.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"format": "pt"}
        names = set(f.keys())
        np.testing.assert_array_equal(f.get_tensor("classifier.weight"), run.model.head.kernel.numpy().T)
        assert f.get_tensor("bert.encoder.layer.0.intermediate.dense.weight").shape == (64, 32)   # [out, in]
    assert "bert.embeddings.word_embeddings.weight" in names and "bert.pooler.dense.bias" in names


def test_google_export_is_a_run_classifier_checkpoint(run, tmp_path):
    out = export_teacher(run.run_dir, "google", tmp_path / "google")
    shapes = tf.train.load_checkpoint(str(out / "bert_model.ckpt")).get_variable_to_shape_map()
    assert shapes["output_weights"] == [2, 32] and shapes["output_bias"] == [2]
    assert shapes["bert/encoder/layer_1/intermediate/dense/kernel"] == [32, 64]
    assert json.loads((out / "label_names.json").read_text()) == ["negative", "positive"]
    loaded = load_model_folder(out)
    assert loaded.head_labels == ["negative", "positive"] and loaded.tokenizer.max_seq_len == 32


def test_an_export_replaces_only_an_export_of_ours_and_only_when_told(run, tmp_path, snapshot):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep")
    for overwrite in (False, True):   # a user's folder: never, --overwrite or not
        with pytest.raises(DistillError, match="not a teacher export folder written by distill; it is never replaced"):
            export_teacher(run.run_dir, "hf", tmp_path / "taken", overwrite=overwrite)
        assert snapshot(tmp_path / "taken") == {"x": b"keep"}
    holder = run.run_dir.parent   # the folder holding the run: never, it would delete the run
    before = snapshot(holder)
    with pytest.raises(DistillError, match="which this command reads"):
        export_teacher(run.run_dir, "hf", holder, overwrite=True)
    assert snapshot(holder) == before
    ours = export_teacher(run.run_dir, "google", tmp_path / "ours")
    with pytest.raises(DistillError, match="already there; pass --overwrite"):
        export_teacher(run.run_dir, "hf", ours)
    export_teacher(run.run_dir, "hf", ours, overwrite=True)
    assert (ours / "config.json").exists() and not (ours / "bert_config.json").exists()
    assert json.loads((ours / "distill_export.json").read_text())["format"] == "hf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours", "taken"]    # no temporary folder left


def test_the_cli_exports_and_refuses_before_loading(run, tmp_path, capsys):
    assert cli.main(["teacher", "export", str(run.run_dir), "--format", "google", str(tmp_path / "g")]) == 0
    assert capsys.readouterr().out == f"exported {run.run_dir} as a Google folder: {tmp_path / 'g'}\n"
    assert cli.main(["teacher", "export", str(run.run_dir), "--format", "hf", str(tmp_path / "g")]) == 2
    assert capsys.readouterr().err == f"distill: error: OUT {tmp_path / 'g'}: a teacher export folder is already " \
                                      "there; pass --overwrite to replace it, or choose another path\n"
    assert cli.main(["teacher", "export", str(tmp_path / "nope"), "--format", "hf", str(tmp_path / "h")]) == 2
    assert "no run.json; not a run folder" in capsys.readouterr().err


def test_a_mean_pooled_teacher_trains_reloads_and_is_refused_by_both_formats(tmp_path):
    import dataclasses

    from teachers.testing import TINY_FINETUNE

    trained = train_tiny_run(tmp_path / "mean", config=dataclasses.replace(TINY_FINETUNE, pooling="mean"))
    assert trained.eval_results_["dev"]["accuracy"] > 0.9   # the marker task is learnt through the mean
    loaded = TeacherRun.load(trained.run_dir_)
    assert loaded.model.pooling == "mean"
    assert json.loads((trained.run_dir_ / "run.json").read_text())["config"]["pooling"] == "mean"
    for fmt in ("hf", "google"):
        with pytest.raises(DistillError, match="--pooling mean; .* \\[CLS\\]-pooler head only"):
            export_teacher(loaded.run_dir, fmt, tmp_path / fmt)
        assert not (tmp_path / fmt).exists()
