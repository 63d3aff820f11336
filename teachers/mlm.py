"""BERT's masked-language-model objective: the masking and the tied MLM head.

Owns what turns a `BertEncoder` into something that can be pretrained:

- `mask_rows`: BERT's masking of unpadded id rows. `rate` (15%) of each row's
  maskable tokens (not [CLS], [SEP], [PAD]) are chosen; of those 80% become
  [MASK], 10% a random token, 10% stay as they are, and all are predicted.
  With `whole_word`, a word's pieces (a token and the `##` pieces after it)
  are chosen together, as in Google's whole-word-masking release. The
  numpy generator is the caller's: pretraining seeds it by (seed, epoch), so
  masks are drawn afresh each epoch and a resumed run draws the same ones.
- `MlmHead`: transform (dense, exact GELU, LayerNorm) then logits against the
  word-embedding matrix itself (tied, as in BERT: the head has no output
  matrix of its own, only a bias), named as Google's checkpoints name it
  (`cls/predictions/...`), so a pretraining checkpoint carries the head and
  a Google or HF BERT's head loads into it.
- `BertPretrainer`: encoder + head, a Keras model whose `compute_loss` is the
  mean cross-entropy over the masked positions only. Inputs gather the masked
  positions (`masked_positions`, padded to the batch's most masks, weight 0 for
  the padding), so the vocabulary-sized product is paid for ~15% of the
  tokens, not all of them.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from distill.distribute import replica_loss
from distill.errors import DistillError
from distill.wordpiece import pad_batch
from teachers.bert import BertEncoder

HEAD_NAMES = ("cls/predictions/transform/dense/kernel", "cls/predictions/transform/dense/bias",
              "cls/predictions/transform/LayerNorm/gamma", "cls/predictions/transform/LayerNorm/beta",
              "cls/predictions/output_bias")
"""The MLM head's tensors in Google's checkpoint names (what `MlmHead.named_weights` returns)."""

MASK_RATE = 0.15
MASK_SPLIT = (0.8, 0.1, 0.1)   # [MASK], random token, kept


# ------------------------------------------------------------------ masking
def maskable(row: np.ndarray, special_ids) -> np.ndarray:
    """Positions of `row` that may be masked: every token but the special ones ([CLS], [SEP], [PAD], ...)."""
    return np.flatnonzero(~np.isin(row, np.asarray(list(special_ids))))


def word_starts(row: np.ndarray, continuation: np.ndarray) -> np.ndarray:
    """For each position, the position its word starts at: a `##` piece (`continuation[id]` true) belongs
    to the word of the token before it."""
    starts = np.arange(len(row))
    for i in range(1, len(row)):
        if continuation[row[i]]:
            starts[i] = starts[i - 1]
    return starts


def mask_rows(rows: list[np.ndarray], rng: np.random.Generator, vocab_size: int, mask_id: int, special_ids,
              rate: float = MASK_RATE, continuation: np.ndarray | None = None,
              random_ids: np.ndarray | None = None):
    """BERT-mask each row of ids (see the module docstring). Returns `(inputs, positions, targets)`:
    the rows with masks applied (new arrays), and per row the masked positions (sorted) and the ids
    that were there. Each row gets round(rate x maskable) masks, at least one when it has a maskable
    token. `continuation` (bool per id: a `##` piece), when given, masks whole words. `random_ids`
    are the ids a random replacement is drawn from (default: every id but the special ones)."""
    if not 0.0 < rate < 1.0:
        raise DistillError(f"--mask-rate must be in (0, 1), got {rate!r}")
    special = np.asarray(sorted(set(int(i) for i in special_ids)))
    if random_ids is None:
        random_ids = np.setdiff1d(np.arange(vocab_size), special)
    inputs, positions, targets = [], [], []
    for row in rows:
        row = np.asarray(row)
        candidates = maskable(row, special)
        want = min(len(candidates), max(1, int(round(rate * len(candidates))))) if len(candidates) else 0
        if continuation is None:
            chosen = rng.choice(candidates, size=want, replace=False) if want else np.zeros(0, np.int64)
        else:
            chosen = _whole_words(row, candidates, want, rng, continuation)
        chosen = np.sort(chosen)
        masked = row.copy()
        action = rng.random(len(chosen))
        to_mask = chosen[action < MASK_SPLIT[0]]
        to_random = chosen[(action >= MASK_SPLIT[0]) & (action < MASK_SPLIT[0] + MASK_SPLIT[1])]
        masked[to_mask] = mask_id
        masked[to_random] = rng.choice(random_ids, size=len(to_random))
        inputs.append(masked)
        positions.append(chosen.astype(np.int32))
        targets.append(row[chosen].astype(np.int32))
    return inputs, positions, targets


def _whole_words(row, candidates, want, rng, continuation) -> np.ndarray:
    """Whole words, in random order, until `want` tokens are chosen (a word that would overshoot is
    skipped, as in Google's create_pretraining_data.py)."""
    starts = word_starts(row, continuation)
    words: dict[int, list[int]] = {}
    for position in candidates:
        words.setdefault(int(starts[position]), []).append(int(position))
    chosen: list[int] = []
    for key in rng.permutation(list(words)):
        pieces = words[int(key)]
        if len(chosen) + len(pieces) > want:
            continue
        chosen += pieces
        if len(chosen) == want:
            break
    return np.asarray(chosen, np.int64)


def mlm_batch(inputs: list[np.ndarray], positions: list[np.ndarray], targets: list[np.ndarray]):
    """`(x, y)` for `BertPretrainer`: the padded inputs plus `masked_positions` [B, P] and
    `masked_weights` [B, P] (P = the batch's most masks; padding slots weigh 0 and point at 0),
    and the target ids [B, P]."""
    x = pad_batch(inputs)
    most = max(1, max(len(p) for p in positions))
    masked_positions = np.zeros((len(inputs), most), np.int32)
    masked_ids = np.zeros((len(inputs), most), np.int32)
    weights = np.zeros((len(inputs), most), np.float32)
    for i, (p, t) in enumerate(zip(positions, targets)):
        masked_positions[i, :len(p)], masked_ids[i, :len(t)], weights[i, :len(p)] = p, t, 1.0
    x["masked_positions"], x["masked_weights"] = masked_positions, weights
    return x, masked_ids


MLM_BATCH_SPEC = (
    {**{key: tf.TensorSpec([None, None], tf.int32, name=key) for key in ("token_ids", "segment_ids", "padding_mask",
                                                                          "masked_positions")},
     "masked_weights": tf.TensorSpec([None, None], tf.float32, name="masked_weights")},
    tf.TensorSpec([None, None], tf.int32, name="masked_ids"),
)
"""The `(x, y)` signature of `mlm_batch`: any batch size, length and number of masks."""


# --------------------------------------------------------------------- head
@keras.saving.register_keras_serializable(package="distill")
class MlmHead(keras.layers.Layer):
    """logits = LayerNorm(gelu(h W + b)) E^T + output_bias, E the encoder's word embeddings (tied)."""

    def __init__(self, encoder: BertEncoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        c = encoder.config
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.dense = keras.layers.Dense(c.hidden_size, kernel_initializer=init, name="dense")
        self.layer_norm = keras.layers.LayerNormalization(epsilon=c.layer_norm_eps, name="LayerNorm")
        self.dense.build((None, c.hidden_size))
        self.layer_norm.build((None, c.hidden_size))
        self.output_bias = self.add_weight(shape=(c.vocab_size,), initializer="zeros", name="output_bias")

    def call(self, hidden):
        h = self.layer_norm(keras.activations.gelu(self.dense(hidden), approximate=False))
        table = ops.cast(self.encoder.word_embeddings, h.dtype)
        # One 2-D product: TensorFlow's gradient of an einsum over "..." builds a huge intermediate
        # (about 30x slower for a [32, 20, 256] x [8192, 256] head).
        flat = tf.matmul(tf.reshape(h, [-1, tf.shape(h)[-1]]), table, transpose_b=True)
        logits = tf.reshape(flat, tf.concat([tf.shape(h)[:-1], [tf.shape(table)[0]]], 0))
        return ops.cast(logits, "float32") + self.output_bias

    def named_weights(self) -> dict:
        """{Google name: variable} of the head's own tensors (the output matrix is the word embeddings)."""
        return dict(zip(HEAD_NAMES, (self.dense.kernel, self.dense.bias, self.layer_norm.gamma,
                                     self.layer_norm.beta, self.output_bias)))


@keras.saving.register_keras_serializable(package="distill")
class BertPretrainer(keras.Model):
    """A BERT encoder with the MLM head: logits [B, P, vocab] at the masked positions of the batch.

    `x` is `mlm_batch`'s dict; `y` the masked ids. `compute_loss` is the mean
    cross-entropy over real masks (`masked_weights` 1), so unmasked tokens and
    padding slots add nothing; `masked_accuracy` tracks the share predicted
    right (each batch's share, weighted by its rows, so the engine can read
    every batch's own value back from the running mean).
    """

    def __init__(self, encoder: BertEncoder, name: str = "bert_pretrainer", **kwargs):
        super().__init__(name=name, **kwargs)
        self.encoder = encoder
        # No next-sentence objective trains the pooler: frozen, it is neither decayed nor warned about.
        encoder.pooler.trainable = False
        self.head = MlmHead(encoder, name="mlm_head")
        self.masked_accuracy = keras.metrics.Mean(name="accuracy")
        self.built = True

    @property
    def config(self):
        return self.encoder.config

    def call(self, x, training=False):
        hidden = self.encoder(x, training=training)["sequence_output"]
        gathered = tf.gather(hidden, tf.cast(x["masked_positions"], tf.int32), batch_dims=1)
        return self.head(gathered)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        weights = tf.cast(x["masked_weights"], tf.float32)
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), y_pred)
        count = tf.reduce_sum(weights)
        mean = tf.reduce_sum(per_token * weights) / tf.maximum(count, 1.0)
        return replica_loss((mean, count), sample_weight=sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        weights = tf.cast(x["masked_weights"], tf.float32)
        hits = tf.cast(tf.equal(tf.argmax(y_pred, -1, output_type=tf.int32), tf.cast(y, tf.int32)), tf.float32)
        share = tf.reduce_sum(hits * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        rows = tf.reduce_sum(sample_weight) if sample_weight is not None else tf.cast(tf.shape(y)[0], tf.float32)
        self.masked_accuracy.update_state(share, sample_weight=rows)
        return self.get_metrics_result()

    def head_tensors(self) -> dict[str, np.ndarray]:
        """The head's tensors by Google name, for a checkpoint."""
        return {name: variable.numpy() for name, variable in self.head.named_weights().items()}

    def set_head(self, tensors: dict[str, np.ndarray]) -> list[str]:
        """Load whichever head tensors `tensors` (Google names) holds; returns the names it loaded
        (a BERT released with its MLM head continues with it; one without starts a fresh head)."""
        loaded = []
        for name, variable in self.head.named_weights().items():
            if name in tensors:
                value = np.asarray(tensors[name], np.float32)
                if value.shape != tuple(variable.shape):
                    raise DistillError(f"MLM head tensor {name}: shape {value.shape}, expected {tuple(variable.shape)}")
                variable.assign(value)
                loaded.append(name)
        return loaded
