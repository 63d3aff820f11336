"""`distill tokenizer train`: a tokenizer folder from a corpus, without TensorFlow; bad input is one line, exit 2."""

import json
import subprocess
import sys

import pytest

from distill.app import cli
from distill.vocab_training import read_tokenizer_folder
from distill.wordpiece import WordPieceTokenizer

LINES = ["The film was wonderful.", "A slow, dark plot; the acting is fine!", "", "Wonderful music, sad story."]


@pytest.fixture(autouse=True)
def no_tensorflow(monkeypatch):
    """The command needs no TensorFlow: importing it here would be a bug."""
    def refuse():
        raise AssertionError("tokenizer train imported TensorFlow")

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", refuse)


def corpus_file(tmp_path, lines=LINES, name="corpus.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def one_error_line(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and err.count("\n") == 1, err
    return err.strip()


def test_train_writes_a_tokenizer_folder_that_spells_its_corpus(tmp_path, capsys):
    out = tmp_path / "tok"
    argv = ["tokenizer", "train", "--corpus", corpus_file(tmp_path), "task:synthetic", "--vocab-size", "300",
            "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "corpus.txt: 3 lines, 2 documents" in printed and "task:synthetic: 400 lines, 1 document\n" in printed
    assert "[UNK] pieces: 0" in printed and f"tokenizer: {out}" in printed
    vocab, lowercase = read_tokenizer_folder(out)
    assert lowercase is True
    tokenizer = WordPieceTokenizer(vocab, lowercase)
    assert tokenizer.vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(tokenizer) <= 300
    assert not any((ids == tokenizer.unk_id).any() for ids in tokenizer.encode([t for t in LINES if t]).ids)
    info = json.loads((out / "vocab_training.json").read_text(encoding="utf-8"))
    assert [s["spec"] for s in info["corpus"]] == [str(tmp_path / "corpus.txt"), "task:synthetic"]
    assert info["coverage"]["unk"] == 0 and info["tokens"] == len(tokenizer)

    # the same command again: refused without --overwrite, and the same vocab.txt with it
    before = vocab.read_bytes()
    assert "pass --overwrite" in one_error_line(capsys, argv)
    assert cli.main(argv + ["--overwrite"]) == 0 and vocab.read_bytes() == before


def test_cased_keeps_capitals(tmp_path, capsys):
    out = tmp_path / "tok"
    argv = ["tokenizer", "train", "--corpus", corpus_file(tmp_path, ["The Film The Film", "THE END"] * 2),
            "--vocab-size", "60", "--cased", "--min-frequency", "1", "--max-seq-len", "128", "--out", str(out)]
    assert cli.main(argv) == 0
    assert read_tokenizer_folder(out)[1] is False
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["do_lower_case"] is False and config["model_max_length"] == 128
    assert "The" in WordPieceTokenizer(out / "vocab.txt", lowercase=False).vocab


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    base = ["tokenizer", "train", "--vocab-size", "300", "--out", str(out)]

    empty = corpus_file(tmp_path, ["", "   "], "empty.txt")
    assert one_error_line(capsys, base + ["--corpus", empty]) == f"distill: error: corpus: no text in {empty}"

    bad = tmp_path / "latin1.txt"
    bad.write_bytes("fine\ncaf\u00e9\n".encode("latin-1"))
    message = one_error_line(capsys, base + ["--corpus", str(bad)])
    assert f"{bad}, line 2: not UTF-8 (byte 0xe9 at column 4)" in message

    small = ["tokenizer", "train", "--corpus", corpus_file(tmp_path), "--vocab-size", "20", "--out", str(out)]
    message = one_error_line(capsys, small)
    assert "--vocab-size 20 is below the 5 special tokens + " in message and "use at least" in message

    message = one_error_line(capsys, base + ["--corpus", str(tmp_path / "missing.txt")])
    assert "missing.txt: no such file or folder" in message
    assert "known: corpus:rt-polarity-plots" in one_error_line(capsys, base + ["--corpus", "corpus:nope"])
    assert "unknown task 'nope'" in one_error_line(capsys, base + ["--corpus", "task:nope"])
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "empty.txt", "latin1.txt"]

    (tmp_path / "file").write_text("x", encoding="utf-8")
    message = one_error_line(capsys, ["tokenizer", "train", "--corpus", empty, "--vocab-size", "300",
                                      "--out", str(tmp_path / "file" / "tok")])
    assert message.startswith("distill: error: --out ") and "not a folder" in message


def test_help_says_what_a_source_can_be(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tokenizer", "train", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for words in ("a text file", "a folder (every *.txt", "task:NAME", "TRAIN split", "corpus:rt-polarity-plots"):
        assert words in text


def test_the_command_imports_no_tensorflow(tmp_path):
    code = ("import sys; from distill.app.cli import main; "
            f"assert main(['tokenizer', 'train', '--corpus', {corpus_file(tmp_path)!r}, '--vocab-size', '100', "
            f"'--out', {str(tmp_path / 'tok')!r}]) == 0; assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
