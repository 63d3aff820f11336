"""teachers.hf (+ teachers.folder): Hugging Face BERT folders written by hand with numpy + safetensors load
into exactly the model a numpy BERT computes from the same tensors (PyTorch conventions, no renaming)."""

import dataclasses
import json
import math

import numpy as np
import pytest

from distill.data.synthetic import LABEL_NAMES, marker_task
from distill.errors import DistillError
from distill.wordpiece import pad_batch
from teachers.bert import BertConfig
from teachers.finetuned import load_finetuned
from teachers.folder import HF, check_model_folder, kind_of, load_model_folder
from teachers.hf import read_hf_folder
from teachers.testing import hf_tensors, write_hf_folder_raw
from distill.wordpiece import build_vocab, read_vocab

TASK = marker_task(n_train=20, n_dev=10, n_test=10)


def vocab_tokens(tmp_path, cased: bool) -> list[str]:
    texts = list(TASK["train"].texts) + list(TASK["test"].texts)
    if cased:
        texts += [t.title() for t in texts]
    return read_vocab(build_vocab(texts, tmp_path / f"vocab-{cased}.txt", size=200, lowercase=not cased))


def config_for(tokens) -> BertConfig:
    return dataclasses.replace(BertConfig.preset("tiny"), vocab_size=len(tokens), max_position=64, name="hf")


