"""`distill student train` and `distill predict` on a student run, through `distill.app.cli.main`."""

import json

import numpy as np
import pytest

from distill.app.cli import main
from materials.testing import write_toy_materials
from students.predictor import StudentPredictor

SMALL = ["--filters", "8", "--epochs", "2", "--batch-size", "16", "--no-progress"]


def test_train_then_predict_from_arguments_stdin_and_a_file(tmp_path, capsys, monkeypatch):
    materials = write_toy_materials(tmp_path / "toy.h5", n_per_split=40)
    code = main(["student", "train", "--materials", str(materials), "--loss", "kl", "--temperature", "3",
                 "--embedding", "non-static", "--widths", "2,3", "--runs-dir", str(tmp_path / "runs"), *SMALL])
    out, _ = capsys.readouterr()
    assert code == 0
    run_dir = tmp_path / "runs" / "student" / out.strip().splitlines()[-1].split("/student/")[-1]
    assert out.strip().endswith(f"student run: {run_dir}") and run_dir.name.startswith("toy-kim-cnn-kl-")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config"]["temperature"] == 3.0 and info["config"]["widths"] == [2, 3]
    assert info["config"]["embedding"] == "non-static" and info["complete"]
    assert "agreement with the teacher" in out and out.splitlines()[-6].split()[0] == "dev"

    # the same command again reuses the finished run
    main(["student", "train", "--materials", str(materials), "--loss", "kl", "--temperature", "3",
          "--embedding", "non-static", "--widths", "2,3", "--runs-dir", str(tmp_path / "runs"), *SMALL])
    assert capsys.readouterr().out.startswith(f"reusing the finished run {run_dir}")

    texts = ["w1 wonderful w2", "w3 w4", "W5 Wonderful"]
    _, expected = StudentPredictor.load(run_dir).predict(texts)
    names = ["negative", "positive"]
    (tmp_path / "texts.txt").write_text("\n".join(texts[1:]) + "\n")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(texts[0] + "\n"))
    assert main(["predict", str(run_dir), "-", "--file", str(tmp_path / "texts.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in lines] == texts
    for line, probs in zip(lines, expected):
        label, confidence, _ = line.split("\t")
        assert label == names[int(np.argmax(probs))]
        assert float(confidence) == float(f"{probs.max():.4f}")


def test_student_train_errors_are_one_line(tmp_path, capsys):
    code = main(["student", "train", "--materials", str(tmp_path / "missing.h5"), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("distill: error:") and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:   # argparse refuses it (usage error), before TensorFlow
        main(["student", "train", "--materials", str(tmp_path / "missing.h5"), "--widths", "3,x"])
    assert exit_info.value.code == 2 and "argument --widths" in capsys.readouterr().err


def test_cli_defaults_are_the_config_dataclasses():
    """`--help` reads defaults from the dataclass sources (no TensorFlow); they must equal the real ones,
    and options left out leave the dataclass default in force (students: patience 3; `distill run`: 2)."""
    import dataclasses

    from distill.app.cli import build_parser
    from distill.app.cli import defaults as d
    from distill.app.cli.run import pipeline_config
    from distill.app.cli.student import student_config
    from distill.app.pipeline import PipelineConfig
    from materials.augment import AugmentConfig
    from students.train import StudentConfig
    from teachers.finetune import FinetuneConfig

    for spec, cls in ((d.FINETUNE, FinetuneConfig), (d.STUDENT, StudentConfig), (d.AUGMENT, AugmentConfig),
                      (d.PIPELINE, PipelineConfig)):
        read = d._source_defaults(*spec.split(":"))
        real = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        assert read and read == {k: real[k] for k in read}, spec
    parser = build_parser()
    args = parser.parse_args(["student", "train", "--materials", "x.h5"])
    assert student_config(args) == StudentConfig()
    args = parser.parse_args(["student", "train", "--materials", "x.h5", "--patience", "5", "--widths", "2,3",
                              "--no-transfer"])
    assert student_config(args) == StudentConfig(patience=5, widths=(2, 3), transfer=False)
    config = pipeline_config(parser.parse_args(["run"]))
    assert config == PipelineConfig() and config.student_patience == 2
    assert pipeline_config(parser.parse_args(["run", "--quick", "--seeds", "2"])) == \
        PipelineConfig.quick_config(seeds=2)
