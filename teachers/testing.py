"""Tiny teachers and toy tasks for tests (of teachers, materials, CLI).

Owns the recipe that makes a real fine-tuned teacher run in a few seconds:
the `tiny` BERT config (2 layers, hidden 32) over a vocab built from the
synthetic task texts, fine-tuned with a large learning rate on
`marker_task`. Other packages' tests can use `train_tiny_run` to get a
genuine run folder (`TeacherRun.load` works on it) instead of a stand-in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np

from distill.data.dataset import Dataset, Task
from distill.data.synthetic import LABEL_NAMES, MARKER, WORDS, marker_task
from teachers.bert import BertConfig, BertEncoder
from teachers.finetune import FinetuneConfig, Finetuner
from teachers.registry import LoadedTeacher
from distill.wordpiece import WordPieceTokenizer, build_vocab, read_vocab

TINY_FINETUNE = FinetuneConfig(lr=3e-3, batch_size=16, epochs=5, max_seq_len=32, patience=5)
"""Fine-tuning that takes the tiny teacher above 95% dev accuracy on `marker_task` (a few seconds)."""


def tiny_vocab(path) -> Path:
    """A vocab.txt for every text of the synthetic tasks (single and pair)."""
    texts = []
    for pair in (False, True):
        for split in marker_task(pair=pair).splits.values():
            texts += list(split.texts) + list(split.texts_b or [])
    return build_vocab(texts, path, size=BertConfig.preset("tiny").vocab_size)


def tiny_teacher(vocab_path, seed: int | None = 0, max_seq_len: int = 32) -> LoadedTeacher:
    """A randomly initialised `tiny` teacher; `seed` (weights and dropout
    seeds) is set first unless None (then the caller's seeding applies)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    config = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=len(read_vocab(vocab_path)))
    tokenizer = WordPieceTokenizer(vocab_path, lowercase=True, max_seq_len=max_seq_len)
    return LoadedTeacher("tiny", config, BertEncoder(config), tokenizer, Path(vocab_path),
                         "random weights (test)", None, True)


def marker_pair_task(n_train: int = 400, n_dev: int = 100, n_test: int = 100, seed: int = 0) -> Task:
    """A learnable sentence-pair task: label 1 iff the marker word is in the
    *second* sentence. The first sentence holds the marker half of the time
    either way, so a model can only solve it by telling the segments apart."""
    rng = np.random.default_rng(seed)

    def sentence(marker: bool) -> str:
        words = list(rng.choice(WORDS, size=int(rng.integers(3, 10))))
        if marker:
            words.insert(int(rng.integers(0, len(words) + 1)), MARKER)
        return " ".join(words)

    splits = {}
    for name, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        labels = rng.integers(0, 2, size=n).astype(np.int32)
        texts = [sentence(bool(rng.random() < 0.5)) for _ in labels]
        texts_b = [sentence(bool(y)) for y in labels]
        splits[name] = Dataset(texts, labels, LABEL_NAMES, name, "marker-pair", texts_b=texts_b)
    return Task("marker-pair", splits, list(LABEL_NAMES), is_pair=True)


def train_tiny_run(run_dir, vocab_path=None, task: Task | None = None, config: FinetuneConfig | None = None,
                   seed: int = 0) -> Finetuner:
    """Fine-tune a tiny teacher on `task` (default `marker_task()`) into `run_dir`."""
    run_dir = Path(run_dir)
    if vocab_path is None:
        vocab_path = tiny_vocab(run_dir.parent / f".{run_dir.name}-vocab.txt")
    config = dataclasses.replace(config or TINY_FINETUNE, seed=seed)
    teacher = tiny_teacher(vocab_path, seed=seed, max_seq_len=config.max_seq_len)
    return Finetuner(config, progress=False, echo=None).fit(teacher, task or marker_task(), run_dir)
