"""Ship a student: a self-contained folder that classifies raw text without this toolkit.

Owns `export_student` (what `distill student export` runs). The folder holds

- the model: a SavedModel (`saved_model/`, signature `serving_default`,
  loadable by `tf.saved_model.load` and TF Serving) or a TFLite flatbuffer
  (`model.tflite`, same signature), float32 or quantised;
- `tokenizer.json` (the `tokenizers` library's format: the exact WordPiece
  pipeline the teacher labelled the materials with, with the student's
  truncation length and padding to the longest row) and `vocab.txt`;
- `labels.json` (label names by id), `export.json` (what was exported from
  where, how, the input signature and the verification figures) and a
  `README.md` with a short Python example.

The signature takes right-padded `token_ids` int32 [batch, length] and the
real `length` int32 [batch] of each row (both sizes variable) and returns
`logits`, `probabilities` (float32 [batch, labels]) and `label_ids` (int32
[batch]). Lengths rather than a mask because that is what the CNN reads: it
zeroes embeddings past each row's end and keeps padding out of the max.

Quantisation (TFLite only): `float16` stores weights as float16;
`dynamic` stores weights as int8 and quantises activations on the fly;
`int8` quantises weights and activations to int8 ahead of time, calibrated
on rows of the materials file's train split (ids in, float32 outputs out).

Every export is verified before it is published: the folder is loaded back
as a user would (`students.exported.ExportedStudent`) and run over the
materials file's test split; its accuracy, its argmax agreement with the
Keras student and the largest probability difference go into export.json.
The folder is written as `OUT.partial` and renamed when complete, so a
crash never leaves a folder that looks finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from distill.errors import DistillError
from distill.overwrite import check_replaceable, has_json_kind
from distill.runfiles import read_run, write_json_atomic
from distill.wordpiece import WordPieceTokenizer, vocab_text
from students.exported import (EXPORT_FILE, EXPORT_KIND, FORMATS, LABELS_FILE, MODEL_PATHS, README_FILE,
                               SAVED_MODEL_DIR, SIGNATURE, TFLITE_FILE, TOKENIZER_FILE, VOCAB_FILE, ExportedStudent)

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
CALIBRATION_ROWS = 512
"""Train rows the int8 converter calibrates activation ranges on (one row per step, real lengths)."""
VERIFY_BATCH = 64
MODEL_CONFIG_KEYS = ("vocab_size", "embedding_dim", "num_labels", "widths", "filters", "embedding_mode")
"""The student's shape, recorded so that `distill bench` can count an exported model's FLOPs."""
EXPORT_SCHEMA = 1


def export_student(run_dir: str | os.PathLike, out_dir: str | os.PathLike, fmt: str = "savedmodel",
                   quantize: str = "none", materials: str | os.PathLike | None = None,
                   overwrite: bool = False, echo=print) -> dict:
    """Export the student run at `run_dir` into the folder `out_dir`; returns the export.json record.

    `materials` is the materials file to verify on (and to calibrate int8 on);
    by default the one the student was trained from, as its run.json records.
    """
    import keras
    import tensorflow as tf

    from materials.reader import MaterialsFile
    from students.predictor import StudentPredictor

    if fmt not in FORMATS:
        raise DistillError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if quantize not in QUANTIZATIONS:
        raise DistillError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if fmt == "savedmodel" and quantize != "none":
        raise DistillError(f"--quantize {quantize} needs --format tflite (a SavedModel is exported in float32)")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    info = read_run(run_dir, "student")
    if not info.complete:
        raise DistillError(f"{run_dir}: the student run has not finished (train it to the end first)")
    materials_path = Path(materials) if materials else _recorded_materials(run_dir, info)
    _check_out_dir(out_dir, run_dir, materials_path, overwrite)

    student = StudentPredictor.load(run_dir, engine="keras")
    model = student.model
    with MaterialsFile(materials_path) as mf:
        if list(mf.label_names) != list(info.label_names):
            raise DistillError(f"{materials_path}: labels {list(mf.label_names)} differ from the student's "
                               f"{list(info.label_names)}; give the materials file it was trained from")
        test = mf.arrays("test", ("x", "length", "y")) if "test" in mf.splits and mf.rows("test") else None
        calibration = (mf.arrays("train", ("x", "length"), stop=CALIBRATION_ROWS)
                       if quantize == "int8" else None)
    if test is None:
        raise DistillError(f"{materials_path}: no test rows to verify the export on")

    echo(f"exporting {run_dir} as {fmt}" + (f" ({quantize})" if fmt == "tflite" else "") + f" -> {out_dir}")
    echo(f"verifying{' and calibrating' if quantize == 'int8' else ''} on the materials {materials_path}"
         + ("" if materials else " (the file the student was trained from)"))
    # written beside the final folder under a name of its own, moved into place only when verified
    partial = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.partial-"))
    try:
        record = _write_export(partial, run_dir, info, student, model, fmt, quantize, materials_path, test,
                               calibration, tf, keras)
        _move_into_place(partial, out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return record


def _write_export(partial: Path, run_dir: Path, info, student, model, fmt: str, quantize: str,
                  materials_path: Path, test, calibration, tf, keras) -> dict:
    """Everything of the export folder, written into `partial` and verified there."""
    serve = _serving_function(model, tf)
    if fmt == "savedmodel":
        _write_saved_model(model, serve, partial / SAVED_MODEL_DIR)
    else:
        staging = partial / ".saved_model"
        _write_saved_model(model, serve, staging)
        blob = _convert_tflite(staging, quantize, calibration, tf)
        shutil.rmtree(staging)
        (partial / TFLITE_FILE).write_bytes(blob)

    tokenizer = WordPieceTokenizer(student.vocab, info.lowercase, info.max_seq_len)
    (partial / TOKENIZER_FILE).write_text(tokenizer.to_json(padding=True), encoding="utf-8")
    (partial / VOCAB_FILE).write_text(vocab_text(student.vocab), encoding="utf-8")
    write_json_atomic(partial / LABELS_FILE, list(info.label_names))
    record = {
        "kind": EXPORT_KIND, "schema": EXPORT_SCHEMA, "format": fmt, "quantize": quantize,
        "model": MODEL_PATHS[fmt], "signature": SIGNATURE,
        "inputs": {"token_ids": "int32 [batch, length], right-padded with 0 ([PAD])",
                   "length": "int32 [batch], real tokens per row ([CLS] and [SEP] included)"},
        "outputs": {"logits": "float32 [batch, labels]", "probabilities": "float32 [batch, labels]",
                    "label_ids": "int32 [batch]"},
        "task": info.task, "label_names": list(info.label_names), "is_pair": bool(info.is_pair),
        "tokenizer": {"file": TOKENIZER_FILE, "lowercase": info.lowercase, "max_seq_len": info.max_seq_len,
                      "vocab_sha256": tokenizer.vocab_sha256},
        "params": info.params, "arch": info.name, "student_config": info.config,
        "model_config": {key: model.get_config()[key] for key in MODEL_CONFIG_KEYS if key in model.get_config()},
        "source_run": str(run_dir.resolve()), "source_model_sha256": info.model_sha256,
        "materials": {"path": str(materials_path.resolve()),
                      "trained_from": (info.provenance or {}).get("materials", {}),
                      "calibration_rows": None if calibration is None else int(len(calibration["x"]))},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_json_atomic(partial / EXPORT_FILE, record)
    (partial / README_FILE).write_text(readme(record), encoding="utf-8")

    record["verification"] = _verify(partial, student, test)
    write_json_atomic(partial / EXPORT_FILE, record)
    record["size_bytes"] = _size(partial / MODEL_PATHS[fmt])
    write_json_atomic(partial / EXPORT_FILE, record)
    return record


def _move_into_place(partial: Path, out_dir: Path) -> None:
    """`partial` becomes `out_dir`; an export already there (ours: checked before any work) is moved
    aside first and removed only once the new one is in place."""
    if not out_dir.exists():
        os.replace(partial, out_dir)
        return
    old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.partial-old-"))
    os.replace(out_dir, old / out_dir.name)
    try:
        os.replace(partial, out_dir)
    except OSError:
        os.replace(old / out_dir.name, out_dir)   # the old export back where it was
        raise
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------ checks
def _recorded_materials(run_dir: Path, info) -> Path:
    """The materials file the student was trained from: beside the run as it was then (its path
    relative to the run), so a runs folder copied or moved as a whole uses its own copy; else the
    absolute path run.json records."""
    recorded = (info.provenance or {}).get("materials", {})
    if not recorded.get("path"):
        raise DistillError(f"{run_dir}: run.json records no materials file; give --materials FILE")
    candidates = [Path(recorded["path"])]
    if recorded.get("relative_path"):
        candidates.insert(0, Path(os.path.normpath(run_dir.resolve() / recorded["relative_path"])))
    for path in candidates:
        if path.is_file():
            return path
    raise DistillError(f"{candidates[0]}: the materials file the student was trained from is gone; give --materials "
                       "FILE (needed to verify the export, and to calibrate int8)")


def _check_out_dir(out_dir: Path, run_dir: Path, materials_path: Path, overwrite: bool) -> None:
    """Before any work: `out_dir` is outside the run, holds neither the run nor its materials, and is
    new, empty, or (with `overwrite`) an export folder of ours (its export.json says so)."""
    if run_dir.resolve() in out_dir.resolve().parents:
        raise DistillError(f"--out {out_dir}: choose a folder outside the run folder {run_dir}")
    check_replaceable(out_dir, what="an export folder", ours=has_json_kind(EXPORT_FILE, (EXPORT_KIND,)),
                      overwrite=overwrite, inputs=(run_dir, materials_path))
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise DistillError(f"--out {out_dir}: cannot write in {parent} (permission denied)")


# ------------------------------------------------------------------ writing
def _serving_function(model, tf):
    def serve(token_ids, length):
        logits = tf.cast(model({"token_ids": token_ids, "length": length}, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits),
                "label_ids": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    return serve


def _write_saved_model(model, serve, path: Path) -> None:
    """A SavedModel whose only function is the serving signature, each weight stored once.

    Written with `tf.saved_model.save` on a bare `tf.Module` holding the
    weights rather than with `keras.export.ExportArchive`, which (Keras 3.15)
    stores every variable twice: a 46.5 MiB student became 93 MiB on disk.
    """
    import tensorflow as tf

    module = tf.Module()
    module.weights = [w.value for w in model.weights]   # the tf.Variables behind the Keras variables
    module.serve = tf.function(serve, input_signature=[
        tf.TensorSpec([None, None], tf.int32, name="token_ids"), tf.TensorSpec([None], tf.int32, name="length")])
    tf.saved_model.save(module, str(path), signatures={SIGNATURE: module.serve.get_concrete_function()})


def _convert_tflite(saved_model: Path, quantize: str, calibration: dict | None, tf) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        ids, lengths = calibration["x"].astype(np.int32), calibration["length"].astype(np.int32)

        def representative():
            for row in range(len(ids)):
                n = int(lengths[row])
                yield {"token_ids": ids[row:row + 1, :n], "length": lengths[row:row + 1]}

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    import warnings

    with warnings.catch_warnings():   # int8 calibration runs TF's own (deprecated, working) TFLite interpreter
        warnings.simplefilter("ignore")
        try:
            return converter.convert()
        except Exception as exc:   # a student of another architecture may hold ops TFLite cannot take
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DistillError(f"TFLite cannot convert this student{f' with --quantize {quantize}' if quantize != 'none' else ''} "
                               f"({first}); export it with --format savedmodel, or another --quantize") from None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------- verifying
def _verify(folder: Path, student, test: dict) -> dict:
    """The exported folder against the Keras student on the test split's ids: accuracy, agreement, max diff."""
    from distill.metrics import softmax

    exported = ExportedStudent.load(folder)
    ids, lengths, y = test["x"].astype(np.int32), test["length"].astype(np.int32), np.asarray(test["y"])
    ours, theirs = [], []
    for lo in range(0, len(ids), VERIFY_BATCH):
        batch_ids, batch_len = ids[lo:lo + VERIFY_BATCH], lengths[lo:lo + VERIFY_BATCH]
        width = int(batch_len.max())
        ours.append(exported.logits_for_ids(batch_ids[:, :width], batch_len))
        theirs.append(student.logits_for_ids(batch_ids[:, :width], batch_len))
    p_export, p_keras = softmax(np.concatenate(ours)), softmax(np.concatenate(theirs))
    labelled = y >= 0
    return {
        "split": "test", "rows": int(len(ids)),
        "accuracy": float((p_export.argmax(1) == y)[labelled].mean()) if labelled.any() else None,
        "keras_accuracy": float((p_keras.argmax(1) == y)[labelled].mean()) if labelled.any() else None,
        "agreement_with_keras": float((p_export.argmax(1) == p_keras.argmax(1)).mean()),
        "max_abs_probability_diff": float(np.abs(p_export - p_keras).max()),
    }


