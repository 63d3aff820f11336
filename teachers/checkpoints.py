"""Loading and saving BERT weights by name: HF safetensors and Google TF checkpoints.

Owns the mapping between checkpoint tensor names and the encoder's variables.
The encoder's variables are already named in the Google layout
(`BertEncoder.named_weights()`), so a Google checkpoint loads by identity and an
HF file through a name translation (`hf_to_google_name`) plus a transpose of
Linear weights (PyTorch stores them [out, in], a Keras kernel is [in, out]).
An HF model may come in shards (`read_hf_safetensors` takes the list); a
fine-tuned classifier head is `classifier.weight/bias` in HF files and
`output_weights/output_bias` in Google ones (also scoped `loss/` or
`bert/loss/` by some copies of run_classifier.py), returned as a head.

Loading is strict: every encoder variable must be found, every tensor in the
file must be used (or be a known pre-training/classifier head, returned to the
caller, or known training state such as Adam slots), and every shape must
match. Anything else is one `DistillError` on one line: the first few
offending names of each kind (missing, unexpected, shape mismatch with the
shape expected and the one found), how many more, and the config field
(`intermediate_size`, `vocab_size`, ...) the shapes contradict; so a wrong
checkpoint is never half-loaded and never silently accepted. Nothing is
assigned until the whole file has been checked. A truncated or corrupt file is
one line naming it. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from distill.errors import DistillError

if TYPE_CHECKING:   # imported where used: the teacher registry's names are read without TensorFlow
    from teachers.bert import BertConfig, BertEncoder

GOOGLE_CKPT = "bert_model.ckpt"
GOOGLE_CONFIG = "bert_config.json"

# Google names of a fine-tuned classifier head (run_classifier.py) as other scripts scope it.
_GOOGLE_HEAD_ALIASES = {f"{scope}output_{kind}": f"output_{kind}" for scope in ("loss/", "bert/loss/")
                        for kind in ("weights", "bias")}
# Tensors of a Google checkpoint that are optimizer or loop state, not weights.
_TRAINING_STATE = re.compile(r"(^|/)(adam_m|adam_v|global_step|good_steps|loss_scale|current_loss_scale)$")
# HF tensors that are buffers or tied copies of other tensors, not weights.
_HF_NON_WEIGHTS = {
    "embeddings.position_ids",
    "cls.predictions.decoder.weight",   # tied to the word embeddings
    "cls.predictions.decoder.bias",     # same tensor as cls.predictions.bias
}
# HF head tensors -> Google names; neither layout transposes these.
_HF_HEADS = {
    "cls.predictions.bias": "cls/predictions/output_bias",
    "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
    "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
    "classifier.weight": "output_weights",
    "classifier.bias": "output_bias",
}
_EMBEDDING_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")


# ------------------------------------------------------------ name mapping
def hf_to_google_name(name: str) -> tuple[str, bool] | None:
    """(Google name, transpose?) for an HF BERT tensor name; None if it is not a weight.

    `bert.` prefixes (BertForPreTraining, BertForSequenceClassification) are
    dropped, so both flavours of file load. Raises KeyError for a name that is
    not part of BERT at all.
    """
    if name.startswith("bert."):
        name = name[len("bert."):]
    if name in _HF_NON_WEIGHTS:
        return None
    if name in _HF_HEADS:
        return _HF_HEADS[name], False
    match = re.fullmatch(r"(embeddings|encoder\.layer\.\d+|pooler|cls\.predictions\.transform)\.(.+)\.(weight|bias|gamma|beta)", name)
    if not match:
        raise KeyError(name)
    scope, module, kind = match.groups()
    root = "cls/predictions/transform" if scope.startswith("cls.") else \
        "bert/" + re.sub(r"^encoder\.layer\.(\d+)$", r"encoder/layer_\1", scope)
    path = f"{root}/{module.replace('.', '/')}"
    if scope == "embeddings" and module in _EMBEDDING_TABLES and kind == "weight":
        return path, False
    if module.endswith("LayerNorm"):
        return f"{path}/{'gamma' if kind in ('weight', 'gamma') else 'beta'}", False
    if kind == "weight":
        return f"{path}/kernel", True
    if kind == "bias":
        return f"{path}/bias", False
    raise KeyError(name)


def google_to_hf_name(name: str) -> tuple[str, bool]:
    """The inverse of `hf_to_google_name` for encoder weights (used to write HF files)."""
    for hf, google in _HF_HEADS.items():
        if name == google:
            return hf, False
    if name.startswith("cls/predictions/transform/"):
        hf = "cls.predictions.transform." + name[len("cls/predictions/transform/"):].replace("/", ".")
    elif name.startswith("bert/"):
        hf = re.sub(r"encoder/layer_(\d+)", r"encoder/layer/\1", name[len("bert/"):]).replace("/", ".")
    else:
        raise KeyError(name)
    table = name.rsplit("/", 1)[-1] in _EMBEDDING_TABLES
    if table:
        return hf + ".weight", False
    hf = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", hf))
    if hf.endswith(".kernel"):
        return hf[: -len(".kernel")] + ".weight", True
    return hf, False


# ------------------------------------------------------------ heads
def _expected_head_shapes(config: BertConfig, tensors: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Shapes of the heads BERT checkpoints may carry beside the encoder."""
    h = config.hidden_size
    shapes = {
        "cls/predictions/transform/dense/kernel": (h, h),
        "cls/predictions/transform/dense/bias": (h,),
        "cls/predictions/transform/LayerNorm/gamma": (h,),
        "cls/predictions/transform/LayerNorm/beta": (h,),
        "cls/predictions/output_bias": (config.vocab_size,),
        "cls/seq_relationship/output_weights": (2, h),
        "cls/seq_relationship/output_bias": (2,),
    }
    # A fine-tuned classifier (Google run_classifier.py): [num_labels, hidden].
    if "output_weights" in tensors:
        num_labels = tensors["output_weights"].shape[0]
        shapes["output_weights"] = (num_labels, h)
        shapes["output_bias"] = (num_labels,)
    elif "output_bias" in tensors:
        shapes["output_bias"] = tensors["output_bias"].shape
    return shapes


