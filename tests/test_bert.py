"""Tests for teachers.bert: config presets, weight names, BERT maths, saving, padding."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from distill.errors import DistillError
from teachers.bert import BertConfig, BertEncoder


def tiny(**changes) -> BertConfig:
    return dataclasses.replace(BertConfig.preset("tiny"), vocab_size=50, **changes)


def batch(token_ids, segment_ids=None, padding_mask=None):
    token_ids = np.asarray(token_ids, dtype=np.int32)
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids) if segment_ids is None else np.asarray(segment_ids, np.int32),
        "padding_mask": (token_ids != 0).astype(np.int32) if padding_mask is None else np.asarray(padding_mask, np.int32),
    }


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return BertEncoder(tiny())


# --------------------------------------------------------------- config
def test_preset_shapes_and_parameter_counts():
    base = BertConfig.preset("base")
    assert (base.num_layers, base.hidden_size, base.num_heads, base.intermediate_size) == (12, 768, 12, 3072)
    assert base.num_parameters() == 109_482_240          # Google BERT-base, pooler included
    assert BertConfig.preset("minilm-l6").num_parameters() == 22_713_216
    assert BertConfig.preset("large").num_parameters() == 335_141_888


def test_parameter_count_matches_keras(encoder):
    assert encoder.count_params() == encoder.config.num_parameters()


def test_config_round_trips_and_rejects_bad_values():
    config = tiny()
    assert BertConfig.from_dict(config.to_dict()) == config
    assert BertConfig.from_google_json(config.to_google_json(), name=config.name) == config
    with pytest.raises(DistillError, match="not divisible"):
        tiny(num_heads=5)
    with pytest.raises(DistillError, match="unknown BERT preset"):
        BertConfig.preset("huge")
    with pytest.raises(DistillError, match="hidden_act 'relu'"):
        BertConfig.from_hf_json({**config.to_google_json(), "hidden_act": "relu"})
    with pytest.raises(DistillError, match="missing key 'vocab_size'"):
        BertConfig.from_google_json({k: v for k, v in config.to_google_json().items() if k != "vocab_size"})


# --------------------------------------------------------------- naming
def test_weight_names_follow_the_google_checkpoint_layout(encoder):
    named = encoder.named_weights()
    h, i = 32, 64
    expected = {
        "bert/embeddings/word_embeddings": (50, h),
        "bert/embeddings/position_embeddings": (128, h),
        "bert/embeddings/token_type_embeddings": (2, h),
        "bert/embeddings/LayerNorm/gamma": (h,),
        "bert/embeddings/LayerNorm/beta": (h,),
        "bert/pooler/dense/kernel": (h, h),
        "bert/pooler/dense/bias": (h,),
    }
    for n in range(2):
        layer = f"bert/encoder/layer_{n}"
        for part in ("query", "key", "value"):
            expected[f"{layer}/attention/self/{part}/kernel"] = (h, h)
            expected[f"{layer}/attention/self/{part}/bias"] = (h,)
        expected[f"{layer}/attention/output/dense/kernel"] = (h, h)
        expected[f"{layer}/intermediate/dense/kernel"] = (h, i)
        expected[f"{layer}/intermediate/dense/bias"] = (i,)
        expected[f"{layer}/output/dense/kernel"] = (i, h)
        for scope in ("attention/output", "output"):
            expected[f"{layer}/{scope}/dense/bias"] = (h,)
            expected[f"{layer}/{scope}/LayerNorm/gamma"] = (h,)
            expected[f"{layer}/{scope}/LayerNorm/beta"] = (h,)
    assert {name: tuple(v.shape) for name, v in named.items()} == expected
    assert encoder.word_embeddings is named["bert/embeddings/word_embeddings"]


def test_weight_names_do_not_depend_on_nesting_or_instance_name():
    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__(name="classifier")
            self.inner = BertEncoder(tiny(), name="my_encoder")

        def call(self, inputs):
            return self.inner(inputs)["pooled_output"]

    wrapper = Wrapper()
    wrapper(batch([[2, 5, 3]]))
    assert set(wrapper.inner.named_weights()) == set(BertEncoder(tiny()).named_weights())


# --------------------------------------------------------------- maths
def _layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def numpy_bert(w: dict, config: BertConfig, inputs: dict) -> tuple[np.ndarray, np.ndarray]:
    """BERT's forward pass written out in float64 numpy, independently of the Keras layers."""
    erf = np.vectorize(math.erf)
    ids, seg, mask = inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"]
    length = ids.shape[1]
    x = w["bert/embeddings/word_embeddings"][ids] + w["bert/embeddings/token_type_embeddings"][seg] \
        + w["bert/embeddings/position_embeddings"][:length]
    x = _layer_norm(x, w["bert/embeddings/LayerNorm/gamma"], w["bert/embeddings/LayerNorm/beta"])
    heads, d = config.num_heads, config.head_size
    for n in range(config.num_layers):
        p = f"bert/encoder/layer_{n}/"
        dense = lambda v, name: v @ w[p + name + "/kernel"] + w[p + name + "/bias"]  # noqa: E731
        split = lambda v: v.reshape(v.shape[0], length, heads, d).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(dense(x, f"attention/self/{t}")) for t in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + np.where(mask[:, None, None, :] > 0, 0.0, -1e4)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = _layer_norm(x + dense(context, "attention/output/dense"),
                        w[p + "attention/output/LayerNorm/gamma"], w[p + "attention/output/LayerNorm/beta"])
        hidden = dense(x, "intermediate/dense")
        hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))
        x = _layer_norm(x + dense(hidden, "output/dense"), w[p + "output/LayerNorm/gamma"], w[p + "output/LayerNorm/beta"])
    pooled = np.tanh(x[:, 0] @ w["bert/pooler/dense/kernel"] + w["bert/pooler/dense/bias"])
    return x, pooled


