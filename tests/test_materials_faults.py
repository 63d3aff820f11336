"""Materials generation against kills, a full disk, damaged `.partial` files and non-finite logits.

Each fault ends in one line (exit 2 through the CLI) or one printed line,
and the next run ends with the very file an uninterrupted run writes. The
teacher is `materials.testing.ToyTeacher` (numpy only), so a child process
that is killed starts in about a second; `run_cli` runs the real `distill`
CLI in a child with that teacher in place of a teacher run.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from distill.data.synthetic import MARKER, WORDS, marker_task
from materials import schema
from materials.generate import generate
from materials.reader import MaterialsFile
from materials.schema import MaterialsError, validate
from materials.testing import TOY_CLI_CHILD, ToyTeacher, write_toy_materials

ROOT = Path(__file__).resolve().parents[1]
VOCAB = sorted({*WORDS, MARKER})
SMALL = dict(window_rows=48, batch_size=16, chunk_rows=32, progress=False, echo=None)


def toy_teacher():
    return ToyTeacher(VOCAB, max_seq_len=24)


@pytest.fixture(scope="module")
def task():
    return marker_task(n_train=120, n_dev=40, n_test=30, seed=1)


@pytest.fixture(scope="module")
def reference(task, tmp_path_factory):
    return generate(toy_teacher(), task, tmp_path_factory.mktemp("ref") / "m.h5", **SMALL)


def contents(path) -> dict:
    with h5py.File(path, "r") as h5:
        out = {"embedding": h5["embedding"][:], "vocab": h5["vocab"].asstr()[:],
               "splits": schema.splits_of(h5)}
        for split in out["splits"]:
            group = h5[split]
            for name, ds in group.items():
                out[f"{split}/{name}"] = ds.asstr()[:] if ds.dtype.kind == "O" else ds[:]
            for key in ("rows", "complete", "source", "metrics"):
                out[f"{split}@{key}"] = group.attrs[key]
        return out


def assert_same_file(expected, got) -> None:
    validate(got)
    a, b = contents(expected), contents(got)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def run_generate(task, out, **options):
    said = []
    generate(toy_teacher(), task, out, **{**SMALL, "echo": said.append, **options})
    return [line for line in said if "\n" not in line]     # the closing metrics table is several lines


# ------------------------------------------------------------- kills
KILLED_CHILD = """
import sys
from distill.data.synthetic import MARKER, WORDS, marker_task
from materials.generate import generate
from materials.testing import ToyTeacher

teacher = ToyTeacher(sorted({*WORDS, MARKER}), max_seq_len=24)
task = marker_task(n_train=600, n_dev=200, n_test=200, seed=3)
print("go", flush=True)
generate(teacher, task, sys.argv[1], augment=2, window_rows=64, chunk_rows=32, batch_size=16, progress=False,
         echo=lambda line: print(line, flush=True))
"""
KILL_TASK = dict(n_train=600, n_dev=200, n_test=200, seed=3)
KILL_OPTIONS = dict(augment=2, window_rows=64, chunk_rows=32, batch_size=16, progress=False)


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def kill_reference(tmp_path_factory):
    began = time.perf_counter()
    path = generate(toy_teacher(), marker_task(**KILL_TASK), tmp_path_factory.mktemp("kref") / "m.h5", echo=None,
                    **KILL_OPTIONS)
    return path, time.perf_counter() - began


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_random_points_then_a_rerun_writes_the_uninterrupted_file(kill_reference, tmp_path, seed):
    """Two SIGKILLs at random moments (creating the file, mid-window, mid-flush, between splits, at the
    rename), then a run to the end: the file equals an uninterrupted run's, never stuck."""
    reference_path, seconds = kill_reference
    rng = random.Random(seed)
    out = tmp_path / "m.h5"
    for _ in range(2):
        child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(out)], cwd=ROOT, env=child_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline() == "go\n"
        time.sleep(rng.uniform(0.0, 1.3 * seconds + 0.05))
        child.send_signal(signal.SIGKILL)
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode in (-signal.SIGKILL, 0), stderr[-2000:]
        assert "Traceback" not in stderr, stderr[-2000:]
    said = []
    generate(toy_teacher(), marker_task(**KILL_TASK), out, echo=said.append, **KILL_OPTIONS)
    partial = f"{out}.partial"
    for line in said[:-1]:
        assert (line.startswith(f"{partial}: resuming (")
                or line.endswith(("; starting over", "; rebuilding it from its committed rows"))
                or line.startswith("augment: ") or line == f"{out}: complete, same teacher, tokenizer and data; "
                                                          f"nothing to do"), line
    assert_same_file(reference_path, out)
    assert not Path(partial).exists() and not Path(f"{partial}.rebuild").exists()


