"""A Hugging Face BERT folder (`save_pretrained`), read and written without PyTorch.

Owns what makes such a folder a BERT teacher and saying what is wrong with it
before anything is loaded: `config.json` with `model_type` "bert" and a BERT
`architectures` entry (BertModel, BertForSequenceClassification,
BertForMaskedLM, BertForPreTraining); the weights as `model.safetensors`, or
shards `model-0000i-of-0000n.safetensors` listed by
`model.safetensors.index.json`; the vocab as `vocab.txt`, or inside
`tokenizer.json`; `tokenizer_config.json` for `do_lower_case` and
`model_max_length`. A folder with only `pytorch_model.bin` (a pickle that needs
PyTorch), another `model_type` (DistilBERT, RoBERTa... other architectures), a
vocab with another count of tokens than the embedding table has rows,
classifier labels (`id2label`) that disagree with the classifier's rows, sizes
that are not positive integers or `num_attention_heads` that does not divide
`hidden_size`, or a weight tensor that is not floating point (integers would be
cast to float without a word) is one line naming the file and the field or
tensor. These checks read JSON and safetensors headers only (`read_hf_folder`:
no TensorFlow, no tensors), so the CLI makes them before its long work; the
tensors themselves are read, renamed and checked strictly by
`teachers.checkpoints`.

`write_hf_folder` writes a fine-tuned teacher back as a
`BertForSequenceClassification` folder that `transformers` loads (safetensors
with `format: pt` metadata, `id2label`, the tokenizer files).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill.errors import DistillError

if TYPE_CHECKING:
    from teachers.bert import BertConfig, BertEncoder

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
VOCAB = "vocab.txt"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
ARCHITECTURES = ("BertModel", "BertForSequenceClassification", "BertForMaskedLM", "BertForPreTraining")
FOREIGN_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")
"""Weight files of other frameworks: named in the message when a folder has no safetensors."""
CONVERT = ("convert it where PyTorch is installed: transformers' from_pretrained(FOLDER) then "
           "save_pretrained(FOLDER, safe_serialization=True) writes model.safetensors")
SUPPORTED = f"model_type 'bert' with architectures {', '.join(ARCHITECTURES)}"
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
CLASSIFIER = "classifier.weight"


@dataclass
class HfFolder:
    """What `read_hf_folder` found: the files, the parsed JSON and the tensor shapes (from headers)."""

    path: Path
    config: dict
    weights: list[Path]                       # model.safetensors, or its shards in name order
    index: Path | None = None                 # model.safetensors.index.json of a sharded model
    vocab_file: Path | None = None            # vocab.txt (else the vocab is tokenizer.json's)
    tokenizer_json: Path | None = None
    tokenizer_config: dict = field(default_factory=dict)
    shapes: dict[str, tuple] = field(default_factory=dict)   # tensor name -> shape, over all files
    files: dict[str, Path] = field(default_factory=dict)     # tensor name -> the file holding it

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def weights_label(self) -> Path:
        """The file messages name for the weights as a whole."""
        return self.index or self.weights[0]

    def bert_config(self, name: str) -> BertConfig:
        """The encoder's `BertConfig`, its errors naming this folder's config.json."""
        from teachers.bert import BertConfig

        try:
            return BertConfig.from_hf_json(self.config, name=name)
        except DistillError as exc:
            text = str(exc)
            raise DistillError(f"{self.path}/{text}" if text.startswith(CONFIG) else text) from None

    # -------------------------------------------------------- tokenizer
    def vocab_tokens(self) -> list[str]:
        """The tokens, line number (or id) order: vocab.txt, else tokenizer.json's WordPiece vocab."""
        if self.vocab_file is not None:
            from distill.wordpiece import read_vocab

            return read_vocab(self.vocab_file)
        model = read_json(self.tokenizer_json).get("model")
        where = f"{self.tokenizer_json}: field 'model'"
        if not isinstance(model, dict) or model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
            kind = model.get("type") if isinstance(model, dict) else None
            raise DistillError(f"{where} is a {kind or 'missing'} model, not WordPiece (BERT's); give vocab.txt")
        vocab = model["vocab"]
        ids = sorted(vocab.values())
        if ids != list(range(len(ids))):
            raise DistillError(f"{where}.vocab: token ids are not 0..{len(ids) - 1} without gaps")
        return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]

    def vocab_path(self) -> Path:
        """A vocab.txt for the tokenizer: the folder's own, or one written from tokenizer.json into the cache
        (named by the tokenizer.json's sha256, so it is written once and never stale)."""
        if self.vocab_file is not None:
            return self.vocab_file
        from distill import sources
        from distill.wordpiece import vocab_text

        digest = hashlib.sha256(self.tokenizer_json.read_bytes()).hexdigest()[:16]
        folder = sources.writable_cache(sources.cache_dir() / "teachers" / "hf-vocab" / digest)
        path = folder / VOCAB
        if not path.exists():
            tmp = folder / f".{VOCAB}.partial"
            tmp.write_text(vocab_text(self.vocab_tokens()), encoding="utf-8")
            tmp.replace(path)
        return path

    def lowercase(self, tokens: list[str]) -> bool:
        """`do_lower_case` of tokenizer_config.json, else tokenizer.json's normalizer, else the vocab's case."""
        if isinstance(self.tokenizer_config.get("do_lower_case"), bool):
            return self.tokenizer_config["do_lower_case"]
        if self.tokenizer_json is not None:
            normalizer = read_json(self.tokenizer_json).get("normalizer")
            if isinstance(normalizer, dict) and isinstance(normalizer.get("lowercase"), bool):
                return normalizer["lowercase"]
        from teachers.registry import is_uncased

        return is_uncased(tokens)

    def model_max_length(self) -> int | None:
        value = self.tokenizer_config.get("model_max_length")
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1 else None

    # ------------------------------------------------------- classifier
    @property
    def head_rows(self) -> int | None:
        """Outputs of the classifier head (`classifier.weight` rows), or None without one."""
        shape = self.shapes.get(CLASSIFIER) or self.shapes.get("bert." + CLASSIFIER)
        return int(shape[0]) if shape else None

    def label_names(self) -> list[str] | None:
        """The classifier's label names in output order, from `id2label`; None without a head."""
        if self.head_rows is None:
            return None
        id2label = self.config.get("id2label")
        if id2label is None:
            return None
        where = f"{self.config_path}: field 'id2label'"
        if not isinstance(id2label, dict) or not all(isinstance(v, str) and v for v in id2label.values()):
            raise DistillError(f"{where} must map output ids to label names, got {_short(id2label)}")
        try:
            ids = {int(k): v for k, v in id2label.items()}
        except ValueError:
            raise DistillError(f"{where} has a key that is not an output id: {_short(list(id2label))}") from None
        if sorted(ids) != list(range(len(ids))):
            raise DistillError(f"{where}: ids {sorted(ids)} are not 0..{len(ids) - 1}")
        names = [ids[i] for i in range(len(ids))]
        if len(set(names)) != len(names):
            raise DistillError(f"{where}: label names repeat: {names}")
        if len(names) != self.head_rows:
            raise DistillError(f"{where} has {len(names)} labels ({', '.join(names)}) but {CLASSIFIER} in "
                               f"{self.files.get(CLASSIFIER, self.weights_label)} has {self.head_rows} rows")
        return names

    # ---------------------------------------------------------- weights
    def weights_sha256(self) -> str:
        """sha256 over the weight files in name order (one file: that file's sha256)."""
        from distill.sources import sha256_file

        if len(self.weights) == 1:
            return sha256_file(self.weights[0])
        digest = hashlib.sha256()
        for path in self.weights:
            digest.update(path.name.encode())
            digest.update(bytes.fromhex(sha256_file(path)))
        return digest.hexdigest()

    def weights_source(self) -> str:
        what = self.weights[0].name if len(self.weights) == 1 else f"{len(self.weights)} shards of {INDEX}"
        return f"Hugging Face folder {self.path.resolve()} ({what})"


