"""teachers.precision: bf16 inference through Keras mixed precision, scoped, float32 logits, recorded."""

import keras
import numpy as np
import pytest

from distill.data.synthetic import marker_task
from distill.errors import DistillError
from materials.generate import generate
from materials.reader import MaterialsFile
from teachers.precision import check_precision, precision_scope, provenance
from teachers.run import TeacherRun
from teachers.testing import train_tiny_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("precision") / "run").run_dir_


def test_the_scope_restores_the_global_policy():
    before = keras.config.dtype_policy().name
    with precision_scope("bf16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        dense = keras.layers.Dense(2)
    assert keras.config.dtype_policy().name == before and dense.compute_dtype == "bfloat16"
    with pytest.raises(DistillError, match="--precision 'fp16': known are fp32, bf16"):
        check_precision("fp16")
    assert provenance("fp32") == {} and provenance("bf16") == {"precision": "bf16"}


def test_a_bf16_run_computes_in_bfloat16_and_returns_float32_logits_that_agree(run_dir, tmp_path):
    fp32, bf16 = TeacherRun.load(run_dir), TeacherRun.load(run_dir, precision="bf16")
    block = bf16.encoder.blocks[0]
    assert block.intermediate.compute_dtype == "bfloat16" and block.intermediate.kernel.dtype == "float32"
    assert bf16.model.head.compute_dtype == "float32"                       # the head stays float32
    assert fp32.encoder.blocks[0].intermediate.compute_dtype == "float32"   # loaded after: untouched
    texts = marker_task()["test"].texts
    a, b = fp32.predict_logits(texts), bf16.predict_logits(texts)
    assert b.dtype == np.float32 and (a.argmax(1) == b.argmax(1)).mean() >= 0.99
    assert 0 < np.abs(a - b).max() < 0.05
    assert "precision" not in fp32.teacher_provenance() and bf16.teacher_provenance()["precision"] == "bf16"
    task = marker_task(n_train=40, n_dev=10, n_test=10)
    out = generate(bf16, task, tmp_path / "bf16.h5", splits=("test",), progress=False, echo=None)
    with MaterialsFile(out) as m:
        assert m.teacher["precision"] == "bf16" and m.arrays("test", ("logits",))["logits"].dtype == np.float32
