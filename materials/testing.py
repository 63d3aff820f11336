"""Small, valid, learnable materials files for tests of readers and students.

Owns `write_toy_materials`, so other packages' tests get a real materials
file in milliseconds without a teacher. The file is written through the same
`materials.schema` writer as `materials.generate` and passes `validate`.

The task is learnable by any student: a row's label is c > 0 when the marker
word of class c occurs in it (class 1's marker is "wonderful") and 0 when no
marker occurs; the toy "teacher" logits favour the true class by a margin of
about 4 with a little noise, so distilling from logits and training on `y`
both work.

Also owns `ToyTeacher`, a numpy-only object with exactly the members of
`materials.teacher.MaterialsTeacher`, so generation can be tested (and run in
a child process that a test kills) without TensorFlow or a teacher run.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from distill.metrics import classification_metrics
from distill.wordpiece import SPECIAL_TOKENS
from materials import schema

SPECIALS = list(SPECIAL_TOKENS)
PAD_ID, CLS_ID, SEP_ID = 0, 2, 3


def write_toy_materials(path: str | os.PathLike, n_per_split: int = 64, vocab_size: int = 50, hidden: int = 16,
                        seed: int = 0, *, max_seq_len: int = 16, num_labels: int = 2,
                        splits: tuple[str, ...] = ("train", "dev", "test"), transfer_rows: int = 0,
                        pair: bool = False, chunk_rows: int | None = None) -> Path:
    """Write a toy materials file at `path` and return the path.

    `n_per_split` rows in each of `splits`; `transfer_rows` > 0 adds a
    `transfer` split whose `y` is -1 (as augmentation writes it). `pair=True`
    makes a sentence-pair file (`segment`, `text_b`). Same arguments, same bytes
    of data.
    """
    if num_labels < 2:
        raise ValueError("num_labels must be at least 2")
    markers = ["wonderful"] + [f"marker{c}" for c in range(2, num_labels)]
    n_words = vocab_size - len(SPECIALS) - len(markers)
    if n_words < 4:
        raise ValueError(f"vocab_size {vocab_size} too small for {num_labels} labels")
    if max_seq_len < (8 if pair else 5):
        raise ValueError(f"max_seq_len {max_seq_len} too small for the toy rows")
    vocab = SPECIALS + markers + [f"w{i}" for i in range(n_words)]
    label_names = ["negative", "positive"] if num_labels == 2 else [f"class{c}" for c in range(num_labels)]
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        schema.create_file(
            h5, task="toy", label_names=label_names, max_seq_len=max_seq_len,
            teacher={"name": "toy", "config": {"hidden_size": hidden}, "weights_sha256": None, "run_dir": None},
            tokenizer={"vocab_sha256": "toy", "lowercase": True},
            dataset={"id": "toy", "sha256": f"toy-seed{seed}"},
            embedding=rng.normal(0.0, 0.1, size=(vocab_size, hidden)).astype(np.float32),
            vocab=vocab,
        )
        wanted = [(s, n_per_split) for s in splits] + ([("transfer", transfer_rows)] if transfer_rows else [])
        for split, n in wanted:
            group = schema.create_split(h5, split, pair=pair, source={"toy": split, "seed": seed},
                                        chunk_rows=chunk_rows or 32)
            block = _toy_rows(rng, n, vocab, markers, max_seq_len, num_labels, pair, unknown=split == "transfer")
            schema.append_rows(group, block, seconds=0.001 * max(n, 1))
            schema.finish_split(group, classification_metrics(block["y"], block["logits"].argmax(axis=1),
                                                              label_names))
    return path


def _toy_rows(rng, n, vocab, markers, max_seq_len, num_labels, pair, unknown) -> dict:
    first_word = len(SPECIALS) + len(markers)
    x = np.zeros((n, max_seq_len), dtype=np.int32)
    segment = np.zeros((n, max_seq_len), dtype=np.int8)
    length = np.zeros(n, dtype=np.int16)
    labels = rng.integers(0, num_labels, size=n).astype(np.int32)
    texts, texts_b = [], []
    budget = max_seq_len - (3 if pair else 2)
    for i, label in enumerate(labels):
        n_a = int(rng.integers(1, (budget // 2 if pair else budget) + 1))
        words = list(rng.integers(first_word, len(vocab), size=n_a))
        if label > 0:
            words[int(rng.integers(0, n_a))] = len(SPECIALS) + int(label) - 1
        ids = [CLS_ID, *words, SEP_ID]
        texts.append(" ".join(vocab[w] for w in words))
        if pair:
            n_b = int(rng.integers(1, budget - n_a + 1))
            words_b = list(rng.integers(first_word, len(vocab), size=n_b))
            texts_b.append(" ".join(vocab[w] for w in words_b))
            segment[i, len(ids):len(ids) + n_b + 1] = 1
            ids += [*words_b, SEP_ID]
        x[i, :len(ids)] = ids
        length[i] = len(ids)
    logits = rng.normal(0.0, 0.5, size=(n, num_labels)).astype(np.float32)
    logits[np.arange(n), labels] += 4.0
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    block = {
        "x": x, "length": length,
        "y": np.full(n, -1, dtype=np.int32) if unknown else labels,
        "logits": logits, "ysm": (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32),
        "text": texts,
    }
    if pair:
        block["segment"] = segment
        block["text_b"] = texts_b
    return block



class ToyTeacher:
    """A teacher with exactly the members of `MaterialsTeacher` and nothing else: logits are the mean of
    2-d word vectors, the vocab is the given words (no `teachers` code, no TensorFlow). Same arguments,
    same logits."""

    label_names = ["negative", "positive"]
    is_pair = False
    lowercase = True

    def __init__(self, words, max_seq_len: int = 16, seed: int = 0):
        from distill.wordpiece import SPECIAL_TOKENS, WordPieceTokenizer

        self._tokenizer = WordPieceTokenizer([*SPECIAL_TOKENS, *words], lowercase=True, max_seq_len=max_seq_len)
        self._table = np.random.default_rng(seed).normal(size=(len(self._tokenizer), 2)).astype(np.float32)

    @property
    def max_seq_len(self) -> int:
        return self._tokenizer.max_seq_len

    @property
    def vocab(self) -> list[str]:
        return self._tokenizer.vocab

    @property
    def vocab_sha256(self) -> str:
        return self._tokenizer.vocab_sha256

    def encode(self, texts, texts_b=None):
        return self._tokenizer.encode(texts, texts_b)

    def logits_for_ids(self, token_ids, segment_ids, padding_mask):
        mask = np.asarray(padding_mask, np.float32)[..., None]
        return (self._table[token_ids] * mask).sum(axis=1) / mask.sum(axis=1)

    def word_embeddings(self):
        return self._table

    def teacher_provenance(self) -> dict:
        return {"name": "bag-of-words", "config": {"dim": 2}, "weights_sha256": None, "run_dir": ""}


TOY_CLI_CHILD = """
import sys, types
from distill.data.synthetic import MARKER, WORDS
from materials.testing import ToyTeacher


class TeacherRun(ToyTeacher):      # `distill materials generate --teacher X` gets the toy teacher
    task_name = "synthetic"

    @classmethod
    def load(cls, path, **options):   # (precision=...: the toy teacher has one)
        run = cls(sorted({*WORDS, MARKER}), max_seq_len=24)
        run.run_dir = str(path)
        return run


sys.modules["teachers.run"] = types.SimpleNamespace(TeacherRun=TeacherRun)
import distill.app.cli as cli
import materials.generate

cli._import_tensorflow_quietly = lambda: None
argv = sys.argv[1:]
if argv and argv[0] == "--no-space-check":    # meet the full disk in the HDF5 library's own writes
    argv = argv[1:]
    materials.generate._ensure_space = lambda *args, **kwargs: None
sys.exit(cli.main(argv))
"""
"""A `python -c` script that runs `distill ARGS` with `ToyTeacher` standing in for every teacher run (no
TensorFlow), for tests that start the real CLI in child processes (kills, full disks, parallel shards).
A first argument `--no-space-check` turns off the free-space check, so the HDF5 library meets a full
disk in its own writes."""
