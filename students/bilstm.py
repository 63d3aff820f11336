"""A BiLSTM student (Tang et al., 2019), built the way a user's own architecture is.

Owns `BiLSTMStudent` and `build_bilstm`, the built-in `bilstm` architecture of
`students.archs`. It is the worked example of the any-Keras-student path: the
builder takes `students.archs.StudentFacts` and returns a Keras model that maps
`{"token_ids", "length"}` to logits, exactly what a user's `module:function`
builder returns; nothing in training, export or the report knows its class.

Why this shape: Tang et al. ("Distilling Task-Specific Knowledge from BERT into
Simple Neural Networks", 2019) distilled BERT into one bidirectional LSTM with
150 units per direction over word vectors, the two final states concatenated,
a 200-unit ReLU layer and the logits, trained with MSE on the teacher's
logits. Here the word vectors are the teacher's own table (frozen for
`embedding="static"`, fine-tuned for `"non-static"`), as for the Kim CNN, so
the two students differ only in how they read a sentence. The mask comes from
`length`: padding never enters either direction's state.

Like `KimCNN` it splits `call` into `embed` and `classify`, so token
attributions (`students.attribution`) can differentiate with respect to the
word vectors.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from students.archs import check_arch_embedding

UNITS = 150    # per direction (Tang et al.)
HIDDEN = 200   # the ReLU layer between the LSTM and the logits (Tang et al.)


@keras.saving.register_keras_serializable(package="distill")
class BiLSTMStudent(keras.Model):
    """Bidirectional LSTM over word vectors, returning logits [B, num_labels].

    All weights are created in `__init__`, so a model rebuilt from its config
    (`.keras` reload) has its variables before the weights are loaded.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, num_labels: int, units: int = UNITS,
                 hidden: int = HIDDEN, dropout: float = 0.0, trainable_embedding: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.num_labels = int(vocab_size), int(embedding_dim), int(num_labels)
        self.units, self.hidden_units, self.dropout_rate = int(units), int(hidden), float(dropout)
        self.trainable_embedding = bool(trainable_embedding)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim,
                                                trainable=self.trainable_embedding, name="embedding")
        self.embedding.build((None, None))
        self.encoder = keras.layers.Bidirectional(keras.layers.LSTM(self.units), name="bilstm")
        self.encoder.build((None, None, self.embedding_dim))
        self.hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="hidden")
        self.hidden.build((None, 2 * self.units))
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        self.classifier = keras.layers.Dense(self.num_labels, name="logits")
        self.classifier.build((None, self.hidden_units))
        self.built = True

    def call(self, inputs, training=False):
        token_ids = ops.cast(inputs["token_ids"], "int32")
        return self.classify(self.embed(token_ids), inputs["length"], training=training)

    def embed(self, token_ids) -> list:
        """The word vectors of `token_ids` [B, L], as one channel (what attributions differentiate)."""
        return [self.embedding(token_ids)]

    def classify(self, channels: list, length, training=False):
        """Logits [B, num_labels] from word vectors [B, L, dim] and real lengths [B]."""
        vectors = channels[0]
        length = ops.cast(ops.reshape(length, (-1,)), "int32")
        positions = ops.arange(ops.shape(vectors)[1], dtype="int32")
        mask = positions[None, :] < length[:, None]
        states = self.encoder(vectors, mask=mask, training=training)
        return self.classifier(self.dropout(self.hidden(states), training=training))

    def word_table(self) -> np.ndarray:
        return self.embedding.embeddings.numpy()

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embedding_dim=self.embedding_dim, num_labels=self.num_labels,
                      units=self.units, hidden=self.hidden_units, dropout=self.dropout_rate,
                      trainable_embedding=self.trainable_embedding)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_bilstm(facts) -> BiLSTMStudent:
    """The built-in `bilstm` architecture: Tang et al.'s sizes, the teacher's table copied in,
    dropout from the run's config. Embedding modes: `static` (frozen) or `non-static`."""
    config = facts.config
    mode = getattr(config, "embedding", "static")
    check_arch_embedding("bilstm", mode)
    model = BiLSTMStudent(facts.vocab_size, facts.embedding_dim, facts.num_labels,
                          dropout=getattr(config, "dropout", 0.0), trainable_embedding=mode == "non-static",
                          name="bilstm")
    model.embedding.embeddings.assign(np.asarray(facts.embedding, dtype=np.float32))
    return model
