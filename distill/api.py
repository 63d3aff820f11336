"""distill from Python: the stages of `distill run` as functions that return Keras objects.

Owns the toolkit's public Python API. The `distill` command calls these same
functions (one path, not two), so a notebook and the command line give the
same runs, folders and numbers. Part of the face (`distill.layering` puts this
module with `distill.app`): it ties teachers, materials and students together.

    from distill import api

    task = api.load_task("rt-polarity")
    teacher = api.finetune_teacher(task, "minilm-l6")          # a TeacherRun; reused when already trained
    materials = api.generate_materials(teacher, task, augment=10)
    with api.open_materials(materials) as mf:                   # the HDF5 file, read-only
        train = mf.dataset("train", batch_size=50, shuffle=True, seed=0)   # tf.data: (features, targets)
    student = api.train_student(materials, "kim-cnn", loss="mse")   # or "bilstm", a builder, a keras.Model
    student.model                                               # the trained keras.Model
    labels, probs = student.predict(["a gripping, funny film"])
    api.export_student(student.run_dir, format="tflite")

`finetune_teacher` and `train_student` take `out=` (a folder; default under
`runs_dir`, named by a hash of the options, as the command names it), reuse a
finished run there, and resume an interrupted one; `generate_materials` keeps
a finished file of the same provenance and resumes a killed one.

Unlike `keras.distillation.Distiller`, which runs the teacher at every student
step, a student here learns from the teacher's outputs stored once in the
materials file: training never loads the teacher, and the same file serves
every student, seed and architecture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from distill.errors import DistillError

__all__ = [
    "load_task", "describe_task", "show_task",
    "load_teacher", "describe_teacher", "finetune_teacher", "tune_teacher", "open_teacher", "evaluate",
    "export_teacher", "train_tokenizer", "pretrain_teacher",
    "generate_materials", "open_materials", "merge_materials", "describe_materials",
    "StudentRun", "StudentFacts", "train_student", "load_student",
    "load_predictor", "predict", "export_student", "bench", "explain", "explain_texts", "report", "run",
    "FinetuneConfig", "PretrainConfig", "StudentConfig", "AugmentConfig", "PipelineConfig",
    "TeacherLogitsLoss", "distillation_loss",
]


def __getattr__(name: str):
    """The config classes, `StudentFacts` and the Keras loss adapters, imported when first asked for
    (they import TensorFlow)."""
    where = {"FinetuneConfig": "teachers.finetune", "StudentConfig": "students.train",
             "AugmentConfig": "materials.augment", "PipelineConfig": "distill.app.pipeline",
             "PretrainConfig": "teachers.pretrain",
             "StudentFacts": "students.archs", "TeacherLogitsLoss": "students.keras_losses",
             "distillation_loss": "students.keras_losses"}
    if name in where:
        import importlib

        return getattr(importlib.import_module(where[name]), name)
    raise AttributeError(f"module 'distill.api' has no attribute {name!r}")


# ---------------------------------------------------------------------- data
def load_task(name: str = "rt-polarity", data_dir: str | os.PathLike | None = None, *, split: str | None = None,
              split_seed: int | None = None, group_column: str | None = None, text_column: str | None = None,
              text_b_column: str | None = None, label_column: str | None = None):
    """A task (`distill.data.Task`: named splits of texts and labels), built in or from your own file.

    `name` is a built-in task (`rt-polarity`, `glue/sst2`, ...) or `csv:FILE`,
    `tsv:DIR`, `jsonl:FILE`, `parquet:FILE`. For a single file, `split`
    ("80/10/10") and `split_seed` cut it into train/dev/test, `group_column`
    keeps a group's rows in one split, and the column options name its columns
    (the command line's `--split`, `--split-seed`, `--group-column`, ...).
    """
    from distill.data import load_task as load
    from distill.data.registry import task_spec

    spec = task_spec(name, split=split, seed=split_seed, group=group_column, text=text_column, text_b=text_b_column,
                     label=label_column, data_dir=data_dir)
    return load(spec, data_dir=data_dir)


def describe_task(task) -> str:
    """What `distill data prepare` prints: split sizes, label balance and where the data came from."""
    from distill.data import describe_task as describe

    return describe(_task(task))


def show_task(task, rows: int = 3) -> str:
    """What `distill data show` prints: the first `rows` rows of every split."""
    from distill.data import show_task as show

    return show(_task(task), rows=rows)


# ------------------------------------------------------------------- teachers
def describe_teacher(name: str = "minilm-l6", checkpoint: str | os.PathLike | None = None,
                     random_init: bool = False) -> str:
    """What `distill teacher info` prints: config, parameter count and where the weights come from."""
    from teachers.registry import describe_teacher as describe

    return describe(str(name), checkpoint=checkpoint, random_init=random_init)


def load_teacher(name: str = "minilm-l6", checkpoint: str | os.PathLike | None = None, max_seq_len: int = 128):
    """A BERT teacher to fine-tune, as a `keras.Model` (`teachers.classifier.BertClassifier`): a name
    (`minilm-l6`, `bert-base`, ...) or a Hugging Face / Google folder."""
    from teachers.registry import load_teacher as load

    return load(str(name), checkpoint=checkpoint, max_seq_len=max_seq_len)


def finetune_teacher(task, teacher: str = "minilm-l6", out: str | os.PathLike | None = None, *,
                     checkpoint: str | os.PathLike | None = None, config=None, overwrite: bool = False,
                     progress: bool = True, strategy: str = "auto", runs_dir: str | os.PathLike = "runs",
                     echo: Callable[[str], None] | None = print, load: bool = True, **options):
    """Fine-tune `teacher` on `task` and return the run (`teachers.run.TeacherRun`: `predict`,
    `evaluate`, `run_dir`; None with `load=False`, and on a multi-worker worker other than the
    chief, which writes no run).

    `config` is a `FinetuneConfig` (lr, batch_size, epochs, pooling, ...);
    keyword `options` override its fields. A finished run in `out` with the same
    options is reused, an interrupted one resumes from its last epoch;
    `overwrite=True` trains again.
    """
    import dataclasses

    import keras

    from distill import distribute
    from teachers.finetune import FinetuneConfig, Finetuner, finished_results, run_id
    from teachers.registry import is_folder, teacher_label
    from teachers.run import TeacherRun

    task = _task(task)
    config = dataclasses.replace(config or FinetuneConfig(), **options) if options else (config or FinetuneConfig())
    placement = distribute.setup(strategy)
    if out is None:   # named as `distill teacher finetune` names it: a folder teacher is hashed by its path
        folder = str(teacher) if is_folder(str(teacher)) else checkpoint
        out = Path(runs_dir) / "teacher" / run_id(teacher_label(str(teacher)), task, config, folder)
    out = Path(out)
    if finished_results(out) is not None and not overwrite:
        from distill.runfiles import check_same_options

        check_same_options(out, "teacher", config.to_dict(), config.option_name)
        _say(echo, f"reusing the finished run {out} (--overwrite, or overwrite=True, to train it again)")
    else:
        keras.utils.set_random_seed(config.seed)   # before loading: random-init teachers draw their weights there
        model = load_teacher(teacher, checkpoint=checkpoint, max_seq_len=config.max_seq_len)
        if model.classifier_head is not None:
            import sys

            print(f"note: {teacher} is already fine-tuned; fine-tuning starts again from its encoder with a new "
                  f"head (to use it as it is: distill materials generate --teacher {teacher} --task ..., or "
                  "api.generate_materials(api.open_teacher(folder, task), task))", file=sys.stderr)
        Finetuner(config, progress=progress, strategy=strategy, echo=echo).fit(model, task, out,
                                                                                overwrite=overwrite)
    return TeacherRun.load(out) if load and placement.chief else None   # only the chief writes the run folder


def open_teacher(path: str | os.PathLike, task=None, label_order: Sequence[str] | None = None,
                 max_seq_len: int | None = None, precision: str = "fp32"):
    """A fine-tuned teacher to run (`teachers.run.TeacherRun`): a teacher run folder, or a model folder
    with its own classifier head (which then needs `task`, and `label_order` when it does not name its
    labels)."""
    from teachers.finetuned import open_teacher as open_

    return open_(path, None if task is None else _task(task), label_order, max_seq_len, precision)


def tune_teacher(task, teacher: str = "minilm-l6", out: str | os.PathLike | None = None, *,
                 batch_sizes: Sequence[int] = (16, 32), lrs: Sequence[float] = (2e-5, 3e-5, 5e-5), seeds: int = 5,
                 checkpoint: str | os.PathLike | None = None, config=None, progress: bool = True,
                 runs_dir: str | os.PathLike = "runs", echo: Callable[[str], None] | None = print, **options):
    """Grid over batch size x learning rate on dev, then the best setting with `seeds` seeds; returns
    the fitted `teachers.tune.Tuner` (`best_params_`, `grid_`, `summary_`, `out_dir_`, whose
    tune_results.json holds it all). `config`/`options` as for `finetune_teacher`."""
    import dataclasses

    from teachers.finetune import FinetuneConfig, run_id
    from teachers.registry import is_folder, teacher_label
    from teachers.tune import Tuner

    task = _task(task)
    base = dataclasses.replace(config or FinetuneConfig(), **options)
    batch_sizes, lrs = [int(b) for b in batch_sizes], [float(lr) for lr in lrs]
    if out is None:   # named as `distill teacher tune` names it
        grid = {"batch_sizes": batch_sizes, "lrs": lrs, "seeds": seeds}
        folder = str(teacher) if is_folder(str(teacher)) else checkpoint
        out = Path(runs_dir) / "tune" / run_id(teacher_label(str(teacher)), task, base, folder, extra=grid)
    tuner = Tuner(base, batch_sizes, lrs, seeds=seeds, progress=progress, echo=echo)
    return tuner.fit(lambda: load_teacher(teacher, checkpoint=checkpoint, max_seq_len=base.max_seq_len), task, out)


def evaluate(model, task=None, splits: Sequence[str] = ("dev", "test"), batch_size: int = 32,
             progress: bool = False) -> dict:
    """{split: metrics} of a teacher run, student run or export folder (or a loaded predictor) on
    `task` (default: the task the model was trained on), computed from raw text as `predict` sees it.

    A teacher (`TeacherRun`) also reports its loss, seconds and it/s per split, as
    `distill teacher eval` prints them."""
    from tqdm.auto import tqdm

    from distill.metrics import classification_metrics

    predictor = load_predictor(model) if isinstance(model, (str, os.PathLike)) else model
    if task is None:
        task = getattr(predictor, "task_name", None) or getattr(getattr(predictor, "info", None), "task", None)
        if task is None:
            raise DistillError("evaluate: give the task (this model does not record one)")
    task = _task(task)
    results = {}
    for split in splits:
        if split not in task.splits:
            raise DistillError(f"task {task.name} has no split {split!r}; it has {', '.join(task.splits)}")
        data = task.splits[split]
        with tqdm(total=len(data), unit="ex", desc=f"eval {split}", disable=not progress, leave=False,
                  dynamic_ncols=True) as bar:
            if hasattr(predictor, "predict_logits"):   # a teacher: metrics with loss, seconds and it/s
                results[split] = predictor.evaluate(data, batch_size=batch_size, on_batch=bar.update)
                continue
            labels, _ = predictor.predict(list(data.texts), None if data.texts_b is None else list(data.texts_b),
                                          batch_size=batch_size)
            bar.update(len(data))
        results[split] = classification_metrics(data.labels, labels, list(task.label_names))
    return results


def export_teacher(run_dir: str | os.PathLike, out: str | os.PathLike, format: str = "hf", *,
                   overwrite: bool = False) -> Path:
    """Write a fine-tuned teacher run as a Hugging Face (`"hf"`: BertForSequenceClassification) or
    Google (`"google"`: run_classifier.py checkpoint) folder; returns the folder."""
    from teachers.export import export_teacher as export

    return Path(export(run_dir, format, out, overwrite=overwrite))


def train_tokenizer(corpus: Sequence[str], out: str | os.PathLike, vocab_size: int = 30522, *,
                    lowercase: bool = True, min_frequency: int = 2, max_seq_len: int = 128,
                    data_dir: str | os.PathLike | None = None, overwrite: bool = False,
                    echo: Callable[[str], None] | None = print) -> dict:
    """Train a WordPiece vocabulary on `corpus` and write a BERT tokenizer folder at `out` (what
    `distill teacher pretrain --vocab` and `pretrain_teacher(vocab=...)` take); returns its info
    (tokens, coverage, `out`). Sources as for `distill tokenizer train`: a text file, a folder of
    *.txt, `task:NAME` (a task's train texts) or `corpus:rt-polarity-plots`."""
    import dataclasses

    from distill.data.corpus import read_corpus
    from distill.vocab_training import coverage, train_vocab, write_tokenizer_folder

    read = read_corpus(list(corpus), data_dir=data_dir)
    for source in read.sources:
        _say(echo, f"  {source.spec}: {_count(source.lines, 'line')}, {_count(source.documents, 'document')}")
    _say(echo, f"training a {vocab_size:,}-token {'uncased' if lowercase else 'cased'} vocab on "
               f"{read.n_lines:,} lines ...")
    lines = list(read.lines())
    tokens = train_vocab(lines, vocab_size, lowercase=lowercase, min_frequency=min_frequency)
    cover = coverage(lines, tokens, lowercase)
    info = {"corpus": read.provenance(), "vocab_size": vocab_size, "tokens": len(tokens), "lowercase": lowercase,
            "min_frequency": min_frequency, "max_seq_len": max_seq_len,
            "coverage": {**dataclasses.asdict(cover), "split_share": cover.split_share}}
    folder = write_tokenizer_folder(tokens, out, lowercase, max_seq_len, overwrite=overwrite, info=info)
    return {**info, "out": str(folder)}


def pretrain_teacher(corpus: Sequence[str], out: str | os.PathLike | None = None, *, teacher: str | None = None,
                     preset: str = "mini", vocab: str | os.PathLike | None = None, config=None,
                     finetune_task=None, finetune_every: int | None = None, finetune_config=None,
                     checkpoint_format: str = "hf", data_dir: str | os.PathLike | None = None,
                     overwrite: bool = False, progress: bool = True, strategy: str = "auto",
                     runs_dir: str | os.PathLike = "runs", **options):
    """Masked-language-model pretraining of a BERT on `corpus`; every epoch's checkpoint
    (`RUN/epoch-K`) is a teacher folder. Continues `teacher` (a name or folder) when given, else
    starts a new BERT of size `preset` on the tokenizer folder `vocab` (default: the uncased BERT
    vocab). `config` is a
    `PretrainConfig`, keyword `options` override its fields. With `finetune_task` and
    `finetune_every=K`, every K-th checkpoint is fine-tuned on the task to show what pretraining
    bought. Returns the fitted `teachers.pretrain.Pretrainer` (`run_dir_`, `eval_results_`,
    `throughput_`, `finetunes_`)."""
    import dataclasses

    import keras

    from distill.data.corpus import read_corpus
    from teachers.pretrain import PretrainConfig, Pretrainer, new_teacher, run_id
    from teachers.registry import teacher_label

    config = dataclasses.replace(config or PretrainConfig(), **options)
    read = read_corpus(list(corpus), data_dir=data_dir)
    task = _task(finetune_task) if finetune_task is not None else None
    keras.utils.set_random_seed(config.seed)   # before building: a new BERT draws its weights there
    if teacher is not None:
        model, label = load_teacher(teacher, max_seq_len=config.max_seq_len), teacher_label(str(teacher))
    else:
        model, label = new_teacher(preset, vocab, config), preset
    extra = {"finetune_every": finetune_every, "task": task.name if task else None,
             "finetune": finetune_config.to_dict() if finetune_config else None, "format": checkpoint_format}
    start = model.weights_sha256 or model.weights_source
    run_dir = Path(out) if out is not None else Path(runs_dir) / "pretrain" / run_id(
        label, config, read, model.tokenizer.vocab_sha256, start, extra)
    trainer = Pretrainer(config, checkpoint_format=checkpoint_format, finetune_task=task,
                         finetune_every=finetune_every or 0, finetune_config=finetune_config,
                         progress=progress, strategy=strategy)
    return trainer.fit(model, read, run_dir, overwrite=overwrite)


# ------------------------------------------------------------------ materials
def generate_materials(teacher, task=None, out: str | os.PathLike | None = None, *,
                       splits: Sequence[str] = ("train", "dev", "test"), augment=0, batch_size: int = 32,
                       bucket: bool = True, overwrite: bool = False, progress: bool = True,
                       runs_dir: str | os.PathLike = "runs", echo: Callable[[str], None] | None = print,
                       **generate_options) -> Path:
    """Run the teacher over every split and write the materials file; returns its path.

    `teacher` is a `TeacherRun` or a teacher folder; `task` defaults to the
    teacher's own. `augment` is 0, a number of variants per training sentence,
    or a `materials.augment.AugmentConfig`: the transfer set. A killed run
    resumes from its `.partial`; a finished file with the same provenance is
    kept as it is.
    """
    from materials.augment import AugmentConfig
    from materials.generate import generate

    run = teacher if not isinstance(teacher, (str, os.PathLike)) else open_teacher(teacher, task)
    task = _task(task if task is not None else run.task_name)
    if out is None:
        suffix = "" if task.name == run.task_name else "-" + "".join(c if c.isalnum() else "-" for c in task.name)
        out = Path(runs_dir) / "materials" / f"{Path(run.run_dir).name}{suffix}.h5"
    if isinstance(augment, int) and not isinstance(augment, bool):
        augment = AugmentConfig(n_per_example=augment) if augment else 0
    return generate(run, task, out, splits=list(splits), batch_size=batch_size, bucket=bucket, overwrite=overwrite,
                    augment=augment, progress=progress, echo=echo, **generate_options)


def open_materials(path: str | os.PathLike):
    """The materials file, open for reading (`materials.reader.MaterialsFile`; use it in `with`).

    `.dataset(split, batch_size, shuffle=True, seed=0, targets=("y", "logits", "ysm"))` is a
    `tf.data.Dataset` of `(features, targets)` batches, each padded to its longest row;
    `.arrays(split)` the numpy arrays; `.embedding` the teacher's word vectors. A run's
    materials folder (holding `materials.h5`) is accepted too.
    """
    from materials.reader import MaterialsFile

    return MaterialsFile(materials_file(path))


def merge_materials(shards: Sequence[str | os.PathLike], out: str | os.PathLike, *, overwrite: bool = False,
                    progress: bool = True, echo: Callable[[str], None] | None = print) -> Path:
    """Check that `shards` are every part of one sharded materials run, then write them as one file
    at `out`; returns its path."""
    from materials.merge import merge

    return Path(merge(list(shards), out, overwrite=overwrite, progress=progress, echo=echo))


def describe_materials(path: str | os.PathLike) -> str:
    """What `distill materials info` prints: provenance, splits, datasets and their shapes. A `.partial`
    file (a killed run) and a shard are described too."""
    from materials.reader import MaterialsFile
    from materials.schema import PARTIAL_SUFFIX

    path = materials_file(path)
    with MaterialsFile(path, allow_partial=str(path).endswith(PARTIAL_SUFFIX), allow_shard=True) as mf:
        return mf.describe()


# ------------------------------------------------------------------- students
@dataclass
class StudentRun:
    """A trained student: its Keras model, its run folder and what it scored.

    `model` is the best `keras.Model` (loaded from the run folder when first
    asked for, for a reused run); `predict(texts)` gives (label names,
    probabilities) from raw text, as `distill predict` does; `history` is one
    dict per epoch."""

    run_dir: Path
    eval_results: dict
    config: object                     # students.train.StudentConfig
    history: list = field(default_factory=list)
    reused: bool = False
    _model: object = field(default=None, repr=False)
    _predictor: object = field(default=None, repr=False)

    @property
    def model(self):
        if self._model is None:
            from distill.runfiles import read_run
            from students.archs import load_student_model

            info = read_run(self.run_dir, "student")
            if not info.model_file:
                raise DistillError(f"{self.run_dir}: the run saved no model (trained with save_model=False)")
            self._model = load_student_model(self.run_dir / info.model_file, info.name)
        return self._model

    def predict(self, texts: Sequence[str], texts_b: Sequence[str] | None = None, batch_size: int = 32):
        if self._predictor is None:   # loaded once, not on every call
            self._predictor = load_predictor(self.run_dir)
        return predict(self._predictor, texts, texts_b, batch_size=batch_size)

    def __repr__(self) -> str:
        test = (self.eval_results.get("test") or {}).get("accuracy")
        score = f", test accuracy {test:.4f}" if isinstance(test, float) else ""
        return f"StudentRun({self.run_dir}, arch {self.config.arch}, loss {self.config.loss}{score})"


def train_student(materials: str | os.PathLike, student=None, out: str | os.PathLike | None = None, *,
                  config=None, overwrite: bool = False, progress: bool = True, strategy: str = "auto",
                  runs_dir: str | os.PathLike = "runs", callbacks: list | None = None,
                  echo: Callable[[str], None] | None = print, **options) -> StudentRun:
    """Train a student on a materials file and return it (`StudentRun`, whose `.model` is a `keras.Model`).

    `student` is a built-in architecture (`"kim-cnn"`, `"bilstm"`; default:
    `config.arch`, itself "kim-cnn" by default), a builder
    `"module:function"` or function `build(facts: StudentFacts) -> keras.Model`,
    or a ready `keras.Model`. Whatever it is, it takes `{"token_ids": int32
    [B, L], "length": int32 [B]}` and returns logits `[B, num_labels]`, and
    trains with our losses, transfer set, kill-safe resume and run folder.
    `config` is a `StudentConfig` (loss, temperature, lr, epochs, seed, ...);
    keyword `options` override its fields. `callbacks` are extra Keras
    callbacks given to `fit`.
    """
    import dataclasses

    from students.train import StudentConfig, StudentTrainer, finished_results, run_id

    materials = materials_file(materials)
    config = config or StudentConfig()
    if isinstance(student, str):
        options["arch"] = student
    if options:
        config = dataclasses.replace(config, **options)
    built = None if student is None or isinstance(student, str) else student
    trainer = StudentTrainer(config, student=built, progress=progress, strategy=strategy, echo=echo,
                             callbacks=callbacks)
    run_dir = Path(out) if out is not None else Path(runs_dir) / "student" / run_id(materials, trainer.config)
    if finished_results(run_dir) is not None and not overwrite:
        from distill.runfiles import check_same_options

        check_same_options(run_dir, "student", trainer.config.to_dict(), trainer.config.option_name)
        _say(echo, f"reusing the finished run {run_dir} (--overwrite, or overwrite=True, to train it again)")
        return load_student(run_dir)
    trainer.fit(materials, run_dir, overwrite=overwrite)
    return StudentRun(run_dir, trainer.eval_results_, trainer.config, trainer.history_, _model=trainer.model_)


def load_student(run_dir: str | os.PathLike) -> StudentRun:
    """A finished student run folder (its model is loaded when `.model` is first asked for)."""
    from distill.app.report.collect import read_jsonl
    from distill.runfiles import EPOCHS_FILE, finished_results, read_run
    from students.train import StudentConfig

    run_dir = Path(run_dir)
    info = read_run(run_dir, "student")
    results = finished_results(run_dir, "student")
    if results is None:
        raise DistillError(f"{run_dir}: the student run has not finished")
    epochs = run_dir / EPOCHS_FILE
    history = [record for _, record in read_jsonl(epochs)[0]] if epochs.exists() else []
    return StudentRun(run_dir, results, StudentConfig.from_dict(info.config), history, reused=True)


# ------------------------------------------------------------------ using one
PREDICTORS = {
    "teacher": ("teachers.run", "TeacherRun"),
    "student": ("students.predictor", "StudentPredictor"),
}
"""run.json `kind` -> (module, class). The class has `load(run_dir)`, `.label_names`,
optional `.is_pair`, and `predict(texts, texts_b=None, batch_size=32) -> (labels int[N], probs [N, C])`.
An export folder (`distill student export`, recognised by its export.json) is loaded by
`students.exported.ExportedStudent`, which keeps the same protocol."""


def load_predictor(path: str | os.PathLike):
    """What `distill predict` runs: a teacher run (`TeacherRun`), a student run (`StudentPredictor`,
    the folded engine for a Kim CNN) or an export folder (`ExportedStudent`), picked by the `kind`
    in its run.json or by its export.json; each has `predict(texts, texts_b=None) -> (label ids,
    probabilities)` and `label_names`."""
    import importlib

    from distill.runfiles import RUN_FILE, read_run
    from students.exported import ExportedStudent, is_export_dir

    if is_export_dir(path):
        return ExportedStudent.load(path)
    kind = read_run(path).kind
    if kind not in PREDICTORS:
        raise DistillError(f"{Path(path) / RUN_FILE}: kind {kind!r} has no predictor; known: {', '.join(PREDICTORS)}")
    module, name = PREDICTORS[kind]
    return getattr(importlib.import_module(module), name).load(path)


def predict(model, texts: Sequence[str], texts_b: Sequence[str] | None = None, batch_size: int = 32):
    """(label name per text, probabilities [N, labels]) of a run or export folder (or a loaded predictor)."""
    predictor = load_predictor(model) if isinstance(model, (str, os.PathLike)) else model
    ids, probs = predictor.predict(list(texts), None if texts_b is None else list(texts_b), batch_size=batch_size)
    return [predictor.label_names[i] for i in ids], probs


def export_student(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, format: str = "savedmodel",
                   quantize: str = "none", *, materials: str | os.PathLike | None = None, overwrite: bool = False,
                   runs_dir: str | os.PathLike = "runs", echo: Callable[[str], None] | None = print) -> dict:
    """Write a student run as a self-contained SavedModel or TFLite folder (model, tokenizer.json,
    labels, README), verified on the materials' test split; returns its export.json record (with
    `out`, the folder)."""
    from students.export import export_student as export

    run_dir = Path(run_dir)
    suffix = format + ("" if quantize == "none" else f"-{quantize}")
    out = Path(out) if out is not None else Path(runs_dir) / "export" / f"{run_dir.resolve().name}-{suffix}"
    record = export(run_dir, out, format, quantize, materials=materials, overwrite=overwrite,
                    echo=echo or (lambda line: None))
    return {**record, "out": str(out)}


def bench(models: Sequence[str | os.PathLike] = (), task="rt-polarity", *, presets: Sequence[str] = (),
          split: str = "test", examples: int = 64, batch_sizes: Sequence[int] = (1, 32),
          modes: Sequence[str] = ("text",), repeats: int = 3, warmup: int = 1, max_seq_len: int = 128,
          precision: str = "fp32", student_engines: Sequence[str] = ("folded",), progress: bool = True) -> dict:
    """Time teacher runs (or model folders), teacher presets, student runs and export folders side by
    side, in this process, on the same texts of `task`'s `split`; returns the `bench.json` object
    (examples/s per model x mode x batch, with the machine's float32 matmul peak measured in the same
    run). Teachers are timed first, then presets, then students (each student run once per engine in
    `student_engines`: "folded", "keras")."""
    import functools

    from distill.app import bench as benchmarks
    from distill.runfiles import RUN_FILE, read_run
    from students.exported import is_export_dir

    task = _task(task)
    texts, where = benchmarks.bench_texts(task, split, examples)
    n = len(task.label_names)
    teachers, students = [], []
    for path in models:
        if is_export_dir(path):
            students.append(functools.partial(benchmarks.exported_model_bench, path))
        elif (info := read_run(path) if (Path(path) / RUN_FILE).is_file() else None) and info.kind == "student":
            # only a Kim CNN folds; any other student runs as Keras whatever the engine, so it is timed once
            engines = student_engines if info.name == "kim-cnn" else ("keras",)
            students += [functools.partial(benchmarks.student_model_bench, path, engine=e) for e in engines]
        else:   # a teacher run, or a model folder
            teachers.append(functools.partial(benchmarks.teacher_model_bench, run_dir=path, max_seq_len=max_seq_len,
                                              num_labels=n, precision=precision))
    presets = [functools.partial(benchmarks.teacher_model_bench, preset=p, max_seq_len=max_seq_len, num_labels=n,
                                 precision=precision) for p in presets]
    summary = benchmarks.benchmark(teachers + presets + students, texts, tuple(batch_sizes), tuple(modes),
                                   warmup=warmup, repeats=repeats, progress=progress)
    summary.update(texts=where, task=task.name, split=split)
    return summary


def explain(teacher: str | os.PathLike, student: str | os.PathLike, out: str | os.PathLike, *, task=None,
            texts: Sequence[str] | None = None, split: str = "test", n: int = 100, method: str = "ig",
            progress: bool = True) -> dict:
    """Token attributions of a teacher run and a student run on the same texts, compared (explain.json
    and a PNG in `out`); returns the explain.json object."""
    from distill.app.explain import compare_runs

    return compare_runs(teacher, student, out, texts=texts, split=split, n=n, method=method, progress=progress,
                        task=task)


def explain_texts(runs: Sequence[str | os.PathLike], texts: Sequence[str], *, method: str = "ig",
                  steps: int | None = None) -> dict:
    """Token attributions of one run (or two, compared) on your own texts, as `distill explain`
    prints them. Returns {"explainers", "attributions" (one list per run, one Attribution per text),
    "comparison" (two runs: rank correlation and top-k overlap per text, else None)}. The second run
    explains the first run's predicted labels, so the two attributions are of the same logit."""
    from distill.app import explain as explaining
    from distill.attribution import IG_STEPS

    runs = list(runs)
    if not 1 <= len(runs) <= 2:
        raise DistillError(f"explain: give one run, or two to compare; got {len(runs)}")
    explainers = [explaining.load_explainer(r, method=method, steps=steps or IG_STEPS) for r in runs]
    if any(e.is_pair for e in explainers):
        raise DistillError("explain: sentence-pair runs are not supported yet; give single-sentence runs")
    texts = list(texts)
    results = [explainers[0].explain(texts)]
    if len(explainers) == 2:
        results.append(explainers[1].explain(texts, labels=[a.label for a in results[0]]))
    comparison = explaining.compare(results[0], results[1], texts) if len(results) == 2 else None
    return {"explainers": explainers, "attributions": results, "comparison": comparison}


def report(runs_dir: str | os.PathLike = "runs", out: str | os.PathLike | None = None, *, batch_size: int = 32,
           echo: Callable[[str], None] | None = print):
    """Write the report of a runs folder (what `distill report` writes): accuracy against examples/s
    tables and plots, training curves, report.md and report.json. Returns where they are
    (`distill.app.report.Report`)."""
    from distill.app.report import write_report

    return write_report(runs_dir, out_dir=out, batch_size=batch_size, echo=echo or (lambda line: None))


# ------------------------------------------------------------------ everything
def run(config=None, *, progress: bool = True, echo: Callable[[str], None] = print, task_data=None, **options):
    """The whole of `distill run`: teacher, materials, students, bench, explain and report, each stage
    reused when already built. `config` is a `PipelineConfig`, or the path of an experiment file
    (`distill run --print-config` writes one); keyword `options` override its fields. Returns a
    `PipelineResult` (where every stage's folder is)."""
    import dataclasses

    from distill.app.pipeline import PipelineConfig, run as run_pipeline

    if isinstance(config, (str, os.PathLike)):
        from distill.app.experiment import read_config

        config = read_config(config)
    config = config or PipelineConfig()
    if options:
        config = dataclasses.replace(config, **options)
    return run_pipeline(config=config, progress=progress, echo=echo, task_data=task_data)


# ------------------------------------------------------------------- helpers
def _task(task):
    """A `Task` from a Task or a task name."""
    return load_task(task) if isinstance(task, str) else task


def materials_file(path) -> Path:
    """`path`, or the `materials.h5` inside it when it is a `distill run` materials folder."""
    path = Path(path)
    if path.is_dir() and (path / "materials.h5").is_file():
        return path / "materials.h5"
    return path


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _say(echo, line: str) -> None:
    if echo is not None:
        echo(line)
