"""An exported student folder, loaded back for prediction and benchmarking.

Owns the export folder's file names and `ExportedStudent`, which
`distill predict DIR`, `distill bench --student DIR` and the export's own
verification run. It reads only what the folder holds (`export.json`,
`tokenizer.json`, `labels.json` and the SavedModel or `.tflite` file), the same
files a user's program reads without this toolkit, so what is measured and
verified here is what ships.

Tokenization is the folder's `tokenizer.json` through the `tokenizers`
library with its padding switched off: rows are sorted by length and each
batch is padded to its own longest row (as `students.predictor` does), then
put back in input order.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from distill.errors import DistillError
from students.predictor import LengthSortedPredictor

EXPORT_FILE = "export.json"
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.json"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
README_FILE = "README.md"
SIGNATURE = "serving_default"
EXPORT_KIND = "student-export"
FORMATS = ("savedmodel", "tflite")
MODEL_PATHS = {"savedmodel": SAVED_MODEL_DIR, "tflite": TFLITE_FILE}


def is_export_dir(path: str | os.PathLike) -> bool:
    """True when `path` is a folder with an `export.json` (as opposed to a run folder)."""
    return (Path(path) / EXPORT_FILE).is_file()


def read_export_info(export_dir: str | os.PathLike) -> dict:
    """export.json of an export folder, checked for the fields a loader needs."""
    path = Path(export_dir) / EXPORT_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DistillError(f"{path}: missing; not an exported student (make one with `distill student export`)") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DistillError(f"{path}: cannot read ({exc})") from None
    if not isinstance(info, dict) or info.get("kind") != EXPORT_KIND:
        raise DistillError(f"{path}: kind is {info.get('kind') if isinstance(info, dict) else None!r}, "
                           f"not {EXPORT_KIND!r}")
    if info.get("format") not in FORMATS:
        raise DistillError(f"{path}: format {info.get('format')!r} is not one of {', '.join(FORMATS)}")
    return info


def tflite_interpreter(model_path: str | os.PathLike, num_threads: int | None = None):
    """A TFLite interpreter: LiteRT's (`ai_edge_litert`) when installed, else TensorFlow's own; its tensors
    allocated. Allocating applies TFLite's default XNNPACK delegate, whose C++ logger prints
    `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` on stderr whatever TF_CPP_MIN_LOG_LEVEL says:
    that is done here, with third-party INFO lines kept off stderr (`distill.quiet`)."""
    from distill.quiet import filtered_stderr

    threads = num_threads or len(os.sched_getaffinity(0))
    with filtered_stderr():
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            with warnings.catch_warnings():   # TF's copy warns that it moved to ai_edge_litert; it still works
                warnings.simplefilter("ignore")
                interpreter = tf.lite.Interpreter(model_path=str(model_path), num_threads=threads)
        else:
            interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
        interpreter.allocate_tensors()
    return interpreter


class ExportedStudent(LengthSortedPredictor):
    """An export folder as a text classifier. Build with `ExportedStudent.load(export_dir)`.

    The same prediction protocol as `students.predictor.StudentPredictor`:
    `predict(texts, texts_b=None, batch_size=32) -> (label ids [N], probabilities [N, C])`.
    """

    def __init__(self, export_dir: Path, info: dict, tokenizer, label_names: list[str], forward):
        self.export_dir = export_dir
        self.info = info
        self.format = info["format"]
        self.quantize = info.get("quantize", "none")
        self.label_names = list(label_names)
        self.is_pair = bool(info.get("is_pair", False))
        self.task_name = info.get("task")
        self.params = info.get("params")
        self.tokenizer = tokenizer
        self._forward = forward

    @classmethod
    def load(cls, export_dir: str | os.PathLike) -> "ExportedStudent":
        from tokenizers import Tokenizer

        export_dir = Path(export_dir)
        info = read_export_info(export_dir)
        needed = [TOKENIZER_FILE, LABELS_FILE, MODEL_PATHS[info["format"]]]
        missing = [name for name in needed if not (export_dir / name).exists()]
        if missing:
            raise DistillError(f"{export_dir}: export folder lacks {', '.join(missing)} "
                               f"(export the student again with `distill student export`)")
        try:
            tokenizer = Tokenizer.from_file(str(export_dir / TOKENIZER_FILE))
        except Exception as exc:  # tokenizers raises its own Exception types for a bad file
            raise DistillError(f"{export_dir / TOKENIZER_FILE}: cannot load ({exc})") from None
        tokenizer.no_padding()
        try:
            label_names = json.loads((export_dir / LABELS_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DistillError(f"{export_dir / LABELS_FILE}: cannot read ({exc})") from None
        if not isinstance(label_names, list) or len(label_names) < 2:
            raise DistillError(f"{export_dir / LABELS_FILE}: expected a list of at least 2 label names")
        _check_parts_belong(export_dir, info, tokenizer, label_names)
        model_path = export_dir / MODEL_PATHS[info["format"]]
        loader = _saved_model_forward if info["format"] == "savedmodel" else _tflite_forward
        try:
            forward = loader(model_path)
        except DistillError:
            raise
        except Exception as exc:  # TF and TFLite raise many types for a damaged model; all mean the same here
            raise DistillError(f"{model_path}: cannot load the exported model ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        _check_outputs(model_path, forward, tokenizer, label_names, export_dir)
        return cls(export_dir, info, tokenizer, label_names, forward)

    # ---------------------------------------------------------------- text
    def encode(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> list[np.ndarray]:
        """Unpadded token ids per text, by the folder's tokenizer.json."""
        if self.is_pair and texts_b is None:
            raise DistillError(f"exported student {self.export_dir} was trained on sentence pairs: give texts_b")
        if not self.is_pair and texts_b is not None:
            raise DistillError(f"exported student {self.export_dir} was trained on single sentences, not pairs")
        batch = list(texts) if texts_b is None else list(zip(texts, texts_b))
        return [np.asarray(e.ids, dtype=np.int32) for e in self.tokenizer.encode_batch_fast(batch)]

    # ----------------------------------------------------------------- ids
    def logits_for_ids(self, token_ids: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Logits of one padded batch of ids (int [B, L], lengths int [B])."""
        return self._forward(np.asarray(token_ids, dtype=np.int32), np.asarray(length, dtype=np.int32))


def _check_parts_belong(export_dir: Path, info: dict, tokenizer, label_names: list) -> None:
    """The folder's parts are the ones export.json records: a labels.json or tokenizer.json from
    elsewhere would change the predictions without a word."""
    import hashlib

    from distill.wordpiece import vocab_text

    recorded = info.get("label_names")
    if recorded is not None and list(recorded) != list(label_names):
        raise DistillError(f"{export_dir / LABELS_FILE}: labels {label_names} differ from the {recorded} that "
                           f"{EXPORT_FILE} records; the folder's parts do not belong together (export it again)")
    want = (info.get("tokenizer") or {}).get("vocab_sha256")
    if want:
        by_id = sorted(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda item: item[1])
        have = hashlib.sha256(vocab_text([token for token, _ in by_id]).encode("utf-8")).hexdigest()
        if have != want:
            raise DistillError(f"{export_dir / TOKENIZER_FILE}: its vocabulary (sha256 {have[:12]}...) is not the one "
                               f"{EXPORT_FILE} records ({want[:12]}...); the model would read other token ids "
                               "(export the student again, or restore its tokenizer.json)")


def _check_outputs(model_path: Path, forward, tokenizer, label_names: list, export_dir: Path) -> None:
    """The model gives one logit per label of labels.json (one probe row)."""
    ids = np.asarray([tokenizer.encode("a").ids], dtype=np.int32)
    outputs = forward(ids, np.asarray([ids.shape[1]], dtype=np.int32)).shape[-1]
    if outputs != len(label_names):
        raise DistillError(f"{export_dir / LABELS_FILE}: {len(label_names)} labels, but {model_path.name} gives "
                           f"{outputs} outputs; the folder's parts do not belong together (export it again)")


def _saved_model_forward(path: Path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if SIGNATURE not in loaded.signatures:
        raise DistillError(f"{path}: no {SIGNATURE!r} signature (has {', '.join(loaded.signatures) or 'none'})")
    serve = loaded.signatures[SIGNATURE]

    def forward(token_ids, length):
        return serve(token_ids=tf.constant(token_ids), length=tf.constant(length))["logits"].numpy()

    forward.loaded = loaded   # keeps the loaded object (and its variables) alive with the function
    return forward


def _tflite_forward(path: Path):
    runner = tflite_interpreter(path).get_signature_runner(SIGNATURE)

    def forward(token_ids, length):
        return np.asarray(runner(token_ids=token_ids, length=length)["logits"], dtype=np.float32)

    return forward
