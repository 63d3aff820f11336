"""`distill explain`: one run or two side by side, in the terminal, as HTML and as the report's PNG."""

import pytest

from distill.app.cli import main
from distill.app.explain import compare, examples_png, extreme_examples, load_explainer
from distill.errors import DistillError

TEXTS = ["the film wonderful story long", "the old house the river road"]


@pytest.fixture(scope="module")
def student_run(tmp_path_factory, materials_teacher_run):
    """A student distilled from the session's tiny teacher: the same tokenization, so comparable."""
    from distill.data.synthetic import marker_task
    from materials.generate import generate
    from students.train import StudentConfig, StudentTrainer

    root = tmp_path_factory.mktemp("explain")
    materials = generate(materials_teacher_run, marker_task(n_train=120, n_dev=40, n_test=30), root / "m.h5",
                         progress=False, echo=None)
    StudentTrainer(StudentConfig(filters=8, widths=(2, 3), epochs=1, batch_size=16), progress=False,
                   echo=None).fit(materials, root / "student")
    return root / "student"


def test_explain_one_run_prints_each_token_with_its_score(student_run, capsys):
    assert main(["explain", str(student_run), TEXTS[0], "--method", "occlusion"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == TEXTS[0]
    assert out[1].startswith("student student: predicts ") and "occlusion of the logit of" in out[1]
    assert [piece.split("[")[0] for piece in out[2].split()] == TEXTS[0].split()
    assert all(piece.endswith("]") and piece.split("[")[1][0] in "+-" for piece in out[2].split())


def test_compare_shows_both_runs_scoring_the_first_runs_label(materials_teacher_run, student_run, tmp_path,
                                                              capsys):
    html = tmp_path / "page" / "explain.html"
    assert main(["explain", "--compare", str(materials_teacher_run.run_dir), str(student_run), *TEXTS,
                 "--html", str(html), "--colour", "always"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if "predicts" in line]
    assert len(heads) == 4
    for teacher_line, student_line in (heads[0:2], heads[2:4]):
        attributed = teacher_line.split("of the logit of ")[1].split(" ")[0]
        assert student_line.split("of the logit of ")[1].split(" ")[0] == attributed
    assert "\x1b[48;5;" in out   # coloured tokens
    assert "text 1: rank correlation " in out and "mean over 2 texts" in out
    page = html.read_text()
    assert page.startswith("<!doctype html>") and page.count("<h3>") == 2 and "class='t'" in page


def test_compare_summary_and_the_reports_figure(materials_teacher_run, student_run, tmp_path):
    teacher = load_explainer(materials_teacher_run.run_dir)
    student = load_explainer(student_run)
    texts = TEXTS + ["a quick wonderful story", "the red city the blue night"]
    a = teacher.explain(texts)
    b = student.explain(texts, labels=[x.label for x in a])
    summary = compare(a, b, texts)
    assert summary["texts"] == 4 and len(summary["per_text"]) == 4
    assert -1.0 <= summary["mean_rank_correlation"] <= 1.0 and 0.0 <= summary["mean_top_k_overlap"] <= 1.0
    chosen = extreme_examples(summary)
    assert len(chosen) == 3 and len(set(chosen)) == 3
    rhos = [summary["per_text"][i]["rank_correlation"] for i in chosen]
    assert rhos[0] >= rhos[1] >= rhos[2]
    png = examples_png(tmp_path / "fig.png", [(texts[i], [("teacher", a[i]), ("student", b[i])]) for i in chosen])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_errors_are_one_line(student_run, tmp_path, capsys):
    export = tmp_path / "export"
    export.mkdir()
    (export / "export.json").write_text('{"kind": "student-export", "format": "tflite"}')
    cases = [
        (["explain", str(student_run)], "give texts"),
        (["explain", str(student_run), "  "], "text 1 is empty"),
        (["explain"], "give a run folder"),
        (["explain", str(export), "text"], "cannot be explained"),
        (["explain", str(tmp_path), "text"], "run.json"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("distill: error: ") and expected in err and err.count("\n") == 1, err


def test_a_sample_comparison_is_written_and_reported(materials_teacher_run, student_run):
    import json

    from distill.app.explain import compare_runs
    from distill.app.report import write_report

    root = student_run.parent
    record = compare_runs(materials_teacher_run.run_dir, student_run, root / "explain",
                          texts=TEXTS + ["a quick wonderful story", "the red city the blue night"],
                          progress=False, echo=None)
    saved = json.loads((root / "explain" / "explain.json").read_text())
    assert saved["texts"] == 4 == len(saved["attributions"]) and saved["kind"] == "explain"
    assert saved["mean_rank_correlation"] == record["mean_rank_correlation"]
    report = write_report(root, echo=lambda *_: None)
    md = report.markdown.read_text()
    assert "## Which tokens teacher and student listen to" in md
    assert "explain/explain_examples.png" in md and f"{record['mean_top_k_overlap']:.2f}" in md


def test_html_into_an_existing_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch, snapshot):
    from distill.app import cli

    folder = tmp_path / "page"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own")
    before = snapshot(tmp_path)
    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: pytest.fail("TensorFlow imported first"))
    assert main(["explain", str(tmp_path / "some-run"), "a text", "--html", str(folder)]) == 2
    assert capsys.readouterr().err == (f"distill: error: --html {folder}: an existing folder; --html wants the "
                                       f"HTML file to write, e.g. {folder / 'explain.html'}\n")
    assert snapshot(tmp_path) == before   # no page.tmp beside it, nothing in it


def test_html_never_replaces_a_page_that_is_not_ours(tmp_path, capsys, snapshot):
    from distill.app import explain as explaining

    mine = tmp_path / "index.html"
    mine.write_text("<html>my own site</html>")
    before = snapshot(tmp_path)
    assert main(["explain", str(tmp_path / "some-run"), "a text", "--html", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "index.html: a file that is not an explain page written by distill" in err and err.count("\n") == 1
    assert snapshot(tmp_path) == before
    ours = explaining.write_html(tmp_path / "ours.html", [])
    explaining.write_html(ours, [])   # a page of ours is written over
    assert explaining.GENERATOR in ours.read_text()


def test_a_failed_html_write_leaves_nothing_behind(tmp_path, monkeypatch, snapshot):
    from distill.app import explain as explaining

    out = tmp_path / "explain.html"
    (tmp_path / "explain.html.tmp").write_text("the user's own file, which the old temporary name clobbered")
    assert explaining.write_html(out, []) == out and out.read_text().startswith("<!doctype html>")
    before = snapshot(tmp_path)

    def fail(rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(explaining, "html_page", fail)
    with pytest.raises(OSError, match="No space left"):
        explaining.write_html(out, [])
    assert snapshot(tmp_path) == before   # the page as it was, no temporary left
    with pytest.raises(DistillError, match="an existing folder"):   # a folder made there since the check
        explaining.write_html(tmp_path, [])
    assert snapshot(tmp_path) == before
