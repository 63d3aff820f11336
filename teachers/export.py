"""A fine-tuned teacher run written back as a model folder other tools read.

Owns `distill teacher export RUN --format hf|google OUT`:

- `hf`: a `BertForSequenceClassification` folder as `save_pretrained` writes it
  (config.json with id2label, model.safetensors, vocab.txt, tokenizer.json,
  tokenizer_config.json with do_lower_case and model_max_length = the run's
  max_seq_len), for `transformers` and anything that reads HF folders;
- `google`: the layout of Google's BERT release after `run_classifier.py`
  (bert_model.ckpt with `output_weights/output_bias`, bert_config.json,
  vocab.txt), plus `label_names.json` and `tokenizer_config.json` for what a
  TF checkpoint has no place for (which output is which label, case,
  max_seq_len); this toolkit reads both back.

Either folder, given back as `--teacher OUT`, is the same teacher: same
tokenizer, same max_seq_len (by `teachers.folder.default_max_seq_len`, unless
the run used the model's every position: then say `--max-seq-len`), the same
tensors bit for bit, hence the same logits. The export is checked before it is published: every tensor is read
back from the written files and compared with the run's. It is written into a
temporary folder beside OUT and renamed, so OUT is either complete or absent. Its
`distill_export.json` says that distill wrote it: a non-empty OUT is replaced only
when it has one, and only with `overwrite` (`distill.overwrite`); a user's folder,
or one holding the run, never is. A teacher fine-tuned with
mean pooling is refused: both formats' heads read the [CLS] pooler.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from distill.errors import DistillError
from distill.runfiles import LABELS_FILE
from teachers import hf
from teachers.run import TeacherRun

FORMATS = ("hf", "google")
MARKER_FILE = "distill_export.json"
MARKER_KIND = "distill.teacher-export"


def export_teacher(run_dir, fmt: str, out, overwrite: bool = False) -> Path:
    """Write the teacher run `run_dir` to folder `out` in format `fmt` (see the module docstring)."""
    from distill.overwrite import check_replaceable, has_json_kind
    from distill.runfiles import check_writable

    if fmt not in FORMATS:
        raise DistillError(f"--format {fmt!r}: known are {', '.join(FORMATS)}")
    out = check_replaceable(out, what="a teacher export folder", ours=has_json_kind(MARKER_FILE, (MARKER_KIND,)),
                            overwrite=overwrite, inputs=(run_dir,), option="OUT")
    check_writable(out.parent, what="output folder")
    run = TeacherRun.load(run_dir)
    if getattr(run.model, "pooling", "cls") != "cls":
        raise DistillError(f"{run_dir}: the teacher was fine-tuned with --pooling {run.model.pooling}; {fmt} "
                           "classifier folders have a [CLS]-pooler head only, so its logits would change "
                           "(its materials file and run folder serve it as it is)")
    output_weights, output_bias = run.model.head_weights()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.partial-") as tmp:
        folder = Path(tmp) / out.name
        if fmt == "hf":
            hf.write_hf_folder(folder, run.encoder, output_weights, output_bias, run.label_names, run.vocab_path,
                               run.lowercase, run.max_seq_len, tokenizer_json=run.tokenizer.to_json(padding=False))
        else:
            _write_google(folder, run, output_weights, output_bias)
        _verify(folder, run, output_weights, output_bias)
        (folder / MARKER_FILE).write_text(json.dumps({"kind": MARKER_KIND, "format": fmt,
                                                      "source_run": str(Path(run_dir).resolve())}, indent=2) + "\n",
                                          encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        folder.rename(out)
    return out


def _write_google(folder: Path, run: TeacherRun, output_weights: np.ndarray, output_bias: np.ndarray) -> None:
    from teachers.checkpoints import save_google_checkpoint

    save_google_checkpoint(run.encoder, folder, run.vocab_path,
                           heads={"output_weights": output_weights, "output_bias": output_bias})
    (folder / LABELS_FILE).write_text(json.dumps(run.label_names) + "\n", encoding="utf-8")
    (folder / hf.TOKENIZER_CONFIG).write_text(json.dumps(
        {"do_lower_case": bool(run.lowercase), "model_max_length": int(run.max_seq_len)}, indent=2) + "\n",
        encoding="utf-8")


def _verify(folder: Path, run: TeacherRun, output_weights: np.ndarray, output_bias: np.ndarray) -> None:
    """Every tensor read back from the written folder equals the run's; the tokenizer facts too."""
    from teachers.folder import load_model_folder

    loaded = load_model_folder(folder, max_seq_len=run.max_seq_len)
    theirs = loaded.encoder.named_weights()
    for name, variable in run.encoder.named_weights().items():
        if not np.array_equal(variable.numpy(), theirs[name].numpy()):
            raise DistillError(f"{folder}: tensor {name} does not read back equal; the export is not published")
    head = loaded.classifier_head
    if head is None or not (np.array_equal(head[0], output_weights) and np.array_equal(head[1], output_bias)):
        raise DistillError(f"{folder}: the classifier head does not read back equal; the export is not published")
    facts = (loaded.head_labels, loaded.tokenizer.lowercase, loaded.tokenizer.max_seq_len,
             loaded.tokenizer.vocab_sha256)
    if facts != (run.label_names, run.lowercase, run.max_seq_len, run.vocab_sha256):
        raise DistillError(f"{folder}: labels or tokenizer read back as {facts}; the export is not published")
