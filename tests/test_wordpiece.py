"""distill.wordpiece: WordPiece encoding, pairs, truncation, [MASK], vocab files and lists, padding, vocab building."""

import numpy as np
import pytest

from distill.errors import DistillError
from distill.wordpiece import (SPECIAL_TOKENS, WordPieceTokenizer, build_vocab, pad_batch, pad_ids, read_vocab,
                               vocab_text)

TEXTS = ["the film was wonderful", "a slow film", "the river at night was dark", "wonderful music"]


def write_vocab(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


@pytest.fixture
def vocab(tmp_path):
    # ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then words and pieces
    return write_vocab(tmp_path / "vocab.txt", [*SPECIAL_TOKENS, "the", "film", "was", "wonder", "##ful",
                                                 "hello", "Hello", ",", "!", "a", "b", "c"])


def test_single_sentence_is_cls_pieces_sep(vocab):
    tok = WordPieceTokenizer(vocab)
    enc = tok.encode(["The film was WONDERFUL!", "unknownword"])
    assert tok.tokens("The film was WONDERFUL!") == ["[CLS]", "the", "film", "was", "wonder", "##ful", "!", "[SEP]"]
    np.testing.assert_array_equal(enc.ids[0], [2, 5, 6, 7, 8, 9, 13, 3])
    np.testing.assert_array_equal(enc.ids[1], [2, 1, 3])
    assert enc.ids[0].dtype == np.int32 and enc.segments[0].dtype == np.int8
    np.testing.assert_array_equal(enc.lengths, [8, 3])
    assert not enc.segments[0].any()
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)


def test_cased_tokenizer_keeps_case(vocab):
    assert WordPieceTokenizer(vocab, lowercase=False).tokens("Hello hello") == ["[CLS]", "Hello", "hello", "[SEP]"]
    assert WordPieceTokenizer(vocab, lowercase=True).tokens("Hello hello") == ["[CLS]", "hello", "hello", "[SEP]"]


def test_pair_gets_segment_ids(vocab):
    enc = WordPieceTokenizer(vocab).encode(["the film"], ["was wonderful"])
    np.testing.assert_array_equal(enc.ids[0], [2, 5, 6, 3, 7, 8, 9, 3])
    np.testing.assert_array_equal(enc.segments[0], [0, 0, 0, 0, 1, 1, 1, 1])


def test_pair_truncation_is_longest_first(vocab):
    tok = WordPieceTokenizer(vocab, max_seq_len=10)
    enc = tok.encode(["a " * 20, "b c", "a b"], ["b", "c " * 20, "c"])
    assert enc.lengths.tolist() == [10, 10, 6]
    # The long side is cut down first; the short side stays whole.
    assert tok.vocab[enc.ids[0][-2]] == "b" and (enc.segments[0] == 1).sum() == 2
    assert [tok.vocab[i] for i in enc.ids[1][:5]] == ["[CLS]", "b", "c", "[SEP]", "c"]
    assert (enc.segments[1] == 0).sum() == 4


def test_single_truncation_keeps_sep(vocab):
    enc = WordPieceTokenizer(vocab, max_seq_len=5).encode(["a b c a b c"])
    np.testing.assert_array_equal(enc.ids[0], [2, 14, 15, 16, 3])