# --------------------------------------------------------- full disk, simulated
class FailingFlush:
    """Make h5py's flush raise OSError(errno) from the first flush after `arm` is called."""

    def __init__(self, monkeypatch, number: int):
        self.number, self.armed, self.real = number, False, h5py.File.flush
        monkeypatch.setattr(h5py.File, "flush", self)

    def __get__(self, obj, objtype=None):
        return lambda: self(obj)

    def __call__(self, h5):
        if self.armed:
            raise OSError(self.number, os.strerror(self.number))
        return self.real(h5)

    def arm(self, *_):
        self.armed = True


@pytest.mark.parametrize("at, message, resumed", [
    (("train", 48), "train; kept in m.h5.partial: train 48/120, dev 0/40, test 0/30", "train 48 rows"),
    (("train", 120), "train; kept in m.h5.partial: train 120/120, dev 0/40, test 0/30", "train 120 rows"),
    (("dev", 40), "dev; kept in m.h5.partial: train 120/120, dev 40/40, test 0/30", "train 120 rows, dev 40 rows"),
])
def test_a_full_disk_at_a_window_is_one_line_and_the_rerun_resumes(reference, task, tmp_path, monkeypatch, capfd,
                                                                   at, message, resumed):
    """The flush after the commit at `at` fails: the next window's data (or, at a split's last window,
    its `complete` mark) is lost, every committed window is kept."""
    out = tmp_path / "m.h5"
    flush = FailingFlush(monkeypatch, errno.ENOSPC)
    with pytest.raises(MaterialsError) as caught:
        generate(toy_teacher(), task, out, on_commit=lambda s, r: (s, r) == at and flush.arm(), **SMALL)
    assert str(caught.value) == (f"{out}: the disk is full (No space left on device) while writing split {message} "
                                 f"rows committed; free some space and run the same command again to resume")
    assert "Exception ignored" not in capfd.readouterr().err     # the library said nothing on its own
    monkeypatch.undo()
    assert run_generate(task, out) == [f"{out}.partial: resuming ({resumed})"]
    assert_same_file(reference, out)


def test_another_write_error_names_the_cause(reference, task, tmp_path, monkeypatch):
    out = tmp_path / "m.h5"
    flush = FailingFlush(monkeypatch, errno.EIO)
    with pytest.raises(MaterialsError, match=r"^.*m\.h5: writing failed \(Input/output error\) while writing split "
                                             r"train; kept in m\.h5\.partial: train 48/120, .* run the same command "
                                             r"again to resume once the cause is fixed$"):
        generate(toy_teacher(), task, out, on_commit=flush.arm, **SMALL)
    monkeypatch.undo()
    assert run_generate(task, out) == [f"{out}.partial: resuming (train 48 rows)"]
    assert_same_file(reference, out)


def test_a_full_disk_while_creating_the_file_leaves_nothing(task, tmp_path, monkeypatch):
    out = tmp_path / "m.h5"
    FailingFlush(monkeypatch, errno.ENOSPC).arm()
    with pytest.raises(MaterialsError) as caught:
        generate(toy_teacher(), task, out, **SMALL)
    assert str(caught.value) == (f"{out}: the disk is full (No space left on device) while creating m.h5.partial; "
                                 f"nothing was written; free some space and run the same command again")
    assert not list(tmp_path.iterdir())


def test_too_little_free_space_stops_before_the_window_is_written(reference, task, tmp_path, monkeypatch):
    import materials.generate as gen

    out = tmp_path / "m.h5"
    real = gen.shutil.disk_usage
    state = {"full": False}

    def disk_usage(path):
        usage = real(path)
        return usage._replace(free=10_000) if state["full"] else usage

    monkeypatch.setattr(gen.shutil, "disk_usage", disk_usage)
    with pytest.raises(MaterialsError, match=r"m\.h5: the disk is full \(9\.8 KiB free in .*, about \d+\.\d KiB "
                                             r"needed for the next window of train\); kept in m\.h5\.partial: "
                                             r"train 48/120, dev 0/40, test 0/30 rows committed; free some space "
                                             r"and run the same command again to resume$"):
        generate(toy_teacher(), task, out, on_commit=lambda s, r: state.update(full=True), **SMALL)
    state["full"] = False
    with h5py.File(f"{out}.partial", "r") as h5:   # stopped before writing: nothing past the commit
        assert h5["train"].attrs["rows"] == 48 and h5["train/x"].shape[0] == 48
    assert run_generate(task, out) == [f"{out}.partial: resuming (train 48 rows)"]
    assert_same_file(reference, out)


# -------------------------------------------------------------- full disk, real


