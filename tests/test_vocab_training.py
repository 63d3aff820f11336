"""distill.vocab_training: a deterministic WordPiece vocab that spells its whole corpus, and its folder."""

import json
import random

import numpy as np
import pytest
from tokenizers import Tokenizer, normalizers, pre_tokenizers

from distill.errors import DistillError
from distill.vocab_training import (FILES, canonical_order, corpus_alphabet, coverage, minimum_vocab_size,
                                    read_tokenizer_folder, train_vocab, write_tokenizer_folder)
from distill.wordpiece import SPECIAL_TOKENS, WordPieceTokenizer


def made_up_lines(n=400, seed=0):
    """Sentences of made-up words: many pairs of equal count, where the bare trainer's choice varies by run."""
    rng = random.Random(seed)
    syllables = "ka ro mi te su na lo pe ri gu ba do fi ze ha ju".split()
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(n)]


MIXED = made_up_lines(200) + ["Crème brûlée, NAÏVE café: 中文字 — «quoted» 3½ ẞig Straße!", "Tab\there\u00a0and\u2028there"]


def test_specials_first_then_characters_then_pieces_in_a_canonical_order():
    tokens = train_vocab(MIXED, 300)
    assert tokens[:5] == list(SPECIAL_TOKENS) and len(tokens) == len(set(tokens)) <= 300
    chars = corpus_alphabet(MIXED, lowercase=True)
    assert tokens[5:5 + len(chars)] == chars
    assert tokens[5 + len(chars):5 + 2 * len(chars)] == ["##" + c for c in chars]
    rest = tokens[5 + 2 * len(chars):]
    assert rest == sorted(rest) and all(len(t) > 1 and not (len(t) == 3 and t.startswith("##")) for t in rest)
    assert canonical_order(reversed(tokens)) == tokens


def test_training_twice_gives_the_same_vocab():
    """On these lines the bare trainer's token set differs from one run to the next in about 2 runs of 3."""
    lines = made_up_lines()
    first = train_vocab(lines, 250)
    assert all(train_vocab(lines, 250) == first for _ in range(5))
    assert len(first) == 250


def test_the_vocab_spells_its_whole_corpus_without_unk(tmp_path):
    tokens = train_vocab(iter(MIXED), 300)   # any iterable of lines
    folder = write_tokenizer_folder(tokens, tmp_path / "tok", lowercase=True)
    vocab_path, lowercase = read_tokenizer_folder(folder)
    assert lowercase is True and vocab_path == folder / "vocab.txt"
    tokenizer = WordPieceTokenizer(vocab_path, lowercase, max_seq_len=512)
    encoded = tokenizer.encode(MIXED)
    assert not any((ids == tokenizer.unk_id).any() for ids in encoded.ids)
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    for line in MIXED:   # the pieces join back into the normalised words
        pieces = tokenizer.tokens(line)[1:-1]
        words = []
        for piece in pieces:
            if piece.startswith("##"):
                words[-1] += piece[2:]
            else:
                words.append(piece)
        assert words == [w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))]
    assert coverage(MIXED, tokens, lowercase=True).unk == 0


def test_cased_keeps_capitals_and_uncased_has_none(tmp_path):
    lines = ["The Quick Brown Fox", "THE LAZY DOG", "the quick dog"] * 3
    cased = train_vocab(lines, 100, lowercase=False)
    uncased = train_vocab(lines, 100, lowercase=True)
    assert {"T", "Q", "##H"} <= set(cased) and "The" in cased
    assert not any(c.isupper() for t in uncased[5:] for c in t)
    folder = write_tokenizer_folder(cased, tmp_path / "cased", lowercase=False)
    assert read_tokenizer_folder(folder) == (folder / "vocab.txt", False)
    assert WordPieceTokenizer(folder / "vocab.txt", lowercase=False).tokens("The Fox")[1:-1] == ["The", "Fox"]
    # without tokenizer_config.json the case is guessed from the vocab
    (folder / "tokenizer_config.json").unlink()
    assert read_tokenizer_folder(folder)[1] is False
    other = write_tokenizer_folder(uncased, tmp_path / "uncased", lowercase=True)
    (other / "tokenizer_config.json").unlink()
    assert read_tokenizer_folder(other)[1] is True


