"""Inference precision of a teacher: float32, or bfloat16 through Keras mixed precision.

Owns the one switch behind `--precision fp32|bf16` (`materials generate`,
`bench`). bf16 is Keras's `mixed_bfloat16` policy: variables stay float32 and
matmuls run in bfloat16, which CPUs with AVX512-BF16 (and GPUs) execute at up
to twice the float32 rate. A layer takes its policy when it is built, so a
model is built (or loaded) inside `precision_scope` and keeps that precision
after the scope has restored the global policy; nothing else in the process
changes. The encoder casts its outputs to float32 and the classifier head
computes in float32 (`teachers.classifier`), so logits are float32 either
way. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from contextlib import contextmanager

from distill.errors import DistillError

PRECISIONS = ("fp32", "bf16")
DEFAULT = "fp32"
_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise DistillError(f"--precision {precision!r}: known are {', '.join(PRECISIONS)}")
    return precision


@contextmanager
def precision_scope(precision: str = DEFAULT):
    """Models built inside compute in `precision`; the global Keras policy is restored on exit."""
    check_precision(precision)
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def provenance(precision: str) -> dict:
    """What a materials file's teacher provenance records: nothing for float32 (every file before
    bf16 existed is float32, and stays comparable), {"precision": "bf16"} otherwise."""
    return {} if check_precision(precision) == DEFAULT else {"precision": precision}