def run_cli(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TOY_CLI_CHILD, *argv], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs; skipped where mounting is not permitted (it needs root or CAP_SYS_ADMIN)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {exc}")
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs to fill up (not root?): {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    """What `distill materials generate --augment 5` writes with the toy teacher: the synthetic task, defaults."""
    from distill.data import load_task

    return generate(toy_teacher(), load_task("synthetic"), tmp_path_factory.mktemp("cref") / "m.h5", augment=5,
                    progress=False, echo=None)


@pytest.mark.parametrize("free_kib", [100, 260])
@pytest.mark.parametrize("where", ["checked", "library"])
def test_a_really_full_disk_is_one_line_and_the_run_after_freeing_space_completes(cli_reference, tiny_disk,
                                                                                  free_kib, where):
    out = tiny_disk / "m.h5"
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize - free_kib * 1024))
    argv = ["materials", "generate", "--teacher", "t", "--out", str(out), "--augment", "5", "--no-progress"]
    first = run_cli(*(["--no-space-check"] if where == "library" else []), *argv)
    assert first.returncode == 2, first.stderr[-3000:]
    assert first.stderr.count("\n") == 1, first.stderr[-3000:]
    assert first.stderr.startswith(f"distill: error: {out}: the disk is full (")
    assert first.stderr.rstrip().endswith(("rows committed; free some space and run the same command again to "
                                           "resume", "nothing was written; free some space and run the same "
                                                     "command again"))
    assert not out.exists()
    if free_kib > 200:    # room for the train split at least: it is kept
        assert "train 400/400, " in first.stderr
    filler.unlink()
    second = run_cli(*argv)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.splitlines()[-1] == f"materials: {out}"
    said = second.stdout.splitlines()[0]
    if free_kib > 200:    # ... and resumed from, in place or rebuilt (a refused write may tear the chunk index)
        assert said.startswith(f"{out}.partial: resuming (train 400 rows, ") or said.endswith(
            "; rebuilding it from its committed rows"), said
    else:
        assert said == f"{out}.partial: nothing was committed to it yet; starting over" or said.startswith("split "), \
            said    # the partial was left with nothing committed, or never made (checked before creating it)
    assert_same_file(cli_reference, out)


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a read-only tmpfs: {exc}")
    if done.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs (not root?): {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def test_a_read_only_output_folder_is_refused_before_any_work(read_only_folder, task):
    class Untouchable(ToyTeacher):
        def logits_for_ids(self, *args):
            raise AssertionError("the teacher ran")

    for out in (read_only_folder / "m.h5", read_only_folder / "sub" / "m.h5"):
        with pytest.raises(MaterialsError, match=r"cannot be written, no permission to write in .*ro \(or it is on "
                                                 r"a read-only file system\)$"):
            generate(Untouchable(VOCAB, max_seq_len=24), task, out, **SMALL)
    done = run_cli("materials", "generate", "--teacher", "t", "--out", str(read_only_folder / "m.h5"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"distill: error: {read_only_folder / 'm.h5'}: cannot be written")


# ------------------------------------------------------- what a .partial may be
def _killed_before_any_commit(task, out):
    class DiesAtOnce(ToyTeacher):
        def logits_for_ids(self, *args):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(DiesAtOnce(VOCAB, max_seq_len=24), task, out, **SMALL)


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "no-commit", "other-data-no-commit"])
def test_a_partial_with_nothing_committed_or_unreadable_is_started_over(reference, task, tmp_path, kind):
    out = tmp_path / "m.h5"
    partial = tmp_path / "m.h5.partial"
    if kind == "empty":
        partial.write_bytes(b"")
    elif kind == "garbage":
        partial.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    elif kind == "truncated":
        partial.write_bytes(Path(reference).read_bytes()[:5000])
    elif kind == "no-commit":
        _killed_before_any_commit(task, out)
    else:
        _killed_before_any_commit(marker_task(n_train=60, seed=9), out)
    assert partial.exists()
    said = run_generate(task, out)
    if kind in ("no-commit", "other-data-no-commit"):
        assert said == [f"{partial}: nothing was committed to it yet; starting over"]
    else:
        assert len(said) == 1 and said[0].startswith(f"{partial}: ")
        assert said[0].endswith(", left by an interrupted run; starting over")
        assert "not a readable HDF5 file (" in said[0] or "truncated file" in said[0]
    assert_same_file(reference, out)