# ------------------------------------------------------------ numpy BERT
def numpy_bert(t: dict, ids: np.ndarray, config: BertConfig) -> dict:
    """BERT written on the raw HF tensors (y = x W^T + b, float64) for one unpadded row of ids."""
    t = {k.removeprefix("bert."): v.astype(np.float64) for k, v in t.items()}
    n, heads, d = len(ids), config.num_heads, config.head_size
    erf = np.vectorize(math.erf)

    def linear(x, name):
        return x @ t[name + ".weight"].T + t[name + ".bias"]

    def ln(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * t[name + ".weight"] + t[name + ".bias"]

    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n] \
        + t["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "embeddings.LayerNorm")
    for layer in range(config.num_layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (linear(x, p + f"attention.self.{name}").reshape(n, heads, d).transpose(1, 0, 2)
                   for name in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, heads * d)
        x = ln(x + linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        x = ln(x + linear(0.5 * h * (1 + erf(h / math.sqrt(2))), p + "output.dense"), p + "output.LayerNorm")
    pooled = np.tanh(linear(x[0], "pooler.dense"))
    out = {"sequence_output": x, "pooled_output": pooled}
    if "classifier.weight" in t:
        out["logits"] = linear(pooled, "classifier")
    return out


# ------------------------------------------------------------ loading
@pytest.mark.parametrize("architecture, shards, cased, vocab_txt", [
    ("BertForSequenceClassification", 1, False, True),
    ("BertForSequenceClassification", 2, True, True),
    ("BertModel", 1, True, False),     # the vocab only inside tokenizer.json
    ("BertModel", 3, False, True),
])
def test_a_folder_computes_what_a_numpy_bert_computes_from_its_tensors(tmp_path, monkeypatch, architecture, shards,
                                                                        cased, vocab_txt):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))   # a vocab from tokenizer.json is written there
    tokens = vocab_tokens(tmp_path, cased)
    config = config_for(tokens)
    head = architecture == "BertForSequenceClassification"
    tensors = hf_tensors(config, num_labels=2 if head else None, seed=shards)
    folder = write_hf_folder_raw(tmp_path / "hf", tensors, config, tokens, id2label=LABEL_NAMES if head else None,
                                 prefix="bert." if head else "", shards=shards, lowercase=not cased,
                                 vocab_txt=vocab_txt)
    assert kind_of(folder) == HF and check_model_folder(folder) == HF
    texts = ["a wonderful film", "The Road at night was Wonderful", "night"]
    if head:
        run = load_finetuned(folder, TASK)
        assert run.label_names == LABEL_NAMES and run.teacher_provenance()["run_dir"] == str(folder.resolve())
        encoded = run.tokenizer.encode(texts)
        got = run.predict_logits(texts)
        want = np.stack([numpy_bert(tensors, ids, config)["logits"] for ids in encoded.ids])
        assert np.abs(got - want).max() < 1e-5
    else:
        teacher = load_model_folder(folder)
        assert teacher.classifier_head is None and teacher.head_labels is None
        encoded = teacher.tokenizer.encode(texts)
        batch = pad_batch(encoded.ids, encoded.segments)
        out = teacher.encoder(batch)
        for row, ids in enumerate(encoded.ids):
            want = numpy_bert(tensors, ids, config)
            assert np.abs(out["sequence_output"].numpy()[row, :len(ids)] - want["sequence_output"]).max() < 1e-5
            assert np.abs(out["pooled_output"].numpy()[row] - want["pooled_output"]).max() < 1e-5
    tokenizer = (run if head else teacher).tokenizer
    assert tokenizer.lowercase is (not cased)
    same = tokenizer.encode(["Wonderful"]).ids[0].tolist() == tokenizer.encode(["wonderful"]).ids[0].tolist()
    assert same is (not cased)


def test_case_comes_from_tokenizer_config_else_tokenizer_json_else_the_vocab(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    for cased in (False, True):
        tokens = vocab_tokens(tmp_path, cased)
        config = config_for(tokens)
        folder = write_hf_folder_raw(tmp_path / f"hf-{cased}", hf_tensors(config), config, tokens, lowercase=None)
        assert load_model_folder(folder).tokenizer.lowercase is (not cased)      # read off the vocab
        only_json = write_hf_folder_raw(tmp_path / f"json-{cased}", hf_tensors(config), config, tokens,
                                        lowercase=not cased, vocab_txt=False)
        (only_json / "tokenizer_config.json").write_text("{}")
        assert read_hf_folder(only_json).lowercase(tokens) is (not cased)        # tokenizer.json's normalizer


def test_max_seq_len_is_the_folders_fine_tuning_length_else_128(tmp_path):
    tokens = vocab_tokens(tmp_path, False)
    config = dataclasses.replace(config_for(tokens), max_position=512)
    tensors = hf_tensors(config)
    for given, expected in ((None, 128), (512, 128), (64, 64)):
        folder = write_hf_folder_raw(tmp_path / f"hf-{given}", tensors, config, tokens, model_max_length=given)
        assert load_model_folder(folder).tokenizer.max_seq_len == expected
    assert load_model_folder(folder, max_seq_len=300).tokenizer.max_seq_len == 300


def test_the_weights_sha256_covers_every_shard(tmp_path):
    tokens = vocab_tokens(tmp_path, False)
    config = config_for(tokens)
    tensors = hf_tensors(config)
    one = read_hf_folder(write_hf_folder_raw(tmp_path / "one", tensors, config, tokens))
    two = read_hf_folder(write_hf_folder_raw(tmp_path / "two", tensors, config, tokens, shards=2))
    assert len(two.weights) == 2 and two.weights_sha256() != one.weights_sha256()
    tensors["pooler.dense.bias"] = tensors["pooler.dense.bias"] + 1
    changed = read_hf_folder(write_hf_folder_raw(tmp_path / "three", tensors, config, tokens, shards=2))
    assert changed.weights_sha256() != two.weights_sha256()
    assert "2 shards of model.safetensors.index.json" in two.weights_source()


# ------------------------------------------------------------ bad folders
def _folder(tmp_path, **kwargs):
    tokens = vocab_tokens(tmp_path, False)
    config = config_for(tokens)
    tensors = hf_tensors(config, num_labels=2)
    return write_hf_folder_raw(tmp_path / "hf", tensors, config, tokens, id2label=LABEL_NAMES, prefix="bert.",
                               **kwargs), tensors, config, tokens


def _rewrite(folder, change):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


def _error(call) -> str:
    with pytest.raises(DistillError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    return message


def test_header_level_mistakes_are_found_without_loading(tmp_path):
    folder, tensors, config, tokens = _folder(tmp_path)
    (folder / "vocab.txt").write_text("".join(t + "\n" for t in tokens[:-1]))
    assert _error(lambda: check_model_folder(folder)) == (
        f"{folder / 'vocab.txt'}: {len(tokens) - 1} tokens, but bert.embeddings.word_embeddings.weight in "
        f"{folder / 'model.safetensors'} has {len(tokens)} rows (one per token)")
    (folder / "vocab.txt").write_text("".join(t + "\n" for t in tokens))
    hf_config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**hf_config, "id2label": {"0": "a", "1": "b", "2": "c"}}))
    assert _error(lambda: check_model_folder(folder)) == (
        f"{folder / 'config.json'}: field 'id2label' has 3 labels (a, b, c) but classifier.weight in "
        f"{folder / 'model.safetensors'} has 2 rows")
    (folder / "config.json").write_text(json.dumps({**hf_config, "architectures": ["BertForTokenClassification"]}))
    assert "field 'architectures' is [\"BertForTokenClassification\"]; supported: BertModel, " \
           "BertForSequenceClassification" in _error(lambda: check_model_folder(folder))


