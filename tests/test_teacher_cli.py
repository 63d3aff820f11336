"""`distill teacher finetune|eval|tune` and `distill predict`: thin CLI over teachers, dispatch on run kind."""

import io
import json
import re
import sys
import types

import pytest

from distill.app import cli


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_CACHE", str(root / "cache"))  # the tiny preset writes its vocab there
        out = io.StringIO()
        mp.setattr(sys, "stdout", out)
        argv = ["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--lr", "3e-3",
                "--batch-size", "16", "--epochs", "5", "--patience", "5", "--max-seq-len", "32",
                "--runs-dir", str(root / "runs"), "--no-progress"]
        assert cli.main(argv) == 0
        mp.setattr(sys, "stdout", io.StringIO())
        assert cli.main(argv) == 0
        again = sys.stdout.getvalue()
    match = re.search(r"teacher run: (\S+)", out.getvalue())
    return root, match.group(1), out.getvalue(), again


def test_finetune_names_the_run_and_reuses_it(finetuned):
    root, run_dir, first, again = finetuned
    assert re.fullmatch(re.escape(str(root / "runs" / "teacher")) + r"/tiny-synthetic-[0-9a-f]{8}", run_dir)
    assert re.search(r"^dev\s+100\s+\d\.\d+", first, re.M) and re.search(r"^test\s+100", first, re.M)
    assert "epoch 1/5" in first
    assert f"reusing the finished run {run_dir}" in again and "epoch 1/5" not in again
    assert json.loads(open(f"{run_dir}/run.json").read())["complete"] is True


