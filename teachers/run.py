"""A saved, fine-tuned teacher run folder, loaded for inference.

Owns reading what `teachers.finetune.Finetuner` wrote (`run.json`,
`model.keras`, `config.json`, `vocab.txt`) back into a model and its
tokenizer, checking the pieces agree, and running the teacher: logits for
texts (length-bucketed), for one padded batch (materials generation), label
predictions, and evaluation on a dataset.

A run interrupted by Ctrl-C still loads (its best checkpoint so far);
`complete` says whether training finished.

A `TeacherRun` is also what a fine-tuned model folder becomes when it is
used as it is (`teachers.finetuned`): `run_dir` is then that folder, and its
provenance names it and the sha256 of its weights. `precision="bf16"` runs
the model under Keras mixed bfloat16 (`teachers.precision`); the provenance
says so, and logits stay float32.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from distill.data.dataset import Dataset
from distill.errors import DistillError
from distill.metrics import softmax
from distill.runfiles import MODEL_FILE, RUN_FILE, RunInfo, read_run
from distill.wordpiece import Encoding, WordPieceTokenizer
from teachers.batching import Traces, compiled_forward, logits_in_order
from teachers.bert import BertConfig
from teachers.classifier import BertClassifier
from teachers.finetune import CONFIG_FILE, KIND, VOCAB_FILE, split_metrics


class TeacherRun:
    """A fine-tuned teacher: `.model` (BertClassifier), `.encoder`, `.tokenizer`,
    `.config` (BertConfig), `.label_names`, `.max_seq_len`, `.task_name`,
    `.teacher_name`, `.weights_sha256` (of model.keras), `.vocab_path`,
    `.lowercase`, `.is_pair`, `.complete`, `.run_dir`, `.info` (its `RunInfo`)."""

    def __init__(self, run_dir: Path, info: RunInfo, model: BertClassifier, tokenizer: WordPieceTokenizer,
                 weights_sha256: str, precision: str = "fp32", provenance: dict | None = None):
        self.run_dir = Path(run_dir)
        self.info = info
        self.model = model
        self.tokenizer = tokenizer
        self.weights_sha256 = weights_sha256
        self.precision = precision
        self.provenance_extra = dict(provenance or {})
        """Keys a folder teacher adds to `teacher_provenance` (which head output is which label)."""
        self.traces = Traces()
        self._forward = compiled_forward(model, self.traces)

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls, run_dir: str | os.PathLike, precision: str = "fp32") -> "TeacherRun":
        """The run in `run_dir`, its model built in `precision` (fp32, bf16)."""
        from distill.sources import sha256_file
        from teachers.precision import precision_scope

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise DistillError(f"{run_dir}: no such run folder")
        info = read_run(run_dir, KIND)
        model_path = run_dir / MODEL_FILE
        if not model_path.exists():
            why = "training was interrupted before the first epoch ended" if not info.complete \
                else "the file is missing"
            raise DistillError(f"{model_path}: no saved model ({why})")
        config = _read_config(run_dir / CONFIG_FILE)
        try:
            with precision_scope(precision):
                model = keras.saving.load_model(model_path, compile=False)
        except Exception as exc:  # a truncated or foreign file: say which, not a Keras traceback
            raise DistillError(f"{model_path}: cannot load the model ({type(exc).__name__}: {exc})") from None
        if not isinstance(model, BertClassifier):
            raise DistillError(f"{model_path}: holds a {type(model).__name__}, not a BertClassifier")
        if model.config != config:
            raise DistillError(f"{run_dir / CONFIG_FILE}: does not match the encoder saved in {model_path}")
        label_names = list(info.label_names)
        if model.num_labels != len(label_names):
            raise DistillError(f"{run_dir / RUN_FILE}: {len(label_names)} label names but the model has "
                               f"{model.num_labels} outputs")
        tokenizer = WordPieceTokenizer(run_dir / VOCAB_FILE, lowercase=info.lowercase,
                                       max_seq_len=info.max_seq_len)
        if len(tokenizer) != config.vocab_size:
            raise DistillError(f"{run_dir / VOCAB_FILE}: {len(tokenizer)} tokens but the model's vocab_size "
                               f"is {config.vocab_size}")
        return cls(run_dir, info, model, tokenizer, sha256_file(model_path), precision=precision)

    # --------------------------------------------------------- properties
    @property
    def encoder(self):
        return self.model.encoder

    @property
    def config(self) -> BertConfig:
        return self.model.config

    @property
    def label_names(self) -> list[str]:
        return list(self.info.label_names)

    @property
    def max_seq_len(self) -> int:
        return self.info.max_seq_len

    @property
    def lowercase(self) -> bool:
        return self.info.lowercase

    @property
    def task_name(self) -> str:
        return self.info.task

    @property
    def teacher_name(self) -> str:
        return self.info.name

    @property
    def vocab_path(self) -> Path:
        return self.run_dir / VOCAB_FILE

    @property
    def is_pair(self) -> bool:
        return self.info.is_pair

    @property
    def complete(self) -> bool:
        return self.info.complete

    # ----------------- what materials generation reads (materials.teacher.MaterialsTeacher, structurally)
    @property
    def vocab(self) -> list[str]:
        return self.tokenizer.vocab

    @property
    def vocab_sha256(self) -> str:
        return self.tokenizer.vocab_sha256

    def encode(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> Encoding:
        return self.tokenizer.encode(texts, texts_b)

    def word_embeddings(self) -> np.ndarray:
        return np.asarray(self.encoder.word_embeddings.numpy(), dtype=np.float32)

    def teacher_provenance(self) -> dict:
        from teachers.precision import provenance

        return {"name": self.teacher_name or self.config.name, "config": self.config.to_dict(),
                "weights_sha256": self.weights_sha256, "run_dir": str(self.run_dir), **self.provenance_extra,
                **provenance(self.precision)}

    # ---------------------------------------------------------- inference
    def logits_for_ids(self, token_ids, segment_ids, padding_mask) -> np.ndarray:
        """Logits float32[B, C] of one padded batch (int arrays [B, L], any L)."""
        batch = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        return np.asarray(self._forward({k: np.asarray(v, dtype=np.int32) for k, v in batch.items()}), np.float32)

    def predict_logits(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                       batch_size: int = 32, on_batch=None) -> np.ndarray:
        """Logits float32[N, C] in input order; batches are length-sorted and padded per batch.
        `on_batch(rows)` is called after each batch (a progress bar)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        if self.is_pair and texts_b is None:
            raise DistillError(f"teacher run {self.run_dir} was trained on sentence pairs: give texts_b")
        if not self.is_pair and texts_b is not None:
            raise DistillError(f"teacher run {self.run_dir} was trained on single sentences, not pairs")
        return logits_in_order(self._forward, self.tokenizer.encode(texts, texts_b), batch_size, on_batch=on_batch)

    def predict(self, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64[N], probabilities float32[N, C]); `label_names[label]` names a label.
        The same protocol as `students.predictor.StudentPredictor.predict` (`distill predict`)."""
        probs = softmax(self.predict_logits(texts, texts_b, batch_size))
        return probs.argmax(axis=1), probs

    def evaluate(self, dataset: Dataset, batch_size: int = 32, on_batch=None) -> dict:
        """classification metrics + loss + seconds + it_per_s of this teacher on one split; the
        split's label names must be the run's. `on_batch(rows)` reports progress."""
        self.info.check_labels(dataset.source_id, dataset.label_names, self.run_dir)
        if dataset.is_pair != self.is_pair:
            raise DistillError(f"split {dataset.split} of {dataset.source_id}: "
                               f"{'pairs' if dataset.is_pair else 'single sentences'}, but teacher run "
                               f"{self.run_dir} was trained on {'pairs' if self.is_pair else 'single sentences'}")
        if len(dataset) == 0:
            raise DistillError(f"split {dataset.split} of {dataset.source_id} is empty")
        start = time.perf_counter()
        logits = self.predict_logits(dataset.texts, dataset.texts_b, batch_size, on_batch=on_batch)
        return split_metrics(logits, dataset.labels, self.label_names, time.perf_counter() - start)


def _read_config(path: Path) -> BertConfig:
    try:
        return BertConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise DistillError(f"{path}: missing") from None
    except (OSError, ValueError, TypeError) as exc:
        raise DistillError(f"{path}: not a BertConfig ({exc})") from None
