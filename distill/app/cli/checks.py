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


MATERIALS_FILE = "a materials file"
MATERIALS_FOLDER = "a materials folder (it holds materials.h5)"
EXPORT_FOLDER = "an exported student's folder"
EXPORT_WANTED = "an exported student's folder (distill student export)"
MODEL_WANTED = "a fine-tuned model folder (Hugging Face or Google)"
MATERIALS_WANTED = ("a materials file (runs/materials/<id>/materials.h5, from `distill materials generate`) or the "
                    "folder holding it")


def what_is(path) -> str | None:
    """What `path` is when it is one of the toolkit's own inputs: a materials file (HDF5), a materials
    folder, an exported student's folder, or a teacher or student run folder (by its run.json's kind);
    None when it is none of them (missing, or something else)."""
    from distill.runfiles import RUN_FILE, is_hdf5, read_json_or_none
    from students.exported import is_export_dir

    path = Path(path).expanduser()
    if path.is_file():
        return MATERIALS_FILE if is_hdf5(path) else None
    if not path.is_dir():
        return None
    if (path / RUN_FILE).is_file():
        raw = read_json_or_none(path / RUN_FILE)
        kind = raw.get("kind") if isinstance(raw, dict) else None
        return f"a {kind} run folder" if kind in ("teacher", "student") else "a run folder"
    if is_export_dir(path):
        return EXPORT_FOLDER
    if (path / "materials.h5").is_file():
        return MATERIALS_FOLDER
    return None


def _either(things) -> str:
    things = list(things)
    return things[0] if len(things) == 1 else ", ".join(things[:-1]) + " or " + things[-1]


def not_misplaced(path, command: str, kind: str | None = None, export: bool = False,
                  model_folder: bool = False) -> None:
    """One line when a materials file or folder (or an export folder, unless `export`) is given where
    `command` needs a run folder (of `kind`; or an export folder with `export`, a model folder with
    `model_folder`): what it is and what the command needs."""
    from distill.runfiles import run_folder_wanted

    what = what_is(path)
    if what in (MATERIALS_FILE, MATERIALS_FOLDER) or (what == EXPORT_FOLDER and not export):
        wanted = [run_folder_wanted(kind)] + [EXPORT_WANTED] * export + [MODEL_WANTED] * model_folder
        raise DistillError(f"{path} is {what}; {command} needs {_either(wanted)}")


def run_folder(path: str, kind: str | None = None, command: str | None = None):
    """The RunInfo of a run folder (of `kind`); one line when it is none. With `command`, a materials
    file or folder, or an export folder, is named as such first, with what `command` needs
    (`not_misplaced`)."""
    from distill.runfiles import read_run

    if command is not None:
        not_misplaced(path, command, kind)
    return read_run(path, kind)


def materials_not_misplaced(path, option: str = "--materials") -> None:
    """One line when a run folder or an export folder is given where `option` wants a materials file."""
    what = what_is(path)
    if what is not None and what not in (MATERIALS_FILE, MATERIALS_FOLDER):
        raise DistillError(f"{option} {path} is {what}, not a materials file; give {MATERIALS_WANTED}")


def materials(path: str, option: str = "--materials") -> str:
    """The materials file `path` names (the file, or the `distill run` materials folder holding it);
    one line when it is a run or export folder instead, or no file."""
    from distill.api import materials_file

    materials_not_misplaced(path, option)
    resolved = str(materials_file(path))
    file(resolved, option)
    return resolved


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
