"""Bad input is one clear line and exit 2, never a traceback: `distill predict`'s inputs and numeric options.

`predict` runs in-process through `distill.app.cli.main` with a stand-in predictor (no model, no
TensorFlow), stdin replaced by bytes. The numeric options of every command are refused by argparse
itself (usage line, then `distill <command>: error: argument ...`, exit 2) before any handler runs.
Data-file cases live with their readers (test_tsv_dir, test_table, test_glue, test_data_cli).
"""

import argparse
import io
import sys

import numpy as np
import pytest

from distill.app import cli
from distill.app.cli import predict as predict_cli
from distill.app.cli import types


class FakePredictor:
    """Labels 'yes' when the text holds "yes"; confidence 0.8. Records every batch it is given."""

    label_names = ["no", "yes"]

    def __init__(self, is_pair=False):
        self.is_pair = is_pair
        self.batches = []

    def predict(self, texts, texts_b=None, batch_size=32):
        self.batches.append((list(texts), texts_b))
        labels = np.array([int("yes" in t) for t in texts])
        return labels, np.tile([[0.2, 0.8]], (len(texts), 1))


@pytest.fixture
def predictor(monkeypatch, tmp_path):
    """The stand-in behind `distill predict RUN`; `predictor.loaded` counts loads.

    RUN is a real student run folder (its run.json), so that checks made before loading pass.
    """
    from distill.runfiles import RunInfo, TokenizerFacts, write_run

    (tmp_path / "RUN").mkdir()
    write_run(tmp_path / "RUN", RunInfo(kind="student", name="fake", task="synthetic", config={},
                                        label_names=["no", "yes"],
                                        tokenizer=TokenizerFacts(lowercase=True, max_seq_len=16)))
    monkeypatch.chdir(tmp_path)   # the argument "RUN" below is this folder
    fake = FakePredictor()
    fake.loaded = 0

    def load(run_dir):
        fake.loaded += 1
        return fake

    monkeypatch.setattr(predict_cli, "load_predictor", load)
    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: None)
    return fake


def stdin_bytes(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, expected):
    assert code == 2 and "Traceback" not in err
    assert err == f"distill: error: {expected}\n"


# ------------------------------------------------------------------ predict: arguments
@pytest.mark.parametrize("texts, n", [([""], 1), (["fine", "   "], 2), (["a", "-", "\t"], 3)])
def test_an_empty_text_argument_is_named_before_the_model_loads(predictor, capsys, monkeypatch, texts, n):
    stdin_bytes(monkeypatch, b"yes\n")
    code, out, err = run(capsys, "predict", "RUN", *texts)
    assert_one_line(code, err, f"predict: text {n} is empty; give a text to label")
    assert out == "" and predictor.loaded == 0


def test_text_arguments_are_labelled_in_order(predictor, capsys):
    code, out, err = run(capsys, "predict", "RUN", "yes please", "nope")
    assert code == 0 and err == ""
    assert out.splitlines() == ["yes\t0.8000\tyes please", "no\t0.2000\tnope"]


# ------------------------------------------------------------------ predict: stdin and --file
def test_stdin_gives_one_output_line_per_input_line(predictor, capsys, monkeypatch):
    stdin_bytes(monkeypatch, b"yes one\n\n   \nno two\r\n\nyes three")
    code, out, err = run(capsys, "predict", "RUN", "-")
    assert code == 0 and err == ""
    assert out.split("\n")[:-1] == ["yes\t0.8000\tyes one", "\t\t", "\t\t   ", "no\t0.2000\tno two", "\t\t",
                                    "yes\t0.8000\tyes three"]
    assert predictor.batches == [(["yes one", "no two", "yes three"], None)]   # blank lines never reach the model


def test_only_blank_lines_give_only_empty_labels(predictor, capsys, monkeypatch):
    stdin_bytes(monkeypatch, b"\n\n")
    code, out, _ = run(capsys, "predict", "RUN", "--file", "-")
    assert code == 0 and out == "\t\t\n\t\t\n" and predictor.batches == []


def test_lines_stay_in_step_across_chunks(predictor, capsys, monkeypatch):
    monkeypatch.setattr(predict_cli, "PREDICT_CHUNK", 3)
    lines = ["yes a", "", "no b", "", "", "yes c", "no d", ""]
    stdin_bytes(monkeypatch, ("\n".join(lines) + "\n").encode())
    code, out, _ = run(capsys, "predict", "RUN", "-")
    assert code == 0
    assert [row.split("\t")[2] for row in out.split("\n")[:-1]] == lines
    assert [row.split("\t")[0] for row in out.split("\n")[:-1]] == ["yes", "", "no", "", "", "yes", "no", ""]


