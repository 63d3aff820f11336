"""distill.app.pipeline: the whole path on the tiny teacher and a synthetic task; reuse and redo by stage."""

import dataclasses
import json
from pathlib import Path

import pytest

from distill.data.synthetic import marker_task
from distill.errors import DistillError
from distill.app.pipeline import PipelineConfig, run


def tiny_config(root, **overrides) -> PipelineConfig:
    base = dict(task="synthetic", teacher="tiny", teacher_epochs=1, teacher_lr=1e-3, max_seq_len=24, augment=1,
                losses=("mse", "ce"), seeds=1, student_epochs=1, transfer_epochs=1, presets=("tiny",), bench_examples=8,
                bench_batch_sizes=(4,), bench_repeats=1, explain_sample=4, runs_dir=str(root))
    return PipelineConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def task():
    return marker_task(n_train=60, n_dev=20, n_test=20)


@pytest.fixture(scope="module")
def first(tmp_path_factory, task):
    root = tmp_path_factory.mktemp("pipeline")
    lines = []
    result = run(config=tiny_config(root), task_data=task, echo=lines.append, progress=False)
    return root, result, lines


def ran(result):
    return [s.name for s in result.stages if s.ran]


def test_first_run_builds_every_stage_and_writes_the_report(first):
    root, result, lines = first
    assert ran(result) == ["teacher", "materials", "student", "student", "student", "bench", "explain"]
    assert set(result.students) == {("kim-cnn", "static", "mse", True, 0), ("kim-cnn", "static", "ce", False, 0),
                                    ("kim-cnn", "static", "mse", False, 0)}   # StudentKey (arch, embedding, ...)
    assert result.report == root / "report.md" and result.report.exists()
    assert result.materials.exists() and result.bench.exists()
    assert lines[-1].startswith("done: 7 stage(s) built now") and str(result.report) in lines[-1]


def test_the_explain_stage_compares_the_teacher_with_the_best_distilled_student_on_dev(first):
    root, result, _ = first
    explained = json.loads(result.explain.read_text())
    dev = {path: json.loads((path / "eval_results.json").read_text())["dev"]["accuracy"]
           for key, path in result.students.items() if key.loss != "ce"}   # never the gold-label baseline
    assert dev[Path(explained["student_run"])] == max(dev.values())   # chosen on dev, never test
    assert explained["teacher_run"] == str(result.teacher) and explained["texts"] == 4
    assert "## Which tokens teacher and student listen to" in result.report.read_text()


def test_report_numbers_are_the_runs_own(first):
    root, result, _ = first
    report = json.loads((root / "report" / "report.json").read_text())
    rows = {r["model"]: r for r in report["tasks"]["synthetic"]["rows"]}
    students = [r for r in rows.values() if r["kind"] == "student"]
    assert len(students) == 3                      # mse, ce, mse without transfer: three rows
    for path in result.students.values():
        evaluated = json.loads((path / "eval_results.json").read_text())
        row = next(r for r in students if r["runs"] == [str(path)])
        assert row["test"]["accuracy"]["mean"] == evaluated["test"]["accuracy"]
    bench = json.loads(result.bench.read_text())
    benched = {r["run"] for r in bench["rows"] if r["kind"] == "student"}
    assert benched == set(map(str, result.students.values()))     # every student model has its own it/s
    assert any(r["kind"] == "preset" and r["random_weights"] for r in rows.values())
    text = result.report.read_text()
    assert "| role | model |" in text and "| baseline: gold labels only | " in text   # rows named by their role
    assert "| distilled: mse + transfer set | " in text and "| distilled: mse, no transfer set | " in text


def test_second_run_reuses_every_stage(first, task):
    root, result, _ = first
    lines = []
    again = run(config=tiny_config(root), task_data=task, echo=lines.append, progress=False)
    assert ran(again) == [] and len(again.stages) == 7
    assert again.students == result.students and again.teacher == result.teacher
    assert sum("reusing" in line for line in lines) == 7


def test_a_finished_run_whose_stage_was_not_marked_is_taken_up_not_retrained(first, task):
    # A kill after training finished but before stage.json was written: the run folder is complete.
    root, result, _ = first
    student = result.students[("kim-cnn", "static", "mse", True, 0)]
    before = {p: (p / "model.keras").stat().st_mtime_ns for p in (result.teacher, student)}
    for path in (result.teacher, student):
        (path / "stage.json").unlink()
    again = run(config=tiny_config(root), task_data=task, echo=lambda _: None, progress=False)
    assert ran(again) == ["teacher", "student"]       # marked again, from the finished runs
    assert {p: (p / "model.keras").stat().st_mtime_ns for p in before} == before
    assert (result.teacher / "stage.json").exists() and (student / "stage.json").exists()


def test_a_student_option_redoes_only_students_bench_and_report(first, task):
    root, result, _ = first
    again = run(config=tiny_config(root, student_embedding="non-static"), task_data=task, echo=lambda _: None, progress=False)
    assert ran(again) == ["student", "student", "student", "bench", "explain"]
    assert again.teacher == result.teacher and again.materials == result.materials
    assert set(again.students.values()).isdisjoint(result.students.values())
    report = json.loads((root / "report" / "report.json").read_text())
    runs = {run for row in report["tasks"]["synthetic"]["rows"] for run in row["runs"]}
    assert runs == {str(result.teacher), *map(str, again.students.values())}   # stale students left out


def test_force_redoes_the_named_stage_and_every_stage_after_it(first, task):
    root, result, _ = first
    config = dataclasses.replace(tiny_config(root), force=("materials",))
    again = run(config=config, task_data=task, echo=lambda _: None, progress=False)
    assert ran(again) == ["materials", "student", "student", "student", "bench", "explain"]
    assert again.teacher == result.teacher and again.materials.exists()


