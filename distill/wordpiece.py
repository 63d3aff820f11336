"""The one BERT WordPiece pipeline, for teachers and students alike, and batch padding.

Owns turning texts (or sentence pairs) into token ids through the `tokenizers`
library, reading and building `vocab.txt` files, and right-padding a batch of
unpadded id rows. It lives in the foundation because a teacher tokenizes the
texts it labels and a student must tokenize raw text exactly as that teacher
did: a student may not import `teachers` (docs/design.md, "The dependency rule"), so both
import this one module, and any drift between two copies (which would
silently feed a student ids it never saw in training) cannot happen.

The pipeline is the one of Google's BERT (and of the Hugging Face
`tokenizer.json` shipped with MiniLM): BertNormalizer (clean text, split CJK
characters, lowercase + strip accents when uncased), BertPreTokenizer
(whitespace and punctuation), greedy longest-match WordPiece with `##`
continuations and [UNK], `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with
segment ids 0/1, and longest-first truncation to `max_seq_len` for pairs.
"[MASK]" written in a text (exactly so, case included) is the mask token, not
"[", "mask", "]": transfer-set augmentation (materials/augment.py) masks words
by writing it, and a student reads the augmented rows as its teacher did.
Every vocab must hold the five special tokens.

Single texts of printable ASCII take a shortcut to the same ids: split at
spaces and punctuation (all BertPreTokenizer does to such text), each word's
WordPiece ids looked up in a cache the library itself fills. The library's
pipeline spends most of its time on a text in its pre-tokenizer and in Python
objects, which made tokenizing most of a folded student's raw-text time.
Other text is first normalized by the library's normalizer and takes the
shortcut if that made it printable ASCII (accents stripped when uncased, tabs
made spaces), curly quotes, dashes and the other punctuation marks of
`_MARKS` allowed; the rest (CJK, accents kept when cased, other scripts) and
every pair go through the library whole. The shortcut gives the library's ids
wherever its rules agree with the library's character tables; a test checks
both paths against each other on text built to find the edges (punctuation,
"[MASK]", long words, truncation, accents, marks).

Ids come back unpadded on purpose: callers sort rows by length and pad each
batch to its own longest row (length bucketing), which is where most of a
teacher's inference time is won. `pad_batch` pads for a BERT (ids, segments,
mask), `pad_ids` for a student (ids, lengths); both use id 0 ([PAD]).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors

from distill.errors import DistillError

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
MAX_INPUT_CHARS_PER_WORD = 100   # a longer word is [UNK], as in Google's BERT
WORD_CACHE_SIZE = 1 << 17         # words whose ids the ASCII shortcut keeps (~330 bytes each: ~45 MB at most)
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[^ A-Za-z0-9]")   # BertPreTokenizer on printable ASCII (+ marks)
_NOT_PRINTABLE_ASCII = re.compile(r"[^ -~]")
# Scripts the normalizer never turns into ASCII (kana, CJK ideographs, Hangul): text with any goes straight
# to the library instead of being normalized twice.
_NEVER_ASCII = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# Punctuation outside ASCII that the shortcut may split off like ASCII punctuation (curly quotes, dashes,
# ellipsis, guillemets...): Unicode category P in Latin-1 and General Punctuation, blocks whose categories
# have not changed in decades, so Python's and the library's Unicode tables agree on them.
_MARKS = frozenset(c for c in map(chr, [*range(0xA0, 0x100), *range(0x2010, 0x2060)])
                   if unicodedata.category(c).startswith("P"))


@dataclass
class Encoding:
    """Unpadded token ids and segment ids, one array per text, and their lengths."""

    ids: list[np.ndarray]        # int32 [length_i]
    segments: list[np.ndarray]   # int8 [length_i]
    lengths: np.ndarray          # int32 [N]

    def __len__(self) -> int:
        return len(self.ids)


# -------------------------------------------------------------------- vocab
def check_vocab(tokens: Sequence[str], where: str) -> None:
    """Raise a DistillError naming the line of an empty or repeated token, or the missing special tokens."""
    seen: dict[str, int] = {}
    for line, token in enumerate(tokens, start=1):
        if not isinstance(token, str) or not token.strip():
            raise DistillError(f"{where}: line {line} is empty; a vocab has one token per line")
        if token in seen:
            raise DistillError(f"{where}: line {line}: token {token!r} already on line {seen[token]}")
        seen[token] = line
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise DistillError(f"{where}: vocab lacks the special tokens {missing}")


def read_vocab(vocab_path: str | os.PathLike) -> list[str]:
    """The tokens of a BERT `vocab.txt`, one per line; the line number (from 0) is the id."""
    path = Path(vocab_path)
    try:
        tokens = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DistillError(f"{path}: cannot read vocab ({exc})") from None
    check_vocab(tokens, str(path))
    return tokens


def vocab_text(tokens: Sequence[str]) -> str:
    """A vocab as `vocab.txt` holds it: one token per line, each line ending in a newline."""
    return "".join(token + "\n" for token in tokens)


def build_vocab(texts: Sequence[str], path: str | os.PathLike, size: int = 1000,
                lowercase: bool = True) -> Path:
    """Write a small WordPiece `vocab.txt` for `texts` at `path` (tests, toy teachers).

    Layout: the special tokens ([PAD]=0, [UNK], [CLS], [SEP], [MASK]), every
    character of the texts and its `##` continuation (so any word of the texts
    can be spelled), then the most frequent words (ties alphabetical) up to
    `size` tokens; the characters are always kept, so a tiny `size` can be
    exceeded. Hand-rolled rather than `tokenizers`' WordPieceTrainer because
    that trainer's output varies from run to run, and a vocab's sha256 is part
    of every materials file's provenance.
    """
    texts = list(texts)
    check_texts(texts, "texts")
    normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for word in counts for c in word})
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + c for c in chars]
    known = set(vocab)
    for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(vocab) >= size:
            break
        if word not in known:
            vocab.append(word)
            known.add(word)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # atomic: never half a vocab
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(vocab_text(vocab))
    os.replace(tmp, path)
    return path


# -------------------------------------------------------------------- texts
def check_texts(texts: Sequence, what: str) -> None:
    """Raise a DistillError naming the first row of `texts` that is not a string."""
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise DistillError(f"{what}: row {row} is {type(text).__name__}, not a string")


# ---------------------------------------------------------------- tokenizer
class WordPieceTokenizer:
    """BERT WordPiece over a vocab: a `vocab.txt` path, or its tokens as a list (line number = id).

    `lowercase=True` is the uncased model's normalisation (lowercase and strip
    accents); it must match the vocab the teacher was trained with.
    `vocab_sha256` is the sha256 of the vocab file's bytes; for a list, of the
    file `vocab_text(tokens)` would write (the same for a file so written).
    `vocab_path` is None when the tokens were given as a list. `ascii_shortcut=False` sends every text
    through the `tokenizers` pipeline (same ids, slower; for comparison).
    """

    def __init__(self, vocab: str | os.PathLike | Sequence[str], lowercase: bool = True, max_seq_len: int = 128,
                 ascii_shortcut: bool = True):
        if max_seq_len < 3:
            raise DistillError(f"max_seq_len must be at least 3 ([CLS] a [SEP] b [SEP] needs them), got {max_seq_len}")
        if isinstance(vocab, (str, os.PathLike)):
            self.vocab_path: Path | None = Path(vocab)
            self.vocab = read_vocab(self.vocab_path)
            self.vocab_sha256 = hashlib.sha256(self.vocab_path.read_bytes()).hexdigest()
        else:
            self.vocab_path = None
            self.vocab = list(vocab)
            check_vocab(self.vocab, "vocab")
            self.vocab_sha256 = hashlib.sha256(vocab_text(self.vocab).encode("utf-8")).hexdigest()
        self.lowercase = bool(lowercase)
        self.max_seq_len = int(max_seq_len)
        index = {token: i for i, token in enumerate(self.vocab)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (index[t] for t in SPECIAL_TOKENS)
        self._tokenizer = _bert_wordpiece(index, self.lowercase)
        self._tokenizer.enable_truncation(self.max_seq_len, strategy="longest_first")
        self._plain: Tokenizer | None = None   # the same without truncation, made when first needed
        self.ascii_shortcut = bool(ascii_shortcut)
        self._normalizer = self._tokenizer.normalizer
        self._shortcut_limit = self.max_seq_len - 1   # [CLS] + pieces, before [SEP]; as the library truncates
        self._word_ids: dict[str, list[int]] = {}   # the ASCII shortcut's cache: word -> its WordPiece ids

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> Encoding:
        """Tokenize single sentences, or pairs when `texts_b` is given (same length)."""
        texts = list(texts)
        check_texts(texts, "texts")
        # The library's `encode_batch_fast`: the same ids and segments without character offsets, which
        # nothing here reads, in a third less time per text.
        if texts_b is None:
            rows = [self._shortcut_ids(text) for text in texts] if self.ascii_shortcut else [None] * len(texts)
            ids = [np.asarray(row, dtype=np.int32) if row is not None else None for row in rows]
            rest = [i for i, row in enumerate(rows) if row is None]
            if rest:
                for i, e in zip(rest, self._library_encode([texts[i] for i in rest], texts)):
                    ids[i] = np.asarray(e.ids, dtype=np.int32)
            segments = [np.zeros(len(row), dtype=np.int8) for row in ids]
        else:
            texts_b = list(texts_b)
            check_texts(texts_b, "texts_b")
            if len(texts_b) != len(texts):
                raise DistillError(f"texts_b has {len(texts_b)} rows but texts has {len(texts)}")
            encoded = self._library_encode(list(zip(texts, texts_b)), texts, texts_b)
            ids = [np.asarray(e.ids, dtype=np.int32) for e in encoded]
            segments = [np.asarray(e.type_ids, dtype=np.int8) for e in encoded]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int32, count=len(ids))
        return Encoding(ids, segments, lengths)

    def _library_encode(self, inputs: list, texts: list[str], texts_b: list[str] | None = None) -> list:
        """The library's encodings of `inputs`; text it cannot take (a lone surrogate, which no UTF-8
        file holds but a Python string can) fails naming the row of `texts` or `texts_b`."""
        try:
            return self._tokenizer.encode_batch_fast(inputs)
        except TypeError:
            for what, column in (("texts", texts), ("texts_b", texts_b or [])):
                for row, text in enumerate(column):
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError as exc:
                        raise DistillError(f"{what}: row {row} is not valid Unicode (a lone surrogate, "
                                           f"{text[exc.start]!r}, at character {exc.start})") from None
            raise

    def _shortcut_ids(self, text: str) -> list[int] | None:
        """`[CLS] text [SEP]`'s ids (truncated to `max_seq_len`) when `text`, normalized, is printable
        ASCII, punctuation marks of `_MARKS` allowed; else None.

        Printable ASCII needs no normalizing beyond lowercasing (no accents, CJK or control characters) and
        BertPreTokenizer splits it into runs of letters and digits and single punctuation marks. Other text
        goes through the library's normalizer first (accents stripped when uncased, whitespace made spaces)
        and qualifies if that made it printable ASCII but for marks of `_MARKS`, which the pre-tokenizer splits
        off as it does ASCII punctuation. "[MASK]" is matched in the raw text first, as the
        library does with its added token."""
        chunks = text.split(MASK) if MASK in text else (text,)
        if text.isascii() and text.isprintable():
            chunks = [chunk.lower() for chunk in chunks] if self.lowercase else chunks
        else:
            if _NEVER_ASCII.search(text):
                return None
            try:
                chunks = [self._normalizer.normalize_str(chunk) for chunk in chunks]
            except UnicodeError:   # a lone surrogate: the library says what is wrong with it
                return None
            for chunk in chunks:
                if not (chunk.isascii() and chunk.isprintable()) and \
                        not _MARKS.issuperset(_NOT_PRINTABLE_ASCII.findall(chunk)):
                    return None
        ids, limit = [self.cls_id], self._shortcut_limit
        for part, chunk in enumerate(chunks):
            if part:
                ids.append(self.mask_id)
            for word in _ASCII_WORDS.findall(chunk):
                pieces = self._word_ids.get(word)
                if pieces is None:
                    pieces = self._pieces_of_word(word)
                ids += pieces
            if len(ids) >= limit:
                break
        del ids[limit:]
        ids.append(self.sep_id)
        return ids

    def _pieces_of_word(self, word: str) -> list[int]:
        if len(word) > MAX_INPUT_CHARS_PER_WORD:   # what WordPiece makes of it, and not worth a cache entry
            return [self.unk_id]
        pieces = self._untruncated().encode(word, add_special_tokens=False).ids
        if len(self._word_ids) >= WORD_CACHE_SIZE:   # full: start again, so the words in use now get in
            self._word_ids.clear()
        self._word_ids[word] = pieces
        return pieces

    def _untruncated(self) -> Tokenizer:
        if self._plain is None:
            self._plain = Tokenizer.from_str(self._tokenizer.to_str())
            self._plain.no_truncation()
        return self._plain

    def pieces(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The WordPiece ids of each text alone: no [CLS]/[SEP], no truncation (pretraining packs
        consecutive sentences into rows itself)."""
        texts = list(texts)
        check_texts(texts, "texts")
        encoded = self._untruncated().encode_batch_fast(texts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int32) for e in encoded]

    def to_json(self, padding: bool = True) -> str:
        """This pipeline as a `tokenizers` `tokenizer.json`, for use without this toolkit.

        The file holds everything `encode` does: normalizer, pre-tokenizer,
        WordPiece model and vocab, [CLS]/[SEP] template, "[MASK]" as a special
        token and longest-first truncation to `max_seq_len`. With `padding`,
        `encode_batch` also right-pads each batch to its longest row with [PAD]
        (id 0), so its `ids` and `attention_mask` are ready for a model.
        """
        tokenizer = Tokenizer.from_str(self._tokenizer.to_str())
        if padding:
            tokenizer.enable_padding(pad_id=self.pad_id, pad_token=PAD)
        return tokenizer.to_str(pretty=True)

    def tokens(self, text: str, text_b: str | None = None) -> list[str]:
        """The WordPiece strings of one text (for inspection and tests)."""
        encoded = self._tokenizer.encode(text) if text_b is None else self._tokenizer.encode(text, text_b)
        return encoded.tokens