# ------------------------------------------------------------ assignment
@dataclass
class _Tensors:
    """Tensors of one file, renamed to the Google layout, with their origin for messages."""

    source: str
    config_file: str = "the config"                            # what a wrong shape may point back to
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)       # google name -> name in the file
    unknown: dict[str, tuple] = field(default_factory=dict)    # names that map to nothing
    hf_prefix: str | None = None     # HF files: "" or "bert.", so a missing tensor is named as the file would name it

    def label(self, name: str) -> str:
        original = self.origin.get(name, name)
        return name if original == name else f"{original} (= {name})"

    def missing_label(self, name: str) -> str:
        """A tensor the file lacks, by the name the file would give it."""
        if self.hf_prefix is None:
            return name
        try:
            hf = google_to_hf_name(name)[0]
        except KeyError:
            return name
        return f"{'' if hf.startswith(('cls.', 'classifier.')) else self.hf_prefix}{hf} (= {name})"


def _shape(shape) -> str:
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


SHOWN_PER_PROBLEM = 3
"""How many names of each kind of problem (missing, unexpected, mis-shaped) an error shows; the rest are counted."""

# Config fields a checkpoint's shapes give away: (field, tensor, axis) in Keras layout.
_SHAPE_FIELDS = (("vocab_size", "bert/embeddings/word_embeddings", 0),
                 ("hidden_size", "bert/embeddings/word_embeddings", 1),
                 ("max_position_embeddings", "bert/embeddings/position_embeddings", 0),
                 ("type_vocab_size", "bert/embeddings/token_type_embeddings", 0),
                 ("intermediate_size", "bert/encoder/layer_0/intermediate/dense/kernel", 1))


