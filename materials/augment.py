"""Transfer-set augmentation (Tang et al. 2019): more inputs for the teacher to label.

Owns turning the TRAINING split's texts into variants that the teacher labels
into the `transfer` split (y = -1). A student learns the teacher's function
best from many more inputs than the labelled set holds; these variants are
those inputs. Nothing here knows about the teacher or the HDF5 file: the
`TransferInput` at the bottom is the split input (`materials.split_input`)
that streams the variants into generation.

Per sentence, `n_per_example` attempts; each attempt:

1. **Word pass** over a simple word tokenization (`word_kinds.tokenize`): each *word* token
   becomes the teacher's mask token with probability `p_mask`; otherwise, with
   probability `p_pos`, it is replaced by another word of the *same kind*,
   drawn from the training corpus's unigram distribution of that kind with the
   original word itself excluded (so every counted replacement changes the
   word; a kind with only one word in the corpus cannot replace it, and that
   is counted as `replace_unavailable`).
2. **N-gram sampling**: with probability `p_ng` only a random n-gram of the
   result is kept, n uniform in 1..`max_ngram` over tokens (punctuation
   included); when n is at least the text's length the whole text is kept.
3. **Dedupe**: a variant equal to any training text (the originals given to
   `fit`) or to an earlier variant is dropped, so a sentence yields *up to*
   `n_per_example` variants (as in Tang et al.: "up to N samples"). Exact,
   through a set of 8-byte blake2b hashes of each (text, text_b): about 70 bytes
   per variant in a Python set, i.e. ~70 MB per million variants (the only
   state that grows with the output; a false duplicate among 10 million
   variants has probability ~3e-6).

Sentence pairs: each attempt augments side a, side b or both (uniform among
the three); each augmented side gets its own word pass and n-gram sampling.

Words and their kinds come from `materials.word_kinds` (its docstring has
the rules and their known limits): `tokenize` splits a text into words and
single punctuation characters, keeping the whitespace between them, so a
variant with no operation is byte-identical to its original and dedupe
catches it; punctuation tokens are never masked or replaced and are not
counted as words (masking a comma teaches nothing about the label);
`word_kind` gives each word the kind its replacement must share.

Replacements are drawn by lowercased word; the word is written in its most
frequent spelling in the corpus, capitalised when it replaces the capitalised
first word of a text (all caps when the original was all caps).

Streaming and seeding: `Augmenter.variants` is a generator that works one
input sentence at a time, so memory is bounded by one sentence's variants plus
the dedupe set; windows are the consumer's business (generation reads it in
its own window size). One `numpy.random.Generator(seed)` is consumed in a fixed
pattern per sentence (the same draws whatever the outcomes), so the same
seed, config and texts give the same variants, whatever window size reads
them. `stats` counts every operation over all attempts, dropped duplicates
included, so its rates estimate the configured probabilities.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

import numpy as np

from distill.data.dataset import UNKNOWN_LABEL, Dataset
from materials.schema import MaterialsError
from materials.split_input import Rows
from materials.word_kinds import TOKEN_RE, is_word, tokenize, word_kind

ALGORITHM = "distill.augment/1"   # stored in the transfer split's source; bump when variants would change


# ------------------------------------------------------------------- config
@dataclass(frozen=True)
class AugmentConfig:
    """How many variants per training example and how each is made (Tang et al. 2019 defaults)."""

    n_per_example: int = 10
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    max_ngram: int = 5
    seed: int = 0
    mask_token: str = "[MASK]"   # the teacher's mask token, as text its tokenizer maps to the mask id

    def __post_init__(self):
        for name in ("p_mask", "p_pos", "p_ng"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise MaterialsError(f"augment: {name} must be a probability in [0, 1], got {value}")
        if self.n_per_example < 0:
            raise MaterialsError(f"augment: n_per_example must be >= 0, got {self.n_per_example}")
        if self.max_ngram < 1:
            raise MaterialsError(f"augment: max_ngram must be >= 1, got {self.max_ngram}")
        if not isinstance(self.mask_token, str) or not self.mask_token.strip():
            raise MaterialsError(f"augment: mask_token must be a non-empty string, got {self.mask_token!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AugmentStats:
    """Counts of what one pass of `Augmenter.variants` did, with the rates they imply.

    Operation counts cover every attempt, dropped duplicates included, so
    `mask_rate` estimates p_mask, `replace_rate` (1 - p_mask) * p_pos (less the
    unavailable replacements), `ngram_rate` p_ng.
    """

    sentences: int = 0             # input rows (a pair counts once)
    attempts: int = 0              # sentences * n_per_example
    sides: int = 0                 # texts that went through the word pass (a pair's attempt: 1 or 2)
    words: int = 0                 # word tokens seen in the word pass
    masked: int = 0
    replaced: int = 0
    replace_unavailable: int = 0   # replacement drawn, but the word's kind has no other word
    ngram_sampled: int = 0         # sides on which n-gram sampling fired
    ngram_shortened: int = 0       # ... and the n-gram was shorter than the text
    variants: int = 0              # variants produced (yielded)
    duplicates: int = 0            # attempts dropped: equal to a training text or an earlier variant

    @property
    def mask_rate(self) -> float:
        return self.masked / self.words if self.words else 0.0

    @property
    def replace_rate(self) -> float:
        return self.replaced / self.words if self.words else 0.0

    @property
    def ngram_rate(self) -> float:
        return self.ngram_sampled / self.sides if self.sides else 0.0

    @property
    def duplicate_rate(self) -> float:
        return self.duplicates / self.attempts if self.attempts else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "mask_rate": self.mask_rate, "replace_rate": self.replace_rate,
                "ngram_rate": self.ngram_rate, "duplicate_rate": self.duplicate_rate}

    def summary(self) -> str:
        return (f"augment: {self.variants} variants from {self.sentences} sentences ({self.attempts} attempts, "
                f"{self.duplicates} duplicates dropped); {self.words} words: masked {self.mask_rate:.3f}, "
                f"replaced {self.replace_rate:.3f}; n-gram sampled {self.ngram_rate:.3f}")


# ---------------------------------------------------------------- augmenter
@dataclass
class _KindTable:
    """Unigram distribution of one kind: lowercased words, spellings, cumulative integer counts."""

    spellings: list[str]
    counts: list[int]
    cumulative: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.cumulative = list(itertools.accumulate(self.counts))

    def draw_other(self, index: int, u: float) -> str | None:
        """A word drawn by count with entry `index` excluded (-1: none excluded); None if nothing is left."""
        excluded = self.counts[index] if index >= 0 else 0
        mass = self.cumulative[-1] - excluded
        if mass <= 0:
            return None
        r = u * mass
        if index >= 0 and r >= self.cumulative[index] - excluded:
            r += excluded                 # skip over the excluded word's interval
        j = min(bisect.bisect_right(self.cumulative, r), len(self.counts) - 1)
        if j == index:                    # only reachable through float rounding at an interval edge
            j = index + 1 if index + 1 < len(self.counts) else index - 1
        return self.spellings[j]


@dataclass
class _Side:
    """One text prepared for the word pass: tokens, the whitespace before each, word positions."""

    text: str
    tokens: list[str]
    gaps: list[str]                  # gaps[i]: whitespace before tokens[i]
    tail: str                        # whitespace after the last token
    positions: list[int]             # token index of each word
    kinds: list[str]
    indices: list[int]               # index of each word in its kind's table, -1 if not in the corpus

    def render(self, tokens: list[str], start: int = 0, stop: int | None = None) -> str:
        stop = len(tokens) if stop is None else stop
        if start == 0 and stop == len(tokens):
            return "".join(g + t for g, t in zip(self.gaps, tokens)) + self.tail
        return tokens[start] + "".join(g + t for g, t in zip(self.gaps[start + 1:stop], tokens[start + 1:stop]))


class Augmenter:
    """Tang et al. (2019) transfer-set augmentation: mask, same-kind replacement, n-gram sampling.

    `fit(train_texts)` learns the unigram tables per word kind and remembers
    the originals (for dedupe); `variants(texts)` then lazily yields the
    variants of `texts` (which should be those same training texts).
    """

    def __init__(self, config: AugmentConfig | None = None):
        self.config = config or AugmentConfig()
        self.stats = AugmentStats()
        self._tables: dict[str, _KindTable] | None = None

    # ------------------------------------------------------------------ fit
    def fit(self, texts: Iterable[str], texts_b: Iterable[str] | None = None) -> "Augmenter":
        """Count the words of the training texts (both sides of pairs) by kind; returns self."""
        spellings: Counter[str] = Counter()
        originals: set[int] = set()
        for a, b in _rows(texts, texts_b, "fit"):
            for text in (a, b):
                if text is not None:
                    spellings.update(t for t in tokenize(text) if is_word(t))
            originals.add(_key(a, b))
        by_word: dict[str, list] = {}   # lowercased word -> [count, best spelling, its count]
        for spelling, count in sorted(spellings.items()):
            entry = by_word.setdefault(spelling.lower(), [0, spelling, 0])
            entry[0] += count
            if count > entry[2]:
                entry[1], entry[2] = spelling, count
        grouped: dict[str, list[str]] = {}
        for word in sorted(by_word):
            grouped.setdefault(word_kind(word), []).append(word)
        self._tables = {kind: _KindTable([by_word[w][1] for w in words], [by_word[w][0] for w in words])
                        for kind, words in grouped.items()}
        self._index = {w: i for words in grouped.values() for i, w in enumerate(words)}
        self._originals = originals
        return self

    @property
    def kinds_(self) -> dict[str, list[str]]:
        """The fitted vocabulary: kind -> words (in their written spelling), for inspection and tests."""
        self._check_fitted()
        return {kind: list(table.spellings) for kind, table in self._tables.items()}

    def _check_fitted(self) -> None:
        if self._tables is None:
            raise MaterialsError("augment: call Augmenter.fit(train_texts) before variants()")

    # ------------------------------------------------------------- variants
    def variants(self, texts: Iterable[str], texts_b: Iterable[str] | None = None
                 ) -> Iterator[tuple[str, str | None]]:
        """Lazily yield (variant, variant_b or None) for each text in turn; `self.stats` counts as it goes."""
        self._check_fitted()
        cfg = self.config
        stats = self.stats = AugmentStats()
        rng = np.random.default_rng(cfg.seed)
        seen = set(self._originals)
        n = cfg.n_per_example
        for a, b in _rows(texts, texts_b, "variants"):
            stats.sentences += 1
            seen.add(_key(a, b))
            sides = [self._prepare(a)] + ([] if b is None else [self._prepare(b)])
            draws = [self._draw(rng, side, n) for side in sides]
            # which sides each attempt augments: 0 a only, 1 b only, 2 both (pairs only)
            which = rng.integers(0, 3, size=n) if b is not None else np.zeros(n, dtype=np.int64)
            for k in range(n):
                stats.attempts += 1
                out = [a, b]
                for s, side in enumerate(sides):
                    if b is None or which[k] == 2 or which[k] == s:
                        out[s] = self._apply(side, draws[s], k, stats)
                key = _key(out[0], out[1])
                if key in seen:
                    stats.duplicates += 1
                    continue
                seen.add(key)
                stats.variants += 1
                yield out[0], out[1]

    def _prepare(self, text: str) -> _Side:
        tokens, gaps, end = [], [], 0
        for match in TOKEN_RE.finditer(text):
            gaps.append(text[end:match.start()])
            tokens.append(match.group())
            end = match.end()
        positions = [i for i, t in enumerate(tokens) if is_word(t)]
        kinds, indices = [], []
        for i in positions:
            word = tokens[i].lower()
            kinds.append(word_kind(word))
            indices.append(self._index.get(word, -1))
        return _Side(text, tokens, gaps, text[end:], positions, kinds, indices)

    def _draw(self, rng: np.random.Generator, side: _Side, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All random numbers one side needs for n attempts, drawn whatever the outcomes (reproducibility)."""
        per_word = rng.random((3, n, len(side.positions)))     # mask?, replace?, which replacement
        per_text = rng.random((3, n))                           # n-gram?, its length, its start
        masked = per_word[0] < self.config.p_mask
        replaced = ~masked & (per_word[1] < self.config.p_pos)
        return masked, replaced, np.concatenate([per_word[2], per_text.T], axis=1)

    def _apply(self, side: _Side, draws, k: int, stats: AugmentStats) -> str:
        cfg = self.config
        masked, replaced, u = draws
        n_words = len(side.positions)
        u_ngram, u_length, u_start = u[k, n_words:]
        stats.sides += 1
        stats.words += n_words
        tokens = side.tokens
        changed = False
        hits_mask, hits_replace = np.flatnonzero(masked[k]), np.flatnonzero(replaced[k])
        if len(hits_mask) or len(hits_replace):
            tokens = list(tokens)
            changed = True
            for j in hits_mask:
                tokens[side.positions[j]] = cfg.mask_token
            stats.masked += len(hits_mask)
            for j in hits_replace:
                new = self._tables[side.kinds[j]].draw_other(side.indices[j], u[k, j]) \
                    if side.kinds[j] in self._tables else None
                if new is None:
                    stats.replace_unavailable += 1
                    continue
                pos = side.positions[j]
                tokens[pos] = _match_case(side.tokens[pos], new, first=(j == 0))
                stats.replaced += 1
        if u_ngram < cfg.p_ng:
            stats.ngram_sampled += 1
            length = min(1 + int(u_length * cfg.max_ngram), len(tokens))
            if 0 < length < len(tokens):
                stats.ngram_shortened += 1
                start = int(u_start * (len(tokens) - length + 1))
                return side.render(tokens, start, start + length)
        return side.render(tokens) if changed else side.text


