"""Distillation losses against values worked out by hand."""

import math

import numpy as np
import pytest

from students import losses

LN3 = math.log(3.0)


def test_mse_sums_over_classes_and_averages_over_rows():
    student = np.array([[1.0, 2.0], [0.0, 0.0]], dtype=np.float32)
    teacher = np.array([[0.0, 0.0], [1.0, -1.0]], dtype=np.float32)
    # row 0: 1 + 4 = 5; row 1: 1 + 1 = 2; mean 3.5
    assert float(losses.mse(student, teacher)) == pytest.approx(3.5)


def test_kl_softens_with_temperature_and_scales_by_t_squared():
    student = np.zeros((1, 2), dtype=np.float32)
    teacher = np.array([[2 * LN3, 0.0]], dtype=np.float32)
    # T = 2: teacher softmax([ln 3, 0]) = [3/4, 1/4], student [1/2, 1/2]
    expected = 4.0 * (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5))
    assert float(losses.kl(student, teacher, temperature=2.0)) == pytest.approx(expected, rel=1e-5)
    # T = 1: softmax([2 ln 3, 0]) = [9/10, 1/10]
    expected_t1 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert float(losses.kl(student, teacher, temperature=1.0)) == pytest.approx(expected_t1, rel=1e-5)


def test_kl_is_zero_when_student_matches_teacher():
    logits = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, 0.0]], dtype=np.float32)
    assert float(losses.kl(logits, logits, temperature=3.0)) == pytest.approx(0.0, abs=1e-6)


def test_ce_averages_over_labelled_rows_only():
    student = np.array([[LN3, 0.0], [0.0, 0.0], [5.0, -5.0]], dtype=np.float32)
    labels = np.array([0, 1, -1], dtype=np.int32)
    expected = (-math.log(0.75) - math.log(0.5)) / 2  # the y = -1 row is ignored
    assert float(losses.ce(student, labels)) == pytest.approx(expected, rel=1e-6)


def test_ce_of_a_batch_without_labels_is_zero():
    student = np.array([[1.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    assert float(losses.ce(student, np.array([-1, -1]))) == 0.0


def test_mix_uses_unlabelled_rows_for_the_distillation_term_only():
    student = np.zeros((2, 2), dtype=np.float32)
    teacher = np.array([[2 * LN3, 0.0], [2 * LN3, 0.0]], dtype=np.float32)
    labels = np.array([0, -1], dtype=np.int32)
    kl_t2 = 4.0 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    expected = 0.25 * math.log(2.0) + 0.75 * kl_t2
    got = losses.student_loss("mix", student, labels, teacher, temperature=2.0, alpha=0.25)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # mix-mse: the distillation term is the logit MSE, (2 ln 3)^2 per row
    got = losses.student_loss("mix-mse", student, labels, teacher, alpha=0.25)
    assert float(got) == pytest.approx(0.25 * math.log(2.0) + 0.75 * (2 * LN3) ** 2, rel=1e-5)


def test_student_loss_dispatches_by_name():
    student = np.array([[1.0, 2.0]], dtype=np.float32)
    teacher = np.array([[0.0, 0.0]], dtype=np.float32)
    labels = np.array([1])
    assert float(losses.student_loss("mse", student, labels, teacher)) == pytest.approx(5.0)
    assert float(losses.student_loss("ce", student, labels, teacher)) == pytest.approx(
        -math.log(math.exp(2) / (math.exp(1) + math.exp(2))), rel=1e-6)
    with pytest.raises(ValueError, match="unknown loss"):
        losses.student_loss("hinge", student, labels, teacher)


def test_bad_hyperparameters_are_refused():
    x = np.zeros((1, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="temperature"):
        losses.kl(x, x, temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        losses.mix(1.0, 1.0, alpha=1.5)
