"""Training a BERT WordPiece vocabulary on a corpus, and the tokenizer folder it is written to.

A BERT pretrained from scratch (teachers/pretrain.py) needs a vocab fitted to
its text; this module trains one with the `tokenizers` library's
WordPieceTrainer behind exactly the normalisation and pre-tokenisation of
`distill.wordpiece` (BertNormalizer, BertPreTokenizer), so the pieces learnt
are the pieces that pipeline later cuts text into.

Layout: [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4, then every character of the
corpus alphabet (after normalisation), every character as a `##`
continuation, then the learnt words and pieces. [PAD]=0 is what every BERT
pads with; our code finds the other special tokens by name. (Google's release
puts [UNK]/[CLS]/[SEP]/[MASK] at 100-103, after [unused] slots that a new
vocab has no use for.) With every character and its continuation in the
vocab, any word of the corpus can be spelled, so the corpus itself never
tokenizes to [UNK] (bar words over 100 characters, which BERT maps to [UNK]).

Deterministic on purpose: a vocab's sha256 is in every later run's
provenance, so training twice on the same corpus must give the same file.
The trainer alone does not: it numbers the `##c` continuations in hash-map
order, and merges of equal count are ranked by those numbers, so both the
order and (at ties near the size limit) the set of tokens vary from run to
run. Passing every `##c` as a special token numbers them up front, in sorted
order, which makes the training itself deterministic; the tokens after the
alphabet are then written sorted (the order of a WordPiece vocab does not
change how it tokenizes).

A tokenizer folder holds `vocab.txt`, `tokenizer.json` (the whole pipeline, for
use without this toolkit), `tokenizer_config.json` (as a Hugging Face BERT
folder has it) and optionally `vocab_training.json` (what it was trained on).
It is written beside its final name and renamed, so it is complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from distill.errors import DistillError
from distill.wordpiece import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, UNK, WordPieceTokenizer, check_texts, read_vocab, \
    vocab_text

VOCAB, TOKENIZER_JSON, TOKENIZER_CONFIG, TRAINING = (
    "vocab.txt", "tokenizer.json", "tokenizer_config.json", "vocab_training.json")
FILES = (VOCAB, TOKENIZER_JSON, TOKENIZER_CONFIG, TRAINING)
"""Everything a tokenizer folder of ours may hold: only such a folder is replaced with `overwrite`."""

CONTINUATION = "##"
_BATCH = 10_000   # lines per encode_batch when measuring coverage


# ----------------------------------------------------------------- training
def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    # strip_accents=None follows `lowercase`, as in distill.wordpiece.
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                      lowercase=lowercase)


def _as_sequence(lines: Iterable[str] | Sequence[str]) -> Sequence[str]:
    lines = lines if isinstance(lines, Sequence) and not isinstance(lines, str) else list(lines)
    check_texts(lines, "lines")
    return lines


def corpus_alphabet(lines: Iterable[str] | Sequence[str], lowercase: bool) -> list[str]:
    """The characters of the corpus after BERT normalisation, whitespace aside, sorted.

    The normaliser works character by character (clean, split CJK, lowercase,
    strip accents), so normalising each distinct raw character gives the
    alphabet of the whole text at a fraction of the cost."""
    raw: set[str] = set()
    for line in lines:
        raw.update(line)
    normalizer = _normalizer(lowercase)
    return sorted({c for r in raw for c in normalizer.normalize_str(r) if not c.isspace()})


def minimum_vocab_size(lines: Iterable[str] | Sequence[str], lowercase: bool) -> int:
    """5 special tokens + each character of the corpus alphabet and its ##continuation."""
    return len(SPECIAL_TOKENS) + 2 * len(corpus_alphabet(lines, lowercase))


def train_vocab(lines: Iterable[str] | Sequence[str], vocab_size: int, lowercase: bool = True,
                min_frequency: int = 2) -> list[str]:
    """A WordPiece vocab of at most `vocab_size` tokens for `lines` (layout in the module docstring).

    `min_frequency`: a pair of pieces occurring fewer times is not merged. A
    small corpus may run out of merges before `vocab_size`; the vocab is then
    smaller. The same lines and options always give the same list."""
    lines = _as_sequence(lines)
    chars = corpus_alphabet(lines, lowercase)
    if not chars:
        raise DistillError("no text to train a vocab on: every line is empty")
    least = len(SPECIAL_TOKENS) + 2 * len(chars)
    if vocab_size < least:
        raise DistillError(f"--vocab-size {vocab_size} is below the {len(SPECIAL_TOKENS)} special tokens + "
                           f"{len(chars)} characters of the corpus alphabet (each also as ##c): use at least {least}")
    continuations = [CONTINUATION + c for c in chars]
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
    tokenizer.normalizer = _normalizer(lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=[*SPECIAL_TOKENS, *continuations],   # numbered up front: see the module docstring
        initial_alphabet=chars, continuing_subword_prefix=CONTINUATION)
    tokenizer.train_from_iterator(lines, trainer, length=len(lines))
    tokens = set(tokenizer.get_vocab())
    missing = [t for t in (*SPECIAL_TOKENS, *chars, *continuations) if t not in tokens]
    if missing:   # cannot happen with the trainer as pinned; a changed one must not write a bad vocab
        raise DistillError(f"the WordPiece trainer left out {len(missing)} token(s) it was given, e.g. {missing[:5]}")
    return canonical_order(tokens)