def test_file_keeps_line_correspondence_and_drops_a_bom(predictor, capsys, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"\xef\xbb\xbfyes first\r\n\r\nno second\r\n")
    code, out, _ = run(capsys, "predict", "RUN", "--file", str(path))
    assert code == 0 and out.splitlines() == ["yes\t0.8000\tyes first", "\t\t", "no\t0.2000\tno second"]


def test_non_utf8_stdin_names_stdin_and_the_line(predictor, capsys, monkeypatch):
    stdin_bytes(monkeypatch, b"yes fine\n\ncaf\xe9 au lait\nno\n")
    code, out, err = run(capsys, "predict", "RUN", "-")
    assert_one_line(code, err, "stdin, line 3: not UTF-8 (byte 0xe9 at column 4); give UTF-8 text")
    assert out == ""


def test_non_utf8_file_names_the_file_and_the_line(predictor, capsys, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"ok\n\xff\xfe\n")
    before = path.read_bytes()
    code, _, err = run(capsys, "predict", "RUN", "--file", str(path))
    assert_one_line(code, err, f"{path}, line 2: not UTF-8 (byte 0xff at column 1); give UTF-8 text")
    assert path.read_bytes() == before


def test_a_text_stdin_that_cannot_decode_is_one_line(predictor, capsys, monkeypatch):
    class BadText(io.StringIO):
        def __iter__(self):
            yield "fine\n"
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(sys, "stdin", BadText())
    code, _, err = run(capsys, "predict", "RUN", "-")
    assert_one_line(code, err, "stdin, line 2: not UTF-8; give UTF-8 text")


def test_a_missing_file_is_one_line_before_the_model_loads(predictor, capsys, tmp_path):
    code, out, err = run(capsys, "predict", "RUN", "--file", str(tmp_path / "nope.txt"))
    assert_one_line(code, err, f"{tmp_path / 'nope.txt'}: No such file or directory")
    assert predictor.loaded == 0 and out == ""


