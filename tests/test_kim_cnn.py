"""The Kim (2014) CNN student: masking, embedding modes, reference output, serialization."""

import keras
import numpy as np
import pytest

from students.kim_cnn import KimCNN, build_kim_cnn

VOCAB, DIM = 20, 4


def _embedding(seed=0):
    return np.random.default_rng(seed).normal(0.0, 0.5, size=(VOCAB, DIM)).astype(np.float32)


def _batch():
    ids = np.array([[2, 5, 7, 9, 3, 0], [2, 3, 0, 0, 0, 0], [2, 6, 6, 8, 11, 3]], dtype=np.int32)
    return {"token_ids": ids, "length": np.array([5, 2, 6], dtype=np.int32)}


def _reference_logits(model, batch):
    """Numpy Kim CNN: each row's real tokens only, zero-padded up to the window, valid conv, ReLU, max."""
    table = model.embedding.embeddings.numpy()
    rows = []
    for ids, n in zip(batch["token_ids"], batch["length"]):
        pooled = []
        for width, conv in zip(model.widths, model.convs):
            kernel, bias = conv.kernel.numpy(), conv.bias.numpy()  # [w, D, F], [F]
            x = table[ids[:n]]
            x = np.concatenate([x, np.zeros((max(0, width - n), DIM), np.float32)])
            outs = [np.einsum("wd,wdf->f", x[t:t + width], kernel) + bias for t in range(len(x) - width + 1)]
            pooled.append(np.maximum(np.stack(outs), 0).max(axis=0))
        rows.append(np.concatenate(pooled))
    dense_kernel, dense_bias = model.classifier.kernel.numpy(), model.classifier.bias.numpy()
    return np.stack(rows) @ dense_kernel + dense_bias


def _adversarial(model):
    """Weights under which any window touching padding would beat every real window.

    Real tokens get positive embeddings and every filter negative weights, so
    a real window's pre-activation is below zero, while a padding window's is
    the (positive) bias: unmasked, padding would win every max.
    """
    model.embedding.embeddings.assign(np.abs(_embedding()) + 0.5)
    for conv in model.convs:
        conv.kernel.assign(-np.abs(conv.kernel.numpy()) - 0.1)
        conv.bias.assign(np.full(conv.filters, 0.2, np.float32))


def test_logits_match_a_numpy_reference_that_sees_only_real_tokens():
    model = build_kim_cnn(_embedding(), 3, filters=5, widths=(2, 3, 5))
    for weights in ("initial", "adversarial"):
        if weights == "adversarial":
            _adversarial(model)
        batch = _batch()
        got = model(batch, training=False).numpy()
        np.testing.assert_allclose(got, _reference_logits(model, batch), rtol=1e-4, atol=1e-5)


def test_padding_never_wins_the_max_pool():
    model = build_kim_cnn(_embedding(), 2, filters=6, widths=(3, 4, 5))
    _adversarial(model)
    batch = _batch()
    base = model(batch).numpy()
    more_pad = dict(batch, token_ids=np.pad(batch["token_ids"], ((0, 0), (0, 7))))
    np.testing.assert_allclose(model(more_pad).numpy(), base, rtol=1e-5, atol=1e-6)
    # whatever sits past `length` (here real word ids) is ignored as well
    garbage = dict(batch, token_ids=np.concatenate(
        [batch["token_ids"], np.full((3, 4), 7, np.int32)], axis=1))
    np.testing.assert_allclose(model(garbage).numpy(), base, rtol=1e-5, atol=1e-6)


def test_a_batch_shorter_than_the_widest_window_still_works():
    model = build_kim_cnn(_embedding(), 2, filters=3, widths=(3, 4, 5))
    batch = {"token_ids": np.array([[2, 3]], np.int32), "length": np.array([2], np.int32)}
    got = model(batch).numpy()
    assert got.shape == (1, 2) and np.isfinite(got).all()
    np.testing.assert_allclose(got, _reference_logits(model, batch), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode, trainable_tables, frozen_tables", [
    ("static", 0, 1), ("non-static", 1, 0), ("multichannel", 1, 1), ("rand", 1, 0)])
def test_embedding_modes(mode, trainable_tables, frozen_tables):
    table = _embedding()
    model = build_kim_cnn(table, 2, embedding_mode=mode, filters=3)
    tables = [w for w in model.weights if w.shape == (VOCAB, DIM)]
    assert sum(1 for w in model.trainable_weights if w.shape == (VOCAB, DIM)) == trainable_tables
    assert sum(1 for w in model.non_trainable_weights if w.shape == (VOCAB, DIM)) == frozen_tables
    for w in tables:
        if mode == "rand":
            assert not np.allclose(w.numpy(), table)
            assert w.numpy().std() == pytest.approx(table.std(), rel=0.3)
        else:
            np.testing.assert_array_equal(w.numpy(), table)


