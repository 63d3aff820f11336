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
