"""`distill run`: data -> teacher -> materials -> students -> bench -> explain -> report, stage by stage.

Owns the order of the stages and what each stage's identity is made of. Every
stage runs through `distill.app.stages.StageRunner`, so its folder is named by a
hash of its configuration and of its inputs' keys: a re-run reuses finished
stages, a changed option redoes that stage and everything after it, and
`--force STAGE` redoes that stage and every stage after it (they were made
from its output). The report is always rewritten
(it is cheap) from exactly the folders of this run, so stale stages from
earlier configurations never leak into it.

A teacher or student stage killed half-way resumes from its last finished
epoch on the next run (the training engine's backup in its folder).

The stages call the same code as the single commands (`teacher finetune`,
`materials generate`, `student train`, `bench`, `report`), so a pipeline run
and a hand-made run of the same options give the same numbers.

The explain stage compares the token attributions of the teacher and of the
student with the best dev score on a fixed sample of test texts (what the
report's "which tokens" section shows); only built-in architectures compete
for it (a model of your own may not support attributions).

The students are a grid: every architecture (`student_archs`: kim-cnn, bilstm
or a builder of your own, `module:function`) with every embedding mode, loss
and seed, plus the mse students without the transfer split. A kim-cnn student
with the first embedding mode listed keeps the folder name it had before the
grid (`mse-seed0`); others say their architecture and mode in it
(`bilstm-non-static-mse-seed0`).

Each run writes its whole configuration (`distill.app.experiment.dumps`, the
format `distill run --config` reads) to `experiment.toml` in its runs root,
and beside the output of every stage it builds; the file is not part of any
stage's hash.

The bench stage times the teacher, the presets and one student per model (seed 0) in
one process, so its ratios are measured side by side; the price is that any
student change re-times the teachers too (a few minutes on 2 cores).

`quick=True` is a smoke run of the whole path (a few minutes on 2 cores): the
train split cut to `QUICK_TRAIN_ROWS`, dev/test to `QUICK_EVAL_ROWS`, two
teacher epochs, fewer variants and seeds, and a short bench. It writes under
RUNS_DIR/quick/ and says on every line that it is reduced.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

from distill.data import describe_task, load_task
from distill.data.dataset import Task
from distill.errors import DistillError
from distill.app.stages import StageRunner

STAGES = ("teacher", "materials", "student", "bench", "explain", "report")
QUICK_TRAIN_ROWS = 1500
QUICK_EVAL_ROWS = 400
MATERIALS_SPLITS = ("train", "dev", "test")
MATERIALS_BATCH_SIZE = 32
DEFAULT_ARCH = "kim-cnn"   # the one architecture whose student folders are named without it


@dataclass
class PipelineConfig:
    """Everything `distill run` decides. Defaults are the built-in default job."""

    task: str = "rt-polarity"
    teacher: str = "minilm-l6"
    data_dir: str | None = None
    checkpoint: str | None = None
    teacher_epochs: int = 3
    teacher_lr: float = 3e-5
    teacher_batch_size: int = 32
    teacher_pooling: str = "mean"           # minilm-l6 is a mean-pooled sentence embedder: dev 82.68 vs 80.27 for cls
    max_seq_len: int = 128
    augment: int = 10                       # variants per training sentence in the transfer split
    losses: tuple = ("mse", "ce")           # ce: the no-distillation baseline; kl (within noise of mse) left out
    seeds: int = 3
    no_augment_baseline: bool = True        # also mse students without the transfer split (is augmenting worth it?)
    no_augment_seeds: int = 1               # ... with this many seeds (at most `seeds`)
    student_epochs: int = 20                # without the transfer split: early stopping ends it
    transfer_epochs: int = 2                # with it: each epoch is (1 + augment) x as long
    student_patience: int = 2
    student_archs: tuple = ("kim-cnn",)     # built-in names or module:function (a Keras builder of your own)
    student_embedding: tuple = ("static",)  # trainable modes train at half its speed or less and were no better
    temperature: float = 2.0
    presets: tuple = ("bert-base", "bert-large")   # random weights: throughput only
    bench_examples: int = 64
    bench_batch_sizes: tuple = (1, 32)
    bench_modes: tuple = ("text",)
    bench_repeats: int = 3
    explain_sample: int = 100               # test texts the teacher's and best student's attributions are compared on
                                            # (`distill explain --compare --sample N` for more; ~1-2 s a text here)
    quick: bool = False
    runs_dir: str = "runs"
    force: tuple = ()
    label_order: str | None = None          # a fine-tuned folder teacher: its head's label names in output order
    strategy: str = "auto"                  # where teacher and students train (distill.distribute; one host only)

    def __post_init__(self) -> None:
        """Bad options fail here, not an hour later when their stage comes.

        Each field is checked by its row of `distill.app.experiment.OPTIONS`, with the same function that
        checks its flag and its key in a config file (`--seeds must be a positive integer, got 0`); lists
        become tuples and a single name a one-name tuple (`student_embedding="rand"`)."""
        from distill.app.experiment import check_config

        self.force = (self.force,) if isinstance(self.force, str) else tuple(self.force)
        unknown = sorted(map(str, set(self.force) - set(STAGES)))
        if unknown:
            raise DistillError(f"--force: unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
        check_config(self)
        from students.archs import check_arch_embedding   # names only: the grid's every cell can be built

        for arch in self.student_archs:
            for embedding in self.student_embedding:
                check_arch_embedding(arch, embedding, "--student-embedding")
        from teachers.labels import parse_label_order
        from teachers.registry import check_teacher, is_folder   # no TensorFlow: names and files only

        check_teacher(self.teacher, self.checkpoint)
        parse_label_order(self.label_order)
        if self.label_order is not None and not is_folder(self.teacher):
            raise DistillError(f"--label-order is for a fine-tuned folder given as --teacher, not {self.teacher}")
        from distill.distribute import check_one_host   # not a stage's identity: same results on any strategy

        check_one_host(self.strategy, "distill run")

    @property
    def forced(self) -> set[str]:
        """The stages to redo: each one named in `force` and every stage after it (they were made from it)."""
        named = [STAGES.index(s) for s in self.force]
        return set(STAGES[min(named):]) if named else set()

    @classmethod
    def quick_config(cls, **overrides) -> "PipelineConfig":
        reduced = dict(teacher_epochs=2, teacher_lr=5e-5, augment=2, seeds=1, no_augment_seeds=1, student_epochs=4,
                       transfer_epochs=2,
                       presets=("bert-base",), bench_examples=32, bench_repeats=2, explain_sample=20, quick=True)
        return cls(**{**reduced, **overrides})


@dataclass
class PipelineResult:
    """Where everything went, and which stages ran now (the rest were reused)."""

    root: Path
    teacher: Path
    materials: Path
    students: dict = field(default_factory=dict)   # StudentKey (arch, embedding, loss, transfer, seed) -> folder
    bench: Path | None = None
    explain: Path | None = None
    report: Path | None = None
    stages: list = field(default_factory=list)     # distill.app.stages.Stage, in order


def run(task: str = "rt-polarity", teacher: str = "minilm-l6", quick: bool = False, force=(),
        runs_dir: str = "runs", config: PipelineConfig | None = None, task_data: Task | None = None,
        echo: Callable[[str], None] = print, progress: bool = True) -> PipelineResult:
    """Run (or reuse) every stage; return where the outputs are.

    `task_data` hands in a ready `Task` (tests use a synthetic one); otherwise
    the task is loaded by name.
    """
    if config is None:
        make = PipelineConfig.quick_config if quick else PipelineConfig
        config = make(task=task, teacher=teacher, runs_dir=runs_dir, force=tuple(force))
    from distill.runfiles import check_writable

    from distill.app.experiment import EXPERIMENT_FILE, dumps

    root = Path(config.runs_dir) / ("quick" if config.quick else "")
    tag = " [QUICK: reduced data, epochs and seeds; a smoke run, not a result]" if config.quick else ""
    say = lambda line: echo(line + tag)   # noqa: E731
    check_writable(root, what="--runs-dir")   # before the first stage, not when its output is written
    experiment = dumps(dataclasses.replace(config, force=()))   # kept to rerun: not to redo stages each time
    _write_text_atomic(root / EXPERIMENT_FILE, experiment)   # `distill run --config` runs it again
    say(f"distill run: task {config.task}, teacher {config.teacher}, outputs under {root}")

    task_obj = task_data or load_task(config.task, data_dir=config.data_dir)
    if config.quick:
        task_obj = _reduced(task_obj)
    say(f"[data] {config.task}")
    echo(describe_task(task_obj))
    runner = _KeepingRunner(root, force=config.forced, echo=say, experiment=experiment)
    task_label = _slug(config.task)

    from teachers.registry import teacher_label

    head = _finetuned_head(config)
    if head is not None:   # a model folder with its own classifier head: used as it is, not fine-tuned again
        say(f"[teacher] {config.teacher} is already fine-tuned (classifier head, {head}): skipping fine-tuning; "
            "it is evaluated on dev/test and used as it is")
        teacher_stage = runner.run("teacher", f"{_slug(teacher_label(config.teacher))}-{task_label}",
                                   _imported_config(config), [task_obj.sha256],
                                   functools.partial(_import_teacher, config, task_obj))
    else:
        teacher_stage = runner.run("teacher", f"{_slug(teacher_label(config.teacher))}-{task_label}",
                                   _teacher_config(config), [task_obj.sha256],
                                   functools.partial(_build_teacher, config, task_obj, progress), resumable=True)
    materials_stage = runner.run("materials", task_label, _materials_config(config), [teacher_stage.key],
                                 functools.partial(_build_materials, config, task_obj, teacher_stage.path, progress),
                                 resumable=True)
    materials_file = materials_stage.path / "materials.h5"

    result = PipelineResult(root=root, teacher=teacher_stage.path, materials=materials_file)
    for key in _student_plan(config):
        student_config = _student_config(config, key)
        stage = runner.run("student", _student_label(config, key), student_config.to_dict(), [materials_stage.key],
                           functools.partial(_build_student, student_config, materials_file, progress,
                                             config.strategy),
                           resumable=True)
        result.students[key] = stage.path

    if task_obj.is_pair:   # the bench times single texts; the report falls back on each run's own eval it/s
        say("[bench] skipped: sentence-pair tasks are not benchmarked yet (distill bench times single texts)")
        return _finish(config, root, runner, result, [teacher_stage.path, materials_stage.path], say)
    benched = [path for key, path in result.students.items() if key.seed == 0]   # one per model
    bench_inputs = [teacher_stage.key] + [s.key for s in runner.log if s.name == "student" and s.path in benched]
    bench_stage = runner.run("bench", task_label, _bench_config(config), bench_inputs,
                             functools.partial(_build_bench, config, task_obj, teacher_stage.path, benched, progress))
    result.bench = bench_stage.path / "bench.json"
    best = _best_student(result.students, task_obj.primary_metric)
    if best is None:
        say("[explain] skipped: no student of a built-in architecture (a model of your own may not support "
            "attributions)")
        return _finish(config, root, runner, result, [teacher_stage.path, materials_stage.path, bench_stage.path],
                       say)
    best_stage = next(s for s in runner.log if s.name == "student" and s.path == best)
    explain_config = {"method": "ig", "split": "test", "sample": config.explain_sample, "student": best.name}
    explain_stage = runner.run("explain", task_label, explain_config, [teacher_stage.key, best_stage.key],
                               functools.partial(_build_explain, config, task_obj, teacher_stage.path, best,
                                                 progress))
    result.explain = explain_stage.path / "explain.json"
    return _finish(config, root, runner, result,
                   [teacher_stage.path, materials_stage.path, bench_stage.path, explain_stage.path], say)


def _finish(config: PipelineConfig, root: Path, runner: StageRunner, result: PipelineResult, folders: list,
            say: Callable[[str], None]) -> PipelineResult:
    """The report, from exactly this run's stage folders (stale ones beside them are left out)."""
    from distill.app.report import write_report

    say("[report] writing")
    note = (f"QUICK smoke run: train cut to {QUICK_TRAIN_ROWS} rows and dev/test to {QUICK_EVAL_ROWS}, "
            f"{config.teacher_epochs} teacher epoch(s), {config.seeds} seed(s), augment {config.augment}: "
            "not a result") if config.quick else left_out(config)
    report = write_report(root, batch_size=32, include=[*folders, *result.students.values()], echo=say, note=note)
    result.report = report.markdown
    result.stages = list(runner.log)
    ran = [s.name for s in runner.log if s.ran]
    say(f"done: {len(ran)} stage(s) built now ({', '.join(dict.fromkeys(ran)) or 'none'}), "
        f"{len(runner.log) - len(ran)} reused; report: {report.markdown}")
    return result