def _match_case(original: str, new: str, first: bool) -> str:
    """Keep an all-caps word all caps and a capitalised first word capitalised; else the corpus spelling."""
    if len(original) > 1 and original.isupper():
        return new.upper()
    if first and original[:1].isupper() and new[:1].islower():
        return new[:1].upper() + new[1:]
    return new


def _key(a: str, b: str | None) -> int:
    """8-byte hash of a (text, text_b) row, stable across processes (unlike `hash`)."""
    data = a.encode("utf-8") + (b"\x00" if b is None else b"\x01" + b.encode("utf-8"))
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _rows(texts: Iterable[str], texts_b: Iterable[str] | None, what: str) -> Iterator[tuple[str, str | None]]:
    """(text, text_b or None) rows, lazily, checking types and that both sides have the same length."""
    if texts_b is not None and hasattr(texts, "__len__") and hasattr(texts_b, "__len__") \
            and len(texts) != len(texts_b):
        raise MaterialsError(f"augment {what}: {len(texts)} texts but {len(texts_b)} second texts")
    rows = zip(texts, itertools.repeat(None)) if texts_b is None else zip(texts, texts_b, strict=True)
    row = -1
    try:
        for row, (a, b) in enumerate(rows):
            if not isinstance(a, str) or (texts_b is not None and not isinstance(b, str)):
                bad = a if not isinstance(a, str) else b
                raise MaterialsError(f"augment {what}: row {row} is {type(bad).__name__}, not a string")
            yield a, b
    except ValueError as exc:
        if "zip()" not in str(exc):
            raise
        raise MaterialsError(f"augment {what}: texts and second texts differ in length after row {row}") from None


