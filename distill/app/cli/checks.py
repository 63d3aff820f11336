"""Argument checks a command makes before TensorFlow is imported.

Importing TensorFlow takes ~5 s, and the long commands (fine-tuning,
training, benchmarking, the pipeline) would otherwise find a mistyped name, a
missing file or a folder they cannot write only when they come to use it,
sometimes an hour in. A command registers `check=` beside its `handler=`;
`distill.app.cli.main` runs it first, so such a mistake is one line at once.
Everything here is cheap and imports no TensorFlow: names against the
registries' lists, files and folders on disk, run.json files.
"""

from __future__ import annotations

from pathlib import Path

from distill.errors import DistillError


def task(name: str, data_dir: str | None = None) -> None:
    """A task name `load_task` knows, with valid options and its file or folder there (its data is not read
    here: `distill.data.registry.check_task`); `data_dir`, when given, exists."""
    from distill.data.registry import check_task

    check_task(name, data_dir)
    if data_dir is not None:
        exists(data_dir, "--data-dir")


def teacher(name: str, checkpoint: str | None = None, random_init: bool = False) -> None:
    """A teacher name the registry knows, with the weights it needs (`teachers.registry.check_teacher`)."""
    from teachers.registry import check_teacher

    check_teacher(name, checkpoint, random_init)


def teacher_source(path: str, task_name: str | None = None, label_order: str | None = None,
                   max_seq_len: int | None = None) -> bool:
    """A teacher run folder, or a model folder used as a fine-tuned teacher (which needs a task); True for
    a model folder. A folder that is neither gets the run folder's message. Model-folder options
    (--label-order, --max-seq-len) are refused for a run, which has its own."""
    from teachers.folder import RUN, check_model_folder, source_kind
    from teachers.labels import parse_label_order

    parse_label_order(label_order)
    if source_kind(path) == RUN:
        if label_order is not None or max_seq_len is not None:
            raise DistillError(f"--label-order and --max-seq-len are for a model folder; the teacher run {path} "
                               "has its own labels and max_seq_len")
        return False
    check_model_folder(path)
    if task_name is None:
        raise DistillError(f"--task is needed: the model folder {path} records no task")
    return True


def finetuned_folder(path: str, task, label_order: str | None = None) -> None:
    """A model folder's classifier head against a loaded task's labels, as far as no TensorFlow is needed
    (`teachers.folder.check_finetuned`)."""
    from teachers.folder import check_finetuned
    from teachers.labels import parse_label_order

    check_finetuned(path, task.name, task.label_names, parse_label_order(label_order))


def strategy(name: str, one_host: str | None = None) -> None:
    """A `--strategy` name and, for multi-worker, a usable TF_CONFIG (`distill.distribute.check`);
    `one_host`: the command runs on one host only, so multi-worker is refused."""
    from distill import distribute

    if one_host:
        distribute.check_one_host(name, one_host)
    else:
        distribute.check(name)


def exists(path: str, option: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DistillError(f"{option} {path}: no such file or folder")
    return path


def file(path: str, option: str) -> Path:
    path = exists(path, option)
    if not path.is_file():
        raise DistillError(f"{option} {path}: not a file")
    return path


def folder(path: str, option: str) -> Path:
    path = exists(path, option)
    if not path.is_dir():
        raise DistillError(f"{option} {path}: not a folder")
    return path


TOKENIZER_FOLDER = ("a tokenizer folder, as `distill tokenizer train --out DIR` writes it (vocab.txt, tokenizer.json, "
                    "tokenizer_config.json)")


def tokenizer_folder(path: str, option: str = "--vocab") -> None:
    """A tokenizer folder (`distill.vocab_training.read_tokenizer_folder` reads and checks it). A file given
    instead exists, so "no such folder" would blame the wrong thing: say that a folder is wanted, and for a
    vocab.txt, which one."""
    from distill.vocab_training import read_tokenizer_folder

    given = Path(path).expanduser()
    if given.exists() and not given.is_dir():
        hint = f"; give the folder that holds it: {option} {given.parent}" if given.name == "vocab.txt" else ""
        raise DistillError(f"{option} {given}: a file, but {option} wants a folder: {TOKENIZER_FOLDER}{hint}")
    read_tokenizer_folder(given)


def run_folder(path: str, kind: str | None = None):
    """The RunInfo of a run folder (of `kind`); one line when it is none."""
    from distill.runfiles import read_run

    return read_run(path, kind)


def writable(path, what: str = "output folder") -> None:
    """`path` can be made and written (nothing is created: a command that fails later leaves no folder)."""
    from distill.runfiles import check_writable

    check_writable(path, what=what, create=False)


def output_folder(out: str | None, runs_dir: str, sub: str) -> None:
    """The run folder a training command will write: `--out`, else RUNS_DIR/<sub>/<id>."""
    if out:
        writable(out, "--out")
    else:
        writable(runs_dir, "--runs-dir")
        writable(Path(runs_dir) / sub, "output folder")


def cache() -> None:
    """The download cache exists or can be made (`DISTILL_CACHE`)."""
    from distill.sources import cache_dir

    cache_dir()
