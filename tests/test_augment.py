"""Tests of materials.augment: operation rates, seeding, same-kind replacement, train-only, dedupe, laziness, pairs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from distill.data.synthetic import marker_task
from materials.augment import AugmentConfig, Augmenter, TransferInput
from materials.schema import MaterialsError
from materials.word_kinds import word_kind

# Words of several kinds, each kind with many members so a replacement is always available.
KIND_WORDS = {
    "article": ["the", "a", "an"],
    "preposition": ["of", "in", "on", "with", "for", "about"],
    "be": ["is", "was", "are", "were"],
    "open_other": ["film", "plot", "actor", "scene", "story", "music", "light", "dark", "city", "house"],
    "open_s": ["films", "plots", "actors", "scenes", "stories", "songs", "houses", "roads"],
    "open_ed": ["wanted", "played", "filmed", "acted", "started", "failed"],
    "open_ing": ["running", "playing", "singing", "filming", "talking", "walking"],
    "open_ly": ["quickly", "slowly", "badly", "sadly", "rarely", "openly"],
}
ALL_WORDS = [w for words in KIND_WORDS.values() for w in words]
DEV_ONLY = ["zebra", "quokkas", "gallivanting", "wombatly"]


def corpus(n: int, seed: int = 0, lo: int = 6, hi: int = 16, words=ALL_WORDS) -> list[str]:
    """Distinct synthetic sentences of lo..hi-1 words, some with punctuation."""
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < n:
        text = " ".join(rng.choice(words, size=int(rng.integers(lo, hi))))
        if rng.random() < 0.3:
            text += " ."
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def fitted(train, **config) -> Augmenter:
    return Augmenter(AugmentConfig(**config)).fit(train)


# -------------------------------------------------------------------- rates
@pytest.mark.parametrize("p_mask,p_pos,p_ng", [(0.1, 0.1, 0.25), (0.3, 0.5, 0.6)])
def test_operation_rates_match_the_configured_probabilities(p_mask, p_pos, p_ng):
    train = corpus(5000)
    aug = fitted(train, n_per_example=2, p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, seed=1)
    out = list(aug.variants(train))
    s = aug.stats
    assert s.sentences == 5000 and s.attempts == 10000 and s.sides == 10000
    assert s.words > 100_000 and s.replace_unavailable == 0
    assert s.mask_rate == pytest.approx(p_mask, abs=0.01)               # sd ~0.001
    assert s.replace_rate == pytest.approx((1 - p_mask) * p_pos, abs=0.01)
    assert s.ngram_rate == pytest.approx(p_ng, abs=0.02)                # sd ~0.005
    assert s.variants == len(out) == s.attempts - s.duplicates
    assert s.to_dict()["mask_rate"] == s.mask_rate and "variants" in s.summary()


def test_masks_counted_in_the_variants_themselves():
    """An independent look at the output text: masked positions are words, at rate ~p_mask."""
    train = corpus(2000, lo=10, hi=20)
    aug = fitted(train, n_per_example=3, p_mask=0.2, p_pos=0.0, p_ng=0.0, seed=3, mask_token="<m>")
    masks = words = 0
    for variant, b in aug.variants(train):
        assert b is None
        tokens = variant.split()
        masks += tokens.count("<m>")
        words += sum(1 for t in tokens if t != ".")
        assert "[MASK]" not in variant      # the configured token, not a hard-wired one
    assert masks / words == pytest.approx(0.2, abs=0.01)
    assert aug.stats.masked >= masks        # dropped duplicates were counted too


# ------------------------------------------------------------------ seeding
def test_same_seed_same_variants_and_another_seed_others():
    train = corpus(300)
    first = list(fitted(train, n_per_example=5, seed=7).variants(train))
    again = list(fitted(train, n_per_example=5, seed=7).variants(train))
    other = list(fitted(train, n_per_example=5, seed=8).variants(train))
    assert first == again
    assert first != other and len(set(first) & set(other)) < len(first) / 2


# ------------------------------------------------------------- replacement
def test_replacement_keeps_the_kind_and_draws_from_the_training_vocabulary():
    train = corpus(1000)
    dev = [" ".join(DEV_ONLY) + " " + t for t in corpus(50, seed=9)]
    vocab = {w for t in train for w in t.split()}
    aug = Augmenter(AugmentConfig(n_per_example=3, p_mask=0.0, p_pos=1.0, p_ng=0.0, seed=2)).fit(train)
    n = 0
    for text in train[:300]:
        for variant, _ in aug.variants([text]):
            before, after = text.split(), variant.split()
            assert len(before) == len(after)
            for old, new in zip(before, after):
                if old == ".":
                    assert new == "."            # punctuation is never touched
                    continue
                assert new != old and new in vocab and word_kind(new) == word_kind(old), (old, new)
                n += 1
    assert n > 1000
    # words seen only in dev never appear, whatever texts are augmented
    out = " ".join(v for v, _ in aug.variants(dev))
    assert not set(DEV_ONLY) - set(dev[0].split()) and not any(w in vocab for w in DEV_ONLY)
    replaced = [w for w in out.split() if w not in DEV_ONLY]
    assert replaced and all(w in vocab or w == "." for w in replaced)


def test_replacement_follows_the_unigram_distribution_of_the_kind():
    # "the" 80 times, "a" 15, "an" 5: "the" (excluded from its own draw) must become "a" 3x as often as "an"
    train = ["the film"] * 80 + ["a plot"] * 15 + ["an actor"] * 5
    aug = fitted(train, n_per_example=1, p_mask=0.0, p_pos=1.0, p_ng=0.0, seed=0)
    # numbers have no kind table here, so they stay and keep the 4000 variants distinct
    firsts = [v.split()[0] for v, _ in aug.variants([f"the {i}" for i in range(4000)])]
    assert len(firsts) == 4000 and set(firsts) == {"a", "an"}
    assert firsts.count("a") / len(firsts) == pytest.approx(0.75, abs=0.03)
    assert aug.stats.replace_unavailable == 4000


def test_capitalised_first_word_stays_capitalised():
    train = ["the film is long", "a plot is thin", "The story is old"]
    aug = fitted(train, n_per_example=1, p_mask=0.0, p_pos=1.0, p_ng=0.0, seed=0)
    (variant, _), = aug.variants(["The house was dark"])
    assert variant.split()[0] == "A"


# ------------------------------------------------------------------- n-grams
def test_ngrams_are_contiguous_runs_of_at_most_max_ngram_tokens():
    train = corpus(500, lo=10, hi=14)
    aug = fitted(train, n_per_example=4, p_mask=0.0, p_pos=0.0, p_ng=1.0, max_ngram=3, seed=4)
    lengths = set()
    for text in train[:200]:
        for variant, _ in aug.variants([text]):
            n = len(variant.split())
            lengths.add(n)
            assert 1 <= n <= 3 and f" {variant} " in f" {text} "
    assert lengths == {1, 2, 3}


# -------------------------------------------------------------------- dedupe
def test_duplicates_of_the_originals_and_of_each_other_are_dropped():
    train = ["good", "bad"]
    aug = fitted(train, n_per_example=50, seed=0)
    out = list(aug.variants(train))
    # "good" can only become "[MASK]" or "bad" (a training text, dropped); "bad": "[MASK]" again (dropped)
    assert out == [("[MASK]", None)]
    assert aug.stats.duplicates == 99 and aug.stats.variants == 1

    big = corpus(2000, lo=2, hi=5)
    aug = fitted(big, n_per_example=10, seed=0)
    out = [v for v, _ in aug.variants(big)]
    assert len(out) == len(set(out)) and not set(out) & set(big)
    assert aug.stats.duplicates > 0


def test_nothing_to_do_gives_no_variants():
    train = corpus(50)
    aug = fitted(train, n_per_example=3, p_mask=0.0, p_pos=0.0, p_ng=0.0)
    assert list(aug.variants(train)) == []           # every attempt is the original, byte for byte
    assert aug.stats.duplicates == aug.stats.attempts == 150


# ------------------------------------------------------------------- laziness
def test_variants_are_streamed_from_an_endless_input():
    consumed = 0

    def endless():   # endless for a lazy reader; fails instead of hanging an eager one
        nonlocal consumed
        for i in itertools.count():
            if i == 1000:
                raise AssertionError("variants() read far ahead of what was asked")
            consumed += 1
            yield f"the film{i} is long and the plot{i} was thin"

    aug = fitted(["the film is long", "a plot was thin", "an actor is good"], n_per_example=3)
    first = list(itertools.islice(aug.variants(endless()), 10))
    assert len(first) == 10 and consumed <= 10
    assert aug.stats.sentences == consumed


# ---------------------------------------------------------------------- pairs
def test_pairs_augment_either_side_or_both():
    task = marker_task(n_train=1500, pair=True, seed=0)
    train = task["train"]
    aug = Augmenter(AugmentConfig(n_per_example=4, seed=5)).fit(train.texts, train.texts_b)
    out = list(aug.variants(train.texts, train.texts_b))
    s = aug.stats
    assert s.sides / s.attempts == pytest.approx(4 / 3, abs=0.03)   # a: 1, b: 1, both: 2 sides
    assert all(isinstance(a, str) and isinstance(b, str) for a, b in out)
    originals_a, originals_b = set(train.texts), set(train.texts_b)
    assert any(a in originals_a for a, _ in out) and any(b in originals_b for _, b in out)
    assert any(a not in originals_a and b not in originals_b for a, b in out)
    assert not set(out) & set(zip(train.texts, train.texts_b))


def test_pairs_must_have_as_many_second_texts():
    aug = fitted(["a b"])
    with pytest.raises(MaterialsError, match="second texts"):
        list(aug.variants(["a b", "c d"], ["x"]))
    with pytest.raises(MaterialsError, match="differ in length"):
        list(aug.variants(iter(["a b", "c d"]), iter(["x"])))


# --------------------------------------------------------------- bad input
def test_bad_config_and_misuse_raise_materials_errors():
    with pytest.raises(MaterialsError, match="p_mask"):
        AugmentConfig(p_mask=1.5)
    with pytest.raises(MaterialsError, match="max_ngram"):
        AugmentConfig(max_ngram=0)
    with pytest.raises(MaterialsError, match="fit"):
        list(Augmenter().variants(["a film"]))
    with pytest.raises(MaterialsError, match="row 1"):
        list(fitted(["a film"]).variants(["a film", None]))


# ---------------------------------------------------- generation's split input
def test_transfer_input_streams_train_variants_in_windows():
    task = marker_task(n_train=200, seed=1)
    config = AugmentConfig(n_per_example=5, seed=3, mask_token="[MASK]")
    source = TransferInput(task["train"], config)
    expect = list(Augmenter(config).fit(task["train"].texts).variants(task["train"].texts))

    def rows(start, size):
        got = []
        for block in source.windows(start, size):
            assert len(block) <= size and block.texts_b is None
            assert block.labels.dtype == np.int32 and (block.labels == -1).all()
            got += block.texts
        return got

    assert rows(0, 7) == rows(0, 1000) == [a for a, _ in expect]
    assert rows(23, 7) == [a for a, _ in expect][23:]               # a resumed generation continues exactly
    assert source.stats.variants == len(expect)
    assert source.name == "transfer" and not source.is_pair
    described = json.loads(json.dumps(source.source))
    assert described["config"]["n_per_example"] == 5 and described["sha256"] == task["train"].sha256


def test_transfer_input_refuses_other_splits_and_carries_pairs():
    task = marker_task(n_train=60, n_dev=20, n_test=20, pair=True, seed=2)
    with pytest.raises(MaterialsError, match="train split only"):
        TransferInput(task["dev"], AugmentConfig())
    source = TransferInput(task["train"], AugmentConfig(n_per_example=2))
    blocks = list(source.windows(0, 16))
    assert source.is_pair and blocks and all(len(b.texts_b) == len(b.texts) for b in blocks)


class _NumpyTeacher:
    """A `materials.teacher.MaterialsTeacher` in numpy (mean of 2-d word vectors as logits): no TensorFlow."""

    label_names = ["negative", "positive"]
    max_seq_len = 24
    lowercase = True
    is_pair = False

    def __init__(self, vocab_path):
        from distill.wordpiece import WordPieceTokenizer

        self.tokenizer = WordPieceTokenizer(vocab_path, max_seq_len=self.max_seq_len)
        self.vocab, self.vocab_sha256 = self.tokenizer.vocab, self.tokenizer.vocab_sha256
        self.table = np.random.default_rng(0).normal(size=(len(self.vocab), 2)).astype(np.float32)

    def encode(self, texts, texts_b=None):
        return self.tokenizer.encode(texts, texts_b)

    def logits_for_ids(self, token_ids, segment_ids, padding_mask):
        mask = np.asarray(padding_mask, np.float32)[..., None]
        return (self.table[token_ids] * mask).sum(axis=1) / mask.sum(axis=1)

    def word_embeddings(self):
        return self.table

    def teacher_provenance(self):
        return {"name": "numpy-fake", "config": {"name": "numpy-fake"}, "weights_sha256": "numpy-fake",
                "run_dir": ""}


def test_an_augmented_transfer_split_resumes_after_a_crash(tmp_path):
    import h5py

    from distill.wordpiece import build_vocab
    from materials.generate import generate

    task = marker_task(n_train=60, n_dev=10, n_test=10, seed=4)
    run = _NumpyTeacher(build_vocab(task["train"].texts, tmp_path / "vocab.txt", size=100))
    config = AugmentConfig(n_per_example=4, seed=1)
    small = dict(splits=("train",), window_rows=32, batch_size=8, chunk_rows=16, progress=False, echo=None)

    whole = generate(run, task, tmp_path / "whole.h5", extra_inputs=[TransferInput(task["train"], config)], **small)

    def crash(split, rows):
        if split == "transfer" and rows >= 64:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(run, task, tmp_path / "resumed.h5", extra_inputs=[TransferInput(task["train"], config)],
                 on_commit=crash, **small)
    assert (tmp_path / "resumed.h5.partial").exists()
    resumed = generate(run, task, tmp_path / "resumed.h5", extra_inputs=[TransferInput(task["train"], config)],
                       **small)
    with h5py.File(whole, "r") as a, h5py.File(resumed, "r") as b:
        rows = int(a["transfer"].attrs["rows"])
        assert rows == int(b["transfer"].attrs["rows"]) > 64
        for name in ("x", "length", "y", "logits", "text"):
            np.testing.assert_array_equal(a["transfer"][name][:rows], b["transfer"][name][:rows])
        assert (a["transfer"]["y"][:rows] == -1).all()
        texts = set(a["transfer"]["text"].asstr()[:rows])
    assert not texts & set(task["train"].texts) and len(texts) == rows
    # another configuration is another transfer set: the complete file refuses to mix them
    with pytest.raises(MaterialsError, match="transfer was made from other input"):
        generate(run, task, tmp_path / "whole.h5",
                 extra_inputs=[TransferInput(task["train"], AugmentConfig(n_per_example=4, seed=2))], **small)
