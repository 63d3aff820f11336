"""The Kim (2014) CNN student: teacher word embeddings, parallel convolutions, max-over-time.

Owns `KimCNN` (a serializable Keras model) and `build_kim_cnn`, which sizes it
from a teacher's embedding matrix and copies that matrix in.

Why it looks like this (Kim, "Convolutional Neural Networks for Sentence
Classification", 2014): one Conv1D per window width (3, 4, 5 words, 100
filters each) with ReLU, a max over time per filter, dropout 0.5 and a dense
layer with a max-norm constraint. The embedding modes are the paper's:

- `static`: the teacher's table, frozen (cheapest to train: no optimizer
  state for a 30522-row table),
- `non-static`: the teacher's table, fine-tuned,
- `multichannel`: both; every filter sees both channels and the two results
  are added before the ReLU (the paper's formulation),
- `delta`: the teacher's table, frozen, plus a trainable correction that
  starts at zero, kept only for the rows the training materials use
  (`delta_ids`). A word's vector can move as in `non-static`, but Adam's
  state and update cover those rows (~a third of a BERT vocab on a
  sentence task) instead of the whole table, and a word never seen in
  training keeps the teacher's vector exactly. Beyond Kim: Sučík (2020)
  found a frozen table alone hurt students and a frozen + trainable pair
  worked best; this is that pair, summed before the convolutions,
- `rand`: a random table of the same shape (ablation: what the teacher's
  embeddings are worth).

Inputs are `{"token_ids": int[B, L], "length": int[B]}` as the materials
reader yields them; a sentence pair is one sequence with [SEP] between the
sentences, exactly as the teacher saw it, so any other keys (segment ids) are
ignored. Padding never wins the max: embeddings past `length` are zero (Kim's
zero padding) and every conv position whose window starts past the last full
window is multiplied by 0 after the ReLU, so appending more padding cannot
change the output. A row shorter than a window keeps its one window at
position 0 (real tokens followed by zero vectors). Zero is as good as minus
infinity here: the ReLU outputs are >= 0 and position 0 is always kept, so the
max is unchanged; unlike a large negative mask value, it keeps the pooled
tensor's range that of real activations, which int8 quantisation of an
exported student (students/export.py) calibrates on.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

EMBEDDING_MODES = ("static", "non-static", "multichannel", "delta", "rand")


@keras.saving.register_keras_serializable(package="distill")
class KimCNN(keras.Model):
    """Kim (2014) sentence CNN returning logits [B, num_labels].

    All weights are created in `__init__`, so a model rebuilt from its config
    (`.keras` reload) has its variables before the weights are loaded.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, num_labels: int, widths=(3, 4, 5),
                 filters: int = 100, dropout: float = 0.5, embedding_mode: str = "non-static",
                 max_norm: float | None = 3.0, delta_rows: int = 0, **kwargs):
        super().__init__(**kwargs)
        if embedding_mode not in EMBEDDING_MODES:
            raise ValueError(f"embedding_mode must be one of {', '.join(EMBEDDING_MODES)}, got {embedding_mode!r}")
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be positive integers, got {widths}")
        self.vocab_size, self.embedding_dim, self.num_labels = int(vocab_size), int(embedding_dim), int(num_labels)
        self.widths, self.filters, self.dropout_rate = widths, int(filters), float(dropout)
        self.embedding_mode, self.max_norm = embedding_mode, (None if max_norm is None else float(max_norm))
        self.delta_rows = int(delta_rows)
        if (embedding_mode == "delta") != (self.delta_rows > 0):
            raise ValueError(f"delta_rows must be > 0 exactly in embedding_mode 'delta', got {delta_rows} "
                             f"with {embedding_mode!r}")

        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim,
                                                trainable=embedding_mode not in ("static", "delta"), name="embedding")
        self.embedding.build((None, None))
        self.delta = self.delta_slot = None
        if embedding_mode == "delta":
            # Row 0 is "no correction" (every id outside delta_ids); it is masked out, so it stays 0.
            self.delta = keras.layers.Embedding(self.delta_rows + 1, self.embedding_dim,
                                                embeddings_initializer="zeros", name="delta")
            self.delta.build((None, None))
            self.delta_slot = self.add_weight(shape=(self.vocab_size,), dtype="int32", initializer="zeros",
                                              trainable=False, name="delta_slot")
        self.static_embedding = None
        if embedding_mode == "multichannel":
            self.static_embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim, trainable=False,
                                                           name="static_embedding")
            self.static_embedding.build((None, None))
        # No activation in the conv itself: in multichannel mode the channels are summed first.
        self.convs = []
        for w in widths:
            conv = keras.layers.Conv1D(self.filters, w, padding="valid", name=f"conv_{w}")
            conv.build((None, None, self.embedding_dim))
            self.convs.append(conv)
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        constraint = keras.constraints.MaxNorm(self.max_norm, axis=0) if self.max_norm else None
        self.classifier = keras.layers.Dense(self.num_labels, kernel_constraint=constraint, name="logits")
        self.classifier.build((None, self.filters * len(widths)))
        self.built = True

    def set_embedding(self, matrix: np.ndarray, seed: int = 0, delta_ids=None) -> None:
        """Load the teacher's table (or, in `rand` mode, a random one with its scale).

        `rand` draws U(-a, a) with the teacher table's variance, as Kim drew
        random vectors with the variance of the pre-trained ones. In `delta`
        mode `delta_ids` (`delta_rows` distinct ids) are the rows that get a
        trainable correction, and every correction is reset to zero.
        """
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.shape != (self.vocab_size, self.embedding_dim):
            raise ValueError(f"embedding matrix is {matrix.shape}, model expects "
                             f"{(self.vocab_size, self.embedding_dim)}")
        if self.embedding_mode == "rand":
            a = float(np.sqrt(3.0) * matrix.std())
            matrix = np.random.default_rng(seed).uniform(-a, a, size=matrix.shape).astype(np.float32)
        self.embedding.embeddings.assign(matrix)
        if self.static_embedding is not None:
            self.static_embedding.embeddings.assign(matrix)
        if self.delta is not None:
            ids = np.unique(np.asarray(delta_ids if delta_ids is not None else [], dtype=np.int64))
            if len(ids) != self.delta_rows or (len(ids) and (ids[0] < 0 or ids[-1] >= self.vocab_size)):
                raise ValueError(f"delta mode needs {self.delta_rows} distinct ids in [0, {self.vocab_size}), "
                                 f"got {len(ids)}")
            slot = np.zeros(self.vocab_size, np.int32)
            slot[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
            self.delta_slot.assign(slot)
            self.delta.embeddings.assign(np.zeros((self.delta_rows + 1, self.embedding_dim), np.float32))

    def call(self, inputs, training=False):
        token_ids = ops.cast(inputs["token_ids"], "int32")
        return self.classify(self.embed(token_ids), inputs["length"], training=training)

    def embed(self, token_ids) -> list:
        """The word vectors of `token_ids` [B, L], one [B, L, dim] tensor per embedding channel.

        Split from `classify` so that token attributions (`students.attribution`)
        can differentiate with respect to the word vectors themselves.
        """
        channels = [self.embedding(token_ids)]
        if self.delta is not None:
            slot = ops.take(self.delta_slot, token_ids)
            kept = ops.expand_dims(ops.cast(slot > 0, channels[0].dtype), -1)
            channels = [channels[0] + self.delta(slot) * kept]
        if self.static_embedding is not None:
            channels.append(self.static_embedding(token_ids))
        return channels

    def classify(self, channels: list, length, training=False):
        """Logits [B, num_labels] from word vectors (`embed`'s channels) and real lengths [B]."""
        length = ops.cast(ops.reshape(length, (-1,)), "int32")
        # Append (widest - 1) zero vectors so the widest window fits even a 1-token batch.
        extra = max(self.widths) - 1
        if extra:
            channels = [ops.concatenate([c, ops.zeros((ops.shape(c)[0], extra, ops.shape(c)[2]), c.dtype)], axis=1)
                        for c in channels]
        positions = ops.arange(ops.shape(channels[0])[1], dtype="int32")
        real = ops.expand_dims(ops.cast(positions[None, :] < length[:, None], channels[0].dtype), -1)
        channels = [c * real for c in channels]
        pooled = []
        for width, conv in zip(self.widths, self.convs):
            h = conv(channels[0])
            for extra_channel in channels[1:]:
                h = h + conv(extra_channel) - conv.bias  # same filter on both channels, one bias
            h = ops.relu(h)
            starts = ops.arange(ops.shape(h)[1], dtype="int32")
            last_start = ops.maximum(length - width + 1, 1)
            valid = ops.expand_dims(ops.cast(starts[None, :] < last_start[:, None], h.dtype), -1)
            pooled.append(ops.max(h * valid, axis=1))
        features = ops.concatenate(pooled, axis=-1) if len(pooled) > 1 else pooled[0]
        return self.classifier(self.dropout(features, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embedding_dim=self.embedding_dim, num_labels=self.num_labels,
                      widths=list(self.widths), filters=self.filters, dropout=self.dropout_rate,
                      embedding_mode=self.embedding_mode, max_norm=self.max_norm, delta_rows=self.delta_rows)
        return config

    def word_table(self) -> np.ndarray:
        """The [vocab, dim] vectors the convolutions see per id, channels summed (what a folded
        engine precomputes): the table, plus the static channel or the trained corrections."""
        table = self.embedding.embeddings.numpy()
        if self.static_embedding is not None:
            table = table + self.static_embedding.embeddings.numpy()
        if self.delta is not None:
            slot = self.delta_slot.numpy()
            table = table + np.where((slot > 0)[:, None], self.delta.embeddings.numpy()[slot], 0.0)
        return table

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_kim_cnn(embedding: np.ndarray, num_labels: int, *, embedding_mode: str = "non-static", widths=(3, 4, 5),
                  filters: int = 100, dropout: float = 0.5, max_norm: float | None = 3.0, seed: int = 0,
                  delta_ids=None, name: str = "kim_cnn") -> KimCNN:
    """A `KimCNN` sized from (and initialised with) a teacher's embedding matrix [vocab, hidden];
    `delta_ids` (mode `delta`): the ids that get a trainable correction."""
    embedding = np.asarray(embedding)
    if embedding.ndim != 2:
        raise ValueError(f"embedding must be [vocab, hidden], got shape {embedding.shape}")
    delta_rows = len(np.unique(np.asarray(delta_ids))) if embedding_mode == "delta" and delta_ids is not None else 0
    model = KimCNN(embedding.shape[0], embedding.shape[1], num_labels, widths=widths, filters=filters,
                   dropout=dropout, embedding_mode=embedding_mode, max_norm=max_norm, delta_rows=delta_rows,
                   name=name)
    model.set_embedding(embedding, seed=seed, delta_ids=delta_ids)
    return model


def build_from_facts(facts) -> KimCNN:
    """The built-in `kim-cnn` architecture (`students.archs`): a `KimCNN` from the run's config
    (`embedding`, `widths`, `filters`, `dropout`, `max_norm`, `seed`) and the file's table."""
    c = facts.config
    return build_kim_cnn(facts.embedding, facts.num_labels, embedding_mode=c.embedding, widths=c.widths,
                         filters=c.filters, dropout=c.dropout, max_norm=c.max_norm, seed=c.seed,
                         delta_ids=facts.delta_ids)
