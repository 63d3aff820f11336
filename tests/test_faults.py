"""Faults a user meets, and what each must give: one line and nothing lost.

- mistakes (names, missing files, folders that cannot be written, a cache
  that is a file) are found before TensorFlow is imported and before any long
  work: `distill: error: ...`, exit 2, nothing created;
- `check_writable` and the download cache: a file in the way, a read-only folder;
- kills: `distill teacher finetune` and `distill student train` killed
  (SIGKILL, in a child process) at a random point of their file writes and
  training steps, then run again with the same command, end with the same
  weights and results as a run that was never killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from distill.errors import DistillError
from distill.runfiles import RunInfo, TokenizerFacts, check_writable, prepare_run_dir, write_run

ROOT = Path(__file__).resolve().parents[1]


def _child_env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
            "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _unwritable(path: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=path)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


@pytest.fixture
def read_only(tmp_path):
    """An existing folder no file can be created in: mode 555, or (root ignores modes) sysfs' /sys/kernel."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if _unwritable(folder):
            yield folder
        elif Path("/sys/kernel").is_dir() and _unwritable(Path("/sys/kernel")):
            yield Path("/sys/kernel")
        else:
            pytest.skip("no folder here refuses writes to this user")
    finally:
        folder.chmod(0o755)


# ------------------------------------------------------------ check_writable
def test_check_writable_makes_the_folder_and_leaves_no_probe(tmp_path):
    assert check_writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and not any((tmp_path / "a" / "b").iterdir())


def test_check_writable_without_create_leaves_the_disk_as_it_was(tmp_path):
    check_writable(tmp_path / "a" / "b", create=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("create", [True, False])
def test_a_file_in_the_way_is_named(tmp_path, create):
    (tmp_path / "f").write_text("keep")
    with pytest.raises(DistillError, match=rf"^--out {tmp_path / 'f'}: not a folder$"):
        check_writable(tmp_path / "f", what="--out", create=create)
    with pytest.raises(DistillError, match=rf"^output folder {tmp_path / 'f' / 'x'}: not a folder: "
                                           rf"{tmp_path / 'f'} is a file$"):
        check_writable(tmp_path / "f" / "x", create=create)
    assert (tmp_path / "f").read_text() == "keep"


@pytest.mark.parametrize("create", [True, False])
def test_a_read_only_folder_is_named_with_the_reason(read_only, create):
    with pytest.raises(DistillError) as error:
        check_writable(read_only / "runs", what="--runs-dir", create=create)
    assert str(error.value).startswith(f"--runs-dir {read_only / 'runs'}: cannot write there ({read_only}): ")
    assert not (read_only / "runs").exists()


def test_a_kill_before_the_first_run_json_leaves_a_folder_that_still_counts_as_empty(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".run.json.partial").write_text('{"kind": "tea')   # killed between the write and its rename
    assert prepare_run_dir(run, False, "teacher") is None
    assert not any(run.iterdir())


# -------------------------------------------------------------- the cache
def test_a_cache_that_is_a_file_is_one_line_naming_it(tmp_path, monkeypatch):
    from distill import sources

    (tmp_path / "cache").write_text("keep")
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(sources.SourceError) as error:
        sources.cache_dir()
    assert str(error.value) == (f"DISTILL_CACHE={tmp_path / 'cache'}: cannot make the download cache there (it is "
                                "a file, not a folder); set DISTILL_CACHE to a writable folder")
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache" / "sub"))
    with pytest.raises(sources.SourceError, match=f"{tmp_path / 'cache'} is a file, not a folder"):
        sources.cache_dir()
    assert (tmp_path / "cache").read_text() == "keep"


def test_a_read_only_cache_refuses_a_download_before_it_starts_and_still_serves_what_it_holds(
        read_only, monkeypatch):
    from distill import sources

    monkeypatch.setenv("DISTILL_CACHE", str(read_only))

    def no_download(*args, **kwargs):
        raise AssertionError("a download was started into a read-only cache")

    monkeypatch.setattr(subprocess, "run", no_download)
    with pytest.raises(sources.SourceError) as error:
        sources.WheelSource("toydata", "1.0", "0" * 64).path()
    message = str(error.value)
    assert message.startswith(f"download cache {read_only / 'wheels'}: ") and "DISTILL_CACHE=" in message


def test_the_tiny_teachers_vocab_in_a_read_only_cache_is_one_line(read_only, monkeypatch):
    from teachers.registry import _tiny_vocab

    monkeypatch.setenv("DISTILL_CACHE", str(read_only))
    with pytest.raises(DistillError, match=f"download cache {read_only / 'teachers' / 'tiny'}: "):
        _tiny_vocab()


# ------------------------------------------- mistakes found before TensorFlow
CHECK_CHILD = r"""
import contextlib, io, json, os, sys
from distill.app import cli

results = []
for case in json.loads(sys.argv[1]):
    os.environ.update(case["env"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cli.main(case["argv"])
        except SystemExit as exc:
            rc = exc.code
    results.append({"rc": rc, "err": err.getvalue()})
print(json.dumps({"results": results, "tensorflow": "tensorflow" in sys.modules}))
"""


def _teacher_run_json(run_dir: Path, label_names=("negative", "positive")) -> Path:
    """A teacher run folder as far as its run.json goes (what the checks read)."""
    run_dir.mkdir()
    write_run(run_dir, RunInfo(kind="teacher", name="tiny", task="synthetic", config={},
                               label_names=list(label_names), tokenizer=TokenizerFacts(True, 24), complete=True))
    return run_dir


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory, request):
    """Every case below, run by `distill.app.cli.main` in one child process that never imports TensorFlow."""
    root = tmp_path_factory.mktemp("mistakes")
    (root / "a-file").write_text("keep")
    teacher = _teacher_run_json(root / "teacher-run")
    tsv = root / "tsv"
    tsv.mkdir()
    for split in ("train", "dev", "test"):
        (tsv / f"{split}.txt").write_text("sentence\tlabel\na good film\t1\na dull film\t0\nfine\t1\nbad\t0\n")
    (root / "m.h5").write_bytes(b"not read by the checks")
    (root / "runs").mkdir()
    (root / "read-only").mkdir()
    (root / "read-only").chmod(0o555)
    read_only = next((p for p in (root / "read-only", Path("/sys/kernel")) if p.is_dir() and _unwritable(p)), None)
    cases = _cases(root, teacher, tsv, read_only)
    payload = [{"argv": argv, "env": {"DISTILL_CACHE": str(root / "cache"), **env}} for _, argv, env, _ in cases]
    try:
        child = subprocess.run([sys.executable, "-c", CHECK_CHILD, json.dumps(payload)], env=_child_env(), cwd=root,
                               capture_output=True, text=True, timeout=120)
    finally:
        (root / "read-only").chmod(0o755)
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    return root, out["tensorflow"], {case[0]: (case, result) for case, result in zip(cases, out["results"])}


