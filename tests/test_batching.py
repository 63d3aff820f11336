"""teachers.batching: every row once, little padding, logits back in input order, one trace."""

import numpy as np
import pytest
import tensorflow as tf

from distill.metrics import softmax
from distill.wordpiece import Encoding
from teachers.batching import Traces, bucketed_batches, compiled_forward, cross_entropy, logits_in_order, \
    pad_rows, sorted_batches


def _encoding(lengths, seed=0):
    rng = np.random.default_rng(seed)
    ids = [rng.integers(5, 50, size=n).astype(np.int32) for n in lengths]
    return Encoding(ids, [np.zeros(n, np.int8) for n in lengths], np.asarray(lengths, np.int32))


def _padded_tokens(lengths, batches):
    return sum(int(lengths[b].max()) * len(b) for b in batches)


def test_bucketed_batches_cover_every_row_once_with_less_padding():
    lengths = np.random.default_rng(0).integers(3, 120, size=1000)
    batches = bucketed_batches(lengths, 32, np.random.default_rng(1), window_batches=10)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    random_batches = np.array_split(np.random.default_rng(1).permutation(1000), 32)
    assert _padded_tokens(lengths, batches) < 0.75 * _padded_tokens(lengths, random_batches)
    # Batches come in shuffled order, not sorted by length.
    maxima = [int(lengths[b].max()) for b in batches]
    assert maxima != sorted(maxima)


def test_bucketed_batches_depend_on_the_rng_only():
    lengths = np.arange(100) % 17
    a = bucketed_batches(lengths, 8, np.random.default_rng(5))
    b = bucketed_batches(lengths, 8, np.random.default_rng(5))
    c = bucketed_batches(lengths, 8, np.random.default_rng(6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_sorted_batches_are_in_length_order():
    lengths = np.array([5, 1, 9, 3, 7])
    batches = sorted_batches(lengths, 2)
    assert [b.tolist() for b in batches] == [[1, 3], [0, 4], [2]]


def test_logits_in_order_puts_rows_back_in_input_order():
    encoding = _encoding([4, 9, 2, 7, 7, 3, 11])

    def forward(batch):  # a padding-invariant "model": [sum of ids, number of tokens]
        return np.stack([batch["token_ids"].sum(1), batch["padding_mask"].sum(1)], 1).astype(np.float32)

    out = logits_in_order(forward, encoding, batch_size=3)
    expected = [[ids.sum(), len(ids)] for ids in encoding.ids]
    np.testing.assert_array_equal(out, np.asarray(expected, np.float32))


def test_compiled_forward_traces_once_for_all_shapes():
    traces = Traces()
    forward = compiled_forward(lambda batch, training: tf.reduce_sum(batch["token_ids"], axis=1, keepdims=True),
                               traces)
    encoding = _encoding([3, 8, 15, 2, 30])
    for rows in ([0], [1, 2], [3, 4], [0, 1, 2, 3, 4]):
        forward(pad_rows(encoding, rows))
    assert traces == {"forward": 1}


def test_cross_entropy_skips_unknown_labels_and_softmax_normalises():
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]], np.float32)
    labels = np.array([0, 1, -1])
    expected = -np.mean([np.log(np.exp(2) / (np.exp(2) + 1)), np.log(np.exp(3) / (np.exp(3) + 1))])
    assert cross_entropy(logits, labels) == pytest.approx(expected)
    np.testing.assert_allclose(softmax(logits).sum(1), 1.0, rtol=1e-6)
    assert np.isnan(cross_entropy(logits, np.array([-1, -1, -1])))