# ------------------------------------------------------------------- stages
def _teacher_config(c: PipelineConfig) -> dict:
    from teachers.finetune import FinetuneConfig

    finetune = FinetuneConfig(lr=c.teacher_lr, batch_size=c.teacher_batch_size, epochs=c.teacher_epochs,
                              max_seq_len=c.max_seq_len, pooling=c.teacher_pooling)
    config = {"teacher": c.teacher, "checkpoint": c.checkpoint, "finetune": finetune.to_dict()}
    from teachers.registry import is_folder

    if is_folder(c.teacher):   # a folder is known by its weights, wherever it lies
        from teachers.folder import weights_sha256

        config["weights_sha256"] = weights_sha256(c.teacher)
    return config


def _finetuned_head(c: PipelineConfig) -> str | None:
    """'2 outputs: rotten, fresh' when the teacher is a model folder with a classifier head, else None."""
    from teachers.registry import is_folder

    if not is_folder(c.teacher):
        return None
    from teachers.finetuned import head_summary

    return head_summary(c.teacher)


def _imported_config(c: PipelineConfig) -> dict:
    from teachers.folder import weights_sha256

    return {"teacher": str(Path(c.teacher).expanduser().resolve()), "weights_sha256": weights_sha256(c.teacher),
            "imported": True, "max_seq_len": c.max_seq_len, "label_order": c.label_order}


