"""A trained student as a text-in classifier: what `distill predict runs/student/<id>` runs.

Owns `StudentPredictor`: the run folder's `model.keras`, its `vocab.txt` (the
teacher's vocab, copied from the materials file's /vocab at training time),
the lowercase flag, `max_seq_len` and label names from `run.json`. Together
they are the whole package: a student needs neither the teacher nor the
materials file to classify raw text.

Why the tokenizer is rebuilt here and not imported from `teachers/`: a
student knows only its materials (DESIGN.md dependency rule). It is the same
pipeline the teacher used, built from the `tokenizers` library's parts:
BertNormalizer (clean text, CJK split, lowercase + strip accents when
uncased), BertPreTokenizer, greedy longest-match WordPiece with `##`
continuations and [UNK], the `[CLS] a [SEP]` / `[CLS] a [SEP] b [SEP]`
template, longest-first truncation to `max_seq_len`. The tests check it
gives the teacher tokenizer's ids token for token; any drift would silently
feed the student ids it never saw in training.

Prediction sorts rows by length and pads each batch to its own longest row,
then restores input order. The forward pass is `students.folded.FoldedKimCNN`
by default (the same logits from precomputed per-token conv tables, in numpy:
several times faster on CPU, see that module); `engine="keras"` runs the
Keras model instead (one compiled forward pass for all shapes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from distill.errors import DistillError
from distill.runfiles import MODEL_FILE, RUN_FILE

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
VOCAB_FILE = "vocab.txt"
ENGINES = ("folded", "keras")


def wordpiece_tokenizer(vocab: Sequence[str], lowercase: bool, max_seq_len: int):
    """A `tokenizers.Tokenizer` for BERT WordPiece over `vocab` (line number = id), truncating to `max_seq_len`."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors

    index = {token: i for i, token in enumerate(vocab)}
    missing = [t for t in (PAD, UNK, CLS, SEP) if t not in index]
    if missing:
        raise DistillError(f"vocab lacks the special tokens {missing}")
    tokenizer = Tokenizer(models.WordPiece(index, unk_token=UNK, max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=None, lowercase=bool(lowercase))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, index[CLS]), (SEP, index[SEP])],
    )
    if MASK in index:   # as teachers.tokenizer: "[MASK]" in a text is the mask token (augmented rows hold it)
        tokenizer.add_special_tokens([AddedToken(MASK, normalized=False)])
    tokenizer.enable_truncation(int(max_seq_len), strategy="longest_first")
    return tokenizer


