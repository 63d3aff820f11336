"""teachers.folder: which folder is which, what a Google folder must hold, the default row length."""

import json
import shutil

import pytest

from distill.errors import DistillError
from teachers.checkpoints import save_google_checkpoint
from teachers.folder import (GOOGLE, HF, RUN, check_model_folder, default_max_seq_len, is_path, kind_of,
                             load_model_folder, model_folder_kind, source_kind)
from teachers.registry import check_teacher, is_folder, load_teacher, teacher_label
from teachers.testing import tiny_teacher, tiny_vocab


@pytest.fixture(scope="module")
def google(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    vocab = tiny_vocab(root / "vocab.txt")
    teacher = tiny_teacher(vocab)
    return save_google_checkpoint(teacher.encoder, root / "google", vocab), teacher


def test_kinds_by_their_files(google, tmp_path):
    folder, _ = google
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    assert (kind_of(tmp_path / "run"), kind_of(tmp_path / "hf"), kind_of(folder), kind_of(tmp_path)) == \
        (RUN, HF, GOOGLE, None)
    assert source_kind(tmp_path / "run") == RUN
    with pytest.raises(DistillError, match=f"^{tmp_path}: no run.json; not a run folder$"):
        source_kind(tmp_path)    # neither: the message commands taking a run have always given
    with pytest.raises(DistillError, match="a teacher run folder, not a model folder"):
        model_folder_kind(tmp_path / "run")
    with pytest.raises(DistillError, match=r"neither a Hugging Face BERT folder \(config.json\) nor"):
        model_folder_kind(tmp_path)
    with pytest.raises(DistillError, match="no such folder"):
        model_folder_kind(tmp_path / "nope")


def test_names_win_over_folders_and_folders_are_named_after_themselves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()           # a folder named like a preset does not shadow it
    assert not is_folder("tiny") and is_path("tiny")
    assert is_folder("./tiny") and is_folder("~/x") and is_folder("runs/x") and not is_folder("bert-huge")
    assert teacher_label("minilm-l6") == "minilm-l6" and teacher_label("./tiny") == "tiny"
    with pytest.raises(DistillError, match="--checkpoint goes with bert-base/bert-large"):
        check_teacher("./tiny", checkpoint=str(tmp_path))


def test_the_default_length_is_the_fine_tuning_length_else_128():
    assert default_max_seq_len(None, 512) == 128
    assert default_max_seq_len(512, 512) == 128     # the model's full length is no fine-tuning length
    assert default_max_seq_len(10 ** 30, 512) == 128
    assert default_max_seq_len(64, 512) == 64
    assert default_max_seq_len(None, 40) == 40


def test_a_google_folder_loads_by_path_named_after_it(google):
    folder, teacher = google
    loaded = load_teacher(str(folder))
    assert loaded.name == "google" and loaded.source_dir == folder and loaded.classifier_head is None
    assert loaded.weights_source == f"Google checkpoint {folder.resolve() / 'bert_model.ckpt'}"
    for name, variable in teacher.encoder.named_weights().items():
        assert (loaded.encoder.named_weights()[name].numpy() == variable.numpy()).all()


@pytest.mark.parametrize("mistake", ["no-vocab", "no-checkpoint", "vocab-size", "labels-file", "labels-count"])
def test_google_folder_mistakes_are_one_line_naming_the_file(google, tmp_path, mistake):
    import numpy as np

    folder = shutil.copytree(google[0], tmp_path / "g")
    if mistake == "no-vocab":
        (folder / "vocab.txt").unlink()
        expected = f"{folder / 'vocab.txt'}: missing; a Google BERT checkpoint directory has vocab.txt"
    elif mistake == "no-checkpoint":
        (folder / "bert_model.ckpt.index").unlink()
        expected = f"{folder}: no TF checkpoint (bert_model.ckpt.index and .data-*, or run_classifier.py's"
    elif mistake == "vocab-size":
        config = json.loads((folder / "bert_config.json").read_text())
        (folder / "bert_config.json").write_text(json.dumps({**config, "vocab_size": 50}))
        expected = f"{folder / 'vocab.txt'}: {config['vocab_size']} tokens, but field 'vocab_size' of " \
                   f"{folder / 'bert_config.json'} is 50"
    elif mistake == "labels-file":
        (folder / "label_names.json").write_text('{"0": "a"}')
        expected = f"{folder / 'label_names.json'}: must be a JSON list of the classifier's label names"
    else:
        shutil.rmtree(folder)
        save_google_checkpoint(google[1].encoder, folder, google[0] / "vocab.txt",
                               heads={"output_weights": np.zeros((3, 32), np.float32),
                                      "output_bias": np.zeros(3, np.float32)})
        (folder / "label_names.json").write_text('["a", "b"]')
        expected = f"{folder / 'label_names.json'}: 2 label names (a, b) but the classifier head output_weights in "
    with pytest.raises(DistillError) as error:
        load_model_folder(folder) if mistake == "labels-count" else check_model_folder(folder)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_a_google_config_whose_heads_do_not_divide_hidden_size_names_its_fields(google, tmp_path, capsys, snapshot):
    from distill.app.cli import main
    from teachers.checkpoints import read_google_config

    folder = shutil.copytree(google[0], tmp_path / "g")
    config = json.loads((folder / "bert_config.json").read_text())
    (folder / "bert_config.json").write_text(json.dumps({**config, "num_attention_heads": 3}))
    before = snapshot(folder)
    expected = (f"{folder / 'bert_config.json'}: field 'num_attention_heads' (3) does not divide field "
                "'hidden_size' (32); every attention head takes hidden_size / num_attention_heads dimensions")
    assert main(["teacher", "info", str(folder)]) == 2
    assert capsys.readouterr().err == f"distill: error: {expected}\n"
    with pytest.raises(DistillError) as error:   # reading the config alone, as loaders do, says the same
        read_google_config(folder)
    assert str(error.value) == expected
    assert snapshot(folder) == before


def test_info_on_a_pretraining_run_points_to_its_newest_checkpoint(google, tmp_path, capsys, snapshot):
    from distill.app.cli import main

    run = tmp_path / "pretrain" / "mini-1234"
    for epoch in (1, 3):
        (run / f"epoch-{epoch}").mkdir(parents=True)
    shutil.copytree(google[0], run / "epoch-12")        # sorted by number, not by name
    (run / ".epoch-13.partial-x1").mkdir()              # a checkpoint half-written is no checkpoint
    (run / "run.json").write_text(json.dumps({"schema": 2, "kind": "pretrain"}))
    before = snapshot(run)
    assert main(["teacher", "info", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == (f"distill: error: {run}: a pretraining run folder, not a model folder; each of its checkpoints "
                   f"{run / 'epoch-K'} is a teacher: use {run / 'epoch-12'}, the newest\n")
    assert "teacher run" not in err and "materials generate" not in err
    assert snapshot(run) == before
    assert main(["teacher", "info", str(run / "epoch-12")]) == 0   # the advice works
    assert "teacher        epoch-12" in capsys.readouterr().out
    for epoch in (1, 3, 12):
        shutil.rmtree(run / f"epoch-{epoch}")
    assert main(["teacher", "info", str(run)]) == 2
    assert capsys.readouterr().err.endswith(f"each of its checkpoints {run / 'epoch-K'} is a teacher: it has "
                                            "written none yet\n")