def _cases(root: Path, teacher: Path, tsv: Path, read_only: Path | None) -> list:
    """(id, argv, env, the one line expected on stderr after `distill: error: `)."""
    f = root / "a-file"
    ft = ["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic"]
    cases = [
        ("run-unknown-teacher", ["run", "--teacher", "UNKNOWN", "--runs-dir", str(root / "r1")], {},
         "unknown teacher 'UNKNOWN'; known: minilm-l6, bert-base, bert-large, tiny, mini, base, large"),
        ("run-bert-base-without-weights", ["run", "--teacher", "bert-base", "--runs-dir", str(root / "r2")], {},
         "bert-base needs Google BERT weights: pass --checkpoint DIR (with bert_config.json, vocab.txt, "
         "bert_model.ckpt.*), or --random-init for throughput benchmarks"),
        ("run-missing-checkpoint", ["run", "--teacher", "bert-base", "--checkpoint", str(root / "nope")], {},
         f"{root / 'nope'}: not a directory; --checkpoint wants the folder holding bert_config.json"),
        ("run-checkpoint-without-config", ["run", "--teacher", "bert-base", "--checkpoint", str(root / "tsv")], {},
         f"{tsv / 'bert_config.json'}: missing; a Google BERT checkpoint directory has bert_config.json"),
        ("run-unknown-task", ["run", "--task", "nope"], {},
         "unknown task 'nope'; known: rt-polarity, glue/sst2, glue/cola, glue/mrpc, synthetic, synthetic-pair, "
         "tsv:DIR, csv:DIR, parquet:DIR, jsonl:DIR, csv:FILE, parquet:FILE, jsonl:FILE"),
        ("run-missing-data-dir", ["run", "--data-dir", str(root / "nope")], {},
         f"--data-dir {root / 'nope'}: no such file or folder"),
        ("run-runs-dir-under-a-file", ["run", "--runs-dir", str(f / "runs")], {},
         f"--runs-dir {f / 'runs'}: not a folder: {f} is a file"),
        ("run-cache-is-a-file", ["run", "--runs-dir", str(root / "r3")], {"DISTILL_CACHE": str(f)},
         f"DISTILL_CACHE={f}: cannot make the download cache there (it is a file, not a folder); "
         "set DISTILL_CACHE to a writable folder"),
        ("finetune-unknown-teacher", ["teacher", "finetune", "--teacher", "nope", "--task", "synthetic"], {},
         "unknown teacher 'nope'; known: minilm-l6, bert-base, bert-large, tiny, mini, base, large"),
        ("finetune-unknown-task", ["teacher", "finetune", "--teacher", "tiny", "--task", "nope"], {},
         "unknown task 'nope'; known: rt-polarity, glue/sst2, glue/cola, glue/mrpc, synthetic, synthetic-pair, "
         "tsv:DIR, csv:DIR, parquet:DIR, jsonl:DIR, csv:FILE, parquet:FILE, jsonl:FILE"),
        ("finetune-task-folder-missing", ["teacher", "finetune", "--teacher", "tiny", "--task", f"tsv:{root}/no"], {},
         f"{root}/no: no such folder (task tsv:{root}/no)"),
        ("finetune-preset-with-checkpoint", [*ft[:3], "mini", *ft[4:], "--checkpoint", str(tsv)], {},
         "preset 'mini' is random weights only; use bert-base/bert-large with --checkpoint"),
        ("finetune-out-under-a-file", [*ft, "--out", str(f / "run")], {},
         f"--out {f / 'run'}: not a folder: {f} is a file"),
        ("finetune-runs-dir-is-a-file", [*ft, "--runs-dir", str(f)], {}, f"--runs-dir {f}: not a folder"),
        ("student-runs-dir-is-a-file", ["student", "train", "--materials", str(root / "m.h5"), "--runs-dir", str(f)],
         {}, f"--runs-dir {f}: not a folder"),
        ("tune-unknown-teacher", ["teacher", "tune", "--teacher", "nope", "--task", "synthetic"], {},
         "unknown teacher 'nope'; known: minilm-l6, bert-base, bert-large, tiny, mini, base, large"),
        ("info-unknown-teacher", ["teacher", "info", "nope"], {},
         "unknown teacher 'nope'; known: minilm-l6, bert-base, bert-large, tiny, mini, base, large"),
        ("eval-no-run", ["teacher", "eval", str(root / "nope")], {}, f"{root / 'nope'}: no run.json; not a run folder"),
        ("eval-labels-differ", ["teacher", "eval", str(teacher), "--task", f"tsv:{tsv}"], {},
         f"task tsv:{tsv} has labels ['0', '1'] but the teacher run {teacher} was trained on "
         "['negative', 'positive'] (task synthetic)"),
        ("eval-unknown-split", ["teacher", "eval", str(teacher), "--splits", "dev,nope"], {},
         "task synthetic has no split 'nope'; it has train, dev, test"),
        ("eval-json-under-a-file", ["teacher", "eval", str(teacher), "--json", str(f / "m.json")], {},
         f"--json {f}: not a folder"),
        ("student-missing-materials", ["student", "train", "--materials", str(root / "nope.h5")], {},
         f"--materials {root / 'nope.h5'}: no such file or folder"),
        ("student-out-under-a-file", ["student", "train", "--materials", str(root / "m.h5"), "--out",
                                      str(f / "run")], {}, f"--out {f / 'run'}: not a folder: {f} is a file"),
        ("bench-unknown-preset", ["bench", "--preset", "nope"], {},
         "unknown teacher 'nope'; known: minilm-l6, bert-base, bert-large, tiny, mini, base, large"),
        ("bench-out-under-a-file", ["bench", "--preset", "tiny", "--out", str(f / "b.json")], {},
         f"--out {f}: not a folder"),
        ("bench-teacher-not-a-run", ["bench", "--teacher", str(tsv)], {}, f"{tsv}: no run.json; not a run folder"),
        ("report-no-runs-folder", ["report", str(root / "nope")], {}, f"RUNS_DIR {root / 'nope'}: no such file "
                                                                      "or folder"),
        ("report-out-is-a-file", ["report", str(root / "runs"), "--out", str(f)], {}, f"--out {f}: not a folder"),
    ]
    if read_only is not None:   # the reason (Permission denied, ...) is the system's own words
        why = f"cannot write there ({read_only}): "
        cases += [
            ("run-read-only-runs-dir", ["run", "--runs-dir", str(read_only / "runs")], {},
             f"--runs-dir {read_only / 'runs'}: {why}"),
            ("finetune-read-only-out", [*ft, "--out", str(read_only / "run")], {}, f"--out {read_only / 'run'}: {why}"),
            ("student-read-only-runs-dir", ["student", "train", "--materials", str(root / "m.h5"), "--runs-dir",
                                            str(read_only)], {}, f"--runs-dir {read_only}: cannot write there: "),
            ("bench-read-only-out", ["bench", "--preset", "tiny", "--out", str(read_only / "b" / "bench.json")], {},
             f"--out {read_only / 'b'}: {why}"),
            ("report-read-only-out", ["report", str(root / "runs"), "--out", str(read_only / "report")], {},
             f"--out {read_only / 'report'}: {why}"),
        ]
    return cases