class StudentPredictor:
    """A student run folder loaded for prediction. Build with `StudentPredictor.load(run_dir)`.

    `engine` "folded" (default) predicts with `FoldedKimCNN`, "keras" with the Keras model.
    """

    def __init__(self, model, vocab: list[str], label_names: list[str], lowercase: bool, max_seq_len: int,
                 is_pair: bool = False, task_name: str | None = None, run_dir: Path | None = None,
                 engine: str = "folded"):
        if engine not in ENGINES:
            raise DistillError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.model = model
        self.vocab = list(vocab)
        self.label_names = list(label_names)
        self.lowercase = bool(lowercase)
        self.max_seq_len = int(max_seq_len)
        self.is_pair = bool(is_pair)
        self.task_name = task_name
        self.run_dir = run_dir
        self.tokenizer = wordpiece_tokenizer(self.vocab, self.lowercase, self.max_seq_len)
        self.engine = engine
        self._forward = None
        self._folded = None
        if engine == "folded":
            from students.folded import FoldedKimCNN

            self._folded = FoldedKimCNN.from_model(model)

    @classmethod
    def load(cls, run_dir: str | os.PathLike, engine: str = "folded") -> "StudentPredictor":
        import keras

        import students.kim_cnn  # noqa: F401  (registers KimCNN for deserialization)

        run_dir = Path(run_dir)
        info_path = run_dir / RUN_FILE
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DistillError(f"{run_dir}: no {RUN_FILE}; not a run folder") from None
        except (OSError, ValueError) as exc:
            raise DistillError(f"{info_path}: cannot read ({exc})") from None
        if not isinstance(info, dict) or info.get("kind") != "student":
            raise DistillError(f"{info_path}: kind is {info.get('kind') if isinstance(info, dict) else None!r}, "
                               "not a student run")
        for key in ("label_names", "max_seq_len", "lowercase"):
            if key not in info:
                raise DistillError(f"{info_path}: no {key!r}")
        model_path = run_dir / (info.get("model_file") or MODEL_FILE)
        if not model_path.exists():
            raise DistillError(f"{model_path}: missing (the run saved no model: interrupted before its first "
                               "epoch ended, or trained with save_model=False)")
        vocab_path = run_dir / VOCAB_FILE
        try:
            vocab = vocab_path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DistillError(f"{vocab_path}: cannot read ({exc.strerror})") from None
        try:
            model = keras.saving.load_model(model_path)
        except Exception as exc:  # Keras raises many types for a bad file; all mean the same here
            raise DistillError(f"{model_path}: cannot load the student model ({type(exc).__name__}: {exc})") from None
        if getattr(model, "vocab_size", len(vocab)) != len(vocab):
            raise DistillError(f"{vocab_path}: {len(vocab)} tokens but the model's embedding has "
                               f"{model.vocab_size} rows")
        return cls(model, vocab, info["label_names"], info["lowercase"], info["max_seq_len"],
                   is_pair=bool(info.get("is_pair")), task_name=info.get("task"), run_dir=run_dir, engine=engine)

    # ---------------------------------------------------------------- text
    def encode(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> list[np.ndarray]:
        """Unpadded token ids per text (pairs when `texts_b` is given), as the teacher tokenized them."""
        texts = list(texts)
        _check_texts(texts, "texts")
        where = f"student run {self.run_dir}" if self.run_dir else "this student"
        if self.is_pair and texts_b is None:
            raise DistillError(f"{where} was trained on sentence pairs: give texts_b")
        if not self.is_pair and texts_b is not None:
            raise DistillError(f"{where} was trained on single sentences, not pairs")
        if texts_b is None:
            encoded = self.tokenizer.encode_batch(texts)
        else:
            texts_b = list(texts_b)
            _check_texts(texts_b, "texts_b")
            if len(texts_b) != len(texts):
                raise DistillError(f"texts_b has {len(texts_b)} rows but texts has {len(texts)}")
            encoded = self.tokenizer.encode_batch(list(zip(texts, texts_b)))
        return [np.asarray(e.ids, dtype=np.int32) for e in encoded]

    def predict_logits(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                       batch_size: int = 32) -> np.ndarray:
        """float32 [N, C] logits, computed in length-sorted batches, returned in input order."""
        ids = self.encode(texts, texts_b)
        out = np.zeros((len(ids), len(self.label_names)), dtype=np.float32)
        order = np.argsort([len(row) for row in ids], kind="stable")
        for lo in range(0, len(order), max(1, int(batch_size))):
            rows = order[lo:lo + batch_size]
            out[rows] = self.logits_for_ids(*pad_ids([ids[i] for i in rows]))
        return out

    def predict_proba(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                      batch_size: int = 32) -> np.ndarray:
        return _softmax(self.predict_logits(texts, texts_b, batch_size))

    def predict(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(label index per text int [N], probabilities float32 [N, C]) — as a teacher run's `predict`;
        `label_names[i]` names index i."""
        probs = self.predict_proba(texts, texts_b, batch_size)
        return probs.argmax(1), probs

    # ----------------------------------------------------------------- ids
    def logits_for_ids(self, token_ids: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Logits of one padded batch of ids (what a materials file holds in `x` / `length`)."""
        if self._folded is not None:
            return self._folded.logits(token_ids, length)
        if self._forward is None:
            import tensorflow as tf

            model = self.model
            spec = {"token_ids": tf.TensorSpec([None, None], tf.int32), "length": tf.TensorSpec([None], tf.int32)}
            self._forward = tf.function(lambda batch: model(batch, training=False), input_signature=[spec])
        batch = {"token_ids": np.asarray(token_ids, dtype=np.int32), "length": np.asarray(length, dtype=np.int32)}
        return np.asarray(self._forward(batch), dtype=np.float32)


def pad_ids(ids: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad rows of ids with 0 ([PAD]) to the longest; returns (token_ids [B, L], length [B])."""
    length = np.fromiter((len(row) for row in ids), dtype=np.int32, count=len(ids))
    token_ids = np.zeros((len(ids), int(length.max()) if len(ids) else 0), dtype=np.int32)
    for r, row in enumerate(ids):
        token_ids[r, :len(row)] = row
    return token_ids, length


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _check_texts(texts: list, what: str) -> None:
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise DistillError(f"{what}: row {row} is {type(text).__name__}, not a string")
