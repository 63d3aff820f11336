"""Student export: SavedModel and TFLite folders that give the Keras student's predictions without the toolkit."""

import json
import os
import shutil
import site
import subprocess
import sys

import numpy as np
import pytest
from tokenizers import Tokenizer

from distill.app.cli import main
from distill.errors import DistillError
from materials.reader import MaterialsFile
from materials.testing import write_toy_materials
from students.export import export_student
from students.exported import ExportedStudent, is_export_dir
from students.predictor import StudentPredictor
from students.train import StudentConfig, StudentTrainer

FILES = {"tokenizer.json", "vocab.txt", "labels.json", "export.json", "README.md"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    materials = write_toy_materials(root / "toy.h5", n_per_split=64)
    config = StudentConfig(filters=8, batch_size=16, epochs=6, lr=1e-2, patience=6)
    StudentTrainer(config, progress=False, echo=None).fit(materials, root / "run")
    return materials, root / "run", root


@pytest.fixture(scope="module")
def test_texts(trained):
    with MaterialsFile(trained[0]) as mf:
        return [str(t) for t in mf.arrays("test", ("text",))["text"]]


@pytest.fixture(scope="module")
def keras_probs(trained, test_texts):
    return StudentPredictor.load(trained[1], engine="keras").predict_proba(test_texts, batch_size=64)


@pytest.fixture(scope="module")
def exports(trained):
    """Every format and quantisation, exported once for the module."""
    _, run_dir, root = trained
    out = {}
    for fmt, quantize in (("savedmodel", "none"), ("tflite", "none"), ("tflite", "float16"),
                          ("tflite", "dynamic"), ("tflite", "int8")):
        folder = root / f"{fmt}-{quantize}"
        out[fmt, quantize] = (folder, export_student(run_dir, folder, fmt, quantize, echo=lambda *_: None))
    return out


def test_the_student_learned_something_to_compare(keras_probs):
    """Agreement figures below mean something only if the student predicts both classes."""
    assert set(keras_probs.argmax(1)) == {0, 1}


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_float_exports_give_the_keras_students_probabilities(exports, trained, test_texts, keras_probs, fmt):
    folder, record = exports[fmt, "none"]
    assert is_export_dir(folder) and FILES <= {p.name for p in folder.iterdir()}
    exported = ExportedStudent.load(folder)
    for batch_size in (1, 5, 64):   # variable batch, and so variable padded length
        np.testing.assert_allclose(exported.predict_proba(test_texts, batch_size=batch_size), keras_probs,
                                   atol=1e-5, rtol=0)
    if fmt == "savedmodel":   # each weight stored once
        import tensorflow as tf

        stored = [n for n, _ in tf.train.list_variables(str(folder / "saved_model" / "variables" / "variables"))
                  if n != "_CHECKPOINTABLE_OBJECT_GRAPH"]
        assert len(stored) == len(StudentPredictor.load(trained[1], engine="keras").model.weights)
    check = record["verification"]
    assert check["agreement_with_keras"] == 1.0 and check["max_abs_probability_diff"] < 1e-5
    assert check["accuracy"] == check["keras_accuracy"] and check["rows"] == 64


@pytest.mark.parametrize("quantize", ["float16", "dynamic", "int8"])
def test_quantised_exports_agree_on_the_label(exports, test_texts, keras_probs, quantize):
    folder, record = exports["tflite", quantize]
    labels, _ = ExportedStudent.load(folder).predict(test_texts, batch_size=8)
    assert (labels == keras_probs.argmax(1)).mean() >= 0.99
    assert record["quantize"] == quantize and record["verification"]["agreement_with_keras"] >= 0.99
    if quantize == "int8":
        assert record["materials"]["calibration_rows"] == 64


def test_int8_stores_int8_weights(exports):
    """Full-integer quantisation really quantised: the float32 model is several times larger."""
    float_size = exports["tflite", "none"][1]["size_bytes"]
    int8_size = exports["tflite", "int8"][1]["size_bytes"]
    assert int8_size < float_size
    assert exports["tflite", "none"][1]["size_bytes"] == (exports["tflite", "none"][0] / "model.tflite").stat().st_size


def test_export_tokenizer_gives_the_students_ids(exports, trained, test_texts):
    folder, record = exports["savedmodel", "none"]
    student = StudentPredictor.load(trained[1])
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    texts = test_texts[:10] + ["WONDERFUL [MASK] w1 " + "w2 " * 40, "   ", "wonder ful!"]
    batch = tokenizer.encode_batch(texts)
    expected = student.encode(texts)
    width = max(len(e) for e in expected)
    for row, (got, want) in enumerate(zip(batch, expected)):
        assert len(got.ids) == width, "tokenizer.json pads a batch to its longest row"
        assert sum(got.attention_mask) == len(want), f"row {row}"
        assert got.ids[:len(want)] == want.tolist() and set(got.ids[len(want):]) <= {0}, f"row {row}"
    assert max(len(e) for e in expected) == 16 == record["tokenizer"]["max_seq_len"]
    assert (folder / "vocab.txt").read_text(encoding="utf-8").splitlines() == student.vocab
    assert json.loads((folder / "labels.json").read_text()) == ["negative", "positive"]


def test_export_json_records_where_it_came_from(exports, trained):
    materials, run_dir, _ = trained
    record = json.loads((exports["tflite", "int8"][0] / "export.json").read_text())
    assert record["kind"] == "student-export" and record["format"] == "tflite" and record["model"] == "model.tflite"
    assert record["source_run"] == str(run_dir.resolve())
    assert record["materials"]["path"] == str(materials.resolve())
    assert record["materials"]["trained_from"]["sha256"]
    assert set(record["inputs"]) == {"token_ids", "length"}
    assert set(record["outputs"]) == {"logits", "probabilities", "label_ids"}
    assert record["model_config"]["filters"] == 8


@pytest.mark.parametrize("key", [("savedmodel", "none"), ("tflite", "int8")])
def test_readme_example_runs_without_the_toolkit(exports, tmp_path, key):
    """The README's Python block, run from a copy of the folder by a Python that cannot import distill."""
    folder = tmp_path / "shipped"
    shutil.copytree(exports[key][0], folder)
    readme = (folder / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    # -S: site-packages without their .pth hooks, so the editable install of the toolkit is not on the path
    packages = [p for p in site.getsitepackages() if os.path.isdir(p)]
    script = (f"import sys\nsys.path += {packages!r}\n"
              "try:\n    import distill\nexcept ImportError:\n    pass\n"
              "else:\n    raise SystemExit('the toolkit is importable: this checks nothing')\n" + code)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=folder, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.strip().splitlines()[-1]
    assert printed.startswith("[(") and ("'negative'" in printed or "'positive'" in printed)


def test_predict_and_bench_accept_an_export_folder(exports, trained, tmp_path, capsys):
    folder, _ = exports["tflite", "none"]
    assert main(["predict", str(folder), "w1 wonderful w2", "w3 w4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected, _ = StudentPredictor.load(trained[1]).predict(["w1 wonderful w2", "w3 w4"])
    assert [line.split("\t")[0] for line in lines] == [["negative", "positive"][i] for i in expected]
    out = tmp_path / "bench.json"
    assert main(["bench", "--student", str(folder), "--student", str(trained[1]), "--student-engine",
                 "folded,keras", "--task", "synthetic", "--examples", "8", "--repeats", "1", "--warmup", "0",
                 "--batch-sizes", "4", "--modes", "text", "--out", str(out), "--no-progress"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["model"] for r in rows] == [f"export:{folder.name}/tflite", "student:run", "student:run/keras"]
    assert all(r["kind"] == "student" and r["it_per_s"]["median"] > 0 for r in rows)


def test_export_cli_writes_the_default_folder(trained, tmp_path, capsys):
    _, run_dir, _ = trained
    assert main(["student", "export", str(run_dir), "--format", "tflite", "--quantize", "dynamic",
                 "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "agreement with the Keras student 1.0000" in out
    assert is_export_dir(tmp_path / "export" / "run-tflite-dynamic")
    assert not list(tmp_path.glob("export/*.partial"))


def test_export_errors_are_one_line_and_touch_nothing(trained, exports, tmp_path, capsys):
    materials, run_dir, _ = trained
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    cases = [
        (["student", "export", str(run_dir), "--format", "savedmodel", "--quantize", "int8"], "needs --format tflite"),
        (["student", "export", str(run_dir), "--out", str(taken)], "not an export folder written by distill"),
        (["student", "export", str(tmp_path), "--out", str(tmp_path / "x")], "run.json"),
        (["student", "export", str(run_dir), "--out", str(run_dir / "inside")], "outside the run folder"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("distill: error: ") and expected in err and err.count("\n") == 1, err
    assert (taken / "mine.txt").read_text() == "keep" and [p.name for p in taken.iterdir()] == ["mine.txt"]


def test_overwrite_replaces_only_an_export_folder_and_never_an_input(trained, exports, tmp_path, capsys,
                                                                      snapshot):
    """--overwrite may replace an export folder of ours; a user's folder, the folder holding the run
    and the materials file's folder are refused in one line and stay byte-identical."""
    materials, run_dir, root = trained
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    holder = tmp_path / "holder"
    shutil.copytree(run_dir, holder / "run")
    shutil.copy(materials, holder / "toy.h5")
    cases = [(mine, str(run_dir), "not an export folder written by distill"),
             (holder, str(holder / "run"), "which this command reads"),    # the run inside --out
             (holder / "run", str(holder / "run"), "which this command reads")]
    for out, run, expected in cases:
        before = snapshot(out)
        assert main(["student", "export", run, "--out", str(out), "--overwrite",
                     "--materials", str(materials)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("distill: error: --out ") and expected in err and err.count("\n") == 1, err
        assert snapshot(out) == before
    # the materials file's folder holds an input too
    before = snapshot(holder)
    assert main(["student", "export", str(run_dir), "--out", str(holder), "--overwrite",
                 "--materials", str(holder / "toy.h5")]) == 2
    assert "which this command reads" in capsys.readouterr().err and snapshot(holder) == before

    # an export of ours: refused without --overwrite, replaced with it, and no temporary left beside it
    ours = tmp_path / "ours"
    shutil.copytree(exports["tflite", "none"][0], ours)
    before = snapshot(ours)
    assert main(["student", "export", str(run_dir), "--out", str(ours), "--format", "savedmodel"]) == 2
    assert "already there; pass --overwrite" in capsys.readouterr().err and snapshot(ours) == before
    assert main(["student", "export", str(run_dir), "--out", str(ours), "--format", "savedmodel",
                 "--overwrite"]) == 0
    assert json.loads((ours / "export.json").read_text())["format"] == "savedmodel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holder", "mine", "ours"]


def test_a_run_that_is_not_a_student_is_refused(trained, tmp_path):
    _, run_dir, _ = trained
    teacher_like = tmp_path / "teacher"
    shutil.copytree(run_dir, teacher_like)
    info = json.loads((teacher_like / "run.json").read_text())
    info["kind"] = "teacher"
    (teacher_like / "run.json").write_text(json.dumps(info))
    with pytest.raises(DistillError, match="teacher"):
        export_student(teacher_like, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_damaged_export_folder_names_what_is_missing(exports, tmp_path, capsys):
    for missing in ("tokenizer.json", "model.tflite", "labels.json", "export.json"):
        folder = tmp_path / missing
        shutil.copytree(exports["tflite", "none"][0], folder)
        (folder / missing).unlink()
        if missing == "export.json":   # no longer an export folder: read as a run folder, which it is not
            assert main(["predict", str(folder), "text"]) == 2
            assert "run.json" in capsys.readouterr().err
            with pytest.raises(DistillError, match="export.json: missing"):
                ExportedStudent.load(folder)
            continue
        with pytest.raises(DistillError, match=f"lacks {missing}"):
            ExportedStudent.load(folder)
        assert main(["predict", str(folder), "text"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and missing in err and "Traceback" not in err


def test_parts_that_do_not_belong_together_are_named(exports, tmp_path, capsys, snapshot):
    """A labels.json or tokenizer.json from elsewhere is refused when the folder loads, in one line."""
    from distill.wordpiece import WordPieceTokenizer

    source = exports["tflite", "none"][0]
    three = tmp_path / "three-labels"
    shutil.copytree(source, three)
    (three / "labels.json").write_text('["a", "b", "c"]')
    other = tmp_path / "other-vocab"
    shutil.copytree(source, other)
    vocab = (source / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = [t for t in vocab if t]
    swapped = vocab[:5] + vocab[5:][::-1]   # the same tokens, other ids: a valid tokenizer of another vocab
    (other / "tokenizer.json").write_text(WordPieceTokenizer(swapped).to_json(padding=True), encoding="utf-8")
    for folder, expected in ((three, "labels.json: labels ['a', 'b', 'c'] differ from"),
                             (other, "tokenizer.json: its vocabulary")):
        before = snapshot(folder)
        assert main(["predict", str(folder), "some text"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("distill: error: ") and expected in err and err.count("\n") == 1, err
        assert snapshot(folder) == before
    # export.json edited to match the wrong labels: the model's outputs still tell
    info = json.loads((three / "export.json").read_text())
    info["label_names"] = ["a", "b", "c"]
    (three / "export.json").write_text(json.dumps(info))
    with pytest.raises(DistillError, match="3 labels, but model.tflite gives 2 outputs"):
        ExportedStudent.load(three)


def test_a_copied_runs_folder_exports_with_its_own_materials(trained, tmp_path, capsys):
    """run.json records the materials path relative to the run: a copy of the whole tree verifies (and
    calibrates) on the copy's file, not the original's, and says which file it used."""
    materials, run_dir, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy / run_dir.name)
    shutil.copy(materials, copy / materials.name)
    assert main(["student", "export", str(copy / run_dir.name), "--out", str(tmp_path / "out"), "--format",
                 "tflite", "--quantize", "int8"]) == 0
    assert f"calibrating on the materials {copy / materials.name}" in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "export.json").read_text())
    assert record["materials"]["path"] == str((copy / materials.name).resolve())
    (copy / materials.name).unlink()   # not beside the run any more: the recorded absolute path, which exists
    export_student(copy / run_dir.name, tmp_path / "out2", echo=lambda *_: None)
    assert json.loads((tmp_path / "out2" / "export.json").read_text())["materials"]["path"] == str(materials.resolve())


def test_a_delta_student_exports_with_its_corrections(trained, tmp_path):
    materials, _, _ = trained
    config = StudentConfig(filters=8, batch_size=16, epochs=2, lr=1e-2, patience=6, embedding="delta")
    StudentTrainer(config, progress=False, echo=None).fit(materials, tmp_path / "run")
    with MaterialsFile(materials) as mf:
        texts = [str(t) for t in mf.arrays("test", ("text",))["text"]]
    keras_probs = StudentPredictor.load(tmp_path / "run", engine="keras").predict_proba(texts, batch_size=64)
    folded = StudentPredictor.load(tmp_path / "run").predict_proba(texts, batch_size=64)
    np.testing.assert_allclose(folded, keras_probs, atol=1e-5)   # the folded table includes the corrections
    for fmt in ("savedmodel", "tflite"):
        record = export_student(tmp_path / "run", tmp_path / fmt, fmt, echo=lambda *_: None)
        assert record["verification"]["max_abs_probability_diff"] < 1e-5
        np.testing.assert_allclose(ExportedStudent.load(tmp_path / fmt).predict_proba(texts), keras_probs, atol=1e-5)
