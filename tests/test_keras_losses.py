"""Our distillation terms as Keras objects equal the pure functions, and train with Keras's own tools."""

import keras
import numpy as np
import pytest

from students import losses
from students.keras_losses import TeacherLogitsLoss, distillation_loss

RNG = np.random.default_rng(0)
STUDENT = RNG.normal(size=(6, 3)).astype(np.float32)
TEACHER = RNG.normal(size=(6, 3)).astype(np.float32)


@pytest.mark.parametrize("term, reference", [("mse", lambda s, t: losses.mse(s, t)),
                                             ("kl", lambda s, t: losses.kl(s, t, 2.0))])
def test_the_keras_loss_and_the_distillation_loss_equal_the_pure_function(term, reference):
    expected = float(reference(STUDENT, TEACHER))
    assert float(TeacherLogitsLoss(term, temperature=2.0)(TEACHER, STUDENT)) == pytest.approx(expected, rel=1e-5)
    assert float(distillation_loss(term, 2.0).compute_loss(TEACHER, STUDENT)) == pytest.approx(expected, rel=1e-5)
    assert float(TeacherLogitsLoss(term)(TEACHER, TEACHER)) == pytest.approx(0.0, abs=1e-6)


def test_bad_terms_and_temperatures_are_refused():
    with pytest.raises(ValueError, match="term must be one of mse, kl"):
        TeacherLogitsLoss("ce")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        distillation_loss("kl", 0)


def test_a_compiled_student_learns_the_cached_logits_and_the_loss_round_trips(tmp_path):
    from materials.reader import MaterialsFile
    from materials.testing import write_toy_materials

    path = write_toy_materials(tmp_path / "toy.h5", n_per_split=64)
    keras.utils.set_random_seed(0)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    length = keras.Input((), dtype="int32", name="length")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8, mask_zero=True)(token_ids))
    model = keras.Model({"token_ids": token_ids, "length": length}, keras.layers.Dense(2)(pooled))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=TeacherLogitsLoss("mse"))
    with MaterialsFile(path) as mf:
        train = mf.dataset("train", batch_size=16, shuffle=True, seed=0).map(lambda f, t: (f, t["logits"]))
        history = model.fit(train, epochs=8, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0]
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.loss.term == "mse"


def test_keras_distiller_trains_with_our_term():
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(32, 4)).astype(np.float32)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    distiller = keras.distillation.Distiller(teacher=teacher, student=student,
                                             distillation_losses=[distillation_loss("mse")],
                                             student_loss_weight=0.0)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    history = distiller.fit(x, np.zeros(32, np.int32), epochs=10, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