# ----------------------------------------------------------------- reading
def is_hf_folder(path) -> bool:
    """A folder with config.json, or with only another framework's weights (which deserves its own message)."""
    path = Path(path)
    return (path / CONFIG).is_file() or any((path / name).exists() for name in (WEIGHTS, INDEX, *FOREIGN_WEIGHTS))


def read_hf_folder(path) -> HfFolder:
    """The folder checked as far as headers allow (see the module docstring); one DistillError otherwise."""
    path = Path(path).expanduser()
    config = read_json(path / CONFIG, missing="a Hugging Face model folder has config.json (save_pretrained writes it)")
    if not isinstance(config, dict):
        raise DistillError(f"{path / CONFIG}: not a JSON object")
    model_type = config.get("model_type")
    if model_type != "bert":
        raise DistillError(f"{path / CONFIG}: field 'model_type' is {model_type!r}; supported: {SUPPORTED} "
                           "(another model type is another architecture and cannot be converted to BERT)")
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list) or any(a not in ARCHITECTURES for a in architectures):
        raise DistillError(f"{path / CONFIG}: field 'architectures' is {_short(architectures)}; supported: "
                           f"{', '.join(ARCHITECTURES)}")
    from teachers.checkpoints import check_config_sizes

    check_config_sizes(config, path / CONFIG)
    weights, index = _weight_files(path)
    folder = HfFolder(path, config, weights, index)
    _read_headers(folder)
    folder.vocab_file = path / VOCAB if (path / VOCAB).is_file() else None
    folder.tokenizer_json = path / TOKENIZER_JSON if (path / TOKENIZER_JSON).is_file() else None
    if folder.vocab_file is None and folder.tokenizer_json is None:
        raise DistillError(f"{path / VOCAB}: missing, and no {TOKENIZER_JSON} either; a BERT folder needs its "
                           "WordPiece vocab (save the tokenizer with save_pretrained too)")
    if (path / TOKENIZER_CONFIG).is_file():
        folder.tokenizer_config = read_json(path / TOKENIZER_CONFIG)
        if not isinstance(folder.tokenizer_config, dict):
            raise DistillError(f"{path / TOKENIZER_CONFIG}: not a JSON object")
        lower = folder.tokenizer_config.get("do_lower_case")
        if lower is not None and not isinstance(lower, bool):
            raise DistillError(f"{path / TOKENIZER_CONFIG}: field 'do_lower_case' must be true or false, got "
                               f"{lower!r}")
    _check_vocab_fits(folder)
    folder.label_names()   # id2label against the classifier's rows
    return folder


