"""A teacher given as a folder (`--teacher PATH`): which kind it is, checked cheaply, loaded.

Owns telling apart the folders a user may name where a teacher is wanted, and
loading the two kinds that hold a BERT: a Hugging Face folder (`teachers.hf`)
and a Google checkpoint folder (`bert_config.json`, `vocab.txt` and a TF1
checkpoint: Google's release, or the output folder of its `run_classifier.py`,
`model.ckpt-N.*` with `output_weights/output_bias`, once the pre-trained
model's bert_config.json and vocab.txt are copied beside it). The third kind,
a teacher run folder of this toolkit (`run.json`), is told apart here and
loaded by `teachers.run`.

Either model folder may carry a classifier head; `load_model_folder` returns
it among the heads, with the names of its outputs where the folder records
them: HF `id2label`; for a Google folder a `label_names.json` beside the
checkpoint (which `teachers.export` writes: a TF checkpoint has no place for
them). A Google folder may also hold a `tokenizer_config.json` (HF's names,
`do_lower_case` and `model_max_length`, for facts a Google folder does not
record); without one, case is read off the vocab.

An HF `BertForMaskedLM` folder has no pooler (HF builds that model without
one); its pooler starts from random weights, as `transformers` does, and the
weights source says so. HF files saved in bfloat16 are widened to float32.

Tokens per row when the caller does not say (`default_max_seq_len`): the
folder's `model_max_length` when it is below the model's positions (set on
purpose: the length a teacher was fine-tuned at, as `teachers.export` writes
it), else 128, BERT's fine-tuning default (run_classifier.py's
`max_seq_length`); a model's full 512 positions would make every materials
file 4x wider for nothing on sentence tasks.

`check_model_folder` makes every check that needs no TensorFlow (JSON files,
safetensors headers, files present), so a command makes them before it
imports TensorFlow; loading then checks the tensors strictly
(`teachers.checkpoints`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from distill.errors import DistillError
from distill.runfiles import LABELS_FILE, RUN_FILE
from teachers import hf
from teachers.checkpoints import GOOGLE_CONFIG, check_config_sizes
from teachers.hf import read_json
from teachers.registry import RANDOM_WEIGHTS, LoadedTeacher, checkpoint_sha256, is_uncased, make_tokenizer

RUN, HF, GOOGLE = "run", "hf", "google"
DEFAULT_MAX_SEQ_LEN = 128
KINDS = ("a Hugging Face BERT folder (config.json)", "a Google checkpoint folder (bert_config.json)")
WHAT = " or ".join(KINDS)


# ------------------------------------------------------------------ kinds
def is_path(spec: str) -> bool:
    """Whether a `--teacher` value names a folder rather than a registry name."""
    return "/" in spec or os.sep in spec or spec.startswith((".", "~")) or Path(spec).expanduser().is_dir()


def kind_of(path) -> str | None:
    """RUN, HF or GOOGLE by the files a folder holds; None when it is none of them."""
    path = Path(path).expanduser()
    if (path / RUN_FILE).is_file():
        return RUN
    if (path / GOOGLE_CONFIG).is_file() and not any((path / n).exists() for n in (hf.WEIGHTS, hf.INDEX)):
        return GOOGLE
    return HF if hf.is_hf_folder(path) else None


def model_folder_kind(path, option: str = "--teacher") -> str:
    """HF or GOOGLE; one line saying what the folder is not otherwise."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DistillError(f"{path}: no such folder ({option} wants {WHAT})")
    if not path.is_dir():
        raise DistillError(f"{path}: not a folder; {option} wants {WHAT}")
    kind = kind_of(path)
    if kind == RUN:
        raise not_a_model_folder(path, option)
    if kind is None:
        raise DistillError(f"{path}: neither {' nor '.join(KINDS)}")
    return kind