def _listed(items: list[str], what: str) -> str:
    shown = "; ".join(items[:SHOWN_PER_PROBLEM])
    more = f"; and {len(items) - SHOWN_PER_PROBLEM} more" if len(items) > SHOWN_PER_PROBLEM else ""
    return f"{len(items)} {what}: {shown}{more}"


def _config_hints(named: dict, tensors: "_Tensors") -> list[str]:
    """`field is X in the checkpoint, Y in the config` for each config field the shapes contradict."""
    hints = []
    for name, tensor, axis in _SHAPE_FIELDS:
        if tensor in named and tensor in tensors.arrays and tensors.arrays[tensor].ndim > axis:
            found, expected = int(tensors.arrays[tensor].shape[axis]), int(named[tensor].shape[axis])
            if found != expected:
                hints.append(f"{name} is {found} in the checkpoint, {expected} in {tensors.config_file}")
    layers = {int(m.group(1)) for n in tensors.arrays if (m := re.match(r"bert/encoder/layer_(\d+)/", n))}
    expected_layers = {int(m.group(1)) for n in named if (m := re.match(r"bert/encoder/layer_(\d+)/", n))}
    if layers and layers == set(range(len(layers))) and len(layers) != len(expected_layers):   # whole layers only
        hints.append(f"num_hidden_layers is {len(layers)} in the checkpoint, {len(expected_layers)} "
                     f"in {tensors.config_file}")
    return hints


def assign_weights(encoder: BertEncoder, tensors: _Tensors, strict: bool = True) -> dict[str, np.ndarray]:
    """Check `tensors` against the encoder, then assign them; returns the heads.

    With `strict`, any missing, unexpected or mis-shaped tensor raises one
    DistillError before anything is assigned: the first few of each kind by
    name (mis-shaped ones with the shape the encoder expects and the one
    found), how many more, and which config field the shapes contradict.
    """
    named = encoder.named_weights()
    head_shapes = _expected_head_shapes(encoder.config, tensors.arrays)
    missing = [f"{tensors.missing_label(name)} (encoder {_shape(var.shape)})" for name, var in named.items()
               if name not in tensors.arrays]
    unexpected = [f"{name} {_shape(shape)}" for name, shape in tensors.unknown.items()]
    mismatched, heads = [], {}
    for name, value in tensors.arrays.items():
        expected = tuple(named[name].shape) if name in named else head_shapes.get(name)
        if expected is None:
            unexpected.append(f"{tensors.label(name)} {_shape(value.shape)}")
        elif tuple(value.shape) != tuple(expected):
            mismatched.append(f"{tensors.label(name)} {'encoder' if name in named else 'head'} expects "
                              f"{_shape(expected)}, found {_shape(value.shape)}")
        elif name not in named:
            heads[name] = value
    problems = [_listed(items, what) for what, items in
                (("shape mismatch" if len(mismatched) == 1 else "shape mismatches", mismatched),
                 ("missing", missing), ("unexpected", unexpected)) if items]
    if problems and strict:
        c = encoder.config
        hints = _config_hints(named, tensors)
        hint = f"; check {tensors.config_file}: " + ", ".join(hints) if hints else ""
        raise DistillError(
            f"{tensors.source} does not fit encoder {c.name!r} ({c.num_layers} layers, hidden {c.hidden_size}, "
            f"intermediate {c.intermediate_size}, vocab {c.vocab_size}; shapes in Keras layout): "
            + " | ".join(problems) + hint
        )
    for name, variable in named.items():
        value = tensors.arrays.get(name)
        if value is not None and tuple(value.shape) == tuple(variable.shape):
            variable.assign(value.astype(variable.dtype, copy=False))
    return heads