def _import_teacher(c: PipelineConfig, task: Task, path: Path) -> None:
    from distill.metrics import format_metrics_table
    from teachers.finetuned import import_finetuned
    from teachers.labels import parse_label_order

    results = import_finetuned(c.teacher, task, path, label_order=parse_label_order(c.label_order),
                               max_seq_len=c.max_seq_len)
    print(format_metrics_table(results, task.primary_metric))


def _build_teacher(c: PipelineConfig, task: Task, progress: bool, path: Path) -> None:
    from distill import api
    from distill.metrics import format_metrics_table
    from distill.runfiles import finished_results
    from teachers.finetune import FinetuneConfig

    # Finished (killed before the stage was marked complete) is reused; interrupted resumes.
    api.finetune_teacher(task, c.teacher, path, checkpoint=c.checkpoint, progress=progress, strategy=c.strategy,
                         config=FinetuneConfig.from_dict(_teacher_config(c)["finetune"]), load=False)
    done = finished_results(path, "teacher")
    print(format_metrics_table(done, task.primary_metric))


def _augment_config(c: PipelineConfig):
    from materials.augment import AugmentConfig

    return AugmentConfig(n_per_example=c.augment) if c.augment else None


def _materials_config(c: PipelineConfig) -> dict:
    augment = _augment_config(c)
    return {"augment": augment.to_dict() if augment else None, "batch_size": MATERIALS_BATCH_SIZE,
            "splits": list(MATERIALS_SPLITS)}