def canonical_order(tokens: Iterable[str]) -> list[str]:
    """Special tokens first, then single characters, then `##` characters, then the rest; each group sorted."""
    rest = set(tokens).difference(SPECIAL_TOKENS)

    def group(token: str) -> int:
        if len(token) == 1:
            return 0
        return 1 if len(token) == len(CONTINUATION) + 1 and token.startswith(CONTINUATION) else 2

    return [*SPECIAL_TOKENS, *sorted(rest, key=lambda t: (group(t), t))]


# ----------------------------------------------------------------- coverage
@dataclass
class Coverage:
    """How a vocab cuts its corpus: words (pre-tokenized), words cut into more than one piece, [UNK] pieces."""

    words: int
    split_words: int
    unk: int
    pieces: int

    @property
    def split_share(self) -> float:
        return self.split_words / self.words if self.words else 0.0


def coverage(lines: Iterable[str] | Sequence[str], tokens: Sequence[str], lowercase: bool) -> Coverage:
    """Tokenize every line with the vocab (the `distill.wordpiece` pipeline, untruncated) and count."""
    lines = _as_sequence(lines)
    tokenizer = Tokenizer.from_str(WordPieceTokenizer(tokens, lowercase).to_json(padding=False))
    tokenizer.no_truncation()
    is_continuation = np.array([t.startswith(CONTINUATION) for t in tokens])
    unk_id = list(tokens).index(UNK)
    words = split_words = unk = pieces = 0
    for start in range(0, len(lines), _BATCH):
        encoded = tokenizer.encode_batch(list(lines[start:start + _BATCH]), add_special_tokens=False)
        ids = np.fromiter((i for e in encoded for i in e.ids), dtype=np.int64)
        cont = is_continuation[ids]
        # A line never starts with a continuation, so a piece followed by one is in the same word.
        words += int((~cont).sum())
        split_words += int((~cont[:-1] & cont[1:]).sum())
        unk += int((ids == unk_id).sum())
        pieces += len(ids)
    return Coverage(words, split_words, unk, pieces)


# ----------------------------------------------------------- the folder
def check_tokenizer_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """`out` can take a new tokenizer folder: absent, empty, or (with `overwrite`) a tokenizer folder of ours."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise DistillError(f"{out}: a file is in the way of the tokenizer folder")
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if names and not overwrite:
        raise DistillError(f"{out}: not empty; pass --overwrite to replace the tokenizer folder there")
    foreign = [n for n in names if n not in FILES]
    if foreign:
        raise DistillError(f"{out}: holds {foreign[0]!r}, so it is no tokenizer folder of ours and is not replaced; "
                           "choose another --out")
    return out


def write_tokenizer_folder(tokens: list[str], out: str | os.PathLike, lowercase: bool, max_seq_len: int = 512,
                           overwrite: bool = False, info: dict | None = None) -> Path:
    """Write `tokens` as a tokenizer folder at `out` (module docstring); `info` goes to vocab_training.json."""
    out = check_tokenizer_out(out, overwrite)
    tokenizer = WordPieceTokenizer(tokens, lowercase, max_seq_len)   # checks the vocab
    specials = {"unk_token": UNK, "sep_token": SEP, "pad_token": PAD, "cls_token": CLS, "mask_token": MASK}
    config = {"do_lower_case": bool(lowercase), "model_max_length": int(max_seq_len),
              "tokenizer_class": "BertTokenizer", "tokenize_chinese_chars": True, "strip_accents": None, **specials}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh(out, "partial")
    try:
        (tmp / VOCAB).write_text(vocab_text(tokens), encoding="utf-8")
        (tmp / TOKENIZER_JSON).write_text(tokenizer.to_json(padding=False), encoding="utf-8")
        _write_json(tmp / TOKENIZER_CONFIG, config)
        if info is not None:
            _write_json(tmp / TRAINING, info)
        if out.exists():   # empty, or ours with overwrite: move it aside, so `out` is never half written
            old = out.parent / f".{out.name}.partial-old-{uuid.uuid4().hex[:12]}"
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_tokenizer_folder(path: str | os.PathLike) -> tuple[Path, bool]:
    """(vocab.txt, lowercase) of a tokenizer folder: ours, or any folder with a BERT vocab.txt.

    `lowercase` is tokenizer_config.json's `do_lower_case` when it says; else
    guessed from the vocab: no ASCII capital outside the [..] special tokens
    means an uncased vocab."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DistillError(f"{folder}: no such folder (a tokenizer folder holds {VOCAB})")
    vocab = folder / VOCAB
    if not vocab.is_file():
        raise DistillError(f"{folder}: no {VOCAB} in this folder")
    tokens = read_vocab(vocab)   # names the file and any missing special token
    config = folder / TOKENIZER_CONFIG
    if config.is_file():
        try:
            settings = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise DistillError(f"{config}: cannot read ({exc})") from None
        if isinstance(settings, dict) and isinstance(settings.get("do_lower_case"), bool):
            return vocab, settings["do_lower_case"]
    capitals = set(string.ascii_uppercase)
    cased = any(capitals.intersection(t) for t in tokens if not (t.startswith("[") and t.endswith("]")))
    return vocab, not cased


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _fresh(out: Path, what: str) -> Path:
    """A new empty folder beside `out` (`.<name>.partial-...`: our own temporary, as runfiles names them)."""
    tmp = out.parent / f".{out.name}.{what}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    return tmp
