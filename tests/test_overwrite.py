"""`distill.overwrite`: what is already at an output path is replaced only when distill wrote it.

The command-specific cases (student and teacher export, materials generate and
merge, tokenizer, runs) are tested beside those commands; here the rule itself
and the files every run writes again (report, bench, teacher eval --json).
"""

import json

import pytest

from distill.app import cli
from distill.errors import DistillError
from distill.overwrite import check_regenerable, check_replaceable, has_json_kind, json_schema, starts_with

OURS = has_json_kind("export.json", ("distill.export",))


def _export(folder):
    folder.mkdir(parents=True)
    (folder / "export.json").write_text(json.dumps({"kind": "distill.export"}))
    return folder


def test_absent_and_empty_paths_are_free(tmp_path):
    assert check_replaceable(tmp_path / "new", what="an export folder", ours=OURS, overwrite=False) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", what="an export folder", ours=OURS, overwrite=False)


def test_ours_needs_overwrite_and_a_users_folder_is_never_replaced(tmp_path):
    ours = _export(tmp_path / "ours")
    with pytest.raises(DistillError, match="an export folder is already there; pass --overwrite"):
        check_replaceable(ours, what="an export folder", ours=OURS, overwrite=False)
    check_replaceable(ours, what="an export folder", ours=OURS, overwrite=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (tmp_path / "file.txt").write_text("x")
    for path in (mine, tmp_path / "file.txt"):
        with pytest.raises(DistillError, match="not an export folder written by distill; it is never replaced"):
            check_replaceable(path, what="an export folder", ours=OURS, overwrite=True)


def test_a_path_that_is_or_holds_an_input_is_refused(tmp_path):
    run = tmp_path / "runs" / "student" / "abc"
    run.mkdir(parents=True)
    for out, verb in ((run, "is"), (tmp_path / "runs", "holds"), (tmp_path, "holds")):
        with pytest.raises(DistillError, match=f"--out {out}: {verb} {run}, which this command reads"):
            check_replaceable(out, what="an export folder", ours=lambda p: True, overwrite=True, inputs=[run])
    check_replaceable(tmp_path / "elsewhere", what="x", ours=OURS, overwrite=True, inputs=[run])


def test_regenerable_files(tmp_path):
    page = tmp_path / "report.md"
    page.write_text("# distill report: runs\n...")
    check_regenerable(page, what="a report", ours=starts_with("# distill report:"), option="report")
    page.write_text("# My own report\n")
    with pytest.raises(DistillError, match="not a report written by distill; it is not replaced"):
        check_regenerable(page, what="a report", ours=starts_with("# distill report:"), option="report")
    with pytest.raises(DistillError, match="is a folder"):
        check_regenerable(tmp_path, what="a report", ours=starts_with("#"), option="report")
    data = tmp_path / "bench.json"
    data.write_text(json.dumps({"schema": "distill.app.bench/1"}))
    assert json_schema("distill.app.bench/")(data)
    data.write_text("[1, 2]")
    assert not json_schema("distill.app.bench/")(data)


def _refused(capsys, argv, expected, path, snapshot):
    before = snapshot(path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and expected in err and err.count("\n") == 1, err
    assert snapshot(path) == before


def test_report_never_replaces_a_users_report_md(tmp_path, capsys, snapshot):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "report.md").write_text("# notes I keep beside my runs\n")
    _refused(capsys, ["report", str(runs)], "report.md: a file that is not a distill report page", runs, snapshot)
    (runs / "report.md").unlink()
    (runs / "report").mkdir()
    (runs / "report" / "report.json").write_text('{"mine": true}')
    _refused(capsys, ["report", str(runs)], "report.json: a file that is not a distill report.json", runs,
             snapshot)


def test_bench_never_replaces_a_users_file(tmp_path, capsys, snapshot):
    (tmp_path / "results.json").write_text('{"mine": true}')
    _refused(capsys, ["bench", "--preset", "tiny", "--out", str(tmp_path / "results.json")],
             "results.json: a file that is not a bench.json written by distill", tmp_path, snapshot)
    (tmp_path / "results.json").unlink()
    (tmp_path / "results.md").write_text("# my notes\n")
    _refused(capsys, ["bench", "--preset", "tiny", "--out", str(tmp_path / "results.json")],
             "results.md: a file that is not a bench table written by distill", tmp_path, snapshot)


def test_teacher_eval_json_never_replaces_a_users_file(tmp_path, capsys, snapshot):
    from distill.runfiles import RunInfo, TokenizerFacts, write_run

    (tmp_path / "run").mkdir()
    write_run(tmp_path / "run", RunInfo(kind="teacher", name="fake", task="synthetic", config={},
                                        label_names=["no", "yes"],
                                        tokenizer=TokenizerFacts(lowercase=True, max_seq_len=16)))
    (tmp_path / "metrics.json").write_text('{"mine": true}')
    _refused(capsys, ["teacher", "eval", str(tmp_path / "run"), "--json", str(tmp_path / "metrics.json")],
             "metrics.json: a file that is not a teacher eval file written by distill", tmp_path, snapshot)


@pytest.mark.parametrize("kind", ["teacher", "student", "pretrain"])
def test_a_run_folder_replaces_only_a_run_of_its_kind(kind, tmp_path, snapshot):
    """Every run kind (teacher/student fine-tuning, pretraining, tune trials) makes its folder here."""
    from distill.runfiles import prepare_run_dir

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("text,label\n")
    before = snapshot(mine)
    with pytest.raises(DistillError, match=f"mine: not empty and not a {kind} run; choose another folder"):
        prepare_run_dir(mine, overwrite=True, kind=kind)
    assert snapshot(mine) == before


def test_student_train_overwrite_keeps_a_users_folder(tmp_path, capsys, snapshot):
    from materials.testing import write_toy_materials

    materials = write_toy_materials(tmp_path / "toy.h5", n_per_split=8)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    _refused(capsys, ["student", "train", "--materials", str(materials), "--out", str(tmp_path / "mine"),
                      "--overwrite", "--epochs", "1", "--no-progress"],
             "not empty and not a student run", tmp_path, snapshot)


def test_explain_sample_never_replaces_a_users_explain_json(tmp_path, snapshot):
    from distill import api

    out = tmp_path / "out"
    out.mkdir()
    (out / "explain.json").write_text('{"mine": true}')
    before = snapshot(out)
    with pytest.raises(DistillError, match="explain.json: a file that is not an explain.json written by distill"):
        api.explain(tmp_path / "teacher", tmp_path / "student", out, n=2, progress=False)   # refused before loading
    assert snapshot(out) == before