# ------------------------------------------------------------ HF safetensors
def read_hf_safetensors(path: str | os.PathLike | Sequence[str | os.PathLike], source: str | None = None) -> _Tensors:
    """An HF BERT safetensors file, or the shards of one (a list of paths), renamed to the
    Google layout (kernels transposed). `source` names the whole in messages (the index file
    of a sharded model); a tensor of a shard is then named with its shard."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    paths = [Path(p) for p in ([path] if isinstance(path, (str, os.PathLike)) else path)]
    sharded = len(paths) > 1
    tensors = _Tensors(source=source or str(paths[0]), config_file="config.json")
    prefixed = 0
    for file in paths:
        try:
            raw = load_file(str(file))
        except TypeError as exc:
            if "bfloat16" not in str(exc):
                raise DistillError(f"{file}: not a readable safetensors file ({exc})") from None
            raw = _load_with_bfloat16(file)
        except (OSError, SafetensorError, ValueError) as exc:
            raise DistillError(f"{file}: not a readable safetensors file ({exc})") from None
        for name, value in raw.items():
            where = f"{name} in {file.name}" if sharded else name
            prefixed += name.startswith("bert.")
            try:
                mapped = hf_to_google_name(name)
            except KeyError:
                tensors.unknown[where] = value.shape
                continue
            if mapped is None:
                continue
            if value.dtype.kind != "f" and value.dtype.name != "bfloat16":   # ml_dtypes' bfloat16 is kind "V"
                raise non_float_weight(file, name, str(value.dtype))
            google, transpose = mapped
            if google in tensors.arrays:
                raise DistillError(f"{file}: tensor {name!r} duplicates {tensors.origin[google]!r} "
                                   f"(both are {google})")
            tensors.arrays[google] = np.ascontiguousarray(value.T) if transpose else value
            tensors.origin[google] = where
    tensors.hf_prefix = "bert." if prefixed else ""
    return tensors


def non_float_weight(file, name: str, dtype: str) -> DistillError:
    """The error for a weight tensor of integers or booleans: loading would cast it to float without a
    word, and no model's weights are integers (buffers such as `position_ids` are, and are not weights)."""
    return DistillError(f"{file}: tensor {name} holds {dtype} values; BERT weights are floating point "
                        "(F32, F16 or BF16), so this file is not a model's weights")


_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                       "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def _load_with_bfloat16(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file holding bfloat16 tensors (HF models saved in bf16), which numpy cannot
    represent: read by hand (8-byte header length, JSON header, raw little-endian data), bfloat16
    widened to float32 exactly (its bits are float32's upper half)."""
    import struct

    with open(path, "rb") as handle:
        data = handle.read()
    try:
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + size])
        out = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            lo, hi = (8 + size + int(o) for o in entry["data_offsets"])
            if entry["dtype"] == "BF16":
                bits = np.frombuffer(data[lo:hi], dtype="<u2").astype(np.uint32) << 16
                out[name] = bits.view(np.float32).reshape(entry["shape"])
            else:
                out[name] = np.frombuffer(data[lo:hi], dtype=_SAFETENSORS_DTYPES[entry["dtype"]]).reshape(
                    entry["shape"]).copy()
    except (KeyError, ValueError, TypeError, struct.error) as exc:
        raise DistillError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    return out


def load_hf_safetensors(encoder: BertEncoder, path: str | os.PathLike, strict: bool = True) -> dict[str, np.ndarray]:
    """Load an HF `model.safetensors` into `encoder`; returns head tensors (Google names)."""
    return assign_weights(encoder, read_hf_safetensors(path), strict=strict)


def hf_arrays(encoder: BertEncoder, prefix: str = "", heads: dict[str, np.ndarray] | None = None) -> dict:
    """The encoder (and heads, by Google name) as HF tensors: `prefix` "bert." is the layout of
    `BertForSequenceClassification` and `BertForPreTraining`, "" that of `BertModel`."""
    arrays = {}
    for name, value in [*((n, v.numpy()) for n, v in encoder.named_weights().items()), *(heads or {}).items()]:
        hf, transpose = google_to_hf_name(name)
        key = hf if name in _HF_HEADS.values() or hf.startswith("cls.") else prefix + hf
        arrays[key] = np.ascontiguousarray(np.asarray(value).T if transpose else np.asarray(value))
    return arrays