# ----------------------------------------------------- generation's input
class TransferInput:
    """The augmented `transfer` split as a `materials.split_input.SplitInput`.

    Built from the TRAIN split only (anything else is refused), so no variant
    of a dev or test sentence can reach the materials file. Rows carry
    y = -1. `windows(start, size)` regenerates the stream from the start and
    skips `start` variants: dedupe makes each variant depend on the ones
    before it, and regenerating is cheap next to the teacher's inference, so a
    resumed generation continues exactly where it stopped. `stats` are those
    of the latest `windows` pass (complete once that pass has run out).
    """

    name = "transfer"

    def __init__(self, train: Dataset, config: AugmentConfig):
        if train.split != "train":
            raise MaterialsError(f"augment: the transfer set is made from the train split only, "
                                 f"got split {train.split!r} of {train.source_id}")
        self.train = train
        self.config = config
        self.is_pair = train.is_pair
        self.augmenter = Augmenter(config).fit(train.texts, train.texts_b)
        self.source = {"kind": "augment", "algorithm": ALGORITHM, "config": config.to_dict(), "split": "train",
                       "source_id": train.source_id, "sha256": train.sha256, "rows": len(train)}

    @property
    def stats(self) -> AugmentStats:
        return self.augmenter.stats

    def windows(self, start: int, size: int):
        if size < 1 or start < 0:
            raise MaterialsError(f"augment: window size must be positive and start >= 0, got {size}, {start}")
        stream = self.augmenter.variants(self.train.texts, self.train.texts_b)
        deque(itertools.islice(stream, start), maxlen=0)
        while True:
            block = list(itertools.islice(stream, size))
            if not block:
                return
            yield Rows([a for a, _ in block], [b for _, b in block] if self.is_pair else None,
                       np.full(len(block), UNKNOWN_LABEL, dtype=np.int32))
