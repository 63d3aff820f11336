"""Tests for teachers.mlm: BERT's masking, the tied MLM head, the loss over masked positions only."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from distill.errors import DistillError
from teachers.bert import BertConfig, BertEncoder
from teachers.mlm import HEAD_NAMES, BertPretrainer, mask_rows, mlm_batch, word_starts

VOCAB = 200
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL = (PAD, UNK, CLS, SEP, MASK)


def _rows(n=400, length=60, seed=0, vary=False):
    """`n` rows [CLS] ... [SEP] of `length` ids (with `vary`, of 10 to `length`)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(10, length + 1, size=n) if vary else [length] * n
    return [np.concatenate([[CLS], rng.integers(5, VOCAB, size=k - 2), [SEP]]).astype(np.int32) for k in lengths]


def _pretrainer(seed=0):
    keras.utils.set_random_seed(seed)
    config = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=VOCAB)
    return BertPretrainer(BertEncoder(config))


# ------------------------------------------------------------------ masking
def test_masking_rates_hold_over_many_tokens():
    rows = _rows(n=1000, length=128, vary=True)   # varied lengths: each row's rounding averages out
    inputs, positions, targets = mask_rows(rows, np.random.default_rng(1), VOCAB, MASK, SPECIAL)
    maskable = sum(len(r) - 2 for r in rows)
    chosen = sum(len(p) for p in positions)
    assert chosen / maskable == pytest.approx(0.15, abs=0.005)
    masked = kept = replaced = 0
    for row, inp, pos, tgt in zip(rows, inputs, positions, targets):
        np.testing.assert_array_equal(tgt, row[pos])           # the targets are the original ids
        unchosen = np.setdiff1d(np.arange(len(row)), pos)
        np.testing.assert_array_equal(inp[unchosen], row[unchosen])   # nothing else changes
        masked += int((inp[pos] == MASK).sum())
        kept += int((inp[pos] == row[pos]).sum())
        replaced += int(((inp[pos] != MASK) & (inp[pos] != row[pos])).sum())
    # 80% [MASK], 10% random (a random draw equals the original 1 time in 195), 10% kept
    assert masked / chosen == pytest.approx(0.8, abs=0.02)
    assert replaced / chosen == pytest.approx(0.1 * 194 / 195, abs=0.015)
    assert kept / chosen == pytest.approx(0.1, abs=0.015)


def test_special_tokens_are_never_masked_nor_drawn_as_replacements():
    rows = _rows(n=200, length=20)
    inputs, positions, _ = mask_rows(rows, np.random.default_rng(2), VOCAB, MASK, SPECIAL)
    for row, inp, pos in zip(rows, inputs, positions):
        assert 0 not in pos and len(row) - 1 not in pos
        replaced = inp[pos][(inp[pos] != MASK) & (inp[pos] != row[pos])]
        assert not np.isin(replaced, SPECIAL).any()


def test_masks_are_drawn_afresh_by_the_generator_and_repeat_with_its_seed():
    rows = _rows(n=20)
    a = mask_rows(rows, np.random.default_rng([0, 1]), VOCAB, MASK, SPECIAL)[1]
    b = mask_rows(rows, np.random.default_rng([0, 1]), VOCAB, MASK, SPECIAL)[1]
    c = mask_rows(rows, np.random.default_rng([0, 2]), VOCAB, MASK, SPECIAL)[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_whole_word_masking_takes_every_piece_of_a_word():
    continuation = np.zeros(VOCAB, bool)
    continuation[100:] = True          # ids >= 100 are "##" pieces
    rows = _rows(n=200, length=40, seed=3)
    _, positions, _ = mask_rows(rows, np.random.default_rng(4), VOCAB, MASK, SPECIAL, continuation=continuation)
    for row, pos in zip(rows, positions):
        starts = word_starts(row, continuation)
        chosen = set(pos.tolist())
        for word in set(starts[list(chosen)].tolist()):
            members = set(np.flatnonzero(starts == word).tolist()) - {0, len(row) - 1}
            assert members <= chosen


def test_a_bad_rate_is_refused():
    with pytest.raises(DistillError, match="mask-rate"):
        mask_rows(_rows(n=1), np.random.default_rng(0), VOCAB, MASK, SPECIAL, rate=0.0)


# --------------------------------------------------------------------- head
def test_the_head_shares_the_word_embedding_matrix():
    model = _pretrainer()
    table = model.encoder.word_embeddings
    assert sum(1 for w in model.weights if w is table) == 1          # one variable, not a copy
    assert len(model.weights) == len(model.encoder.weights) + len(HEAD_NAMES)
    x, y = mlm_batch(*mask_rows(_rows(n=4, length=12), np.random.default_rng(0), VOCAB, MASK, SPECIAL))
    before = model(x).numpy()
    table.assign(table.numpy() * 2.0)   # the output matrix is the table: logits move with it
    assert not np.allclose(model(x).numpy(), before)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x, training=True))
    # the table gets gradient through the head, not only through the lookup: zero the lookup's share
    grads = tape.gradient(loss, [table])[0]
    assert grads is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(grads)))) > 0


def test_head_logits_are_the_transformed_state_times_the_table_plus_bias():
    model = _pretrainer()
    hidden = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    h = model.head.layer_norm(keras.activations.gelu(model.head.dense(hidden), approximate=False)).numpy()
    expected = h @ model.encoder.word_embeddings.numpy().T + model.head.output_bias.numpy()
    np.testing.assert_allclose(model.head(hidden).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_the_loss_ignores_unmasked_positions_and_padding_slots():
    model = _pretrainer()
    rows = _rows(n=3, length=14)
    inputs, positions, targets = mask_rows(rows, np.random.default_rng(0), VOCAB, MASK, SPECIAL)
    positions[0], targets[0] = positions[0][:1], targets[0][:1]   # row 0 has fewer masks: padding slots
    x, y = mlm_batch(inputs, positions, targets)
    assert x["masked_weights"][0].sum() == 1 and x["masked_weights"][0, 1:].sum() == 0
    logits = model(x).numpy()
    loss = float(model.compute_loss(x, y, logits))
    # the mean cross-entropy over the real masks only
    z = logits - logits.max(-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, y[..., None], -1)[..., 0]
    w = x["masked_weights"]
    assert loss == pytest.approx(float(-(picked * w).sum() / w.sum()), rel=1e-5)
    # changing the logits of padding slots changes nothing
    noisy = logits.copy()
    noisy[w == 0] += np.random.default_rng(1).normal(scale=5.0, size=noisy[w == 0].shape)
    assert float(model.compute_loss(x, y, noisy)) == pytest.approx(loss, rel=1e-6)
    # changing an unmasked input token changes the loss only through the context, and the model
    # never predicts it: its id is not among the targets
    for row, pos in zip(rows, positions):
        assert set(np.setdiff1d(np.arange(len(row)), pos).tolist()).isdisjoint(pos.tolist())


def test_set_head_loads_a_released_head_and_refuses_a_wrong_shape():
    model = _pretrainer()
    tensors = {name: np.full(v.shape, 0.5, np.float32) for name, v in model.head.named_weights().items()}
    assert model.set_head(tensors) == list(HEAD_NAMES)
    np.testing.assert_array_equal(model.head.output_bias.numpy(), 0.5)
    assert model.set_head({}) == []
    with pytest.raises(DistillError, match="output_bias"):
        model.set_head({"cls/predictions/output_bias": np.zeros(3, np.float32)})