CASE_IDS = [case[0] for case in _cases(Path("/r"), Path("/r/t"), Path("/r/tsv"), Path("/ro"))]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_a_mistake_is_one_line_before_tensorflow_and_creates_nothing(mistakes, case_id):
    root, tensorflow_imported, results = mistakes
    if case_id not in results:
        pytest.skip("no folder here refuses writes to this user")
    (_, argv, _, expected), result = results[case_id]
    assert result["rc"] == 2, result
    assert result["err"] == f"distill: error: {expected}\n" or (
        expected.endswith(": ") and result["err"].startswith(f"distill: error: {expected}")
        and result["err"].count("\n") == 1), result["err"]
    assert not tensorflow_imported
    for made in ("r1", "r2", "r3"):
        assert not (root / made).exists()
    assert (root / "a-file").read_text() == "keep"


# ------------------------------------------------------------------ kills
def install_kill_hooks(kill_at: int | None, setattr_=setattr) -> list:
    """Count "events" (before and after each file rename/copy/removal/np.savez, after each open of an HDF5
    or Keras metadata file for writing, after each training batch) and SIGKILL this process at event
    `kill_at` (None: count only). A copy killed half-way leaves the first half of the file. Returns the
    counter ([n]). Used by the child processes below and, counting only, by the uninterrupted run."""
    import shutil

    import h5py
    from keras.src.utils import file_utils

    from distill import training

    events = [0]

    def event():
        events[0] += 1
        if events[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def around(owner, name):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            event()
            result = original(*args, **kwargs)
            event()
            return result

        setattr_(owner, name, wrapped)

    for owner, name in ((os, "replace"), (os, "rename"), (shutil, "rmtree"), (np, "savez")):
        around(owner, name)

    copyfile = shutil.copyfile

    def half_then_whole(src, dst, *args, **kwargs):
        event()
        if events[0] + 1 == kill_at:   # the kill falls inside the copy: half the file is there
            data = Path(src).read_bytes()
            Path(dst).write_bytes(data[: len(data) // 2])
        event()
        result = copyfile(src, dst, *args, **kwargs)
        event()
        return result

    setattr_(shutil, "copyfile", half_then_whole)

    h5_init = h5py.File.__init__

    def h5_opened(self, name, mode="r", *args, **kwargs):
        h5_init(self, name, mode, *args, **kwargs)
        if mode != "r":
            event()   # created or truncated, nothing written yet

    setattr_(h5py.File, "__init__", h5_opened)
    keras_file = file_utils.File

    def keras_opened(path, mode="r"):
        handle = keras_file(path, mode)
        if "w" in mode:
            event()
        return handle

    setattr_(file_utils, "File", keras_opened)
    batch_end = training._Clock.on_train_batch_end

    def after_batch(self, batch, logs=None):
        batch_end(self, batch, logs)
        event()

    setattr_(training._Clock, "on_train_batch_end", after_batch)
    return events


KILL_CHILD = r"""
import os, sys
from distill.app import cli
cli._import_tensorflow_quietly()
from test_faults import install_kill_hooks
install_kill_hooks(int(os.environ["DISTILL_KILL_AT"]))
sys.exit(cli.main(sys.argv[1:]))
"""

KILL_SEEDS = int(os.environ.get("DISTILL_KILL_SEEDS", "1"))
"""Kill points per command (each a child process, ~15 s); DISTILL_KILL_SEEDS=5 for a longer hunt."""


def _weights(run_dir: Path) -> list:
    import keras

    return [w.numpy() for w in keras.saving.load_model(run_dir / "model.keras", compile=False).weights]


def _results(run_dir: Path) -> dict:
    """What a finished run says, less the clocks."""
    def clean(d):
        if isinstance(d, dict):
            return {k: clean(v) for k, v in d.items() if "seconds" not in k and not k.endswith("per_s")
                    and k not in ("created", "timings", "resumed_epochs", "first_step_examples")}
        return [clean(v) for v in d] if isinstance(d, list) else d

    run = json.loads((run_dir / "run.json").read_text())
    return {"run": clean({k: v for k, v in run.items() if k not in ("provenance", "model_sha256")}),
            "eval": clean(json.loads((run_dir / "eval_results.json").read_text())),
            "history": clean(json.loads((run_dir / "train_results.json").read_text())["history"]),
            "epochs": [clean(json.loads(line)) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]}


def _kill_then_rerun(argv, tmp_path: Path, kill_range: int, seed: int, capsys) -> None:
    """Kill `distill argv --out cut` at a random event in a child process while the same command runs here
    uninterrupted (`whole`, counting its events); then run the killed command again here and compare.

    `kill_range`: the kill falls on one of the first this many events, fewer than an uninterrupted run has
    (asserted), so that the child can start before the count is known."""
    from distill.app import cli

    kill_at = int(np.random.default_rng(seed).integers(1, kill_range + 1))
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, *argv, "--out", str(tmp_path / "cut")],
                             env=_child_env(DISTILL_KILL_AT=str(kill_at)), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        with pytest.MonkeyPatch.context() as patch:
            events = install_kill_hooks(None, patch.setattr)
            assert cli.main([*argv, "--out", str(tmp_path / "whole")]) == 0
        _, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert events[0] >= kill_range, f"the run has {events[0]} events: lower kill_range"
    assert child.returncode == -signal.SIGKILL, (kill_at, err[-3000:])
    capsys.readouterr()
    assert cli.main([*argv, "--out", str(tmp_path / "cut")]) == 0, (kill_at, capsys.readouterr())
    assert _results(tmp_path / "cut") == _results(tmp_path / "whole"), f"killed at event {kill_at}"
    for a, b in zip(_weights(tmp_path / "whole"), _weights(tmp_path / "cut")):
        np.testing.assert_array_equal(a, b, err_msg=f"killed at event {kill_at} of {events[0]}")
    assert not (tmp_path / "cut" / "backup").exists()


def _tiny_tsv_task(folder: Path) -> str:
    """A small `tsv:` copy of the synthetic task (the tiny teacher's vocab covers its words)."""
    from distill.data.synthetic import marker_task

    folder.mkdir()
    task = marker_task(n_train=64, n_dev=24, n_test=16, seed=3)
    for split, name in (("train", "train.txt"), ("dev", "dev.txt"), ("test", "test.txt")):
        rows = zip(task[split].texts, task[split].labels)
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return f"tsv:{folder}"


@pytest.mark.parametrize("seed", range(KILL_SEEDS))
def test_teacher_finetune_killed_anywhere_then_run_again_ends_as_if_never_killed(tmp_path, monkeypatch, capsys,
                                                                                 seed):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    argv = ["teacher", "finetune", "--teacher", "tiny", "--task", _tiny_tsv_task(tmp_path / "task"), "--epochs", "3",
            "--batch-size", "16", "--lr", "3e-3", "--max-seq-len", "24", "--patience", "3", "--no-progress"]
    _kill_then_rerun(argv, tmp_path, kill_range=80, seed=seed, capsys=capsys)


@pytest.mark.parametrize("seed", range(KILL_SEEDS))
def test_student_train_killed_anywhere_then_run_again_ends_as_if_never_killed(tmp_path, capsys, seed):
    from materials.testing import write_toy_materials

    materials = write_toy_materials(tmp_path / "toy.h5", n_per_split=48, transfer_rows=32)
    argv = ["student", "train", "--materials", str(materials), "--filters", "8", "--batch-size", "16",
            "--lr", "3e-3", "--epochs", "3", "--patience", "3", "--no-progress"]
    _kill_then_rerun(argv, tmp_path, kill_range=80, seed=100 + seed, capsys=capsys)
