"""The folded (precomputed-table) Kim CNN gives the Keras model's logits."""

import numpy as np
import pytest

from students.folded import FoldedKimCNN
from students.kim_cnn import build_kim_cnn

VOCAB, DIM = 30, 6


def _batch(rng, rows=5, longest=9):
    length = rng.integers(1, longest + 1, size=rows).astype(np.int32)
    length[0] = longest
    ids = np.zeros((rows, longest), np.int32)
    for r, n in enumerate(length):
        ids[r, :n] = rng.integers(1, VOCAB, size=n)
    return ids, length


def _trained_like(model, rng):
    """Non-trivial weights everywhere (fresh biases are 0, which would hide a bias bug)."""
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, size=w.shape).astype(np.float32))


@pytest.mark.parametrize("mode", ["static", "non-static", "multichannel", "delta", "rand"])
def test_folded_logits_equal_the_keras_model(mode):
    rng = np.random.default_rng(1)
    model = build_kim_cnn(rng.normal(size=(VOCAB, DIM)).astype(np.float32), 3, embedding_mode=mode,
                          filters=4, widths=(2, 3, 5), delta_ids=np.arange(1, VOCAB, 2) if mode == "delta" else None)
    _trained_like(model, rng)
    if mode == "delta":   # the slot table is an index, not a weight to randomise
        model.set_embedding(model.embedding.embeddings.numpy(), delta_ids=np.arange(1, VOCAB, 2))
        model.delta.embeddings.assign(rng.normal(0.0, 0.5, size=model.delta.embeddings.shape).astype(np.float32))
    folded = FoldedKimCNN.from_model(model)
    ids, length = _batch(rng)
    expected = model({"token_ids": ids, "length": length}, training=False).numpy()
    np.testing.assert_allclose(folded.logits(ids, length), expected, rtol=1e-4, atol=1e-4)
    # extra padding and junk past `length` change nothing, as in the Keras model
    junk = np.concatenate([ids, np.full((len(ids), 3), 7, np.int32)], axis=1)
    np.testing.assert_allclose(folded.logits(junk, length), expected, rtol=1e-4, atol=1e-4)
    assert folded.nbytes == (VOCAB + 1) * (2 + 3 + 5) * 4 * 4


def test_one_token_rows_and_out_of_range_ids():
    rng = np.random.default_rng(2)
    model = build_kim_cnn(rng.normal(size=(VOCAB, DIM)).astype(np.float32), 2, filters=3)
    _trained_like(model, rng)
    folded = FoldedKimCNN.from_model(model)
    ids, length = np.array([[4]], np.int32), np.array([1], np.int32)
    np.testing.assert_allclose(folded(ids, length), model({"token_ids": ids, "length": length}).numpy(),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="token ids"):
        folded(np.array([[VOCAB + 5]]), np.array([1]))