# ------------------------------------------------------------------- readme
def readme(record: dict) -> str:
    """The export folder's README.md: what is in it and a short example that needs no toolkit."""
    fmt, labels = record["format"], record["label_names"]
    if fmt == "savedmodel":
        load = ('import tensorflow as tf\n'
                'serve = tf.saved_model.load(f"{folder}/saved_model").signatures["serving_default"]\n'
                'run = lambda ids, length: serve(token_ids=tf.constant(ids), length=tf.constant(length))')
        needs = "`pip install tensorflow-cpu tokenizers` (or `tensorflow`)"
    else:
        load = ('try:\n    from ai_edge_litert.interpreter import Interpreter\n'
                'except ImportError:  # TensorFlow\'s own copy\n'
                '    import tensorflow as tf\n    Interpreter = tf.lite.Interpreter\n'
                'runner = Interpreter(model_path=f"{folder}/model.tflite").get_signature_runner()\n'
                'run = lambda ids, length: runner(token_ids=ids, length=length)')
        needs = "`pip install ai-edge-litert tokenizers` (or `tensorflow-cpu tokenizers`)"
    quant = "" if fmt == "savedmodel" else f", quantisation {record['quantize']}"
    pair = ("\nThis student reads sentence pairs: encode `(text_a, text_b)` tuples.\n"
            if record.get("is_pair") else "")
    return f"""# Exported student: {record.get('arch')} for {record.get('task')}

A distilled text classifier exported by `distill student export` ({fmt}{quant}).
Labels by id: {', '.join(f'{i} = {name}' for i, name in enumerate(labels))}.
{pair}
Files: `{record['model']}` (signature `{SIGNATURE}`: `token_ids` int32 [batch, length] right-padded
with 0 and `length` int32 [batch] in; `logits`, `probabilities`, `label_ids` out), `tokenizer.json`
(the exact tokenization it was trained with, padding included), `vocab.txt`, `labels.json`, and
`export.json` (where it came from and how it was verified).

Needs {needs}:

```python
import json, numpy as np
from tokenizers import Tokenizer
folder = "."  # this folder
tokenizer, labels = Tokenizer.from_file(f"{{folder}}/tokenizer.json"), json.load(open(f"{{folder}}/labels.json"))
{load}
batch = tokenizer.encode_batch(["a gripping, funny film", "dull and far too long"])
ids = np.array([e.ids for e in batch], np.int32)
length = np.array([sum(e.attention_mask) for e in batch], np.int32)
out = run(ids, length)
print([(labels[i], float(p[i])) for i, p in zip(np.array(out["label_ids"]), np.array(out["probabilities"]))])
```
"""