def _weight_files(path: Path) -> tuple[list[Path], Path | None]:
    if (path / WEIGHTS).is_file():
        return [path / WEIGHTS], None
    if (path / INDEX).is_file():
        index = read_json(path / INDEX)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise DistillError(f"{path / INDEX}: field 'weight_map' must map tensor names to shard files")
        shards = sorted(set(weight_map.values()))
        for shard in shards:
            if not isinstance(shard, str) or "/" in shard or not (path / shard).is_file():
                raise DistillError(f"{path / INDEX}: field 'weight_map' names shard {shard!r}, which is not in "
                                   f"{path}")
        return [path / shard for shard in shards], path / INDEX
    stray = sorted(p.name for p in path.glob("model-*-of-*.safetensors"))
    if stray:
        raise DistillError(f"{path / INDEX}: missing; the shards {', '.join(stray[:3])} need the index that lists "
                           "their tensors")
    foreign = [name for name in FOREIGN_WEIGHTS if (path / name).exists()]
    if foreign:
        raise DistillError(f"{path / foreign[0]}: only {', '.join(foreign)} here, which needs its own framework to "
                           f"read; this toolkit reads {WEIGHTS} (no PyTorch here): {CONVERT}")
    raise DistillError(f"{path / WEIGHTS}: missing; a Hugging Face BERT folder has {WEIGHTS} (or shards with "
                       f"{INDEX})")


def _read_headers(folder: HfFolder) -> None:
    """Tensor names, shapes and dtypes of every weight file, from the headers; the index must agree with
    the shards."""
    from safetensors import SafetensorError, safe_open

    dtypes = {}
    for file in folder.weights:
        try:
            with safe_open(str(file), framework="numpy") as handle:
                for name in handle.keys():
                    folder.shapes[name] = tuple(handle.get_slice(name).get_shape())
                    folder.files[name] = file
                    dtypes[name] = handle.get_slice(name).get_dtype()
        except (OSError, SafetensorError, ValueError) as exc:
            raise DistillError(f"{file}: not a readable safetensors file ({exc})") from None
    for name, dtype in dtypes.items():
        _check_floating(name, dtype, folder.files[name])
    if folder.index is not None:
        listed = read_json(folder.index)["weight_map"]
        for name, shard in sorted(listed.items()):
            if folder.files.get(name, Path()).name != shard:
                found = f"it is in {folder.files[name].name}" if name in folder.files else "no shard holds it"
                raise DistillError(f"{folder.index}: tensor {name} is listed in {shard}, but {found}")
        extra = sorted(set(folder.files) - set(listed))
        if extra:
            raise DistillError(f"{folder.files[extra[0]]}: tensor {extra[0]} is not listed in {folder.index.name}")


def _check_floating(name: str, dtype: str, file: Path) -> None:
    """A weight (or head) tensor holds floating-point numbers: loading would cast integers or booleans to
    float without a word, and such a tensor is no model's weights (buffers such as `position_ids` are
    integers by right and are left alone)."""
    from teachers.checkpoints import hf_to_google_name, non_float_weight

    try:
        weight = hf_to_google_name(name) is not None
    except KeyError:   # not part of BERT: reported as unexpected when loaded
        return
    if weight and not (dtype.startswith("F") or dtype == "BF16"):
        raise non_float_weight(file, name, dtype)


