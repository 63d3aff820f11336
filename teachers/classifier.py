"""A BERT sequence classifier: encoder + pooling + dropout + dense head.

Owns the head that turns a `BertEncoder` into a task model, and how the
sequence is pooled into one vector for it (`POOLINGS`):

- `cls`: the pooled [CLS] vector (tanh(W·h[CLS]+b), the vector BERT was
  pre-trained to summarise a sentence or a sentence pair with), as in
  Google's `run_classifier.py`;
- `mean`: the mean of the last layer's vectors over the real tokens
  ([CLS] and [SEP] included, padding excluded). Sentence embedders such as
  all-MiniLM-L6-v2 were trained with this pooling, not with [CLS], and their
  pooler weights were never trained for anything.

Sentence pairs need nothing special here because the tokenizer's segment ids
already tell the encoder which sentence is which.

`set_head` puts a head trained elsewhere (an HF `classifier`, a Google
`output_weights`) in place, in the Google layout [num_labels, hidden].

The model is registered as Keras-serializable and builds all its weights in
`__init__`, so a `model.keras` file reloads into exactly the same structure
without a forward pass.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from distill.distribute import replica_loss
from distill.errors import DistillError
from teachers.bert import BertEncoder

POOLINGS = ("cls", "mean")


def mean_pool(sequence_output, padding_mask):
    """[B, L, H] vectors averaged over the positions where `padding_mask` [B, L] is 1 -> [B, H].

    A row with no real token gives zeros, not NaN."""
    mask = tf.cast(padding_mask, sequence_output.dtype)[:, :, None]
    total = tf.reduce_sum(sequence_output * mask, axis=1)
    return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="distill")
class BertClassifier(keras.Model):
    """logits[B, C] = Dense(Dropout(pool(encoder(inputs)))), `pooling` one of `POOLINGS`.

    `inputs` is the encoder's dict {"token_ids", "segment_ids", "padding_mask"}.
    The head is initialised like BERT's (truncated normal, stddev 0.02) so the
    first logits are near zero and the first loss is near log(C).
    """

    def __init__(self, encoder: BertEncoder, num_labels: int, dropout: float = 0.1, pooling: str = "cls",
                 name: str = "bert_classifier", **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(num_labels, int) or num_labels < 2:
            raise DistillError(f"BertClassifier: num_labels must be an int >= 2, got {num_labels!r}")
        if not 0.0 <= dropout < 1.0:
            raise DistillError(f"BertClassifier: dropout must be in [0, 1), got {dropout!r}")
        if pooling not in POOLINGS:
            raise DistillError(f"BertClassifier: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        if pooling == "mean":   # the [CLS] pooler feeds nothing: frozen, so the optimizer expects no gradient
            encoder.pooler.trainable = False
        self.encoder = encoder
        self.num_labels = num_labels
        self.dropout_rate = float(dropout)
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
        # float32 whatever the global policy: under bf16 inference (teachers.precision) the logits
        # stay float32 from a float32 product, only the encoder computes in bfloat16.
        self.head = keras.layers.Dense(
            num_labels, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), name="classifier",
            dtype="float32")
        self.head.build((None, encoder.config.hidden_size))
        self.built = True

    @property
    def config(self):
        """The encoder's `BertConfig`."""
        return self.encoder.config

    def set_head(self, output_weights, output_bias) -> None:
        """Assign a trained head: `output_weights` [num_labels, hidden] (Google's and HF's layout), `output_bias`."""
        import numpy as np

        weights, bias = np.asarray(output_weights, np.float32), np.asarray(output_bias, np.float32)
        expected = (self.num_labels, self.config.hidden_size)
        if weights.shape != expected or bias.shape != (self.num_labels,):
            raise DistillError(f"BertClassifier: head of shape {weights.shape} / {bias.shape}, expected {expected} "
                               f"/ ({self.num_labels},)")
        self.head.kernel.assign(weights.T)
        self.head.bias.assign(bias)

    def head_weights(self):
        """(output_weights [num_labels, hidden], output_bias [num_labels]) as numpy, in the Google layout."""
        return self.head.kernel.numpy().T.copy(), self.head.bias.numpy().copy()

    def call(self, inputs, training=False):
        return self.head(self.dropout(self.pool(inputs, training=training), training=training))

    def pool(self, inputs, training=False):
        """The [B, hidden] vector the head reads (`pooling`)."""
        outputs = self.encoder(inputs, training=training)
        if self.pooling == "mean":
            return mean_pool(outputs["sequence_output"], inputs["padding_mask"])
        return outputs["pooled_output"]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The fine-tuning objective for `fit`: mean cross-entropy of the logits against integer labels
        (under a tf.distribute strategy, this replica's share of the whole batch's mean)."""
        per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(y, y_pred)
        return replica_loss((tf.reduce_mean(per_row), tf.shape(per_row)[0]), sample_weight=sample_weight)

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_labels": self.num_labels,
            "dropout": self.dropout_rate,
            "pooling": self.pooling,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        return cls(encoder, **config)
