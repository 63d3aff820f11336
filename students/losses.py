"""Distillation losses: teacher-logit MSE, temperature KL, gold-label CE, and their mix.

Owns the objectives a student is trained with, as pure functions of tensors
(Keras ops: they run inside a `tf.function` train step and on numpy arrays in
tests). Every function returns one scalar: the mean over the rows it applies to.

- `mse`: squared L2 distance between student and teacher logits, summed over
  classes (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT
  into Simple Neural Networks"). Logits keep what softmax throws away (how
  sure the teacher is), which is why it works well for small students.
- `kl`: KL(teacher || student) of the temperature-softened distributions,
  times T^2 so its gradients keep their size as T changes (Hinton et al.
  2015). KL rather than soft-target cross-entropy: same gradients, but 0 when
  the student matches, so values are comparable across tasks.
- `ce`: cross-entropy on gold labels; rows with y = -1 (the unlabelled
  transfer set) are masked out and the mean is over labelled rows only (0
  when a batch has none). `--loss ce` alone is the no-distillation baseline.
- `mix`: alpha * ce + (1 - alpha) * distill; the unlabelled rows thereby
  feed the distillation term only.
"""

from __future__ import annotations

from keras import ops

LOSSES = ("mse", "kl", "ce", "mix", "mix-mse")
DISTILL_TERM = {"mse": "mse", "kl": "kl", "mix": "kl", "mix-mse": "mse"}


def mse(student_logits, teacher_logits):
    """Mean over rows of ||z_student - z_teacher||^2 (summed over classes)."""
    diff = ops.cast(student_logits, "float32") - ops.cast(teacher_logits, "float32")
    return ops.mean(ops.sum(ops.square(diff), axis=-1))


def kl(student_logits, teacher_logits, temperature: float = 1.0):
    """T^2 * mean over rows of KL(softmax(z_t / T) || softmax(z_s / T))."""
    t = float(temperature)
    if t <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    log_p_teacher = ops.log_softmax(ops.cast(teacher_logits, "float32") / t, axis=-1)
    log_p_student = ops.log_softmax(ops.cast(student_logits, "float32") / t, axis=-1)
    per_row = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    return (t * t) * ops.mean(per_row)


def ce(student_logits, labels):
    """Cross-entropy on gold labels, averaged over rows with a label (y >= 0); 0 when none."""
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    known = ops.cast(labels >= 0, "float32")
    log_p = ops.log_softmax(ops.cast(student_logits, "float32"), axis=-1)
    num_labels = ops.shape(log_p)[-1]
    picked = ops.sum(ops.one_hot(ops.maximum(labels, 0), num_labels) * log_p, axis=-1)
    return -ops.sum(picked * known) / ops.maximum(ops.sum(known), 1.0)


def mix(ce_term, distill_term, alpha: float):
    """alpha * ce + (1 - alpha) * distill (Hinton 2015; Tang et al. 2019)."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha) * ce_term + (1.0 - float(alpha)) * distill_term


def student_loss(name: str, student_logits, labels, teacher_logits, temperature: float = 1.0,
                 alpha: float = 0.5):
    """The named objective (one of `LOSSES`) for a batch; `mix` distils with KL, `mix-mse` with MSE."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    if name == "ce":
        return ce(student_logits, labels)
    term = DISTILL_TERM[name]
    distill = (mse(student_logits, teacher_logits) if term == "mse"
               else kl(student_logits, teacher_logits, temperature))
    if name in ("mse", "kl"):
        return distill
    return mix(ce(student_logits, labels), distill, alpha)


def uses_labels(name: str) -> bool:
    """Whether the objective reads gold labels (then unlabelled-only batches add nothing to it)."""
    return name in ("ce", "mix", "mix-mse")


def uses_teacher(name: str) -> bool:
    """Whether the objective reads teacher logits (all but the `ce` baseline)."""
    return name != "ce"