def _check_vocab_fits(folder: HfFolder) -> None:
    """The vocab has one token per row of the word-embedding table (and per config vocab_size)."""
    tokens = folder.vocab_tokens()
    vocab = folder.vocab_file or folder.tokenizer_json
    name = next((n for n in (WORD_EMBEDDINGS, "bert." + WORD_EMBEDDINGS) if n in folder.shapes), None)
    if name is not None and len(folder.shapes[name]) == 2 and folder.shapes[name][0] != len(tokens):
        raise DistillError(f"{vocab}: {len(tokens)} tokens, but {name} in {folder.files[name]} has "
                           f"{folder.shapes[name][0]} rows (one per token)")
    size = folder.config.get("vocab_size")
    if isinstance(size, int) and size != len(tokens):
        raise DistillError(f"{vocab}: {len(tokens)} tokens, but field 'vocab_size' of {folder.config_path} is {size}")


# ----------------------------------------------------------------- writing
def write_hf_folder(out, encoder: BertEncoder, output_weights: np.ndarray, output_bias: np.ndarray,
                    label_names: list[str], vocab_path, lowercase: bool, max_seq_len: int,
                    tokenizer_json: str | None = None) -> Path:
    """Write a `BertForSequenceClassification` folder into the (new, empty) folder `out`."""
    from teachers.checkpoints import HF_METADATA, hf_arrays

    from safetensors.numpy import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"architectures": ["BertForSequenceClassification"], **encoder.config.to_hf_json(),
              "attention_probs_dropout_prob": encoder.config.dropout, "classifier_dropout": None,
              "id2label": {str(i): name for i, name in enumerate(label_names)},
              "label2id": {name: i for i, name in enumerate(label_names)},
              "problem_type": "single_label_classification", "torch_dtype": "float32"}
    _write_json(out / CONFIG, dict(sorted(config.items())))
    heads = {"output_weights": output_weights, "output_bias": output_bias}
    save_file(hf_arrays(encoder, "bert.", heads), str(out / WEIGHTS), metadata=HF_METADATA)
    _write_tokenizer_files(out, vocab_path, lowercase, max_seq_len, tokenizer_json)
    return out


def write_hf_mlm_folder(out, encoder: BertEncoder, heads: dict[str, np.ndarray], vocab_path, lowercase: bool,
                       max_seq_len: int, tokenizer_json: str | None = None) -> Path:
    """Write a `BertForMaskedLM` folder (encoder with its pooler, the MLM head `heads` by Google name; the
    output matrix is the word embeddings, tied) into the (new, empty) folder `out`."""
    from teachers.checkpoints import HF_METADATA, hf_arrays

    from safetensors.numpy import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"architectures": ["BertForMaskedLM"], **encoder.config.to_hf_json(), "tie_word_embeddings": True,
              "torch_dtype": "float32"}
    _write_json(out / CONFIG, dict(sorted(config.items())))
    save_file(hf_arrays(encoder, "bert.", heads), str(out / WEIGHTS), metadata=HF_METADATA)
    _write_tokenizer_files(out, vocab_path, lowercase, max_seq_len, tokenizer_json)
    return out


def _write_tokenizer_files(out: Path, vocab_path, lowercase: bool, max_seq_len: int, tokenizer_json: str | None):
    """vocab.txt, tokenizer_config.json, special_tokens_map.json (and tokenizer.json) as `save_pretrained` writes them."""
    from distill.wordpiece import CLS, MASK, PAD, SEP, UNK

    shutil.copyfile(vocab_path, out / VOCAB)
    specials = {"unk_token": UNK, "sep_token": SEP, "pad_token": PAD, "cls_token": CLS, "mask_token": MASK}
    _write_json(out / TOKENIZER_CONFIG, {"do_lower_case": bool(lowercase), "model_max_length": int(max_seq_len),
                                         "tokenizer_class": "BertTokenizer", "tokenize_chinese_chars": True,
                                         "strip_accents": None, **specials})
    _write_json(out / SPECIAL_TOKENS_MAP, specials)
    if tokenizer_json is not None:
        (out / TOKENIZER_JSON).write_text(tokenizer_json, encoding="utf-8")


# ----------------------------------------------------------------- helpers
def read_json(path: Path, missing: str | None = None):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DistillError(f"{path}: missing" + (f"; {missing}" if missing else "")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DistillError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except json.JSONDecodeError as exc:
        raise DistillError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