def not_a_model_folder(path: Path, option: str) -> DistillError:
    """The error for a run folder given where a model folder is wanted, with the advice its kind needs: a
    pretraining run's teachers are its checkpoints (`RUN/epoch-K`), a teacher run goes to `materials
    generate` or is exported, a student run is no teacher at all."""
    from distill.runfiles import read_json_or_none

    record = read_json_or_none(path / RUN_FILE)
    kind = record.get("kind") if isinstance(record, dict) else None
    if kind == "pretrain":
        newest = newest_checkpoint(path)
        use = f"use {newest}, the newest" if newest else "it has written none yet"
        return DistillError(f"{path}: a pretraining run folder, not a model folder; each of its checkpoints "
                            f"{path / 'epoch-K'} is a teacher: {use}")
    if kind == "student":
        return DistillError(f"{path}: a student run folder, not a teacher; {option} wants {WHAT}")
    return DistillError(f"{path}: a teacher run folder, not a model folder; {option} wants {WHAT} here "
                        "(a run goes to `materials generate --teacher`; `teacher export` writes it as a folder)")


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The `epoch-K` folder of a pretraining run with the largest K, or None before its first checkpoint
    (half-written ones are hidden `.epoch-K...` folders, which do not count)."""
    epochs = [(int(p.name[len("epoch-"):]), p) for p in Path(run_dir).glob("epoch-*")
              if p.is_dir() and p.name[len("epoch-"):].isdigit()]
    return max(epochs)[1] if epochs else None


def source_kind(path) -> str:
    """RUN, HF or GOOGLE for commands that take a teacher run or a model folder; a folder that is neither
    gets the run folder's message (`no run.json; not a run folder`), as those commands always gave."""
    kind = kind_of(path) if Path(path).expanduser().is_dir() else None
    if kind is None:
        from distill.runfiles import read_run

        read_run(path, "teacher")   # raises
        return RUN
    return kind


def check_model_folder(path, option: str = "--teacher") -> str:
    """Every check of a model folder that needs no TensorFlow; its kind (HF or GOOGLE)."""
    kind = model_folder_kind(path, option)
    if kind == HF:
        hf.read_hf_folder(path)
    else:
        read_google_folder(path)
    return kind


def default_max_seq_len(model_max_length: int | None, max_position: int) -> int:
    """See the module docstring."""
    if model_max_length is not None and model_max_length < max_position:
        return int(model_max_length)
    return min(DEFAULT_MAX_SEQ_LEN, max_position)


# ------------------------------------------------------------------ Google
@dataclass
class GoogleFolder:
    """A Google checkpoint folder's small files, read and checked (the checkpoint itself needs TensorFlow)."""

    path: Path
    config: dict
    vocab: Path
    label_names: list[str] | None = None
    tokenizer_config: dict = field(default_factory=dict)


def read_google_folder(path) -> GoogleFolder:
    path = Path(path).expanduser()
    config = read_json(path / GOOGLE_CONFIG, "a Google BERT checkpoint directory has bert_config.json")
    if not isinstance(config, dict):
        raise DistillError(f"{path / GOOGLE_CONFIG}: not a JSON object")
    check_config_sizes(config, path / GOOGLE_CONFIG)
    vocab = path / "vocab.txt"
    if not vocab.is_file():
        raise DistillError(f"{vocab}: missing; a Google BERT checkpoint directory has vocab.txt (beside a "
                           "run_classifier.py checkpoint, copy the pre-trained model's bert_config.json and vocab.txt)")
    if not any(path.glob("*.index")):
        raise DistillError(f"{path}: no TF checkpoint (bert_model.ckpt.index and .data-*, or run_classifier.py's "
                           "model.ckpt-N.*)")
    folder = GoogleFolder(path, config, vocab)
    from distill.wordpiece import read_vocab

    tokens, size = len(read_vocab(vocab)), config.get("vocab_size")
    if isinstance(size, int) and size != tokens:
        raise DistillError(f"{vocab}: {tokens} tokens, but field 'vocab_size' of {path / GOOGLE_CONFIG} is {size}")
    if (path / LABELS_FILE).is_file():
        names = read_json(path / LABELS_FILE)
        if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) and n for n in names)
                and len(set(names)) == len(names)):
            raise DistillError(f"{path / LABELS_FILE}: must be a JSON list of the classifier's label names in "
                               f"output order (at least 2, no repeats), got {json.dumps(names)[:80]}")
        folder.label_names = names
    if (path / hf.TOKENIZER_CONFIG).is_file():
        folder.tokenizer_config = read_json(path / hf.TOKENIZER_CONFIG)
        lower = folder.tokenizer_config.get("do_lower_case") if isinstance(folder.tokenizer_config, dict) else 0
        if lower is not None and not isinstance(lower, bool):
            raise DistillError(f"{path / hf.TOKENIZER_CONFIG}: field 'do_lower_case' must be true or false")
    return folder


