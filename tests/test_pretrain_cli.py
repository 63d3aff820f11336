"""`distill teacher pretrain`: the whole command on a tiny BERT, and bad input as one line, exit 2, before TensorFlow."""

import json

import pytest

from distill.app import cli
from distill.runfiles import read_run


def one_error_line(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and err.count("\n") == 1, err
    return err.strip()


@pytest.fixture
def no_tensorflow(monkeypatch):
    """A mistake must be found before TensorFlow is imported."""
    def refuse():
        raise AssertionError("the command imported TensorFlow before rejecting its arguments")

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", refuse)


def corpus_file(tmp_path, text="a wonderful film\nthe road\n", name="corpus.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_pretrain_with_a_trained_vocab_then_fine_tune_its_checkpoint(tmp_path, capsys):
    vocab = tmp_path / "tok"
    assert cli.main(["tokenizer", "train", "--corpus", "task:synthetic", "--vocab-size", "200",
                     "--out", str(vocab)]) == 0
    out = tmp_path / "pre"
    assert cli.main(["teacher", "pretrain", "--config", "tiny", "--vocab", str(vocab), "--corpus", "task:synthetic",
                     "--epochs", "2", "--max-seq-len", "32", "--lr", "3e-3", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "tokens/s" in printed and f"--teacher {out / 'epoch-2'}" in printed
    info = read_run(out)
    assert info.kind == "pretrain" and info.complete and info.task == "task:synthetic"
    assert info.tokenizer.vocab_sha256 == read_run(out).provenance["vocab_sha256"]
    assert len((out / "epochs.jsonl").read_text().splitlines()) == 2
    # the checkpoint is a teacher every command takes: fine-tune it
    run = tmp_path / "ft"
    assert cli.main(["teacher", "finetune", "--teacher", str(out / "epoch-2"), "--task", "synthetic", "--epochs", "1",
                     "--max-seq-len", "32", "--lr", "1e-3", "--out", str(run), "--no-progress"]) == 0
    results = json.loads((run / "eval_results.json").read_text())
    assert results["test"]["n"] > 0 and read_run(run).tokenizer.vocab_sha256 == info.tokenizer.vocab_sha256


@pytest.mark.parametrize("extra, message", [
    (["--task", "synthetic"], "--task goes with --finetune-every"),
    (["--finetune-every", "2"], "--finetune-every needs --task"),
    (["--task", "no-such-task", "--finetune-every", "1"], "no-such-task"),
])
def test_fine_tuning_options_go_together(tmp_path, capsys, no_tensorflow, extra, message):
    argv = ["teacher", "pretrain", "--config", "tiny", "--corpus", corpus_file(tmp_path), "--out",
            str(tmp_path / "out"), *extra]
    assert message in one_error_line(capsys, argv)
    assert not (tmp_path / "out").exists()


def test_a_vocab_without_the_special_tokens_is_named(tmp_path, capsys, no_tensorflow):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    line = one_error_line(capsys, ["teacher", "pretrain", "--config", "tiny", "--vocab", str(folder), "--corpus",
                                   corpus_file(tmp_path), "--out", str(tmp_path / "out")])
    assert str(folder / "vocab.txt") in line and "[PAD]" in line
    assert not (tmp_path / "out").exists()


def test_an_empty_corpus_and_a_non_utf8_line_are_named(tmp_path, capsys):
    empty = corpus_file(tmp_path, "\n\n", "empty.txt")
    line = one_error_line(capsys, ["teacher", "pretrain", "--config", "tiny", "--corpus", empty,
                                   "--out", str(tmp_path / "out")])
    assert "no text" in line and "empty.txt" in line
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    line = one_error_line(capsys, ["teacher", "pretrain", "--config", "tiny", "--corpus", str(bad),
                                   "--out", str(tmp_path / "out")])
    assert "bad.txt, line 3" in line and "UTF-8" in line
    assert not (tmp_path / "out").exists()


def test_vocab_goes_with_a_new_bert_only(tmp_path, capsys, no_tensorflow):
    line = one_error_line(capsys, ["teacher", "pretrain", "--teacher", "minilm-l6", "--vocab", str(tmp_path),
                                   "--corpus", corpus_file(tmp_path)])
    assert "--vocab goes with --config" in line


def test_a_missing_corpus_file_is_named(tmp_path, capsys, no_tensorflow):
    line = one_error_line(capsys, ["teacher", "pretrain", "--config", "tiny", "--corpus", str(tmp_path / "nope.txt")])
    assert "nope.txt" in line


def test_a_vocab_file_is_told_that_a_tokenizer_folder_is_wanted(tmp_path, capsys, no_tensorflow, snapshot):
    folder = tmp_path / "tok"
    folder.mkdir()
    vocab = folder / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n", encoding="utf-8")
    corpus = corpus_file(tmp_path)
    before = snapshot(tmp_path)
    wanted = ("a tokenizer folder, as `distill tokenizer train --out DIR` writes it (vocab.txt, tokenizer.json, "
              "tokenizer_config.json)")
    line = one_error_line(capsys, ["teacher", "pretrain", "--config", "tiny", "--vocab", str(vocab), "--corpus",
                                   corpus, "--out", str(tmp_path / "out")])
    assert line == (f"distill: error: --vocab {vocab}: a file, but --vocab wants a folder: {wanted}; give the "
                    f"folder that holds it: --vocab {folder}")
    assert "no such folder" not in line
    line = one_error_line(capsys, ["teacher", "pretrain", "--config", "tiny", "--vocab", corpus, "--corpus", corpus])
    assert line == f"distill: error: --vocab {corpus}: a file, but --vocab wants a folder: {wanted}"
    assert snapshot(tmp_path) == before   # nothing written, no run folder begun
