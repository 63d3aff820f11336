"""A small learnable task for tests and smoke runs.

The label is whether a marker word occurs in the sentence (for pairs: whether
both sentences share their first word). Anything that learns at all reaches
near-perfect accuracy in seconds, so a test can assert that training worked.
"""

from __future__ import annotations

import numpy as np

from distill.data.dataset import Dataset, Task

WORDS = (
    "the a film movie plot actor scene story music light dark long short slow quick "
    "city house road river night day old new red blue green small large".split()
)
MARKER = "wonderful"
LABEL_NAMES = ["negative", "positive"]


def _sentence(rng: np.random.Generator, positive: bool) -> str:
    words = list(rng.choice(WORDS, size=int(rng.integers(3, 12))))
    if positive:
        words.insert(int(rng.integers(0, len(words) + 1)), MARKER)
    return " ".join(words)


def _split(rng, n: int, split: str, pair: bool) -> Dataset:
    labels = rng.integers(0, 2, size=n).astype(np.int32)
    if not pair:
        texts = [_sentence(rng, bool(y)) for y in labels]
        return Dataset(texts, labels, LABEL_NAMES, split, "synthetic")
    texts, texts_b = [], []
    for y in labels:
        a = _sentence(rng, False)
        b = _sentence(rng, False)
        if y:
            b = a.split()[0] + " " + b
        else:
            b = next(w for w in rng.permutation(WORDS) if w != a.split()[0]) + " " + b
        texts.append(a)
        texts_b.append(b)
    return Dataset(texts, labels, LABEL_NAMES, split, "synthetic-pair", texts_b=texts_b)


def marker_task(n_train: int = 400, n_dev: int = 100, n_test: int = 100,
                seed: int = 0, pair: bool = False) -> Task:
    """A seeded synthetic task; the same arguments give the same data."""
    rng = np.random.default_rng(seed)
    splits = {name: _split(rng, n, name, pair)
              for name, n in (("train", n_train), ("dev", n_dev), ("test", n_test))}
    return Task("synthetic-pair" if pair else "synthetic", splits, LABEL_NAMES, is_pair=pair)
