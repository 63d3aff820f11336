"""Loading and saving BERT weights by name: HF safetensors and Google TF checkpoints.

Owns the mapping between checkpoint tensor names and the encoder's variables.
The encoder's variables are already named in the Google layout
(`BertEncoder.named_weights()`), so a Google checkpoint loads by identity and an
HF file through a name translation (`hf_to_google_name`) plus a transpose of
Linear weights (PyTorch stores them [out, in], a Keras kernel is [in, out]).

Loading is strict: every encoder variable must be found, every tensor in the
file must be used (or be a known pre-training/classifier head, returned to the
caller, or known training state such as Adam slots), and every shape must
match. Anything else is one `DistillError` listing every offending name, so a
wrong checkpoint is never half-loaded and never silently accepted. Nothing is
assigned until the whole file has been checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distill.errors import DistillError
from teachers.bert import BertConfig, BertEncoder

GOOGLE_CKPT = "bert_model.ckpt"
GOOGLE_CONFIG = "bert_config.json"

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
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)       # google name -> name in the file
    unknown: dict[str, tuple] = field(default_factory=dict)    # names that map to nothing

    def label(self, name: str) -> str:
        original = self.origin.get(name, name)
        return name if original == name else f"{original} (= {name})"


def _shape(shape) -> str:
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def assign_weights(encoder: BertEncoder, tensors: _Tensors, strict: bool = True) -> dict[str, np.ndarray]:
    """Check `tensors` against the encoder, then assign them; returns the heads.

    With `strict`, any missing, unexpected or mis-shaped tensor raises one
    DistillError naming all of them before anything is assigned.
    """
    named = encoder.named_weights()
    head_shapes = _expected_head_shapes(encoder.config, tensors.arrays)
    missing = [f"{name} (encoder {_shape(var.shape)})" for name, var in named.items()
               if name not in tensors.arrays]
    unexpected = [f"{name} {_shape(shape)}" for name, shape in tensors.unknown.items()]
    mismatched, heads = [], {}
    for name, value in tensors.arrays.items():
        expected = tuple(named[name].shape) if name in named else head_shapes.get(name)
        if expected is None:
            unexpected.append(f"{tensors.label(name)} {_shape(value.shape)}")
        elif tuple(value.shape) != tuple(expected):
            mismatched.append(f"{tensors.label(name)}: checkpoint {_shape(value.shape)} vs "
                              f"{'encoder' if name in named else 'head'} {_shape(expected)}")
        elif name not in named:
            heads[name] = value
    problems = [f"{len(items)} {what}: {', '.join(items)}" for what, items in
                (("missing", missing), ("unexpected", unexpected), ("shape mismatches", mismatched))
                if items]
    if problems and strict:
        raise DistillError(
            f"{tensors.source} does not fit encoder {encoder.config.name!r} "
            f"({encoder.config.num_layers} layers, hidden {encoder.config.hidden_size}, "
            f"vocab {encoder.config.vocab_size}; shapes in Keras layout): " + "; ".join(problems)
        )
    for name, variable in named.items():
        value = tensors.arrays.get(name)
        if value is not None and tuple(value.shape) == tuple(variable.shape):
            variable.assign(value.astype(variable.dtype, copy=False))
    return heads


# ------------------------------------------------------------ HF safetensors
def read_hf_safetensors(path: str | os.PathLike) -> _Tensors:
    """An HF BERT safetensors file, renamed to the Google layout (kernels transposed)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    try:
        raw = load_file(str(path))
    except (OSError, SafetensorError, TypeError, ValueError) as exc:
        raise DistillError(f"{path}: not a readable safetensors file ({exc})") from None
    tensors = _Tensors(source=str(path))
    for name, value in raw.items():
        try:
            mapped = hf_to_google_name(name)
        except KeyError:
            tensors.unknown[name] = value.shape
            continue
        if mapped is None:
            continue
        google, transpose = mapped
        if google in tensors.arrays:
            raise DistillError(f"{path}: tensor {name!r} duplicates {tensors.origin[google]!r} (both are {google})")
        tensors.arrays[google] = np.ascontiguousarray(value.T) if transpose else value
        tensors.origin[google] = name
    return tensors


def load_hf_safetensors(encoder: BertEncoder, path: str | os.PathLike, strict: bool = True) -> dict[str, np.ndarray]:
    """Load an HF `model.safetensors` into `encoder`; returns head tensors (Google names)."""
    return assign_weights(encoder, read_hf_safetensors(path), strict=strict)


def save_hf_safetensors(encoder: BertEncoder, path: str | os.PathLike) -> Path:
    """Write the encoder as an HF `BertModel` safetensors file (names without `bert.`)."""
    from safetensors.numpy import save_file

    arrays = {}
    for name, variable in encoder.named_weights().items():
        hf, transpose = google_to_hf_name(name)
        value = variable.numpy()
        arrays[hf] = np.ascontiguousarray(value.T if transpose else value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(path))
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


def read_google_config(directory: str | os.PathLike, name: str = "google-bert") -> BertConfig:
    """The `BertConfig` of a Google checkpoint directory, from its `bert_config.json`."""
    path = Path(directory) / GOOGLE_CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DistillError(f"{path}: missing; a Google BERT checkpoint directory has bert_config.json") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DistillError(f"{path}: not valid JSON ({exc})") from None
    return BertConfig.from_google_json(data, name=name)


def read_google_checkpoint(path: str | os.PathLike) -> _Tensors:
    """All weight tensors of a TF1 name-based checkpoint (training state left out)."""
    import tensorflow as tf

    prefix = google_checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        tensors = _Tensors(source=prefix)
        for name in sorted(shapes):
            if not _TRAINING_STATE.search(name):
                tensors.arrays[name] = np.asarray(reader.get_tensor(name))
    except (tf.errors.OpError, ValueError) as exc:
        raise DistillError(f"{prefix}: cannot read TF checkpoint ({str(exc).splitlines()[0]})") from None
    return tensors


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