def test_closed_stdin_is_one_line(predictor, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    code, _, err = run(capsys, "predict", "RUN", "-")
    assert_one_line(code, err, "stdin is closed; give texts as arguments or --file FILE")


def test_pair_runs_name_the_line_without_a_tab_or_with_an_empty_side(predictor, capsys, monkeypatch):
    predictor.is_pair = True
    stdin_bytes(monkeypatch, b"a\tyes b\n\nno tab here\n")
    code, out, err = run(capsys, "predict", "RUN", "-")
    assert_one_line(code, err, "predict: stdin, line 3 has no TAB; this run labels sentence pairs given as "
                               "'A<TAB>B'")
    stdin_bytes(monkeypatch, b"a\tyes b\n\nc\t \n")
    code, out, err = run(capsys, "predict", "RUN", "-")
    assert_one_line(code, err, "predict: stdin, line 3: sentence B of 'A<TAB>B' is empty")
    stdin_bytes(monkeypatch, b"yes a\tb\n\n")
    code, out, err = run(capsys, "predict", "RUN", "-")
    assert code == 0 and out.splitlines() == ["yes\t0.8000\tyes a\tb", "\t\t"]
    assert predictor.batches[-1] == (["yes a"], ["b"])


def test_help_documents_the_blank_line_rule(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "a blank line gives a line with an empty label and confidence" in help_text


# ------------------------------------------------------------------ numeric options, every command
BAD_OPTIONS = [
    (["predict", "RUN", "x", "--batch-size", "0"], "--batch-size", "must be a positive integer, got '0'"),
    (["predict", "RUN", "x", "--batch-size", "-4"], "--batch-size", "must be a positive integer, got '-4'"),
    (["predict", "RUN", "x", "--batch-size", "two"], "--batch-size", "must be an integer, got 'two'"),
    (["data", "show", "synthetic", "-n", "-1"], "-n/--rows", "must be an integer >= 0, got '-1'"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--epochs", "0"], "--epochs",
     "must be a positive integer"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--batch-size", "0"], "--batch-size",
     "must be a positive integer"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--max-seq-len", "2"], "--max-seq-len",
     "must be an integer >= 3"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--lr", "0"], "--lr", "must be a number > 0"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--lr", "inf"], "--lr",
     "must be a finite number"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--warmup", "1"], "--warmup",
     "must be a number in [0, 1)"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--dropout", "-0.1"], "--dropout",
     "must be a number in [0, 1)"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--weight-decay", "-1"], "--weight-decay",
     "must be a number >= 0"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--clip-norm", "nan"], "--clip-norm",
     "must be a finite number"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--patience", "0"], "--patience",
     "must be a positive integer"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--seed", "-1"], "--seed",
     "must be an integer in [0, 4294967295]"),
    (["teacher", "tune", "--teacher", "tiny", "--task", "synthetic", "--seeds", "0"], "--seeds",
     "must be a positive integer"),
    (["teacher", "tune", "--teacher", "tiny", "--task", "synthetic", "--batch-sizes", "16,0"], "--batch-sizes",
     "must be comma-separated positive integers, got '0' in '16,0'"),
    (["teacher", "tune", "--teacher", "tiny", "--task", "synthetic", "--lrs", "3e-5,-1"], "--lrs",
     "must be comma-separated numbers > 0, got '-1' in '3e-5,-1'"),
    (["teacher", "eval", "RUN", "--batch-size", "0"], "--batch-size", "must be a positive integer"),
    (["materials", "generate", "--teacher", "RUN", "--batch-size", "0"], "--batch-size", "must be a positive integer"),
    (["materials", "generate", "--teacher", "RUN", "--augment", "-1"], "--augment", "must be an integer >= 0"),
    (["materials", "generate", "--teacher", "RUN", "--p-mask", "1.5"], "--p-mask", "must be a number in [0, 1]"),
    (["materials", "generate", "--teacher", "RUN", "--p-pos", "-0.5"], "--p-pos", "must be a number in [0, 1]"),
    (["materials", "generate", "--teacher", "RUN", "--p-ng", "2"], "--p-ng", "must be a number in [0, 1]"),
    (["materials", "generate", "--teacher", "RUN", "--augment-seed", "-3"], "--augment-seed",
     "must be an integer in [0, 4294967295]"),
    (["student", "train", "--materials", "m.h5", "--filters", "0"], "--filters", "must be a positive integer"),
    (["student", "train", "--materials", "m.h5", "--epochs", "0"], "--epochs", "must be a positive integer"),
    (["student", "train", "--materials", "m.h5", "--batch-size", "-1"], "--batch-size", "must be a positive integer"),
    (["student", "train", "--materials", "m.h5", "--patience", "0"], "--patience", "must be a positive integer"),
    (["student", "train", "--materials", "m.h5", "--temperature", "0"], "--temperature", "must be a number > 0"),
    (["student", "train", "--materials", "m.h5", "--alpha", "1.01"], "--alpha", "must be a number in [0, 1]"),
    (["student", "train", "--materials", "m.h5", "--dropout", "1"], "--dropout", "must be a number in [0, 1)"),
    (["student", "train", "--materials", "m.h5", "--lr", "-0.001"], "--lr", "must be a number > 0"),
    (["student", "train", "--materials", "m.h5", "--seed", "4294967296"], "--seed",
     "must be an integer in [0, 4294967295]"),
    (["student", "train", "--materials", "m.h5", "--widths", "3,0"], "--widths",
     "must be comma-separated positive integers"),
    (["bench", "--preset", "tiny", "--examples", "0"], "--examples", "must be a positive integer"),
    (["bench", "--preset", "tiny", "--repeats", "0"], "--repeats", "must be a positive integer"),
    (["bench", "--preset", "tiny", "--warmup", "-1"], "--warmup", "must be an integer >= 0"),
    (["bench", "--preset", "tiny", "--max-seq-len", "0"], "--max-seq-len", "must be an integer >= 3"),
    (["bench", "--preset", "tiny", "--batch-sizes", "1,,x"], "--batch-sizes",
     "must be comma-separated positive integers, got 'x'"),
    (["report", "runs", "--batch-size", "0"], "--batch-size", "must be a positive integer"),
    (["run", "--seeds", "0"], "--seeds", "must be a positive integer"),
    (["run", "--augment", "-2"], "--augment", "must be an integer >= 0"),
]


GROUPS = ("data", "teacher", "materials", "student")
"""Commands with sub-commands: argparse names them with their sub-command (`distill teacher finetune`)."""


@pytest.mark.parametrize("argv, option, message", BAD_OPTIONS, ids=[" ".join(a) for a, _, _ in BAD_OPTIONS])
def test_bad_numbers_are_argparse_usage_errors_before_any_handler(monkeypatch, capsys, argv, option, message):
    def no(*_):
        raise AssertionError("must not get this far")

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", no)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    command = " ".join(argv[:2] if argv[0] in GROUPS else argv[:1])
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"distill {command}: error: argument {option}: ") and message in last
    assert err.startswith("usage: ")


def test_every_numeric_option_has_a_checking_type():
    """No `type=int` or `type=float` is left on any option: each says what range it accepts."""
    parser = cli.build_parser()
    unchecked = []

    def walk(p, path):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.type in (int, float):
                unchecked.append(f"{path} {'/'.join(action.option_strings)}")

    walk(parser, "distill")
    assert unchecked == []


def test_good_numbers_pass_through():
    assert types.positive_int(" 8") == 8 and types.non_negative_int("0") == 0 and types.seq_len("3") == 3
    assert types.random_seed("4294967295") == 2**32 - 1
    assert types.positive_float("3e-5") == 3e-5 and types.non_negative_float("0") == 0.0
    assert types.probability("1") == 1.0 and types.fraction_below_one("0") == 0.0
    assert types.positive_ints("16, 32") == "16, 32" and types.positive_floats("2e-5,3e-5") == "2e-5,3e-5"