def _build_materials(c: PipelineConfig, task: Task, teacher_dir: Path, progress: bool, path: Path) -> None:
    from distill import api

    api.generate_materials(api.open_teacher(teacher_dir), task, path / "materials.h5", splits=MATERIALS_SPLITS,
                           batch_size=MATERIALS_BATCH_SIZE, augment=_augment_config(c) or 0, progress=progress)


class StudentKey(NamedTuple):
    """One student run of the grid (archs x embeddings x losses x seeds, plus the baselines); the key of
    `PipelineResult.students`."""

    arch: str
    embedding: str
    loss: str
    transfer: bool   # trained on the transfer split too
    seed: int


def _student_plan(c: PipelineConfig) -> list[StudentKey]:
    """Every student run, in training order: for each architecture and embedding mode, every loss and seed,
    then the mse students without the transfer split (is augmenting worth it?).

    `ce` learns from gold labels only, so it never takes the transfer split (and says so in its config)."""
    plan = []
    for arch in c.student_archs:
        for embedding in c.student_embedding:
            plan += [StudentKey(arch, embedding, loss, loss != "ce" and bool(c.augment), seed)
                     for loss in c.losses for seed in range(c.seeds)]
            if c.augment and c.no_augment_baseline:
                plan += [StudentKey(arch, embedding, "mse", False, seed)
                         for seed in range(min(c.no_augment_seeds, c.seeds))]
    return plan