HF_METADATA = {"format": "pt"}
"""What `transformers` asks of a safetensors file's metadata before it loads it into PyTorch."""


def save_hf_safetensors(encoder: BertEncoder, path: str | os.PathLike, prefix: str = "",
                        heads: dict[str, np.ndarray] | None = None) -> Path:
    """Write the encoder as an HF safetensors file: a `BertModel` (names without `bert.`), or with
    `prefix="bert."` and a classifier head a `BertForSequenceClassification`."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(hf_arrays(encoder, prefix, heads), str(path), metadata=HF_METADATA)
    return path


# ------------------------------------------------------------ Google checkpoints
def google_checkpoint_prefix(path: str | os.PathLike) -> str:
    """The checkpoint prefix for a directory (or a prefix given directly).

    Prefers `bert_model.ckpt`, then the `checkpoint` state file, then the only
    `*.index` file in the directory.
    """
    import tensorflow as tf

    path = Path(path)
    if path.is_dir():
        if (path / f"{GOOGLE_CKPT}.index").exists():
            return str(path / GOOGLE_CKPT)
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0])[: -len(".index")]
        raise DistillError(
            f"{path}: expected one TF checkpoint ({GOOGLE_CKPT}.index and .data-*), found "
            f"{len(indexes)} .index files")
    if Path(str(path) + ".index").exists():
        return str(path)
    raise DistillError(f"{path}: no such checkpoint directory or prefix")


CONFIG_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
"""The sizes every BERT config file (config.json, bert_config.json) must give, positive integers."""
CONFIG_OPTIONAL_SIZES = ("max_position_embeddings", "type_vocab_size")


def check_config_sizes(config: dict, where) -> None:
    """The sizes of a config file (`where`, named in the message) by their JSON names: each a positive
    integer, and `num_attention_heads` dividing `hidden_size`. Made on the JSON, before TensorFlow, so a
    wrong file is blamed by its own field names rather than by the encoder built from it."""
    for key in (*CONFIG_SIZES, *CONFIG_OPTIONAL_SIZES):
        value = config.get(key)
        if value is None and key in CONFIG_SIZES:
            raise DistillError(f"{where}: missing key {key!r}")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DistillError(f"{where}: field {key!r} must be a positive integer, got {json.dumps(value)[:40]}")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    if hidden % heads:
        raise DistillError(f"{where}: field 'num_attention_heads' ({heads}) does not divide field 'hidden_size' "
                           f"({hidden}); every attention head takes hidden_size / num_attention_heads dimensions")


def read_google_config(directory: str | os.PathLike, name: str = "google-bert") -> BertConfig:
    """The `BertConfig` of a Google checkpoint directory, from its `bert_config.json` (errors name its path)."""
    from teachers.bert import BertConfig

    path = Path(directory) / GOOGLE_CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DistillError(f"{path}: missing; a Google BERT checkpoint directory has bert_config.json") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DistillError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DistillError(f"{path}: not a JSON object")
    try:
        return BertConfig.from_google_json(data, name=name)
    except DistillError as exc:
        text = str(exc)
        raise DistillError(f"{path.parent}/{text}" if text.startswith(GOOGLE_CONFIG) else text) from None


def read_google_checkpoint(path: str | os.PathLike) -> _Tensors:
    """All weight tensors of a TF1 name-based checkpoint (training state left out)."""
    import tensorflow as tf

    prefix = google_checkpoint_prefix(path)
    tensors = _Tensors(source=prefix, config_file=GOOGLE_CONFIG)
    name = None
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        for name in sorted(shapes):
            if not _TRAINING_STATE.search(name):
                google = _GOOGLE_HEAD_ALIASES.get(name, name)
                if google in tensors.arrays:
                    raise DistillError(f"{prefix}: tensors {tensors.origin.get(google, google)!r} and {name!r} "
                                       f"are both the classifier's {google}")
                tensors.arrays[google] = np.asarray(reader.get_tensor(name))
                tensors.origin[google] = name
    except DistillError:
        raise
    except Exception as exc:   # noqa: BLE001 - a truncated data file raises IndexError, others OpError/ValueError
        why = (str(exc).strip().splitlines() or [""])[0][:200] or type(exc).__name__
        if name is None:   # the index (the table of contents) did not read
            raise DistillError(f"{prefix}.index: cannot read the TF checkpoint index ({why})") from None
        data = sorted(p.name for p in Path(prefix).parent.glob(Path(prefix).name + ".data-*"))
        raise DistillError(f"{Path(prefix).parent / (data[0] if len(data) == 1 else Path(prefix).name + '.data-*')}: "
                           f"truncated or corrupt: reading tensor {name} failed ({why})") from None
    return tensors


def google_checkpoint_shapes(path: str | os.PathLike) -> dict[str, tuple]:
    """{name: shape} of a checkpoint's weight tensors (aliases resolved), read from its index only."""
    import tensorflow as tf

    prefix = google_checkpoint_prefix(path)
    try:
        shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    except Exception as exc:   # noqa: BLE001 - as in read_google_checkpoint
        why = (str(exc).strip().splitlines() or [""])[0][:200] or type(exc).__name__
        raise DistillError(f"{prefix}.index: cannot read the TF checkpoint index ({why})") from None
    return {_GOOGLE_HEAD_ALIASES.get(n, n): tuple(s) for n, s in shapes.items() if not _TRAINING_STATE.search(n)}


