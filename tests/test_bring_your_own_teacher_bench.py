"""bench/bring_your_own_teacher.py on the tiny teacher: every figure it prints is computed (the real
measurements on minilm-l6 and the base preset are run by hand, one heavy job at a time)."""

import importlib.util
import json
from pathlib import Path

import pytest

from distill.data.synthetic import marker_task
from materials.generate import generate
from teachers.export import export_teacher
from teachers.registry import load_teacher
from teachers.run import TeacherRun
from teachers.testing import train_tiny_run

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bring_your_own_teacher.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("bring_your_own_teacher", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("byot-bench")
    run_dir = train_tiny_run(root / "run").run_dir_
    materials = generate(TeacherRun.load(run_dir), marker_task(), root / "m.h5", progress=False, echo=None)
    return root, run_dir, materials


def test_export_and_bf16_figures_on_the_tiny_teacher(script, made, tmp_path, capsys, monkeypatch):
    root, run_dir, materials = made
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))   # the tiny preset writes its vocab there
    out = tmp_path / "summary.json"
    assert script.main([str(run_dir), str(materials), "--checks", "export,bf16", "--presets", "tiny", "--rows", "48",
                        "--preset-rows", "16", "--repeats", "1", "--warmup", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(out.read_text())
    export = summary["export"]
    assert export["max_abs_diff"] == 0.0 and set(export["splits"]) == {"train", "dev", "test"}
    assert all(s["other_fields_equal"] for s in export["splits"].values())
    assert "logits max abs diff 0 over train (400), dev (100), test (100); ids/lengths/labels equal" in printed
    rows = {r["model"]: r for r in summary["bf16"]}
    assert set(rows) == {"teacher:run", "tiny (random)"}
    for r in rows.values():
        assert r["fp32"]["median"] > 0 and r["bf16"]["median"] > 0 and r["ratio"] > 0
        assert r["argmax_agreement"] >= 0.9 and 0 < r["max_logit_diff"] < 0.1
        assert (r["fp32"]["provenance_precision"], r["bf16"]["provenance_precision"]) == ("fp32", "bf16")
    assert "| teacher | rows | fp32 ex/s | bf16 ex/s | bf16/fp32 | argmax agreement | max logit diff |" in printed


def test_hidden_states_of_the_same_weights_by_two_roads_are_equal(script, made):
    root, run_dir, _ = made
    folder = export_teacher(run_dir, "hf", root / "hf")
    google = export_teacher(run_dir, "google", root / "google")
    result = script.hidden_state_diff(load_teacher(str(folder)), load_teacher(str(google)), ["a wonderful film"] * 20)
    assert result == {"texts": 20, "max_abs_diff": {"sequence_output": 0.0, "pooled_output": 0.0}}


def test_help_says_what_it_measures(script, capsys):
    with pytest.raises(SystemExit):
        script.parse_args(["--help"])
    assert "export round trip" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.parse_args(["r", "m", "--checks", "speed"])