def test_a_partial_whose_chunk_index_is_torn_is_rebuilt_from_its_committed_rows(reference, task, tmp_path,
                                                                                monkeypatch):
    """As a full disk leaves it: a flush wrote the datasets' headers in place (pointing at a new chunk
    index) but not the new space at the end of the file, nor the superblock's end-of-file address."""
    import materials.generate as gen

    out = tmp_path / "m.h5"
    partial = tmp_path / "m.h5.partial"
    before = {}
    real_create_split, real_flush = schema.create_split, h5py.File.flush

    def create_split(h5, name, **kwargs):
        group = real_create_split(h5, name, **kwargs)
        if name == "dev":   # the file as flushed with dev created and empty
            before.update(size=partial.stat().st_size, head=partial.read_bytes()[:96])
        return group

    def flush(h5):
        real_flush(h5)
        if before and not before.get("killed"):
            before["killed"] = True      # killed right after the data flush of dev's first window
            raise KeyboardInterrupt

    monkeypatch.setattr(gen.schema, "create_split", create_split)
    monkeypatch.setattr(h5py.File, "flush", flush)
    with pytest.raises(KeyboardInterrupt):
        generate(toy_teacher(), task, out, **SMALL)
    monkeypatch.undo()
    with open(partial, "r+b") as f:      # the superblock as it was, the file's new end lost
        f.write(before["head"])
        f.truncate(before["size"])
    said = run_generate(task, out)
    assert len(said) == 2 and said[0].startswith(f"{partial}: its chunk index is damaged (addr overflow")
    assert said[0].endswith("; rebuilding it from its committed rows")
    assert said[1] == f"{partial}: resuming (train 120 rows, dev 0 rows)"
    assert_same_file(reference, out)


def test_a_partial_another_process_is_writing_is_left_alone(task, tmp_path):
    out = tmp_path / "m.h5"
    partial = tmp_path / "m.h5.partial"
    _killed_before_any_commit(task, out)
    holder = subprocess.Popen([sys.executable, "-c", "import h5py, sys, time\nf = h5py.File(sys.argv[1], 'r+')\n"
                               "print('open', flush=True)\ntime.sleep(60)", str(partial)], env=child_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        before = partial.read_bytes()
        with pytest.raises(MaterialsError, match=r"m\.h5\.partial: another process is writing it \(the file is "
                                                 r"locked\); wait for it to finish, or stop it$"):
            generate(toy_teacher(), task, out, **SMALL)
        assert partial.read_bytes() == before
        with MaterialsFile(partial, allow_partial=True) as m:   # `materials info` still reads it
            assert m.rows("train") == 0
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------------- output paths
def test_bad_output_paths_are_refused_before_any_work(task, tmp_path):
    class Untouchable(ToyTeacher):
        def logits_for_ids(self, *args):
            raise AssertionError("the teacher ran")

    teacher = Untouchable(VOCAB, max_seq_len=24)
    folder = tmp_path / "out.h5"
    folder.mkdir()
    with pytest.raises(MaterialsError, match=r"out\.h5: is a folder; the materials file needs a file name \(e\.g\. "):
        generate(teacher, task, folder, overwrite=True, **SMALL)
    (tmp_path / "file").write_text("x")
    with pytest.raises(MaterialsError, match=r"file/a/m\.h5: cannot be created, .*file is a file, not a folder$"):
        generate(teacher, task, tmp_path / "file" / "a" / "m.h5", **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out.h5"] and not list(folder.iterdir())


# ---------------------------------------------------------- non-finite logits
@pytest.mark.parametrize("name, row, value", [("logits", 17, np.nan), ("ysm", 40, np.inf), ("logits", 0, -np.inf)])
def test_non_finite_teacher_outputs_are_refused_naming_file_split_tensor_and_row(tmp_path, name, row, value):
    path = write_toy_materials(tmp_path / "m.h5", n_per_split=64, chunk_rows=16)
    with h5py.File(path, "r+") as h5:
        values = h5[f"dev/{name}"][:]
        values[row, 1] = value
        h5[f"dev/{name}"][:] = values
    with pytest.raises(MaterialsError) as caught:
        MaterialsFile(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: split dev: {name} row {row} is not finite (")
    assert f"{value:g}" in message and "\n" not in message


def test_a_teacher_that_returns_nan_is_refused_before_the_window_is_written(reference, task, tmp_path):
    class Diverged(ToyTeacher):
        calls = 0

        def logits_for_ids(self, token_ids, segment_ids, padding_mask):
            out = super().logits_for_ids(token_ids, segment_ids, padding_mask)
            Diverged.calls += 1
            if Diverged.calls > 4:      # windows of 48 rows, batches of 16: the second window
                out[:] = np.nan
            return out

    out = tmp_path / "m.h5"
    with pytest.raises(MaterialsError, match=r"^the teacher returned non-finite logits \(nan, nan\) for row \d+ of "
                                             r"split train; its weights may have diverged"):
        generate(Diverged(VOCAB, max_seq_len=24), task, out, **SMALL)
    with h5py.File(f"{out}.partial", "r") as h5:
        assert h5["train"].attrs["rows"] == 48 and np.isfinite(h5["train/logits"][:48]).all()