def _student_label(c: PipelineConfig, key: StudentKey) -> str:
    """The readable part of a student's folder name: `mse-seed0`, `mse-noaug-seed0` as before the grid, with
    the architecture in front unless it is kim-cnn (`bilstm-mse-seed0`, `mymod-build-mse-seed0`) and the
    embedding mode unless it is the first one listed (`non-static-mse-seed0`): a run of one kim-cnn grid cell,
    as every run was before, keeps its folders."""
    noaug = "-noaug" if key.loss != "ce" and not key.transfer and c.augment else ""
    prefix = [] if key.arch == DEFAULT_ARCH else [_slug(key.arch)]
    if key.embedding != c.student_embedding[0]:
        prefix.append(key.embedding)
    return "-".join([*prefix, f"{key.loss}{noaug}-seed{key.seed}"])


def left_out(c: PipelineConfig) -> str | None:
    """One line for the report: the student rows this configuration does not train that the full recipe
    would, and the options that bring them back (None when nothing is left out)."""
    missing, options = [], []
    absent = [loss for loss in ("mse", "kl", "ce") if loss not in c.losses]
    if absent:
        missing.append(f"students trained with {' or '.join(absent)} loss")
        options.append(f"--losses {','.join((*c.losses, *absent))}")
    if c.augment and c.no_augment_baseline and c.no_augment_seeds < c.seeds:
        missing.append(f"{c.seeds - c.no_augment_seeds} of the {c.seeds} seeds of the mse student without the "
                       "transfer split")
        options.append(f"--no-augment-seeds {c.seeds}")
    if not missing:
        return None
    return (f"Left out of this run to keep it short: {'; '.join(missing)}. `distill run {' '.join(options)}` "
            "trains them too (the stages already built are reused).")


def _student_config(c: PipelineConfig, key: StudentKey):
    from students.train import StudentConfig

    return StudentConfig(arch=key.arch, loss=key.loss, temperature=c.temperature, embedding=key.embedding,
                         epochs=c.transfer_epochs if key.transfer else c.student_epochs,
                         patience=c.student_patience, seed=key.seed, transfer=key.transfer)


def _build_student(config, materials_file: Path, progress: bool, strategy: str, path: Path) -> None:
    from distill import api

    # Finished (killed before the stage was marked complete) is reused; interrupted resumes.
    api.train_student(materials_file, config.arch, path, config=config, progress=progress, strategy=strategy)


