"""Any Keras model as the student (`students.archs`): a user's builder trains from a materials file
like the Kim CNN, resumes after a kill, loads for prediction, and shows in the bench and the report;
a builder that cannot work fails in one line before training."""

import functools
import json
import textwrap

import numpy as np
import pytest

from distill.app.cli import main
from distill.errors import DistillError
from distill.runfiles import read_run
from materials.testing import write_toy_materials
from students.archs import StudentFacts, build_student, builder_spec, check_arch_spec
from students.predictor import StudentPredictor
from students.train import StudentConfig, StudentTrainer

FAST = dict(batch_size=16, lr=2e-2, epochs=4, patience=4, eval_batch_size=64)

USER_MODULE = '''
import keras

def three_layers(facts):
    """Embedding, a ReLU layer and the logits: a student of the user's own."""
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    length = keras.Input((), dtype="int32", name="length")
    vectors = keras.layers.Embedding(facts.vocab_size, 16, mask_zero=True)(token_ids)
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.GlobalAveragePooling1D()(vectors))
    return keras.Model({"token_ids": token_ids, "length": length}, keras.layers.Dense(facts.num_labels)(hidden))

def three_outputs(facts):
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    length = keras.Input((), dtype="int32", name="length")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(facts.vocab_size, 4)(token_ids))
    return keras.Model({"token_ids": token_ids, "length": length}, keras.layers.Dense(3)(pooled))

def not_a_model(facts):
    return 42

class Unregistered(keras.Model):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.out = keras.layers.Dense(n)

    def call(self, inputs):
        return self.out(keras.ops.cast(inputs["token_ids"][:, :1], "float32"))

def unsaveable(facts):
    return Unregistered(facts.num_labels)
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_materials(tmp_path_factory.mktemp("m") / "toy.h5", n_per_split=160, transfer_rows=48)


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_students.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_students"


def _fit(toy, run_dir, arch, **overrides):
    return StudentTrainer(StudentConfig(arch=arch, **{**FAST, **overrides}), progress=False, echo=None).fit(
        toy, run_dir)


def test_a_users_three_layer_student_learns_resumes_and_predicts(toy, tmp_path, user_module):
    arch = f"{user_module}:three_layers"
    whole = _fit(toy, tmp_path / "whole", arch)
    assert whole.eval_results_["test"]["accuracy"] > 0.7   # it learns the marker words (a constant: 0.5)
    assert whole.history_[-1]["dev_loss"] < 0.8 * whole.history_[0]["dev_loss"]
    info = read_run(tmp_path / "whole")
    assert info.name == arch and info.config["arch"] == arch and info.complete

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        StudentTrainer(StudentConfig(arch=arch, **FAST), progress=False, echo=None, on_epoch_end=interrupt).fit(
            toy, tmp_path / "cut")
    again = _fit(toy, tmp_path / "cut", arch)
    assert again.resumed_epochs_ == 2 and len(again.history_) == 4
    for a, b in zip(whole.model_.weights, again.model_.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    predictor = StudentPredictor.load(tmp_path / "cut")   # no Kim CNN: it runs as Keras, not folded
    assert predictor.engine == "keras"
    logits = predictor.logits_for_ids(np.array([[2, 7, 9, 3, 0]], np.int32), np.array([4], np.int32))
    expected = again.model_({"token_ids": np.array([[2, 7, 9, 3, 0]], np.int32),
                             "length": np.array([4], np.int32)}).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_the_command_line_trains_module_function_and_the_bench_and_report_show_it(toy, tmp_path, user_module,
                                                                                 capsys):
    runs = tmp_path / "runs"
    code = main(["student", "train", "--materials", str(toy), "--arch", f"{user_module}:three_layers",
                 "--epochs", "2", "--batch-size", "16", "--runs-dir", str(runs), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    run_dir = next((runs / "student").iterdir())
    assert run_dir.name.startswith("toy-user_students-three_layers-mse-") and f"student run: {run_dir}" in out

    from distill.app import bench
    from distill.app.report import write_report

    summary = bench.benchmark([functools.partial(bench.student_model_bench, run_dir)], ["w1 w2 w3", "w4 w5"] * 4,
                              batch_sizes=(4,), modes=("text", "ids"), repeats=1, progress=False, peak=100.0)
    rows = summary["rows"]
    assert [r["mode"] for r in rows] == ["text", "ids"] and all(r["it_per_s"]["median"] > 0 for r in rows)
    assert rows[0]["model"] == f"student:{run_dir.name}/keras" and rows[0]["flops_per_example"] is None
    summary.update(texts="toy test", task="toy", split="test")
    (runs / "bench").mkdir()
    (runs / "bench" / "bench.json").write_text(json.dumps(summary))
    report = write_report(runs, echo=lambda line: None)
    text = report.markdown.read_text()
    row = next(line for line in text.splitlines()
               if line.startswith(f"| distilled: mse + transfer set | {user_module}:three_layers |"))
    assert row.endswith(f"| {rows[0]['it_per_s']['median']:,.1f} (batch 4, raw text, tokenization included) |")
    assert f"| {user_module}:three_layers | 4 | ids |" in text


def test_the_bilstm_is_built_the_same_way_and_reloads_to_the_same_logits(toy, tmp_path):
    run = _fit(toy, tmp_path / "bilstm", "bilstm", epochs=2)
    assert read_run(tmp_path / "bilstm").name == "bilstm"
    predictor = StudentPredictor.load(tmp_path / "bilstm")
    batch = (np.array([[2, 7, 9, 3, 0, 0], [2, 5, 3, 0, 0, 0]], np.int32), np.array([4, 3], np.int32))
    expected = run.model_({"token_ids": batch[0], "length": batch[1]}).numpy()
    np.testing.assert_allclose(predictor.logits_for_ids(*batch), expected, rtol=1e-5, atol=1e-6)
    # padding never enters the state: more padding, the same logits
    wider = np.pad(batch[0], ((0, 0), (0, 5)))
    np.testing.assert_allclose(predictor.logits_for_ids(wider, batch[1]), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("builder, message", [
    ("three_outputs", "returned shape (2, 3) for 2 rows; it must return logits [batch, 2]"),
    ("not_a_model", "the builder returned int, not a keras.Model"),
    ("unsaveable", "Keras cannot save and reload it"),
    ("missing", "module 'user_students' has no 'missing'"),
])
def test_a_builder_that_cannot_work_fails_in_one_line_before_training(toy, tmp_path, user_module, builder,
                                                                     message):
    with pytest.raises(DistillError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        _fit(toy, tmp_path / builder, f"{user_module}:{builder}")
    assert not (tmp_path / builder / "model.keras").exists()


def test_arch_names_are_checked_without_importing_anything(capsys):
    assert check_arch_spec("kim-cnn") == "kim-cnn" and check_arch_spec("pkg.mod:build") == "pkg.mod:build"
    for bad in ("cnn", "pkg.mod", "pkg mod:build", ":build", 3):
        with pytest.raises(DistillError, match="--arch must be one of kim-cnn, bilstm or module:function"):
            check_arch_spec(bad)
    with pytest.raises(SystemExit) as exit_:
        main(["student", "train", "--materials", "x.h5", "--arch", "no such"])
    assert exit_.value.code == 2 and "--arch: must be one of" in capsys.readouterr().err


def test_an_unimportable_module_is_one_line(toy, tmp_path):
    with pytest.raises(DistillError, match="cannot import module 'no_such_module_here'"):
        _fit(toy, tmp_path / "x", "no_such_module_here:build")


def test_a_builder_from_python_is_recorded_by_name_when_importable():
    from students.bilstm import build_bilstm

    assert builder_spec(build_bilstm) == "students.bilstm:build_bilstm"
    assert builder_spec(lambda facts: None) == "python:<lambda>"


def test_a_ready_keras_model_trains_and_is_recorded_as_python(toy, tmp_path):
    import keras

    from students.bilstm import BiLSTMStudent

    with __import__("materials.reader", fromlist=["MaterialsFile"]).MaterialsFile(toy) as mf:
        model = BiLSTMStudent(len(mf.vocab), 16, mf.num_labels, units=8, hidden=8)
        facts = StudentFacts(embedding=mf.embedding, num_labels=2, max_seq_len=16, task="toy",
                             label_names=("a", "b"))
    assert build_student("x", facts, builder=lambda f: model) is model
    trainer = StudentTrainer(StudentConfig(**{**FAST, "epochs": 1}), student=model, progress=False, echo=None)
    assert trainer.config.arch == "python:BiLSTMStudent"
    trainer.fit(toy, tmp_path / "ready")
    assert trainer.model_ is model and isinstance(model, keras.Model)
    assert read_run(tmp_path / "ready").name == "python:BiLSTMStudent"


def test_a_bilstm_exports_as_a_savedmodel_and_tflite_says_in_one_line_why_not(toy, tmp_path):
    from distill import api

    _fit(toy, tmp_path / "bilstm", "bilstm", epochs=1)
    record = api.export_student(tmp_path / "bilstm", tmp_path / "out", "savedmodel", echo=None)
    check = record["verification"]
    assert record["arch"] == "bilstm" and check["agreement_with_keras"] == 1.0
    assert check["max_abs_probability_diff"] < 1e-4
    labels, probs = api.predict(tmp_path / "out", ["w1 w2", "w3"])
    assert len(labels) == 2 and probs.shape == (2, 2)
    # TFLite's builtin ops have no LSTM loop over a dynamic length: one line, and nothing half-written
    with pytest.raises(DistillError, match="TFLite cannot convert this student .*; export it with --format "
                                           "savedmodel"):
        api.export_student(tmp_path / "bilstm", tmp_path / "lite", "tflite", echo=None)
    assert not (tmp_path / "lite").exists()


def test_a_bilstm_takes_only_the_embeddings_it_can_use():
    assert StudentConfig(arch="bilstm", embedding="non-static").embedding == "non-static"
    with pytest.raises(DistillError, match="--embedding delta is not for the bilstm student; it takes static or "
                                           "non-static"):
        StudentConfig(arch="bilstm", embedding="delta")


def test_explaining_a_student_without_embed_and_classify_is_one_line(toy, tmp_path, user_module):
    from distill.app.explain import load_explainer

    _fit(toy, tmp_path / "mine", f"{user_module}:three_layers", epochs=1)
    with pytest.raises(DistillError, match="student architecture user_students:three_layers cannot be explained"):
        load_explainer(tmp_path / "mine")