def load_google_checkpoint(encoder: BertEncoder, path: str | os.PathLike, strict: bool = True) -> dict[str, np.ndarray]:
    """Load a Google BERT checkpoint into `encoder`; returns the head tensors found
    (cls/predictions/*, cls/seq_relationship/*, output_weights/output_bias) by name."""
    return assign_weights(encoder, read_google_checkpoint(path), strict=strict)


def save_google_checkpoint(encoder: BertEncoder, directory: str | os.PathLike, vocab_path: str | os.PathLike,
                           heads: dict[str, np.ndarray] | None = None, overwrite: bool = False) -> Path:
    """Write the encoder (and optional heads) the way Google's BERT release is laid
    out: `bert_model.ckpt.{index,data-00000-of-00001}`, `bert_config.json`,
    `vocab.txt`, `checkpoint`. Returns the directory.

    Files are written to a temporary folder first and moved in at the end, and an
    existing checkpoint is never replaced unless `overwrite`.
    """
    import tensorflow as tf

    directory = Path(directory)
    if (directory / f"{GOOGLE_CKPT}.index").exists() and not overwrite:
        raise DistillError(f"{directory}: already holds {GOOGLE_CKPT}; pass overwrite=True to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: variable.numpy() for name, variable in encoder.named_weights().items()}
    for name, value in (heads or {}).items():
        if name in tensors:
            raise DistillError(f"save_google_checkpoint: head {name!r} collides with an encoder weight")
        tensors[name] = np.asarray(value)
    names = sorted(tensors)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".partial-") as tmp:
        tmp = Path(tmp)
        tf.raw_ops.SaveV2(prefix=str(tmp / GOOGLE_CKPT), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=[tensors[n] for n in names])
        (tmp / GOOGLE_CONFIG).write_text(json.dumps(encoder.config.to_google_json(), indent=2) + "\n")
        shutil.copyfile(vocab_path, tmp / "vocab.txt")
        (tmp / "checkpoint").write_text(
            f'model_checkpoint_path: "{GOOGLE_CKPT}"\nall_model_checkpoint_paths: "{GOOGLE_CKPT}"\n')
        for item in sorted(tmp.iterdir()):
            os.replace(item, directory / item.name)
    return directory
