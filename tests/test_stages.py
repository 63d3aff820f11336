"""Stage caching: same config reuses, changed config or input rebuilds, a crash rebuilds."""

import json

import pytest

from distill.app.stages import STAGE_FILE, StageRunner, stage_key


def counting_build(calls, content="done"):
    def build(path):
        calls.append(path)
        (path / "out.txt").write_text(content)
    return build


def test_key_depends_on_config_and_inputs_only():
    assert stage_key("teacher", {"lr": 1}, ["a"]) == stage_key("teacher", {"lr": 1}, ["a"])
    assert stage_key("teacher", {"lr": 1}, ["a"]) != stage_key("teacher", {"lr": 2}, ["a"])
    assert stage_key("teacher", {"lr": 1}, ["a"]) != stage_key("teacher", {"lr": 1}, ["b"])
    assert stage_key("teacher", {"lr": 1}, ["a"]) != stage_key("student", {"lr": 1}, ["a"])


def test_second_run_reuses_and_force_rebuilds(tmp_path):
    calls = []
    runner = StageRunner(tmp_path, echo=lambda _: None)
    first = runner.run("teacher", "tiny", {"lr": 1}, [], counting_build(calls))
    again = StageRunner(tmp_path, echo=lambda _: None).run("teacher", "tiny", {"lr": 1}, [], counting_build(calls))
    assert first.ran and not again.ran and again.path == first.path and len(calls) == 1
    forced = StageRunner(tmp_path, force={"teacher"}, echo=lambda _: None).run(
        "teacher", "tiny", {"lr": 1}, [], counting_build(calls))
    assert forced.ran and len(calls) == 2
    assert json.loads((first.path / STAGE_FILE).read_text())["complete"] is True


def test_interrupted_stage_is_rebuilt_from_empty_folder(tmp_path):
    runner = StageRunner(tmp_path, echo=lambda _: None)

    def crash(path):
        (path / "half.txt").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run("student", "mse", {"seed": 0}, ["k"], crash)
    calls = []
    stage = runner.run("student", "mse", {"seed": 0}, ["k"], counting_build(calls))
    assert stage.ran and not (stage.path / "half.txt").exists()


def test_resumable_stage_keeps_partial_output(tmp_path):
    runner = StageRunner(tmp_path, echo=lambda _: None)

    def crash(path):
        (path / "rows.partial").write_text("3")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        runner.run("materials", "m", {}, ["t"], crash, resumable=True)
    seen = []
    runner.run("materials", "m", {}, ["t"], lambda path: seen.append((path / "rows.partial").read_text()),
               resumable=True)
    assert seen == ["3"]
