"""Length-bucketed batches of tokenized rows, and running a model over them.

Owns the two batch orders a teacher uses and the one compiled forward pass:

- training: `bucketed_batches` shuffles the rows, sorts them by length inside
  large windows (so a batch holds rows of similar length and little padding),
  then shuffles the batches (so the model does not see lengths in order);
- inference: `sorted_batches` sorts all rows by length; `logits_in_order`
  runs the batches and puts the logits back in input order.

Every batch is padded to its own longest row, so batch shapes vary. A
`tf.function` traced per shape would retrace for every new length (a
"retrace storm": seconds each for a real BERT); `compiled_forward` and the
fine-tuning step use an input signature with `None` dimensions instead, so
each traces exactly once. `Traces` counts traces so tests can check that.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from distill.wordpiece import Encoding, pad_batch

INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")
BATCH_SPEC = {key: tf.TensorSpec([None, None], tf.int32, name=key) for key in INPUT_KEYS}
"""Input signature of one padded batch: any batch size, any length."""


class Traces(Counter):
    """How many times each compiled function was traced (Python side effects
    inside a `tf.function` run only while tracing)."""


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                     window_batches: int = 50) -> list[np.ndarray]:
    """Row indices of training batches for one epoch, length-bucketed.

    Rows are shuffled, cut into windows of `window_batches * batch_size`
    rows, sorted by length within each window and cut into batches; the
    batch order is then shuffled. Every row appears exactly once.
    """
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    window = max(1, window_batches) * batch_size
    batches = []
    for lo in range(0, len(order), window):
        chunk = order[lo:lo + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices sorted by length, cut into batches (inference: least padding)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad_rows(encoding: Encoding, rows: Sequence[int]) -> dict[str, np.ndarray]:
    """The padded batch of `rows` of an encoding (padded to the longest of them)."""
    return pad_batch([encoding.ids[i] for i in rows], [encoding.segments[i] for i in rows])


def compiled_forward(model, traces: Traces | None = None, key: str = "forward") -> Callable:
    """`model(batch, training=False)` as a tf.function that traces once for all shapes."""

    @tf.function(input_signature=[BATCH_SPEC])
    def forward(batch):
        if traces is not None:
            traces[key] += 1
        return model(batch, training=False)

    return forward


def logits_in_order(forward: Callable, encoding: Encoding, batch_size: int,
                    on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Logits for every row of `encoding`, computed in length-sorted batches
    and returned in the encoding's row order. `on_batch(rows)` reports progress."""
    out = None
    for rows in sorted_batches(encoding.lengths, batch_size):
        logits = np.asarray(forward(pad_rows(encoding, rows)), dtype=np.float32)
        if out is None:
            out = np.empty((len(encoding), logits.shape[1]), dtype=np.float32)
        out[rows] = logits
        if on_batch is not None:
            on_batch(len(rows))
    if out is None:
        raise ValueError("logits_in_order: no rows")
    return out


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy over the rows whose label is known (>= 0)."""
    labels = np.asarray(labels)
    known = labels >= 0
    if not known.any():
        return float("nan")
    z = logits[known].astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(z)), labels[known]].mean())