def test_vocab_size_below_the_alphabet_is_a_one_line_error():
    lines = ["abc abd", "xyz"]
    assert corpus_alphabet(lines, True) == list("abcdxyz") and minimum_vocab_size(lines, True) == 5 + 14
    assert minimum_vocab_size(["ABC abc"], lowercase=False) == 5 + 12
    with pytest.raises(DistillError) as error:
        train_vocab(lines, 18)
    assert str(error.value) == ("--vocab-size 18 is below the 5 special tokens + 7 characters of the corpus "
                                "alphabet (each also as ##c): use at least 19")
    assert len(train_vocab(lines, 19)) == 19
    with pytest.raises(DistillError, match="no text to train a vocab on"):
        train_vocab(["", "  "], 100)


def test_coverage_counts_words_split_into_pieces():
    tokens = [*SPECIAL_TOKENS, "a", "b", "##a", "##b", "ab"]
    cover = coverage(["ab ab aba b", "ba"], tokens, lowercase=True)
    # ab | ab | ab ##a | b | b ##a
    assert (cover.words, cover.split_words, cover.unk, cover.pieces) == (5, 2, 0, 7)
    assert cover.split_share == pytest.approx(0.4)
    assert coverage(["abc"], tokens, lowercase=True).unk == 1


def test_folder_files_and_tokenizer_json_match_the_pipeline(tmp_path):
    tokens = train_vocab(MIXED, 300)
    folder = write_tokenizer_folder(tokens, tmp_path / "tok", lowercase=True, max_seq_len=64, info={"corpus": []})
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert (folder / "vocab.txt").read_text(encoding="utf-8").splitlines() == tokens
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["do_lower_case"] is True and config["model_max_length"] == 64
    assert config["tokenizer_class"] == "BertTokenizer" and config["mask_token"] == "[MASK]"
    assert json.loads((folder / "vocab_training.json").read_text(encoding="utf-8")) == {"corpus": []}
    standalone = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ours = WordPieceTokenizer(folder / "vocab.txt", lowercase=True, max_seq_len=64)
    for line in MIXED[-3:]:
        np.testing.assert_array_equal(standalone.encode(line).ids, ours.encode([line]).ids[0])
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]   # no temporary left beside it


def test_out_is_replaced_only_with_overwrite_and_only_when_ours(tmp_path):
    tokens = train_vocab(["one two three", "two three"], 40)
    out = write_tokenizer_folder(tokens, tmp_path / "tok", lowercase=True)
    before = (out / "vocab.txt").read_text(encoding="utf-8")
    with pytest.raises(DistillError, match=r"tok: not empty; pass --overwrite"):
        write_tokenizer_folder(tokens[:-1], out, lowercase=True)
    assert (out / "vocab.txt").read_text(encoding="utf-8") == before
    write_tokenizer_folder(tokens[:-1], out, lowercase=True, overwrite=True)
    assert (out / "vocab.txt").read_text(encoding="utf-8").splitlines() == tokens[:-1]
    (out / "notes.md").write_text("mine", encoding="utf-8")
    with pytest.raises(DistillError, match=r"holds 'notes.md', so it is no tokenizer folder of ours"):
        write_tokenizer_folder(tokens, out, lowercase=True, overwrite=True)
    assert (out / "notes.md").exists()
    (tmp_path / "empty").mkdir()
    assert write_tokenizer_folder(tokens, tmp_path / "empty", lowercase=True) == tmp_path / "empty"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(DistillError, match="a file is in the way"):
        write_tokenizer_folder(tokens, tmp_path / "file", lowercase=True)


def test_reading_a_bad_tokenizer_folder(tmp_path):
    with pytest.raises(DistillError, match=r"nowhere: no such folder"):
        read_tokenizer_folder(tmp_path / "nowhere")
    with pytest.raises(DistillError, match=r": no vocab.txt in this folder"):
        read_tokenizer_folder(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nthe\n##s\n", encoding="utf-8")
    with pytest.raises(DistillError) as error:
        read_tokenizer_folder(tmp_path)
    assert str(error.value) == f"{tmp_path / 'vocab.txt'}: vocab lacks the special tokens ['[CLS]', '[SEP]', '[MASK]']"
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DistillError, match=r"tokenizer_config.json: cannot read"):
        read_tokenizer_folder(tmp_path)
