"""Our distillation terms as Keras objects, for students trained outside `distill`'s own loop.

Owns two thin adapters over the pure functions of `students.losses`, so the
numbers are the same ones a `distill` student is trained with:

- `TeacherLogitsLoss("mse" | "kl", temperature)`: a `keras.losses.Loss` whose
  `y_true` is the teacher's logits, for `model.compile(loss=...)` and `fit` on
  a materials dataset mapped to `(features, targets["logits"])`. The teacher
  is read from the file, never run.
- `distillation_loss("mse" | "kl", temperature)`: the same term as a
  `keras.distillation.DistillationLoss`, for `keras.distillation.Distiller`,
  where the teacher runs at every student step and the student takes the
  teacher's inputs.
"""

from __future__ import annotations

import keras
from keras import ops

from students import losses

TERMS = ("mse", "kl")


def _check(term: str, temperature: float) -> None:
    if term not in TERMS:
        raise ValueError(f"term must be one of {', '.join(TERMS)}, got {term!r}")
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _per_row(term: str, student_logits, teacher_logits, temperature: float):
    """The term of each row (its mean over rows is `students.losses.mse` / `kl`)."""
    student = ops.cast(student_logits, "float32")
    teacher = ops.cast(teacher_logits, "float32")
    if term == "mse":
        return ops.sum(ops.square(student - teacher), axis=-1)
    t = float(temperature)
    log_p_teacher = ops.log_softmax(teacher / t, axis=-1)
    log_p_student = ops.log_softmax(student / t, axis=-1)
    return (t * t) * ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)


@keras.saving.register_keras_serializable(package="distill")
class TeacherLogitsLoss(keras.losses.Loss):
    """Distillation from cached teacher logits as a Keras loss: `y_true` is the teacher's logits
    [B, C], `y_pred` the student's. With the default mean reduction it equals `students.losses.mse`
    (or `kl`) of the batch."""

    def __init__(self, term: str = "mse", temperature: float = 2.0, name: str | None = None, **kwargs):
        _check(term, temperature)
        super().__init__(name=name or f"teacher_logits_{term}", **kwargs)
        self.term, self.temperature = term, float(temperature)

    def call(self, y_true, y_pred):
        return _per_row(self.term, y_pred, y_true, self.temperature)

    def get_config(self):
        return {**super().get_config(), "term": self.term, "temperature": self.temperature}


def distillation_loss(term: str = "mse", temperature: float = 2.0):
    """Our `term` as a `keras.distillation.DistillationLoss` (Keras 3.12 and later)."""
    _check(term, temperature)
    from keras.distillation import DistillationLoss

    class _OurTerm(DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            if term == "mse":
                return losses.mse(student_outputs, teacher_outputs)
            return losses.kl(student_outputs, teacher_outputs, temperature)

    _OurTerm.__name__ = _OurTerm.__qualname__ = f"Distill{term.upper()}"
    return _OurTerm()