def test_bad_inputs_name_the_row_or_line(vocab, tmp_path):
    tok = WordPieceTokenizer(vocab)
    with pytest.raises(DistillError, match="texts: row 1 is NoneType"):
        tok.encode(["ok", None])
    with pytest.raises(DistillError, match="texts_b has 1 rows but texts has 2"):
        tok.encode(["a", "b"], ["c"])
    with pytest.raises(DistillError, match=r"lacks the special tokens \['\[MASK\]'\]"):
        WordPieceTokenizer(write_vocab(tmp_path / "v1.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "x"]))
    with pytest.raises(DistillError, match="line 7: token 'x' already on line 6"):
        WordPieceTokenizer(write_vocab(tmp_path / "v2.txt", [*SPECIAL_TOKENS, "x", "x"]))
    with pytest.raises(DistillError, match="at least 3"):
        WordPieceTokenizer(vocab, max_seq_len=2)


def test_mask_written_in_a_text_is_the_mask_token(tmp_path):
    tokenizer = WordPieceTokenizer(build_vocab(["the film is good"], tmp_path / "vocab.txt"))
    ids = tokenizer.encode(["the [MASK] is good", "The [MASK]"]).ids
    plain = tokenizer.encode(["the film is good"]).ids[0]
    assert ids[0].tolist() == [*plain[:2], tokenizer.mask_id, *plain[3:]]
    assert ids[1].tolist() == [*plain[:2], tokenizer.mask_id, plain[-1]]
    assert tokenizer.tokens("a [mask] b") != tokenizer.tokens("a [MASK] b")   # only the exact token
    cased = WordPieceTokenizer(tokenizer.vocab_path, lowercase=False)
    assert cased.tokens("the[MASK]film") == ["[CLS]", "the", "[MASK]", "film", "[SEP]"]   # no spaces needed


def test_a_vocab_list_tokenizes_as_its_file(vocab):
    from_file = WordPieceTokenizer(vocab, lowercase=True, max_seq_len=10)
    from_list = WordPieceTokenizer(read_vocab(vocab), lowercase=True, max_seq_len=10)
    assert from_list.vocab == from_file.vocab and from_list.vocab_path is None
    assert from_list.vocab_sha256 == from_file.vocab_sha256      # the file is written as vocab_text writes it
    assert vocab.read_text(encoding="utf-8") == vocab_text(from_file.vocab)
    texts, texts_b = ["The film was WONDERFUL!", "a [MASK] " * 9, "x"], ["b", "c", "Hello [MASK]"]
    for a, b in ((texts, None), (texts, texts_b)):
        got, want = from_list.encode(a, b), from_file.encode(a, b)
        assert [r.tolist() for r in got.ids] == [r.tolist() for r in want.ids]
        assert [r.tolist() for r in got.segments] == [r.tolist() for r in want.segments]
    with pytest.raises(DistillError, match=r"vocab: vocab lacks the special tokens \['\[MASK\]'\]"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "x"])
    with pytest.raises(DistillError, match="vocab: line 2 is empty"):
        WordPieceTokenizer(["[PAD]", ""])


def test_pad_batch(vocab):
    enc = WordPieceTokenizer(vocab).encode(["the film"], ["was"])
    enc2 = WordPieceTokenizer(vocab).encode(["a"])
    padded = pad_batch(enc.ids + enc2.ids, enc.segments + enc2.segments)
    np.testing.assert_array_equal(padded["token_ids"], [[2, 5, 6, 3, 7, 3], [2, 14, 3, 0, 0, 0]])
    np.testing.assert_array_equal(padded["segment_ids"], [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(padded["padding_mask"], [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    assert all(a.dtype == np.int32 for a in padded.values())
    assert pad_batch(enc2.ids, length=8)["token_ids"].shape == (1, 8)
    with pytest.raises(DistillError, match="6 tokens, more than length 4"):
        pad_batch(enc.ids, length=4)


def test_pad_ids_pads_with_zero_to_the_longest_row():
    token_ids, length = pad_ids([np.array([2, 7, 3]), np.array([2, 3])])
    np.testing.assert_array_equal(token_ids, [[2, 7, 3], [2, 3, 0]])
    np.testing.assert_array_equal(length, [3, 2])
    assert token_ids.dtype == np.int32 and length.dtype == np.int32
    assert pad_ids([np.array([2, 3])], length=5)[0].tolist() == [[2, 3, 0, 0, 0]]
    empty_ids, empty_length = pad_ids([])
    assert empty_ids.shape == (0, 0) and empty_length.shape == (0,)
    with pytest.raises(DistillError, match="pad_ids: a row has 3 tokens, more than length 2"):
        pad_ids([np.array([2, 7, 3])], length=2)


def test_build_vocab_is_deterministic_and_spells_every_word(tmp_path):
    first = build_vocab(TEXTS, tmp_path / "a" / "vocab.txt", size=60)
    second = build_vocab(list(reversed(TEXTS)), tmp_path / "b" / "vocab.txt", size=60)
    assert first.read_bytes() == second.read_bytes()
    tokens = first.read_text().splitlines()
    assert tokens[:5] == list(SPECIAL_TOKENS)
    assert tokens.index("the") < tokens.index("river")        # more frequent words first
    tok = WordPieceTokenizer(first)
    for text in TEXTS + ["draw a wider view"]:                # unseen words are spelled, never [UNK]
        assert tok.unk_id not in tok.encode([text]).ids[0]
    assert tok.tokens("wonderful")[1] == "wonderful"


@pytest.mark.slow
def test_matches_the_hf_tokenizer_shipped_with_minilm():
    from tokenizers import Tokenizer

    from distill import sources

    root = sources.MINILM_L6_DIR
    reference = Tokenizer.from_file(str(sources.MINILM_L6_WHEEL.extract(root + "tokenizer.json")))
    reference.no_padding()  # the file pads to 128; ours returns unpadded ids
    ours = WordPieceTokenizer(sources.MINILM_L6_WHEEL.extract(root + "vocab.txt"), lowercase=True, max_seq_len=128)
    texts = ["A truly great film, I loved it.", "Héllo WORLD!! naïve café — 東京 tokenizers' un-believable",
             "x" * 150 + " ok", "don't stop\tbelieving\u200b now", "word " * 200]
    for text, ids in zip(texts, ours.encode(texts).ids):
        assert ids.tolist() == reference.encode(text).ids, text
    a, b = ["word " * 100, "short", "It's fine."], ["other " * 30, "also short " * 80, "Is it?"]
    encoded = ours.encode(a, b)
    for x, y, ids, segments in zip(a, b, encoded.ids, encoded.segments):
        want = reference.encode(x, y)
        assert ids.tolist() == want.ids and segments.tolist() == want.type_ids


def _library_ids(tok, texts):
    """What the `tokenizers` pipeline alone gives (the shortcut bypassed)."""
    return [list(e.ids) for e in tok._tokenizer.encode_batch_fast(list(texts))]


def test_without_the_shortcut_every_text_goes_through_the_library(vocab):
    tok = WordPieceTokenizer(vocab, ascii_shortcut=False)
    assert tok.encode(["the film was wonderful!"]).ids[0].tolist() == [2, 5, 6, 7, 8, 9, 13, 3]
    assert not tok._word_ids


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("max_seq_len", [6, 128])
def test_ascii_shortcut_gives_the_library_ids(tmp_path, lowercase, max_seq_len):
    rng = np.random.default_rng(0)
    # Words in and out of the vocab, both cases, digits, every ASCII punctuation mark, "[MASK]" and
    # near misses of it, a word over the 100-character limit, and non-ASCII and control characters
    # (which must take the library's path).
    words = ["the", "The", "film", "wonderful", "Wonderful", "filmed", "x7", "42", "don't", "[MASK]", "[mask]",
             "[MASK", "MASK]", "[[MASK]]", "a" * 101, "café", "naïve", "日本", "tab\there", "line\nbreak",
             "\x7f", "zz", "", "don’t", "“quoted”", "–", "—", "…", "«", "¿", "°", "¬", "·", "½", "€", "‰"]
    words += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    texts = ["", " ", "[MASK]", "x[MASK]y", "   spaced   out   "]
    for _ in range(400):
        picked = rng.choice(len(words), size=rng.integers(1, 12))
        glue = rng.choice(["", " ", "  "], size=len(picked))
        texts.append("".join(words[i] + g for i, g in zip(picked, glue)))
    vocab_path = build_vocab([t.replace("[MASK]", " ") for t in texts] + ["wonder ##ful"], tmp_path / "v.txt",
                             size=60, lowercase=lowercase)
    tok = WordPieceTokenizer(vocab_path, lowercase=lowercase, max_seq_len=max_seq_len)
    expected = _library_ids(tok, texts)
    for _ in range(2):   # the second time from the filled word cache
        got = [row.tolist() for row in tok.encode(texts).ids]
        assert got == expected
    shortcut = [t for t in texts if tok._shortcut_ids(t) is not None]
    assert any(not t.isascii() for t in shortcut) and len(shortcut) < len(texts)   # both paths were taken
    assert any(t.isascii() and t.isprintable() and "[MASK]" in t for t in texts)


def test_ascii_shortcut_takes_text_normalizing_makes_ascii_and_skips_the_rest(vocab):
    uncased, cased = WordPieceTokenizer(vocab), WordPieceTokenizer(vocab, lowercase=False)
    assert uncased._shortcut_ids("the film") == uncased._shortcut_ids("the\tfilm") == [2, 5, 6, 3]
    assert uncased._shortcut_ids("thé film") == [2, 5, 6, 3]   # accents stripped when uncased
    assert uncased._shortcut_ids("the “film”") == [2, 5, 1, 6, 1, 3]   # a curly quote is punctuation
    assert uncased._shortcut_ids("the film°") is None   # a degree sign is a symbol, not punctuation
    assert cased._shortcut_ids("thé film") is None and uncased._shortcut_ids("日本 film") is None
    assert cased.encode(["thé film"]).ids[0].tolist() == [2, 1, 6, 3]   # through the library


def test_shortcut_cache_skips_overlong_words_and_starts_again_when_full(vocab, monkeypatch):
    import distill.wordpiece as wordpiece

    tok = WordPieceTokenizer(vocab)
    assert tok.encode(["the " + "a" * 101]).ids[0].tolist() == [2, 5, 1, 3]   # over 100 characters: [UNK]
    assert "a" * 101 not in tok._word_ids
    monkeypatch.setattr(wordpiece, "WORD_CACHE_SIZE", 3)
    tok = WordPieceTokenizer(vocab)
    expected = _library_ids(tok, ["the film was wonderful , hello !"])
    assert [row.tolist() for row in tok.encode(["the film was wonderful , hello !"]).ids] == expected
    assert 0 < len(tok._word_ids) <= 3


def test_broken_unicode_fails_naming_the_row(vocab):
    tok = WordPieceTokenizer(vocab)
    assert tok._shortcut_ids("a\ud800b") is None   # left to the library, which refuses it
    with pytest.raises(DistillError, match=r"texts: row 1 is not valid Unicode .*at character 1"):
        tok.encode(["the film", "a\ud800b"])
    with pytest.raises(DistillError, match=r"texts_b: row 0 is not valid Unicode"):
        tok.encode(["the film"], ["\udc00"])