# ------------------------------------------------------------------ loading
def load_model_folder(path, name: str | None = None, random_init: bool = False, max_seq_len: int | None = None,
                      expected=None, weights_source: str | None = None) -> LoadedTeacher:
    """The folder's encoder with its weights, its tokenizer and its heads (classifier included, with
    `head_labels` where the folder names them). `expected` (a BertConfig) is the shape a named
    teacher must have (bert-base for `--teacher bert-base --checkpoint DIR`)."""
    from teachers.bert import BertEncoder
    from teachers.checkpoints import (assign_weights, google_checkpoint_prefix, load_google_checkpoint,
                                      read_google_config, read_hf_safetensors)

    path = Path(path).expanduser()
    kind = check_model_folder(path)
    name = name or path.resolve().name
    if kind == HF:
        folder = hf.read_hf_folder(path)
        config, config_file = folder.bert_config(name), folder.config_path
        tokens, vocab_path = folder.vocab_tokens(), folder.vocab_path()
        lowercase, model_max, labels = folder.lowercase(tokens), folder.model_max_length(), folder.label_names()
    else:
        google = read_google_folder(path)
        config, config_file, vocab_path = read_google_config(path, name=name), path / GOOGLE_CONFIG, google.vocab
        from distill.wordpiece import read_vocab

        lower = google.tokenizer_config.get("do_lower_case")
        lowercase = lower if isinstance(lower, bool) else is_uncased(read_vocab(vocab_path))
        model_max, labels = google.tokenizer_config.get("model_max_length"), google.label_names
    if expected is not None:
        shape = (config.num_layers, config.hidden_size, config.num_heads)
        if shape != (expected.num_layers, expected.hidden_size, expected.num_heads):
            raise DistillError(f"{config_file}: {config.num_layers} layers, hidden {config.hidden_size}, "
                               f"{config.num_heads} heads is not {name} ({expected.num_layers}, {expected.hidden_size}, "
                               f"{expected.num_heads})")
    length = max_seq_len or default_max_seq_len(model_max if isinstance(model_max, int) else None, config.max_position)
    tokenizer = make_tokenizer(vocab_path, lowercase, length, config)
    encoder = BertEncoder(config)
    if random_init:
        return LoadedTeacher(name, config, encoder, tokenizer, vocab_path, RANDOM_WEIGHTS, None, True,
                             source_dir=path)
    if kind == HF:
        tensors = read_hf_safetensors(folder.weights, source=str(folder.weights_label))
        fresh = _fresh_pooler(encoder, tensors, folder)
        heads = assign_weights(encoder, tensors)
        source, sha256 = weights_source or folder.weights_source(), folder.weights_sha256()
        source += "; pooler initialised randomly (a BertForMaskedLM folder has none)" if fresh else ""
        where = folder.weights_label
    else:
        prefix = google_checkpoint_prefix(path)
        heads = load_google_checkpoint(encoder, prefix)
        source = weights_source or f"Google checkpoint {Path(prefix).resolve()}"
        sha256, where = checkpoint_sha256(prefix), prefix
    labels = _head_labels(heads, labels, where, path / LABELS_FILE if kind == GOOGLE else config_file)
    return LoadedTeacher(name, config, encoder, tokenizer, vocab_path, source, sha256, False, heads,
                         head_labels=labels, source_dir=path)