def test_eval_prints_the_table_and_writes_json(finetuned, capsys, tmp_path):
    _, run_dir, _, _ = finetuned
    assert cli.main(["teacher", "eval", run_dir, "--splits", "dev,test", "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    dev = re.search(r"^dev\s+100\s+(\d\.\d+)", out, re.M)
    assert dev and float(dev.group(1)) > 0.95 and re.search(r"^test\s+100", out, re.M)
    saved = json.loads((tmp_path / "e.json").read_text())
    assert set(saved["results"]) == {"dev", "test"} and saved["results"]["dev"]["accuracy"] > 0.95
    assert cli.main(["teacher", "eval", run_dir, "--splits", "transfer"]) == 2
    assert "no split 'transfer'" in capsys.readouterr().err


def test_predict_prints_label_and_confidence_per_text(finetuned, capsys, monkeypatch, tmp_path):
    _, run_dir, _, _ = finetuned
    assert cli.main(["predict", run_dir, "what a wonderful film", "the old road at night"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[2]) for r in rows] == [("positive", "what a wonderful film"),
                                            ("negative", "the old road at night")]
    assert all(0.5 <= float(r[1]) <= 1.0 for r in rows)

    (tmp_path / "texts.txt").write_text("a wonderful story\n\nthe blue river\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO("wonderful music\n"))
    assert cli.main(["predict", run_dir, "-", "--file", str(tmp_path / "texts.txt"), "--batch-size", "2"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[2]) for r in rows] == [("positive", "wonderful music"), ("positive", "a wonderful story"),
                                            ("", ""), ("negative", "the blue river")]   # line for line


class _FakePredictor:
    """A stand-in for another kind of run (e.g. a student) behind the same protocol."""

    label_names = ["no", "yes"]
    is_pair = False
    loaded = []

    @classmethod
    def load(cls, run_dir):
        cls.loaded.append(str(run_dir))
        return cls()

    def predict(self, texts, texts_b=None, batch_size=32):
        import numpy as np

        labels = np.array([int("yes" in t) for t in texts])
        return labels, np.tile([[0.2, 0.8]], (len(texts), 1))


def _write_run(run_dir, kind):
    from distill.runfiles import RunInfo, TokenizerFacts, write_run

    write_run(run_dir, RunInfo(kind=kind, name="fake", task="synthetic", config={}, label_names=["no", "yes"],
                               tokenizer=TokenizerFacts(lowercase=True, max_seq_len=16)))


def test_predict_dispatches_on_the_run_kind(capsys, monkeypatch, tmp_path):
    module = types.ModuleType("fake_student_export")
    module.FakePredictor = _FakePredictor
    monkeypatch.setitem(sys.modules, "fake_student_export", module)
    monkeypatch.setitem(cli.PREDICTORS, "student", ("fake_student_export", "FakePredictor"))
    _write_run(tmp_path, "student")
    assert cli.main(["predict", str(tmp_path), "yes please", "nope"]) == 0
    assert capsys.readouterr().out.splitlines() == ["yes\t0.8000\tyes please", "no\t0.2000\tnope"]
    assert _FakePredictor.loaded == [str(tmp_path)]

    _FakePredictor.is_pair = True
    try:
        assert cli.main(["predict", str(tmp_path), "a\tb", "no tab here"]) == 2
        assert "text 2 has no TAB" in capsys.readouterr().err
    finally:
        _FakePredictor.is_pair = False
    _write_run(tmp_path, "pretrain")
    assert cli.main(["predict", str(tmp_path), "x"]) == 2
    assert "kind 'pretrain' has no predictor" in capsys.readouterr().err
    (tmp_path / "run.json").write_text(json.dumps({"kind": "student"}))   # read through runfiles.read_run
    assert cli.main(["predict", str(tmp_path), "x"]) == 2
    err = capsys.readouterr().err
    assert "run.json: missing field" in err and err.count("\n") == 1
    assert cli.main(["predict", str(tmp_path / "nowhere"), "x"]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_predict_needs_some_input(finetuned, capsys):
    assert cli.main(["predict", finetuned[1]]) == 2
    assert "give texts" in capsys.readouterr().err


def test_tune_rejects_a_bad_grid(capsys):
    argv = ["teacher", "tune", "--teacher", "tiny", "--task", "synthetic", "--lrs", "fast"]
    with pytest.raises(SystemExit) as exit_info:   # argparse refuses it (usage error), before TensorFlow
        cli.main(argv)
    assert exit_info.value.code == 2 and "argument --lrs" in capsys.readouterr().err


def test_finetune_options_left_out_keep_the_config_defaults():
    from distill.app.cli.teacher import finetune_config
    from teachers.finetune import FinetuneConfig

    parser = cli.build_parser()
    args = parser.parse_args(["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic"])
    assert finetune_config(args, extra=("lr", "batch_size")) == FinetuneConfig()
    args = parser.parse_args(["teacher", "tune", "--teacher", "tiny", "--task", "synthetic", "--patience", "4"])
    assert finetune_config(args) == FinetuneConfig(patience=4)
    args = parser.parse_args(["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--pooling", "mean"])
    assert finetune_config(args) == FinetuneConfig(pooling="mean")


def test_run_options_reach_the_pipeline_config():
    from distill.app.cli.run import pipeline_config
    from distill.app.pipeline import PipelineConfig

    parser = cli.build_parser()
    assert pipeline_config(parser.parse_args(["run"])) == PipelineConfig()
    args = parser.parse_args(["run", "--losses", "mse,kl,ce", "--no-augment-seeds", "3", "--teacher-pooling", "cls",
                              "--student-embedding", "static", "--transfer-epochs", "2"])
    assert pipeline_config(args) == PipelineConfig(losses=("mse", "kl", "ce"), no_augment_seeds=3,
                                                   teacher_pooling="cls", student_embedding="static",
                                                   transfer_epochs=2)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--losses", "mse,mse"])


def test_eval_shows_a_progress_bar_unless_no_progress(finetuned, capsys):
    _, run_dir, _, _ = finetuned
    assert cli.main(["teacher", "eval", run_dir, "--splits", "dev"]) == 0
    assert "eval dev" in capsys.readouterr().err   # tqdm writes to stderr
    assert cli.main(["teacher", "eval", run_dir, "--splits", "dev", "--no-progress"]) == 0
    assert "eval dev" not in capsys.readouterr().err


def test_eval_on_a_task_with_other_labels_is_one_line_listing_both(finetuned, capsys, tmp_path):
    _, run_dir, _, _ = finetuned
    for split in ("train", "dev"):
        (tmp_path / f"{split}.txt").write_text("sentence\tlabel\na wonderful film\t1\nthe road\t0\n")
    assert cli.main(["teacher", "eval", run_dir, "--task", f"tsv:{tmp_path}", "--splits", "dev"]) == 2
    assert capsys.readouterr().err == (f"distill: error: task tsv:{tmp_path} has labels ['0', '1'] but the teacher "
                                       f"run {run_dir} was trained on ['negative', 'positive'] (task synthetic)\n")


def test_a_value_the_teacher_cannot_take_names_the_option_and_creates_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    argv = ["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--runs-dir", str(tmp_path / "runs"),
            "--max-seq-len", "500", "--no-progress"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == "distill: error: --max-seq-len 500 exceeds the model's 128 positions\n"
    assert not (tmp_path / "runs").exists()
