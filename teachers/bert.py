"""The BERT encoder as plain Keras 3 layers, and its configuration presets.

Owns `BertConfig` (the numbers that define an architecture) and `BertEncoder`
(token ids -> hidden states + pooled [CLS] vector). Written as Keras layers
rather than keras-hub's `BertBackbone` because keras-hub drags in a second
TensorFlow (see docs/design.md, "Stack choices").

Every layer and variable is named after the Google BERT checkpoint layout, so
a variable's path *is* the checkpoint name it comes from, e.g.
`bert/encoder/layer_3/attention/self/query/kernel`. `BertEncoder.named_weights()`
returns that mapping; `teachers.checkpoints` loads and saves weights through it
and never relies on the order of variables.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import keras
from keras import layers, ops

from distill.errors import DistillError

CANONICAL_ROOT = "bert"
"""Root of every weight name, whatever the encoder instance is called."""


# ------------------------------------------------------------------- config
@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder. Dropout is used for both hidden states and
    attention probabilities, as in every released BERT."""

    name: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        for field in ("vocab_size", "hidden_size", "num_layers", "num_heads",
                      "intermediate_size", "max_position", "type_vocab_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DistillError(f"BertConfig {self.name!r}: {field} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_heads:
            raise DistillError(
                f"BertConfig {self.name!r}: hidden_size {self.hidden_size} is not divisible "
                f"by num_heads {self.num_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise DistillError(f"BertConfig {self.name!r}: dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    # -- presets
    @classmethod
    def preset(cls, name: str) -> "BertConfig":
        """tiny (tests); mini, small, medium (the small BERTs of Turc et al. 2019); minilm-l6
        (all-MiniLM-L6-v2); base, large (Google BERT)."""
        if name not in PRESETS:
            raise DistillError(f"unknown BERT preset {name!r}; known: {', '.join(PRESETS)}")
        return PRESETS[name]

    # -- (de)serialisation
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DistillError(f"BertConfig: unknown fields {unknown}")
        return cls(**d)

    @classmethod
    def from_hf_json(cls, d: dict, name: str = "hf-bert") -> "BertConfig":
        """From a Hugging Face `config.json` of a `BertModel`."""
        return cls._from_json(d, name, "config.json", eps_key="layer_norm_eps")

    @classmethod
    def from_google_json(cls, d: dict, name: str = "google-bert") -> "BertConfig":
        """From a Google `bert_config.json` (no epsilon there: BERT always used 1e-12; a
        `layer_norm_eps` key, written by `to_google_json` for another value, is honoured)."""
        return cls._from_json(d, name, "bert_config.json", eps_key="layer_norm_eps")

    @classmethod
    def _from_json(cls, d: dict, name: str, filename: str, eps_key: str | None) -> "BertConfig":
        from teachers.checkpoints import check_config_sizes

        check_config_sizes(d, filename)   # the file's own field names, not this class's, in any message
        # Refuse what this encoder does not implement rather than load it silently wrong.
        act = d.get("hidden_act", "gelu")
        if act not in ("gelu", "gelu_python"):
            raise DistillError(f"{filename}: hidden_act {act!r} is not supported (only exact 'gelu')")
        pos = d.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise DistillError(f"{filename}: position_embedding_type {pos!r} is not supported")
        try:
            return cls(
                name=name,
                vocab_size=int(d["vocab_size"]),
                hidden_size=int(d["hidden_size"]),
                num_layers=int(d["num_hidden_layers"]),
                num_heads=int(d["num_attention_heads"]),
                intermediate_size=int(d["intermediate_size"]),
                max_position=int(d.get("max_position_embeddings", 512)),
                type_vocab_size=int(d.get("type_vocab_size", 2)),
                dropout=float(d.get("hidden_dropout_prob", 0.1)),
                layer_norm_eps=float(d.get(eps_key, 1e-12)) if eps_key else 1e-12,
            )
        except KeyError as exc:
            raise DistillError(f"{filename}: missing key {exc.args[0]!r}") from None

    def to_google_json(self) -> dict:
        """The `bert_config.json` Google's code expects (written next to a checkpoint)."""
        return {
            "attention_probs_dropout_prob": self.dropout,
            "hidden_act": "gelu",
            "hidden_dropout_prob": self.dropout,
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position,
            "num_attention_heads": self.num_heads,
            "num_hidden_layers": self.num_layers,
            "type_vocab_size": self.type_vocab_size,
            "vocab_size": self.vocab_size,
            **({"layer_norm_eps": self.layer_norm_eps} if self.layer_norm_eps != 1e-12 else {}),
        }

    def to_hf_json(self) -> dict:
        """The BERT fields of a Hugging Face `config.json` (a `BertModel`'s; callers add architectures, labels)."""
        return {**self.to_google_json(), "layer_norm_eps": self.layer_norm_eps, "model_type": "bert",
                "pad_token_id": 0, "position_embedding_type": "absolute"}

    def num_parameters(self) -> int:
        """Parameter count from the shapes alone (checked against Keras in the tests)."""
        h, i = self.hidden_size, self.intermediate_size
        embeddings = (self.vocab_size + self.max_position + self.type_vocab_size) * h + 2 * h
        block = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h
        pooler = h * h + h
        return embeddings + self.num_layers * block + pooler

    def flops_per_token(self, seq_len: int) -> int:
        """Forward multiply-adds x 2 per token at `seq_len`: the dense layers plus
        the two attention matmuls (scores and weighted values); the pooler and
        elementwise work are negligible and left out."""
        h, i = self.hidden_size, self.intermediate_size
        dense = 2 * (4 * h * h + 2 * h * i)
        attention = 2 * 2 * seq_len * h
        return self.num_layers * (dense + attention)


PRESETS: dict[str, BertConfig] = {
    "tiny": BertConfig("tiny", vocab_size=1000, hidden_size=32, num_layers=2, num_heads=2,
                       intermediate_size=64, max_position=128),
    "mini": BertConfig("mini", vocab_size=30522, hidden_size=256, num_layers=4, num_heads=4,
                       intermediate_size=1024),
    "small": BertConfig("small", vocab_size=30522, hidden_size=512, num_layers=4, num_heads=8,
                        intermediate_size=2048),
    "medium": BertConfig("medium", vocab_size=30522, hidden_size=512, num_layers=8, num_heads=8,
                         intermediate_size=2048),
    "minilm-l6": BertConfig("minilm-l6", vocab_size=30522, hidden_size=384, num_layers=6,
                            num_heads=12, intermediate_size=1536),
    "base": BertConfig("base", vocab_size=30522, hidden_size=768, num_layers=12, num_heads=12,
                       intermediate_size=3072),
    "large": BertConfig("large", vocab_size=30522, hidden_size=1024, num_layers=24, num_heads=16,
                        intermediate_size=4096),
}


def _initializer():
    # BERT's truncated normal with stddev 0.02: random-init teachers then have
    # the activation scale of a real one, which keeps throughput numbers honest.
    return keras.initializers.TruncatedNormal(stddev=0.02)


# ------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="distill")
class BertEmbeddings(layers.Layer):
    """word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.layer_norm = layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")
        self.dropout = layers.Dropout(config.dropout)

    def build(self, input_shape=None):
        c = self.config
        self.word_embeddings = self.add_weight(
            shape=(c.vocab_size, c.hidden_size), initializer=_initializer(), name="word_embeddings")
        self.position_embeddings = self.add_weight(
            shape=(c.max_position, c.hidden_size), initializer=_initializer(), name="position_embeddings")
        self.token_type_embeddings = self.add_weight(
            shape=(c.type_vocab_size, c.hidden_size), initializer=_initializer(),
            name="token_type_embeddings")
        self.layer_norm.build((None, None, c.hidden_size))

    def call(self, token_ids, segment_ids, training=False, word_vectors=None):
        """`word_vectors` [B, L, hidden], when given, stand in for the looked-up word embeddings
        (token attributions interpolate them); positions and segments are added as usual."""
        seq_len = ops.shape(token_ids)[1]
        x = ops.take(self.word_embeddings, token_ids, axis=0) if word_vectors is None else word_vectors
        x = x + ops.take(self.token_type_embeddings, segment_ids, axis=0)
        x = x + ops.expand_dims(self.position_embeddings[:seq_len], 0)
        return self.dropout(self.layer_norm(x), training=training)

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="distill")
class SelfAttention(layers.Layer):
    """Multi-head scaled dot-product attention over one sequence (`attention/self`).

    query/key/value stay separate [hidden, hidden] Dense kernels, exactly the
    checkpoint's tensors, so loading is a plain name lookup; the attention
    itself is two batched matmuls (einsum)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        dense = dict(units=config.hidden_size, kernel_initializer=_initializer())
        self.query = layers.Dense(name="query", **dense)
        self.key = layers.Dense(name="key", **dense)
        self.value = layers.Dense(name="value", **dense)
        self.dropout = layers.Dropout(config.dropout)

    def build(self, input_shape=None):
        for dense in (self.query, self.key, self.value):
            dense.build((None, None, self.config.hidden_size))

    def _split_heads(self, x, seq_len):
        return ops.reshape(x, (-1, seq_len, self.config.num_heads, self.config.head_size))

    def call(self, x, attention_bias, training=False):
        seq_len = ops.shape(x)[1]
        # Scale q before the product: one [B,L,H] multiply instead of [B,h,L,L].
        q = self._split_heads(self.query(x) * (1.0 / math.sqrt(self.config.head_size)), seq_len)
        k = self._split_heads(self.key(x), seq_len)
        v = self._split_heads(self.value(x), seq_len)
        scores = ops.einsum("bqhd,bkhd->bhqk", q, k) + ops.cast(attention_bias, q.dtype)
        probs = self.dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", probs, v)
        return ops.reshape(context, (-1, seq_len, self.config.hidden_size))

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="distill")
class DenseResidualNorm(layers.Layer):
    """dense -> dropout -> LayerNorm(residual + x): BERT's post-LN sub-layer
    output, named `output` in the checkpoint (`.../output/dense`, `.../output/LayerNorm`)."""

    def __init__(self, config: BertConfig, input_size: int, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.input_size = input_size
        self.dense = layers.Dense(config.hidden_size, kernel_initializer=_initializer(), name="dense")
        self.layer_norm = layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")
        self.dropout = layers.Dropout(config.dropout)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.input_size))
        self.layer_norm.build((None, None, self.config.hidden_size))

    def call(self, x, residual, training=False):
        return self.layer_norm(residual + self.dropout(self.dense(x), training=training))

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict(), "input_size": self.input_size}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="distill")
class Attention(layers.Layer):
    """`attention`: self-attention (`attention/self`) + its output sub-layer (`attention/output`)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.self_attention = SelfAttention(config, name="self")
        self.output_layer = DenseResidualNorm(config, config.hidden_size, name="output")

    def build(self, input_shape=None):
        self.self_attention.build()
        self.output_layer.build()

    def call(self, x, attention_bias, training=False):
        context = self.self_attention(x, attention_bias, training=training)
        return self.output_layer(context, x, training=training)

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="distill")
class TransformerBlock(layers.Layer):
    """`layer_N`: attention, then the feed-forward net (`intermediate` with exact
    erf GELU, `output`), each followed by residual + LayerNorm (post-LN)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.attention = Attention(config, name="attention")
        self.intermediate = layers.Dense(
            config.intermediate_size, kernel_initializer=_initializer(), name="dense")
        self.output_layer = DenseResidualNorm(config, config.intermediate_size, name="output")

    def build(self, input_shape=None):
        self.attention.build()
        # The checkpoint calls it `intermediate/dense`: give the Dense that scope.
        with keras.name_scope("intermediate"):
            self.intermediate.build((None, None, self.config.hidden_size))
        self.output_layer.build()

    def call(self, x, attention_bias, training=False):
        x = self.attention(x, attention_bias, training=training)
        h = keras.activations.gelu(self.intermediate(x), approximate=False)
        return self.output_layer(h, x, training=training)

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="distill")
class Pooler(layers.Layer):
    """`pooler`: tanh(W · h[CLS] + b), the sentence vector BERT was pre-trained with (NSP)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.dense = layers.Dense(config.hidden_size, activation="tanh",
                                  kernel_initializer=_initializer(), name="dense")

    def build(self, input_shape=None):
        self.dense.build((None, self.config.hidden_size))

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0])

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


# ------------------------------------------------------------------ encoder
@keras.saving.register_keras_serializable(package="distill")
class BertEncoder(keras.Model):
    """BERT: token ids, segment ids and a padding mask in; hidden states and
    the pooled [CLS] vector out.

    Inputs are a dict {"token_ids": int[B,L], "segment_ids": int[B,L],
    "padding_mask": bool/int[B,L] (1 = real token)}, optionally with
    "word_vectors": float[B,L,hidden] in place of the word-embedding lookup
    (what integrated gradients differentiates with respect to). Outputs are float32 even
    under a mixed-precision policy, so callers never see bfloat16 by surprise.
    """

    def __init__(self, config: BertConfig, name: str = "bert", **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = config
        self.embeddings = BertEmbeddings(config, name="embeddings")
        self.blocks = [TransformerBlock(config, name=f"layer_{i}") for i in range(config.num_layers)]
        self.pooler = Pooler(config, name="pooler")
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings.build()
        with keras.name_scope("encoder"):
            for block in self.blocks:
                block.build()
        self.pooler.build()
        self.built = True

    @property
    def word_embeddings(self):
        """The [vocab, hidden] word-embedding table (teaching materials copy it)."""
        return self.embeddings.word_embeddings

    def call(self, inputs, training=False):
        token_ids = ops.cast(inputs["token_ids"], "int32")
        segment_ids = ops.cast(inputs["segment_ids"], "int32")
        mask = ops.cast(inputs["padding_mask"], "float32")
        # Additive bias [B,1,1,L]: padded keys get -10000 before the softmax,
        # i.e. weight exp(-1e4) = 0 in float32 and no NaN when a row is all padding.
        attention_bias = (1.0 - mask)[:, None, None, :] * -10000.0
        x = self.embeddings(token_ids, segment_ids, training=training, word_vectors=inputs.get("word_vectors"))
        for block in self.blocks:
            x = block(x, attention_bias, training=training)
        return {
            "sequence_output": ops.cast(x, "float32"),
            "pooled_output": ops.cast(self.pooler(x), "float32"),
        }

    def named_weights(self) -> dict:
        """{Google checkpoint name: Keras variable}, e.g.
        `bert/encoder/layer_0/attention/self/query/kernel`. Names are taken from
        the variables' paths relative to this encoder, so they are the same
        when the encoder is nested inside a classifier or renamed."""
        prefix = self.path + "/"
        named = {}
        for variable in self.weights:
            if not variable.path.startswith(prefix):
                raise DistillError(f"encoder variable {variable.path!r} is outside {self.path!r}")
            named[f"{CANONICAL_ROOT}/{variable.path[len(prefix):]}"] = variable
        return named

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)