def _bench_config(c: PipelineConfig) -> dict:
    return {"presets": list(c.presets), "examples": c.bench_examples, "batch_sizes": list(c.bench_batch_sizes),
            "modes": list(c.bench_modes), "repeats": c.bench_repeats, "split": "test"}


def _build_bench(c: PipelineConfig, task: Task, teacher_dir: Path, students: list[Path], progress: bool,
                 path: Path) -> None:
    from distill import api
    from distill.app import bench

    summary = api.bench([teacher_dir, *students], task, presets=c.presets, split="test", examples=c.bench_examples,
                        batch_sizes=c.bench_batch_sizes, modes=c.bench_modes, repeats=c.bench_repeats,
                        max_seq_len=c.max_seq_len, progress=progress)
    (path / "bench.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (path / "bench.md").write_text(bench.markdown_table(summary), encoding="utf-8")


def _best_student(students: dict, primary_metric: str) -> Path | None:
    """The distilled student run with the best dev score (the primary metric; ties: the first trained),
    never test, among those of a built-in architecture (a model of your own may not support
    attributions); a `ce` student only when no distilled one was trained (explain shows what the
    student learned from the teacher, so it compares the teacher with a distilled student); None when
    there is none."""
    from distill.runfiles import finished_results
    from students.archs import is_built_in

    def dev_score(path: Path) -> float:
        dev = (finished_results(path, "student") or {}).get("dev", {})
        value = dev.get(primary_metric, dev.get("accuracy"))
        return value if isinstance(value, (int, float)) else float("-inf")

    built_in = [(key, path) for key, path in students.items() if is_built_in(key.arch)]
    paths = [path for key, path in built_in if key.loss != "ce"] or [path for _, path in built_in]
    return max(paths, key=lambda p: (dev_score(p), -paths.index(p))) if paths else None


def _build_explain(c: PipelineConfig, task: Task, teacher_dir: Path, student_dir: Path, progress: bool,
                   path: Path) -> None:
    from distill import api

    api.explain(teacher_dir, student_dir, path, task=task, split="test", n=c.explain_sample, progress=progress)


@dataclass
class _KeepingRunner(StageRunner):
    """A StageRunner that leaves the run's `experiment.toml` in every stage folder it builds: beside the
    output, written after it, never part of the stage's key (a reused folder keeps the one that made it)."""

    experiment: str = ""   # the text of experiment.toml

    def run(self, name: str, label: str, config: dict, inputs: list[str], build: Callable[[Path], None],
            resumable: bool = False):
        from distill.app.experiment import EXPERIMENT_FILE

        def build_and_keep(path: Path) -> None:
            build(path)
            _write_text_atomic(path / EXPERIMENT_FILE, self.experiment)

        return super().run(name, label, config, inputs, build_and_keep, resumable=resumable)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _reduced(task: Task) -> Task:
    """The task with train cut to QUICK_TRAIN_ROWS and the other splits to QUICK_EVAL_ROWS (first rows)."""
    def cut(ds, n):
        if len(ds) <= n:
            return ds
        return dataclasses.replace(ds, texts=ds.texts[:n], labels=ds.labels[:n],
                                   texts_b=ds.texts_b[:n] if ds.texts_b is not None else None,
                                   groups=ds.groups[:n] if ds.groups is not None else None, sha256="")

    limit = {name: QUICK_TRAIN_ROWS if name == "train" else QUICK_EVAL_ROWS for name in task.splits}
    splits = {name: cut(ds, limit[name]) for name, ds in task.splits.items()}
    rows = None if task.split_rows is None else {name: r[:limit[name]] for name, r in task.split_rows.items()}
    return dataclasses.replace(task, splits=splits, split_rows=rows)


def _slug(name: str) -> str:
    """A folder-name-safe form of a task or teacher name (glue/sst2 -> glue-sst2)."""
    return "".join(c if c.isalnum() or c in "._" else "-" for c in name).strip("-") or "x"
