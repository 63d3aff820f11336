"""A trained student as a text-in classifier: what `distill predict runs/student/<id>` runs.

Owns `StudentPredictor`: the run folder's `model.keras`, its `vocab.txt` (the
teacher's vocab, copied from the materials file's /vocab at training time),
the lowercase flag, `max_seq_len` and label names from `run.json`. Together
they are the whole package: a student needs neither the teacher nor the
materials file to classify raw text.

The tokenizer is `distill.wordpiece.WordPieceTokenizer` over the run's
vocab, the very pipeline the teacher tokenized the materials with (a
student may not import `teachers`, so both take it from the foundation):
the same ids token for token, "[MASK]" in a text included, so a student is
never fed ids it did not see in training.

Prediction sorts rows by length and pads each batch to its own longest row,
then restores input order. The forward pass is `students.folded.FoldedKimCNN`
by default (the same logits from precomputed per-token conv tables, in numpy:
several times faster on CPU, see that module); `engine="keras"` runs the
Keras model instead (one compiled forward pass for all shapes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from distill.errors import DistillError
from distill.metrics import softmax
from distill.runfiles import MODEL_FILE, read_run
from distill.wordpiece import WordPieceTokenizer, pad_ids, read_vocab

VOCAB_FILE = "vocab.txt"
ENGINES = ("folded", "keras")


class LengthSortedPredictor:
    """Text in, labels out, for any student with `encode(texts, texts_b) -> [ids]`, `logits_for_ids(ids,
    lengths)` and `label_names`: rows sorted by length, each batch padded to its own longest row, the
    results put back in input order. Shared by run folders (`StudentPredictor`) and export folders
    (`students.exported.ExportedStudent`), so both batch text exactly alike."""

    def predict_logits(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                       batch_size: int = 32) -> np.ndarray:
        """float32 [N, C] logits, computed in length-sorted batches, returned in input order."""
        ids = self.encode(texts, texts_b)
        out = np.zeros((len(ids), len(self.label_names)), dtype=np.float32)
        order = np.argsort([len(row) for row in ids], kind="stable")
        batch_size = max(1, int(batch_size))
        for lo in range(0, len(order), batch_size):
            rows = order[lo:lo + batch_size]
            out[rows] = self.logits_for_ids(*pad_ids([ids[i] for i in rows]))
        return out

    def predict_proba(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                      batch_size: int = 32) -> np.ndarray:
        return softmax(self.predict_logits(texts, texts_b, batch_size))

    def predict(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(label index per text int [N], probabilities float32 [N, C]) — as a teacher run's `predict`;
        `label_names[i]` names index i."""
        probs = self.predict_proba(texts, texts_b, batch_size)
        return probs.argmax(1), probs


class StudentPredictor(LengthSortedPredictor):
    """A student run folder loaded for prediction. Build with `StudentPredictor.load(run_dir)`.

    `engine` "folded" (default) predicts with `FoldedKimCNN`, "keras" with the Keras model; a student
    that is not a Kim CNN (another architecture, a user's own) always runs as Keras (`engine` says so).
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
        self.tokenizer = WordPieceTokenizer(self.vocab, self.lowercase, self.max_seq_len)
        self.engine = engine
        self._forward = None
        self._folded = None
        from students.kim_cnn import KimCNN

        if engine == "folded" and not isinstance(model, KimCNN):   # only the Kim CNN folds into tables
            self.engine = engine = "keras"
        if engine == "folded":
            from distill.training import keep_freed_memory
            from students.folded import FoldedKimCNN

            self._folded = FoldedKimCNN.from_model(model)
            # Each forward allocates a few MB of numpy buffers; once TensorFlow has patched malloc (any
            # `from_generator` dataset in this process), each would be a fresh mmap paid for in page faults,
            # which halves the raw-text throughput. Keeping freed memory for reuse avoids it.
            keep_freed_memory()

    @classmethod
    def load(cls, run_dir: str | os.PathLike, engine: str = "folded") -> "StudentPredictor":
        from students.archs import load_student_model

        run_dir = Path(run_dir)
        info = read_run(run_dir, "student")
        model_path = run_dir / (info.model_file or MODEL_FILE)
        if not model_path.exists():
            raise DistillError(f"{model_path}: missing (the run saved no model: interrupted before its first "
                               "epoch ended, or trained with save_model=False)")
        vocab_path = run_dir / VOCAB_FILE
        vocab = read_vocab(vocab_path)
        model = load_student_model(model_path, info.name)
        if getattr(model, "vocab_size", len(vocab)) != len(vocab):
            raise DistillError(f"{vocab_path}: {len(vocab)} tokens but the model's embedding has "
                               f"{model.vocab_size} rows")
        return cls(model, vocab, info.label_names, info.lowercase, info.max_seq_len,
                   is_pair=info.is_pair, task_name=info.task, run_dir=run_dir, engine=engine)

    # ---------------------------------------------------------------- text
    def encode(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> list[np.ndarray]:
        """Unpadded token ids per text (pairs when `texts_b` is given), as the teacher tokenized them."""
        where = f"student run {self.run_dir}" if self.run_dir else "this student"
        if self.is_pair and texts_b is None:
            raise DistillError(f"{where} was trained on sentence pairs: give texts_b")
        if not self.is_pair and texts_b is not None:
            raise DistillError(f"{where} was trained on single sentences, not pairs")
        return self.tokenizer.encode(texts, texts_b).ids

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
