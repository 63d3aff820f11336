"""A fine-tuned teacher folder used as it is: no training, straight to materials, eval and bench.

Owns turning a model folder that carries a classifier head (an HF
`BertForSequenceClassification` with `id2label`, a Google run_classifier.py
checkpoint with `output_weights/output_bias`) into a `teachers.run.TeacherRun`
for a task: encoder and head loaded strictly (`teachers.folder`), the head's
outputs put in the task's label order (`teachers.labels`: by name, or by an
explicit `--label-order`), the folder's own tokenizer. Materials, `teacher
eval` and `bench` then treat it as they treat a run fine-tuned here, and a
materials file made from it holds exactly what one made from the same weights
loaded as a run holds; only its provenance differs: it names the folder, the
sha256 of its weights and which head output is which label.

`open_teacher` is the one entry for commands that take either a run folder
(run.json) or a model folder. `import_finetuned` writes a fine-tuned folder as
a teacher run folder, evaluated on the task's dev and test splits and not
trained (what `distill run --teacher PATH` does instead of fine-tuning, so its
later stages, which read run folders, work unchanged).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from distill.data.dataset import Task
from distill.errors import DistillError
from distill.runfiles import (EVAL_RESULTS, LABELS_FILE, MODEL_FILE, TRAIN_RESULTS, VOCAB_FILE, RunInfo,
                              TokenizerFacts, prepare_run_dir, save_model, write_json_atomic, write_run)
from teachers.folder import RUN, labels_where, load_model_folder, model_folder_kind, no_head, source_kind
from teachers.labels import head_order
from teachers.precision import precision_scope
from teachers.run import TeacherRun


def load_finetuned(path, task: Task, label_order=None, max_seq_len: int | None = None,
                   precision: str = "fp32") -> TeacherRun:
    """The fine-tuned folder `path` as a TeacherRun on `task` (see the module docstring)."""
    from teachers.classifier import BertClassifier   # here, not above: a teacher run folder needs no TensorFlow
    from teachers.finetune import KIND                # from this module (`open_teacher`) until it is loaded

    path = Path(path).expanduser()
    kind = model_folder_kind(path)
    with precision_scope(precision):
        teacher = load_model_folder(path, max_seq_len=max_seq_len)
        head = teacher.classifier_head
        if head is None:
            raise no_head(path, task.name)
        rows = int(head[0].shape[0])
        where = labels_where(path, kind, bool(teacher.head_labels))
        order = head_order(task.name, task.label_names, rows, teacher.head_labels, label_order, where)
        model = BertClassifier(teacher.encoder, rows, dropout=teacher.config.dropout)
    model.set_head(head[0][order], head[1][order])
    output_names = list(label_order or teacher.head_labels)
    tokenizer = teacher.tokenizer
    info = RunInfo(kind=KIND, name=teacher.name, task=task.name,
                   config={"folder": str(path.resolve()), "max_seq_len": tokenizer.max_seq_len,
                           "head_labels": output_names},
                   label_names=list(task.label_names),
                   tokenizer=TokenizerFacts(bool(tokenizer.lowercase), tokenizer.max_seq_len, tokenizer.vocab_sha256),
                   primary_metric=task.primary_metric, is_pair=bool(task.is_pair), params=int(model.count_params()),
                   provenance={"weights_source": teacher.weights_source, "weights_sha256": teacher.weights_sha256,
                               "folder": str(path.resolve()), "random_init": False},
                   complete=True, model_file=None)
    return TeacherRun(path.resolve(), info, model, tokenizer, teacher.weights_sha256, precision=precision,
                      provenance={"head_labels": output_names})


def open_teacher(path, task: Task | None = None, label_order=None, max_seq_len: int | None = None,
                 precision: str = "fp32") -> TeacherRun:
    """A teacher run folder, or a fine-tuned model folder used on `task` (which it then needs)."""
    if not Path(path).expanduser().is_dir() or source_kind(path) == RUN:   # not a folder: the run's message
        if label_order is not None or max_seq_len is not None:
            raise DistillError(f"--label-order and --max-seq-len are for a model folder; the teacher run {path} "
                               "has its own labels and max_seq_len")
        return TeacherRun.load(path, precision=precision)
    if task is None:
        raise DistillError(f"--task is needed: the model folder {path} records no task")
    return load_finetuned(path, task, label_order, max_seq_len, precision)


def import_finetuned(path, task: Task, run_dir, label_order=None, max_seq_len: int | None = None,
                     batch_size: int = 64, echo=print) -> dict:
    """Write the fine-tuned folder `path` as a complete teacher run in `run_dir` (new or empty): the
    model as model.keras, its dev/test metrics (no training); returns the eval results."""
    import keras
    import tensorflow as tf

    from teachers.finetune import CONFIG_FILE, KIND

    started = time.perf_counter()
    run = load_finetuned(path, task, label_order, max_seq_len)
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, False, KIND)
    info = run.info
    info.config = {"imported_from": info.config["folder"], **{k: v for k, v in info.config.items() if k != "folder"}}
    info.provenance = {**info.provenance, "task_sha256": task.sha256, "pretrained_weights_sha256": run.weights_sha256,
                       "fine_tuned": "elsewhere; imported as it is, without training"}
    info.model_file, info.complete = MODEL_FILE, False
    info.rows = {name: len(split) for name, split in task.splits.items() if name in ("train", "dev", "test")}
    info.versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    write_run(run_dir, info)
    write_json_atomic(run_dir / CONFIG_FILE, run.config.to_dict())
    shutil.copyfile(run.tokenizer.vocab_path, run_dir / VOCAB_FILE)
    write_json_atomic(run_dir / LABELS_FILE, list(task.label_names))
    results = {}
    for split in ("dev", "test"):
        if split in task.splits and len(task.splits[split]):
            results[split] = run.evaluate(task.splits[split], batch_size=batch_size)
    info.model_sha256 = save_model(run.model, run_dir)
    write_json_atomic(run_dir / EVAL_RESULTS, results)
    write_json_atomic(run_dir / TRAIN_RESULTS, {"epochs_run": 0, "imported_from": str(Path(path).resolve()),
                                                "train_seconds": 0.0})
    info.complete = True
    info.timings = {"train_seconds": 0.0, "eval_seconds": round(sum(r["seconds"] for r in results.values()), 3),
                    "total_seconds": round(time.perf_counter() - started, 3)}
    write_run(run_dir, info)
    if echo is not None:
        echo(f"imported {path} as the teacher run {run_dir} (no fine-tuning)")
    return results


def head_summary(path) -> str | None:
    """'2 outputs: rotten, fresh' for a folder's classifier head, or None without one (messages)."""
    from teachers.folder import classifier_head

    head = classifier_head(path)
    if head is None:
        return None
    rows, labels = head
    return f"{rows} outputs: {', '.join(labels)}" if labels else f"{rows} outputs, not named"