def test_an_augment_change_redoes_materials_onwards_but_not_the_teacher(first, task):
    root, result, _ = first
    again = run(config=tiny_config(root, augment=2), task_data=task, echo=lambda _: None, progress=False)
    assert ran(again) == ["materials", "student", "student", "student", "bench", "explain"]
    assert again.teacher == result.teacher and again.materials != result.materials


def test_bad_options_fail_before_any_stage(tmp_path):
    for bad, line in ((dict(augment=-1), "--augment must be an integer >= 0, got -1"),
                      (dict(seeds=0), "--seeds must be a positive integer, got 0"),
                      (dict(losses=("mse", "nope")), "--losses must be distinct comma-separated names out of "),
                      (dict(losses=()), "--losses must"), (dict(losses=("mse", "mse")), "--losses must"),
                      (dict(no_augment_seeds=0), "--no-augment-seeds must be a positive integer"),
                      (dict(teacher_pooling="max"), "--teacher-pooling must be one of cls, mean"),
                      (dict(student_embedding="frozen"), "--student-embedding must be distinct comma-separated "
                                                         "names out of static, "),
                      (dict(student_archs=("kim-cnn", "no such")), "--student-archs must be one of kim-cnn, "),
                      (dict(teacher="UNKNOWN"), "unknown teacher 'UNKNOWN'; known: minilm-l6, "),
                      (dict(teacher="bert-base"), "bert-base needs Google BERT weights: pass --checkpoint DIR"),
                      (dict(teacher="bert-base", checkpoint=str(tmp_path / "nope")), f"{tmp_path / 'nope'}: not a")):
        with pytest.raises(DistillError) as error:
            tiny_config(tmp_path, **bad)
        assert str(error.value).startswith(line) and "distill run:" not in str(error.value)
    assert not any(tmp_path.iterdir())


def test_an_unwritable_runs_folder_fails_before_the_data_stage(tmp_path, task):
    (tmp_path / "a-file").write_text("keep")
    lines = []
    with pytest.raises(DistillError, match=f"--runs-dir {tmp_path / 'a-file' / 'runs'}: not a folder"):
        run(config=tiny_config(tmp_path / "a-file" / "runs"), task_data=task, echo=lines.append, progress=False)
    assert lines == [] and (tmp_path / "a-file").read_text() == "keep"


def test_a_stage_that_fails_before_writing_leaves_no_folder(tmp_path):
    from distill.app.stages import StageRunner

    def build(path):
        raise DistillError("checkpoint does not fit")

    with pytest.raises(DistillError):
        StageRunner(tmp_path, echo=lambda _: None).run("teacher", "x", {}, [], build, resumable=True)
    assert not any((tmp_path / "teacher").iterdir())


def test_quick_mode_cuts_the_data_and_says_so(tmp_path, task):
    from distill.app.pipeline import QUICK_TRAIN_ROWS, _reduced

    big = marker_task(n_train=QUICK_TRAIN_ROWS + 10, n_dev=5, n_test=5)
    small = _reduced(big)
    assert len(small["train"]) == QUICK_TRAIN_ROWS and len(small["dev"]) == 5
    assert small["train"].sha256 != big["train"].sha256 and small.sha256 != big.sha256
    lines = []
    config = PipelineConfig.quick_config(**{k: v for k, v in dataclasses.asdict(tiny_config(tmp_path)).items()
                                            if k not in ("augment", "seeds", "student_epochs", "transfer_epochs", "presets", "quick")})
    result = run(config=config, task_data=task, echo=lines.append, progress=False)
    assert result.root == tmp_path / "quick" and result.report == tmp_path / "quick" / "report.md"
    assert all(line.endswith("not a result]") for line in lines if line.startswith(("distill run", "[", "done")))
    assert "**QUICK smoke run: train cut to 1500 rows" in result.report.read_text()


def test_the_plan_and_the_reports_line_on_what_was_left_out(tmp_path):
    from distill.app.pipeline import _student_plan, left_out

    config = tiny_config(tmp_path, losses=("mse", "ce"), seeds=3, no_augment_seeds=1)
    assert [key[2:] for key in _student_plan(config)] == [("mse", True, 0), ("mse", True, 1), ("mse", True, 2),
                                                         ("ce", False, 0), ("ce", False, 1), ("ce", False, 2),
                                                         ("mse", False, 0)]
    assert {key[:2] for key in _student_plan(config)} == {("kim-cnn", "static")}
    line = left_out(config)
    assert "kl loss" in line and "2 of the 3 seeds of the mse student without the transfer split" in line
    assert "`distill run --losses mse,ce,kl --no-augment-seeds 3`" in line
    full = tiny_config(tmp_path, losses=("mse", "kl", "ce"), seeds=3, no_augment_seeds=3)
    assert left_out(full) is None and len(_student_plan(full)) == 12
    # without a transfer split there is no "without the transfer split" row to leave out
    assert "transfer" not in left_out(tiny_config(tmp_path, augment=0, seeds=3))


def test_first_runs_report_says_what_it_left_out(first):
    root, result, _ = first
    assert "Left out of this run to keep it short: students trained with kl loss." in result.report.read_text()


def test_unknown_force_stage_is_an_error(tmp_path, task):
    with pytest.raises(DistillError, match="unknown stage"):
        run(config=tiny_config(tmp_path, force=("nope",)), task_data=task, echo=lambda _: None)


def test_building_the_cli_does_not_import_tensorflow():
    """TensorFlow's start-up banner is filtered only when the CLI imports it on purpose, after parsing."""
    import subprocess
    import sys

    code = "import sys; from distill.app.cli import build_parser; build_parser(); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