def _fresh_pooler(encoder, tensors, folder: hf.HfFolder) -> bool:
    """HF builds BertForMaskedLM without a pooler, so its folders hold none: keep the encoder's freshly
    initialised one (as `transformers` does when it loads such a folder for classification). Only then,
    and only when every pooler tensor is absent; any other gap stays an error."""
    pooler = {name: var for name, var in encoder.named_weights().items() if name.startswith("bert/pooler/")}
    if "BertForMaskedLM" not in (folder.config.get("architectures") or []) or any(n in tensors.arrays for n in pooler):
        return False
    for name, variable in pooler.items():
        tensors.arrays[name] = variable.numpy()
    return True


def no_head(path, task_name: str) -> DistillError:
    return DistillError(f"{path}: no classifier head (a pre-trained model, not a fine-tuned one); fine-tune it "
                        f"first: distill teacher finetune --teacher {path} --task {task_name}")


def labels_where(path, kind: str, named: bool) -> str:
    """Where a folder's classifier label names come from, for messages."""
    path = Path(path).expanduser()
    if kind == HF:
        return f"{path / hf.CONFIG}: field 'id2label'"
    return str(path / LABELS_FILE) if named else str(path)


def check_finetuned(path, task_name: str, task_labels, label_order=None) -> str:
    """Before TensorFlow: a model folder used as a fine-tuned teacher on a task. An HF folder's head is
    read off the headers and its id2label matched to the task's labels now; a Google folder's head
    is in its TF checkpoint and is checked when loaded. Returns the folder's kind."""
    from teachers.labels import head_order

    kind = check_model_folder(path)
    if kind == HF:
        folder = hf.read_hf_folder(path)
        if folder.head_rows is None:
            raise no_head(path, task_name)
        labels = folder.label_names()
        head_order(task_name, task_labels, folder.head_rows, labels, label_order, labels_where(path, HF, bool(labels)))
    return kind


def _head_labels(heads: dict, labels: list[str] | None, where, labels_file: Path) -> list[str] | None:
    """The classifier's label names, checked against its rows; a half head is an error."""
    have = [n for n in ("output_weights", "output_bias") if n in heads]
    if len(have) == 1:
        other = ({"output_weights", "output_bias"} - set(have)).pop()
        raise DistillError(f"{where}: the classifier head has {have[0]} but no {other}")
    if not have:
        return None
    rows = int(heads["output_weights"].shape[0])
    if labels is not None and len(labels) != rows:
        raise DistillError(f"{labels_file}: {len(labels)} label names ({', '.join(labels)}) but the classifier "
                           f"head output_weights in {where} has {rows} rows")
    return labels


def weights_sha256(path) -> str:
    """The sha256 a folder's weights are known by in provenance (as `load_model_folder` records it)."""
    if check_model_folder(path) == HF:
        return hf.read_hf_folder(path).weights_sha256()
    from teachers.checkpoints import google_checkpoint_prefix

    return checkpoint_sha256(google_checkpoint_prefix(Path(path).expanduser()))


def classifier_head(path) -> tuple[int, list[str] | None] | None:
    """(outputs, label names or None) of a model folder's classifier head, or None without one. HF: from
    the headers; Google: from the checkpoint's index (TensorFlow is imported)."""
    path = Path(path).expanduser()
    if check_model_folder(path) == HF:
        folder = hf.read_hf_folder(path)
        return (folder.head_rows, folder.label_names()) if folder.head_rows else None
    from teachers.checkpoints import google_checkpoint_shapes

    shape = google_checkpoint_shapes(path).get("output_weights")
    return (int(shape[0]), read_google_folder(path).label_names) if shape else None