def test_multichannel_adds_both_channels_under_one_filter():
    table = _embedding()
    model = build_kim_cnn(table, 2, embedding_mode="multichannel", filters=4, widths=(2,))
    model.embedding.embeddings.assign(table * 2.0)   # the fine-tuned channel drifts
    batch = _batch()
    single = build_kim_cnn(table * 3.0, 2, embedding_mode="static", filters=4, widths=(2,))
    for a, b in zip(single.weights[1:], model.weights[2:]):   # same conv and dense weights
        a.assign(b.numpy())
    # conv(2e) + conv(e) - bias == conv(3e): one filter over the sum of the channels
    np.testing.assert_allclose(model(batch).numpy(), single(batch).numpy(), rtol=1e-4, atol=1e-5)


def test_saves_and_reloads_as_keras_file(tmp_path):
    model = build_kim_cnn(_embedding(), 3, embedding_mode="multichannel", filters=4, widths=(2, 3))
    batch = _batch()
    expected = model(batch).numpy()
    path = tmp_path / "student.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, KimCNN)
    assert reloaded.get_config()["embedding_mode"] == "multichannel"
    np.testing.assert_allclose(reloaded(batch).numpy(), expected, rtol=1e-6)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="embedding_mode"):
        KimCNN(VOCAB, DIM, 2, embedding_mode="frozen")
    model = KimCNN(VOCAB, DIM, 2)
    with pytest.raises(ValueError, match="embedding matrix"):
        model.set_embedding(np.zeros((VOCAB + 1, DIM)))
    with pytest.raises(ValueError, match="delta_rows"):
        KimCNN(VOCAB, DIM, 2, embedding_mode="delta")
    with pytest.raises(ValueError, match="delta_rows"):
        KimCNN(VOCAB, DIM, 2, embedding_mode="static", delta_rows=3)
    with pytest.raises(ValueError, match="distinct ids"):
        KimCNN(VOCAB, DIM, 2, embedding_mode="delta", delta_rows=2).set_embedding(_embedding(), delta_ids=[1, VOCAB])


def _delta_and_static(delta_ids=(2, 5, 6, 7)):
    keras.utils.set_random_seed(3)
    static = build_kim_cnn(_embedding(), 2, embedding_mode="static", filters=4, widths=(2, 3))
    keras.utils.set_random_seed(3)
    delta = build_kim_cnn(_embedding(), 2, embedding_mode="delta", filters=4, widths=(2, 3), delta_ids=delta_ids)
    return delta, static


def test_delta_starts_at_zero_and_gives_the_static_students_logits():
    delta, static = _delta_and_static()
    assert delta.delta_rows == 4 and delta.delta.embeddings.shape == (5, DIM)
    np.testing.assert_array_equal(delta.delta.embeddings.numpy(), 0.0)
    np.testing.assert_array_equal(delta(_batch()).numpy(), static(_batch()).numpy())
    # the teacher's table is frozen; the correction is what trains
    trainable = [w.path for w in delta.trainable_weights]
    assert "delta/embeddings" in trainable and "embedding/embeddings" not in trainable
    slot = delta.delta_slot.numpy()
    assert slot[[2, 5, 6, 7]].tolist() == [1, 2, 3, 4] and not slot[[0, 1, 3, 4, 8]].any()


def test_delta_training_moves_only_the_listed_rows():
    import tensorflow as tf

    delta, _ = _delta_and_static()
    optimizer = keras.optimizers.Adam(0.05)
    batch = _batch()   # ids 2, 3, 5, 6, 7, 8, 9, 11; 3, 8, 9, 11 have no correction row
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(delta(batch, training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, delta.trainable_weights), delta.trainable_weights))
    rows = delta.delta.embeddings.numpy()
    np.testing.assert_array_equal(rows[0], 0.0)   # "no correction" stays zero
    assert np.abs(rows[1:]).sum(axis=1).min() > 0   # every listed id seen in the batch moved
    table = delta.word_table()
    np.testing.assert_array_equal(table[[0, 1, 3, 8, 9, 11]], _embedding()[[0, 1, 3, 8, 9, 11]])
    assert not np.allclose(table[[2, 5, 6, 7]], _embedding()[[2, 5, 6, 7]])
    np.testing.assert_array_equal(delta.embedding.embeddings.numpy(), _embedding())


def test_delta_student_saves_and_reloads(tmp_path):
    delta, _ = _delta_and_static()
    delta.delta.embeddings.assign(np.random.default_rng(0).normal(size=(5, DIM)).astype(np.float32))
    expected = delta(_batch()).numpy()
    delta.save(tmp_path / "student.keras")
    reloaded = keras.saving.load_model(tmp_path / "student.keras")
    assert reloaded.embedding_mode == "delta" and reloaded.delta_rows == 4
    np.testing.assert_array_equal(reloaded.delta_slot.numpy(), delta.delta_slot.numpy())
    np.testing.assert_allclose(reloaded(_batch()).numpy(), expected, rtol=1e-6)