def test_sharded_folders_check_their_index(tmp_path):
    folder, *_ = _folder(tmp_path, shards=2)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    moved = dict(index["weight_map"])
    name = "bert.pooler.dense.bias"
    moved[name] = next(s for s in set(moved.values()) if s != moved[name])
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": moved}))
    message = _error(lambda: check_model_folder(folder))
    assert message.startswith(f"{folder / 'model.safetensors.index.json'}: tensor {name} is listed in ")
    (folder / "model-00002-of-00002.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert "names shard 'model-00002-of-00002.safetensors', which is not in" in \
        _error(lambda: check_model_folder(folder))
    (folder / "model.safetensors.index.json").unlink()
    assert _error(lambda: check_model_folder(folder)).startswith(
        f"{folder / 'model.safetensors.index.json'}: missing; the shards model-00001-of-00002.safetensors need")


def test_tensor_level_mistakes_name_the_file_and_the_tensor(tmp_path):
    folder, tensors, config, _ = _folder(tmp_path)
    weights = folder / "model.safetensors"
    _rewrite(folder, lambda t: t.pop("bert.encoder.layer.1.output.dense.bias"))
    message = _error(lambda: load_model_folder(folder))
    assert message.startswith(f"{weights} does not fit encoder 'hf'")
    assert "1 missing: bert.encoder.layer.1.output.dense.bias (= bert/encoder/layer_1/output/dense/bias) " \
           "(encoder [32])" in message
    _rewrite(folder, lambda t: t.update({"bert.encoder.layer.1.output.dense.bias": tensors[
        "encoder.layer.1.output.dense.bias"], "bert.encoder.layer.0.adapter.weight": np.zeros((4, 32), np.float32)}))
    assert "1 unexpected: bert.encoder.layer.0.adapter.weight (= bert/encoder/layer_0/adapter/kernel) [32,4]" in \
        _error(lambda: load_model_folder(folder))
    _rewrite(folder, lambda t: (t.pop("bert.encoder.layer.0.adapter.weight"), t.update(
        {"bert.encoder.layer.0.intermediate.dense.weight": np.zeros((65, 32), np.float32)})))
    assert "1 shape mismatch: bert.encoder.layer.0.intermediate.dense.weight (= bert/encoder/layer_0/intermediate/" \
           "dense/kernel) encoder expects [32,64], found [32,65]" in _error(lambda: load_model_folder(folder))


def test_a_classifier_bias_without_its_weight_is_refused(tmp_path):
    folder, *_ = _folder(tmp_path)
    _rewrite(folder, lambda t: t.pop("classifier.weight"))
    (folder / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()),
                                                    "architectures": ["BertModel"]}))
    assert _error(lambda: load_model_folder(folder)) == \
        f"{folder / 'model.safetensors'}: the classifier head has output_bias but no output_weights"


@pytest.mark.parametrize("what", ["model_type", "bin-only", "no-config", "no-vocab"])
def test_folders_that_are_not_bert_safetensors_say_what_is_supported(tmp_path, what):
    folder, *_ = _folder(tmp_path)
    if what == "model_type":
        hf_config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**hf_config, "model_type": "distilbert"}))
        expected = (f"{folder / 'config.json'}: field 'model_type' is 'distilbert'; supported: model_type 'bert' "
                    "with architectures BertModel, BertForSequenceClassification, BertForMaskedLM, BertForPreTraining "
                    "(another model type is another architecture and cannot be converted to BERT)")
    elif what == "bin-only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
        expected = (f"{folder / 'pytorch_model.bin'}: only pytorch_model.bin here, which needs its own framework to "
                    "read; this toolkit reads model.safetensors (no PyTorch here): convert it where PyTorch is "
                    "installed: transformers' from_pretrained(FOLDER) then save_pretrained(FOLDER, "
                    "safe_serialization=True) writes model.safetensors")
    elif what == "no-config":
        (folder / "config.json").unlink()
        expected = (f"{folder / 'config.json'}: missing; a Hugging Face model folder has config.json "
                    "(save_pretrained writes it)")
    else:
        (folder / "vocab.txt").unlink()
        expected = (f"{folder / 'vocab.txt'}: missing, and no tokenizer.json either; a BERT folder needs its "
                    "WordPiece vocab (save the tokenizer with save_pretrained too)")
    assert _error(lambda: check_model_folder(folder)) == expected


