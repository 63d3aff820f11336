"""Token attributions: integrated gradients' completeness, occlusion finding the marker word, agreement."""

import numpy as np
import pytest

from distill.attribution import Attribution, agreement, integrated_gradients, occlusion
from materials.testing import write_toy_materials
from students.attribution import explain_student
from students.predictor import StudentPredictor
from students.train import StudentConfig, StudentTrainer
from teachers.attribution import explain_teacher


def test_integrated_gradients_of_a_quadratic_by_hand():
    """F(x) = sum(x^2) from baseline 0: exact attributions are x_i^2 (the rule is exact for a linear gradient)."""
    import tensorflow as tf

    x = np.array([[1.0, 2.0], [3.0, 0.5], [0.0, -1.0]], np.float32)
    scores, target, baseline, steps = integrated_gradients(lambda p: tf.reduce_sum(p[0] ** 2, axis=[1, 2]), [x],
                                                           [np.zeros_like(x)], steps=4)
    np.testing.assert_allclose(scores, [5.0, 9.25, 1.0], rtol=1e-6)
    assert target == pytest.approx(15.25) and baseline == 0.0 and steps == 4


def test_integrated_gradients_refine_a_sharp_path():
    """A logit that turns within a few % of the path: 4 steps miss it, doubling finds it (gap under 1%)."""
    import tensorflow as tf

    x = np.ones((3, 2), np.float32)

    def sharp(points):
        return tf.reduce_sum(tf.sigmoid(200.0 * (points[0] - 0.513)), axis=[1, 2])

    coarse, target, baseline, _ = integrated_gradients(sharp, [x], [np.zeros_like(x)], steps=4, tolerance=None)
    scores, _, _, steps = integrated_gradients(sharp, [x], [np.zeros_like(x)], steps=4)
    assert abs(coarse.sum() - (target - baseline)) > 0.1 * (target - baseline)
    assert abs(scores.sum() - (target - baseline)) <= 0.01 * (target - baseline) and steps > 4


def test_occlusion_by_hand():
    weights = np.array([0.0, 1.0, 5.0, -2.0])   # score = sum of the ids' weights; id 0 is the mask

    scores = occlusion(lambda batch: weights[batch].sum(axis=1), np.array([1, 2, 3, 1]),
                       np.array([True, False, False, False]), mask_id=0)
    np.testing.assert_allclose(scores, [0.0, 5.0, -2.0, 1.0])


def _attribution(scores, tokens=None, label=1):
    tokens = tokens or ["[CLS]"] + [f"t{i}" for i in range(len(scores))] + ["[SEP]"]
    full = np.array([0.0] + list(scores) + [0.0])
    special = np.array([True] + [False] * len(scores) + [True])
    return Attribution(tokens, full, label, "x", np.array([0.3, 0.7]), "ig", special=special)


def test_agreement_measures():
    a = _attribution([0.9, 0.1, 0.5, -0.3, 0.0])
    same = agreement(a, _attribution([1.8, 0.2, 1.0, -0.6, 0.0]))
    assert same["rank_correlation"] == pytest.approx(1.0) and same["top_k_overlap"] == 1.0 and same["same_label"]
    reverse = agreement(a, _attribution([-0.9, -0.1, -0.5, 0.3, 0.0], label=0))
    assert reverse["rank_correlation"] == pytest.approx(-1.0) and reverse["top_k_overlap"] == pytest.approx(1 / 3)
    assert not reverse["same_label"]
    flat = agreement(a, _attribution([0.0] * 5))
    assert flat["rank_correlation"] is None
    with pytest.raises(ValueError):
        agreement(a, _attribution([1.0, 2.0]))


# ------------------------------------------------------------- real models
@pytest.fixture(scope="module")
def student(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribution")
    materials = write_toy_materials(root / "toy.h5", n_per_split=64)
    StudentTrainer(StudentConfig(filters=8, batch_size=16, epochs=10, lr=1e-2, patience=10, dropout=0.0), progress=False,
                   echo=None).fit(materials, root / "run")
    return StudentPredictor.load(root / "run", engine="keras")


POSITIVE = ["w1 w2 wonderful w3 w4", "wonderful w5 w6", "w7 w8 w9 w10 wonderful"]


def test_student_integrated_gradients_are_complete(student):
    for a in explain_student(student, POSITIVE + ["w1 w2 w3"], method="ig"):
        assert a.completeness_gap < 0.01, (a.tokens, a.completeness_gap)
        assert a.scores[a.special].tolist() == [0.0, 0.0]
        # the score function at the path's end is the model's own logit
        assert a.target == pytest.approx(float(student.predict_logits([" ".join(
            t for t in a.tokens[1:-1])])[0, a.label]), abs=1e-4)


def test_student_occlusion_and_ig_find_the_marker(student):
    """Where the student says positive, the marker word is what it listened to most."""
    for method in ("occlusion", "ig"):
        positive = [a for a in explain_student(student, POSITIVE, method=method) if a.label_name == "positive"]
        assert len(positive) >= 2
        for a in positive:
            assert a.tokens[int(np.argmax(a.scores))] == "wonderful", (method, a.tokens, a.scores)


def test_explaining_a_given_label_scores_that_logit(student):
    [own] = explain_student(student, POSITIVE[:1])
    [other] = explain_student(student, POSITIVE[:1], labels=[0])
    assert own.label == own.predicted == 1 and other.label == 0 and other.predicted == 1
    assert other.label_name == "negative" and other.predicted_name == "positive"
    assert other.tokens[int(np.argmin(other.scores))] == "wonderful"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """The tiny BERT preset fine-tuned on the synthetic marker task until it has learned it."""
    from distill.data.synthetic import marker_task
    from teachers.finetune import FinetuneConfig, Finetuner
    from teachers.registry import load_teacher
    from teachers.run import TeacherRun

    root = tmp_path_factory.mktemp("attribution-teacher")
    config = FinetuneConfig(lr=1e-2, epochs=3, batch_size=16, max_seq_len=24, seed=0)
    Finetuner(config, progress=False, echo=None).fit(load_teacher("tiny", max_seq_len=24),
                                                     marker_task(n_train=400, n_dev=40, n_test=40), root / "run")
    return TeacherRun.load(root / "run")


TEACHER_TEXTS = ["the film wonderful story long", "a quick wonderful story", "the old house the river road"]


def test_teacher_integrated_gradients_are_complete(teacher):
    logits = teacher.predict_logits(TEACHER_TEXTS)
    for a, row in zip(explain_teacher(teacher, TEACHER_TEXTS, method="ig"), logits):
        error = abs(a.scores.sum() - (a.target - a.baseline))
        assert error <= max(0.01 * abs(a.target - a.baseline), 1e-3), (a.tokens, a.completeness_gap)
        assert a.target == pytest.approx(float(row[a.label]), abs=1e-4)


def test_teacher_occlusion_and_ig_find_the_marker(teacher):
    assert [a.label_name for a in explain_teacher(teacher, TEACHER_TEXTS)] == ["positive", "positive", "negative"]
    for method in ("occlusion", "ig"):
        for a in explain_teacher(teacher, TEACHER_TEXTS[:2], method=method):
            assert a.tokens[int(np.argmax(a.scores))] == "wonderful", (method, a.tokens, a.scores)