def test_forward_matches_a_numpy_reference(encoder):
    rng = np.random.default_rng(1)
    # Non-trivial LayerNorm parameters and biases, so a wiring mistake cannot hide behind zeros/ones.
    for variable in encoder.weights:
        if variable.path.endswith(("gamma", "beta", "bias")):
            variable.assign(rng.normal(0.0 if not variable.path.endswith("gamma") else 1.0, 0.1,
                                       variable.shape).astype("float32"))
    inputs = batch([[2, 7, 8, 9, 3, 0, 0], [2, 10, 11, 3, 12, 13, 3]],
                   segment_ids=[[0] * 7, [0, 0, 0, 0, 1, 1, 1]])
    weights = {name: v.numpy().astype(np.float64) for name, v in encoder.named_weights().items()}
    want_seq, want_pooled = numpy_bert(weights, encoder.config, inputs)
    got = encoder(inputs)
    mask = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(got["sequence_output"].numpy()[mask], want_seq[mask], atol=2e-5)
    np.testing.assert_allclose(got["pooled_output"].numpy(), want_pooled, atol=2e-5)


def test_padding_does_not_change_real_tokens(encoder):
    short = batch([[2, 14, 15, 16, 3]])
    padded = batch([[2, 14, 15, 16, 3, 40, 41, 42, 43]], padding_mask=[[1, 1, 1, 1, 1, 0, 0, 0, 0]])
    a, b = encoder(short), encoder(padded)
    np.testing.assert_allclose(b["sequence_output"].numpy()[:, :5], a["sequence_output"].numpy(), atol=1e-5)
    np.testing.assert_allclose(b["pooled_output"].numpy(), a["pooled_output"].numpy(), atol=1e-5)
    # ...whereas the same junk tokens, unmasked, do change them (the mask is what protects them).
    unmasked = encoder(batch([[2, 14, 15, 16, 3, 40, 41, 42, 43]]))
    assert np.abs(unmasked["sequence_output"].numpy()[:, :5] - a["sequence_output"].numpy()).max() > 1e-3


def test_segment_ids_change_the_output(encoder):
    ids = [[2, 14, 3, 15, 3]]
    one = encoder(batch(ids, segment_ids=[[0, 0, 0, 0, 0]]))["sequence_output"].numpy()
    two = encoder(batch(ids, segment_ids=[[0, 0, 0, 1, 1]]))["sequence_output"].numpy()
    assert np.abs(one[:, 3:] - two[:, 3:]).max() > 1e-3


def test_dropout_only_in_training(encoder):
    inputs = batch([[2, 14, 15, 16, 3]])
    np.testing.assert_array_equal(encoder(inputs)["sequence_output"], encoder(inputs)["sequence_output"])
    assert not np.allclose(encoder(inputs, training=True)["sequence_output"], encoder(inputs)["sequence_output"])


# --------------------------------------------------------------- saving
def test_saved_model_containing_the_encoder_reloads_with_identical_outputs(encoder, tmp_path):
    inputs = {name: keras.Input((None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    outputs = keras.layers.Dense(3, name="head")(encoder(inputs)["pooled_output"])
    model = keras.Model(inputs, outputs)
    data = batch([[2, 14, 15, 3, 0], [2, 16, 3, 17, 3]], segment_ids=[[0] * 5, [0, 0, 0, 1, 1]])
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(reloaded.predict(data, verbose=0), model.predict(data, verbose=0))
    inner = next(layer for layer in reloaded.layers if isinstance(layer, BertEncoder))
    assert inner.config == encoder.config
    assert set(inner.named_weights()) == set(encoder.named_weights())
    for name, variable in encoder.named_weights().items():
        np.testing.assert_array_equal(inner.named_weights()[name].numpy(), variable.numpy())


def test_encoder_alone_saves_and_reloads(tmp_path):
    encoder = BertEncoder(tiny())
    data = batch([[2, 14, 15, 3]])
    encoder.save(tmp_path / "encoder.keras")
    reloaded = keras.saving.load_model(tmp_path / "encoder.keras")
    np.testing.assert_array_equal(reloaded(data)["sequence_output"], encoder(data)["sequence_output"])