def test_a_masked_lm_folder_without_pooler_gets_a_fresh_one_and_says_so(tmp_path):
    tokens = vocab_tokens(tmp_path, False)
    config = config_for(tokens)
    tensors = {k: v for k, v in hf_tensors(config).items() if not k.startswith("pooler.")}
    tensors["cls.predictions.bias"] = np.zeros(len(tokens), np.float32)
    folder = write_hf_folder_raw(tmp_path / "mlm", tensors, config, tokens, architecture="BertForMaskedLM",
                                 prefix="bert.")
    teacher = load_model_folder(folder)
    assert teacher.weights_source.endswith("; pooler initialised randomly (a BertForMaskedLM folder has none)")
    assert "cls/predictions/output_bias" in teacher.heads and teacher.classifier_head is None
    ids = teacher.tokenizer.encode(["a wonderful film"]).ids[0]
    got = teacher.encoder(pad_batch([ids]))["sequence_output"].numpy()[0]
    assert np.abs(got - numpy_bert({**tensors, "pooler.dense.weight": np.eye(32, dtype=np.float32),
                                    "pooler.dense.bias": np.zeros(32, np.float32)}, ids, config)
                  ["sequence_output"]).max() < 1e-5
    # any other architecture without a pooler is refused: the gap is not silently filled
    config_json = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config_json, "architectures": ["BertModel"]}))
    with pytest.raises(DistillError, match="2 missing: bert.pooler.dense.weight"):
        load_model_folder(folder)


def test_a_bfloat16_folder_is_widened_to_float32(tmp_path):
    import struct

    tokens = vocab_tokens(tmp_path, False)
    config = config_for(tokens)
    tensors = hf_tensors(config)
    folder = write_hf_folder_raw(tmp_path / "bf16", tensors, config, tokens)
    rounded = {k: ((v.view(np.uint32) >> 16) << 16).view(np.float32) for k, v in tensors.items()}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):   # safetensors written by hand: numpy has no bfloat16 to hand to save_file
        blob = (tensors[name].view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    teacher = load_model_folder(folder)
    np.testing.assert_array_equal(teacher.encoder.word_embeddings.numpy(),
                                  rounded["embeddings.word_embeddings.weight"])


def test_integer_weights_are_refused_naming_the_file_and_the_tensor(tmp_path, capsys, monkeypatch, snapshot):
    from distill.app import cli
    from teachers.checkpoints import read_hf_safetensors

    folder, *_ = _folder(tmp_path)
    name = "bert.embeddings.word_embeddings.weight"
    _rewrite(folder, lambda t: t.update({name: (t[name] * 100).astype(np.int64)}))   # cast to float, it would load
    before = snapshot(folder)
    expected = (f"{folder / 'model.safetensors'}: tensor {name} holds I64 values; BERT weights are floating point "
                "(F32, F16 or BF16), so this file is not a model's weights")
    assert _error(lambda: check_model_folder(folder)) == expected   # from the header, before a tensor is read
    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: pytest.fail("TensorFlow imported first"))
    assert cli.main(["teacher", "info", str(folder)]) == 2
    assert capsys.readouterr().err == f"distill: error: {expected}\n"
    assert _error(lambda: read_hf_safetensors(folder / "model.safetensors")) == expected.replace("I64", "int64")
    assert snapshot(folder) == before
    # an integer buffer is no weight: position_ids, as transformers saves it, still loads
    _rewrite(folder, lambda t: t.update({name: t[name].astype(np.float32),
                                         "bert.embeddings.position_ids": np.arange(64, dtype=np.int64)[None]}))
    assert check_model_folder(folder) == HF


def test_heads_that_do_not_divide_hidden_size_are_blamed_on_config_json(tmp_path, capsys, monkeypatch, snapshot):
    from distill.app import cli

    folder, *_ = _folder(tmp_path)
    hf_config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**hf_config, "num_attention_heads": 5}))
    before = snapshot(folder)
    expected = (f"{folder / 'config.json'}: field 'num_attention_heads' (5) does not divide field 'hidden_size' "
                "(32); every attention head takes hidden_size / num_attention_heads dimensions")
    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: pytest.fail("TensorFlow imported first"))
    assert cli.main(["teacher", "info", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"distill: error: {expected}\n" and "BertConfig" not in err
    assert snapshot(folder) == before
    (folder / "config.json").write_text(json.dumps({**hf_config, "num_hidden_layers": 0}))
    assert _error(lambda: check_model_folder(folder)) == \
        f"{folder / 'config.json'}: field 'num_hidden_layers' must be a positive integer, got 0"