def _bert_wordpiece(vocab: dict[str, int], lowercase: bool) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=UNK, max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD))
    # strip_accents=None follows `lowercase`, as in Google's BasicTokenizer.
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])],
    )
    # Matched in the raw text (normalized=False), so "[mask]" stays three pieces even when lowercasing.
    tokenizer.add_special_tokens([AddedToken(MASK, normalized=False, single_word=False)])
    return tokenizer


# ------------------------------------------------------------------ padding
def _padded(ids: Sequence[np.ndarray], length: int | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(int32 [B, length] ids right-padded with 0, int32 [B] row lengths); length defaults to the longest row."""
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int32, count=len(ids))
    longest = int(lengths.max(initial=0))
    length = longest if length is None else int(length)
    if longest > length:
        raise DistillError(f"{what}: a row has {longest} tokens, more than length {length}")
    token_ids = np.zeros((len(ids), length), dtype=np.int32)
    for row, row_ids in enumerate(ids):
        token_ids[row, :lengths[row]] = row_ids
    return token_ids, lengths


def pad_batch(ids: Sequence[np.ndarray], segments: Sequence[np.ndarray] | None = None,
              length: int | None = None) -> dict[str, np.ndarray]:
    """Right-pad a batch for a BERT to `length` (default: its longest row).

    Returns int32 arrays {"token_ids", "segment_ids", "padding_mask"} of shape
    [B, length]; padding uses id 0 ([PAD]) and mask 0. Segments default to 0.
    """
    if segments is not None and len(segments) != len(ids):
        raise DistillError(f"pad_batch: {len(segments)} segment rows for {len(ids)} id rows")
    token_ids, lengths = _padded(ids, length, "pad_batch")
    padding_mask = (np.arange(token_ids.shape[1])[None, :] < lengths[:, None]).astype(np.int32)
    segment_ids = np.zeros_like(token_ids)
    if segments is not None:
        for row, n in enumerate(lengths):
            if len(segments[row]) != n:
                raise DistillError(f"pad_batch: row {row} has {n} ids but {len(segments[row])} segment ids")
            segment_ids[row, :n] = segments[row]
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def pad_ids(ids: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad rows of ids for a student: (int32 token_ids [B, length], int32 length [B]).

    `length` defaults to the longest row; padding uses id 0 ([PAD]).
    """
    return _padded(ids, length, "pad_ids")
