"""teachers.classifier: logits per row, independent of padding, reloadable from model.keras."""

import dataclasses

import keras
import numpy as np
import pytest

from distill.errors import DistillError
from teachers.bert import BertConfig, BertEncoder
from teachers.classifier import BertClassifier
from distill.wordpiece import pad_batch

CONFIG = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=60)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return BertClassifier(BertEncoder(CONFIG), num_labels=3)


def _batch(rows, length=None):
    ids = [np.asarray(r, np.int32) for r in rows]
    segments = [np.asarray([0] * (len(r) // 2) + [1] * (len(r) - len(r) // 2), np.int8) for r in rows]
    return pad_batch(ids, segments, length)


def test_logits_shape_and_padding_invariance(model):
    rows = [[2, 10, 11, 3], [2, 12, 13, 14, 15, 3]]
    logits = model(_batch(rows), training=False).numpy()
    assert logits.shape == (2, 3)
    longer = model(_batch(rows, length=20), training=False).numpy()
    np.testing.assert_allclose(longer, logits, atol=1e-5)
    alone = model(_batch(rows[:1]), training=False).numpy()
    np.testing.assert_allclose(alone, logits[:1], atol=1e-5)


def test_dropout_only_in_training(model):
    batch = _batch([[2, 10, 11, 3]] * 4)
    a = model(batch, training=False).numpy()
    np.testing.assert_array_equal(a, model(batch, training=False).numpy())
    assert not np.allclose(model(batch, training=True).numpy(), a)


def test_keras_file_round_trip(model, tmp_path):
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, BertClassifier) and loaded.num_labels == 3 and loaded.config == CONFIG
    batch = _batch([[2, 10, 11, 3], [2, 20, 3]])
    np.testing.assert_allclose(loaded(batch).numpy(), model(batch).numpy(), atol=1e-6)
    embeddings = [w.path for w in loaded.weights if w.path.endswith("embeddings/word_embeddings")]
    assert len(embeddings) == 1  # what materials generation looks the table up by


@pytest.mark.parametrize("bad", [dict(num_labels=1), dict(num_labels=2, dropout=1.0)])
def test_rejects_bad_arguments(bad):
    with pytest.raises(DistillError, match="BertClassifier"):
        BertClassifier(BertEncoder(CONFIG), **bad)


@pytest.fixture(scope="module")
def mean_model():
    keras.utils.set_random_seed(0)
    return BertClassifier(BertEncoder(CONFIG), num_labels=3, pooling="mean")


def test_mean_pooling_ignores_padding_and_averages_real_tokens(mean_model):
    from teachers.classifier import mean_pool

    rows = [[2, 10, 11, 3], [2, 12, 13, 14, 15, 3]]
    batch = _batch(rows)
    logits = mean_model(batch, training=False).numpy()
    np.testing.assert_allclose(mean_model(_batch(rows, length=20), training=False).numpy(), logits, atol=1e-5)
    # the head reads the mean of the real positions' vectors, nothing of the padded ones
    sequence = mean_model.encoder(batch, training=False)["sequence_output"].numpy()
    expected = np.stack([sequence[0, :4].mean(0), sequence[1, :6].mean(0)])
    np.testing.assert_allclose(mean_model.pool(batch).numpy(), expected, rtol=1e-5, atol=1e-6)
    # and differs from [CLS] pooling of the same encoder (so the check above could fail)
    cls = BertClassifier(mean_model.encoder, num_labels=3)
    assert not np.allclose(cls.pool(batch).numpy(), expected, atol=1e-3)
    # a row with no real token gives zeros, not NaN
    empty = mean_pool(np.ones((1, 3, 2), np.float32), np.zeros((1, 3), np.int32)).numpy()
    np.testing.assert_array_equal(empty, np.zeros((1, 2)))


def test_mean_pooling_freezes_the_unused_pooler_and_round_trips(mean_model, tmp_path):
    assert not any("pooler" in w.path for w in mean_model.trainable_weights)
    assert any("pooler" in w.path for w in mean_model.weights)   # still there: checkpoints keep it
    mean_model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.pooling == "mean"
    batch = _batch([[2, 10, 11, 3], [2, 20, 3]])
    np.testing.assert_allclose(loaded(batch).numpy(), mean_model(batch).numpy(), atol=1e-6)


def test_unknown_pooling_is_refused():
    with pytest.raises(DistillError, match="pooling must be one of cls, mean"):
        BertClassifier(BertEncoder(CONFIG), num_labels=2, pooling="max")
