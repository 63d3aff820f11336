"""materials.shards and materials.merge: n shards, made apart and merged, are the unsharded run's file.

The teacher is `materials.testing.ToyTeacher` (numpy only), so a shard made
in a child process starts in about a second; `run_cli` runs the real
`distill` CLI in a child with that teacher in place of a teacher run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from distill.app.cli import main
from distill.data import load_task
from distill.data.synthetic import MARKER, WORDS, marker_task
from distill.errors import DistillError
from materials import schema
from materials.augment import AugmentConfig
from materials.generate import generate
from materials.merge import merge
from materials.reader import MaterialsFile
from materials.schema import MaterialsError
from materials.shards import Shard, merged_path, shard_range
from materials.testing import TOY_CLI_CHILD, ToyTeacher

ROOT = Path(__file__).resolve().parents[1]
VOCAB = sorted({*WORDS, MARKER})
WINDOW = 64
OPTIONS = dict(augment=2, window_rows=WINDOW, progress=False, echo=None)   # what the CLI children are given
CLI_OPTIONS = ["--augment", "2", "--window-rows", str(WINDOW), "--no-progress"]


def toy_teacher():
    return ToyTeacher(VOCAB, max_seq_len=24)


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic")     # what `distill materials generate` loads for the toy teacher run below


@pytest.fixture(scope="module")
def reference(task, tmp_path_factory):
    """The unsharded run: train 400, dev 100, test 100 and about 630 augmented transfer rows, windows of 64."""
    return generate(toy_teacher(), task, tmp_path_factory.mktemp("ref") / "m.h5", **OPTIONS)


@pytest.fixture(scope="module")
def shards(task, tmp_path_factory):
    """The three shards of the same run, made in this process."""
    folder = tmp_path_factory.mktemp("shards")
    return [generate(toy_teacher(), task, folder / "m.h5", shard=Shard(i, 3), **OPTIONS) for i in (1, 2, 3)]


# ------------------------------------------------------------- comparing files
def everything(path) -> dict:
    """Every attribute and dataset of a file, with how each dataset is stored; timing attributes left out."""
    out = {}

    def visit(name, obj):
        out[f"{name}@"] = {k: _plain(v) for k, v in obj.attrs.items() if k not in schema.TIMING_SPLIT_ATTRS}
        if isinstance(obj, h5py.Dataset):
            out[f"{name}:layout"] = (obj.dtype.str if obj.dtype.kind != "O" else "str", obj.shape, obj.chunks,
                                     obj.compression, obj.compression_opts, obj.shuffle)
            out[name] = obj.asstr()[:] if obj.dtype.kind == "O" else obj[:]

    with h5py.File(path, "r") as h5:
        out["/@"] = {k: _plain(v) for k, v in h5.attrs.items()}
        h5.visititems(visit)
    return out


def _plain(value):
    value = value.item() if isinstance(value, np.generic) else value
    return "NaN" if isinstance(value, float) and np.isnan(value) else value


def assert_identical(expected, got) -> None:
    a, b = everything(expected), everything(got)
    assert sorted(a) == sorted(b)
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype, key
            if a[key].dtype.kind == "O":
                assert list(a[key]) == list(b[key]), key
            else:
                assert a[key].tobytes() == b[key].tobytes(), key    # bit for bit, NaN and -0.0 included
        else:
            assert a[key] == b[key], key


def split_seconds(path) -> dict:
    with h5py.File(path, "r") as h5:
        return {s: (float(h5[s].attrs["seconds"]), float(h5[s].attrs["it_per_s"]), int(h5[s].attrs["rows"]))
                for s in schema.splits_of(h5)}


# ------------------------------------------------------------- children

KILLED_CHILD = """
import sys
from distill.data import load_task
from distill.data.synthetic import MARKER, WORDS
from materials.generate import generate
from materials.shards import Shard
from materials.testing import ToyTeacher

generate(ToyTeacher(sorted({*WORDS, MARKER}), max_seq_len=24), load_task("synthetic"), sys.argv[1],
         shard=Shard(2, 3), augment=2, window_rows=64, progress=False, echo=None,
         on_commit=lambda split, rows: print("commit", split, rows, flush=True))
"""


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def cli_child(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TOY_CLI_CHILD, *argv], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------- the proof
def test_three_shards_made_by_parallel_processes_merge_into_the_unsharded_file(reference, tmp_path, capsys):
    out = tmp_path / "m.h5"
    children = [cli_child("materials", "generate", "--teacher", "t", "--out", str(out), "--shard", f"{i}/3",
                          *CLI_OPTIONS) for i in (1, 2, 3)]      # all three at once
    results = [child.communicate(timeout=120) for child in children]
    paths = [tmp_path / f"m.shard-{i}-of-3.h5" for i in (1, 2, 3)]
    for child, (stdout, stderr), path in zip(children, results, paths):
        assert child.returncode == 0, stderr[-3000:]
        assert stdout.splitlines()[-1] == f"materials: {path}"
    assert not out.exists()

    code = main(["materials", "merge", *map(str, reversed(paths)), "--out", str(out), "--no-progress"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stdout.splitlines()[-1] == f"materials: {out}" and "(primary metric: accuracy)" in stdout
    assert stderr == ""                                                    # --no-progress: no bars
    assert_identical(reference, out)
    assert not Path(f"{out}.partial").exists()

    ranges = {}
    for path in paths:
        with h5py.File(path, "r") as h5:
            ranges[json.loads(h5.attrs["shard"])["index"]] = {
                s: tuple(json.loads(h5[s].attrs["shard_range"])[k] for k in ("start", "stop", "total"))
                for s in schema.splits_of(h5)}
    assert [ranges[i]["train"] for i in (1, 2, 3)] == [(0, 128, 400), (128, 256, 400), (256, 400, 400)]
    assert [ranges[i]["dev"] for i in (1, 2, 3)] == [(0, 0, 100), (0, 64, 100), (64, 100, 100)]   # 2 windows
    transfer = [ranges[i]["transfer"] for i in (1, 2, 3)]
    assert transfer[0][0] == 0 and transfer[0][1] == transfer[1][0] and transfer[1][1] == transfer[2][0]
    assert transfer[2][1] == transfer[2][2] > 600 and all(r[1] % WINDOW == 0 for r in transfer[:2])

    merged, parts = split_seconds(out), [split_seconds(p) for p in paths]
    for split, (seconds, it_per_s, rows) in merged.items():    # the merge's timing: the shards' seconds summed
        assert seconds == pytest.approx(sum(p[split][0] for p in parts))
        assert it_per_s == pytest.approx(rows / seconds)


def test_a_killed_shard_resumes_and_the_merge_is_the_unsharded_file(reference, shards, tmp_path):
    out = tmp_path / "m.h5"
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(out)], cwd=ROOT, env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "commit train 64\n"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    shard = tmp_path / "m.shard-2-of-3.h5"
    partial = tmp_path / "m.shard-2-of-3.h5.partial"
    assert partial.exists() and not shard.exists()
    with pytest.raises(MaterialsError) as caught:     # an unfinished shard is not merged
        merge([shards[0], shard, shards[2]], out, progress=False, echo=None)
    assert str(caught.value).startswith(f"{shard}: not complete (an unfinished shard, m.shard-2-of-3.h5.partial")
    said = []
    generate(toy_teacher(), load_task("synthetic"), out, shard=Shard(2, 3), **{**OPTIONS, "echo": said.append})
    assert said[0].startswith(f"{partial}: resuming (train ")
    assert_identical(shards[1], shard)
    merge([shards[0], shard, shards[2]], out, progress=False, echo=None)
    assert_identical(reference, out)


def test_a_resumed_shard_must_be_the_same_part(task, tmp_path):
    out = tmp_path / "m.h5"

    def killed(split, rows):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(toy_teacher(), task, out, shard=Shard(2, 3), on_commit=killed, **OPTIONS)
    with pytest.raises(MaterialsError, match=r"m\.shard-2-of-3\.h5\.partial: made from a different shard "
                                             r"\(.*\"window_rows\": 64.* here, .*\"window_rows\": 32.* now\); "
                                             r"pass --overwrite"):
        generate(toy_teacher(), task, out, shard=Shard(2, 3), **{**OPTIONS, "window_rows": 32})


# ------------------------------------------------------------- refusals
def _other_shard(folder: Path, index: int = 2, count: int = 3, task=None, **options) -> Path:
    return generate(toy_teacher(), task or load_task("synthetic"), folder / "m.h5", shard=Shard(index, count),
                    **{**OPTIONS, **options})


def _cases(shards, tmp_path):
    """(what, the shards given, the start of the one line that must name the culprit)."""
    one, two, three = shards
    copy = tmp_path / "copy" / "m.shard-2-of-3.h5"
    copy.parent.mkdir()
    shutil.copyfile(two, copy)
    partial = tmp_path / "unfinished" / "m.shard-3-of-3.h5.partial"
    partial.parent.mkdir()
    shutil.copyfile(three, partial)
    other_data = _other_shard(tmp_path / "data", task=marker_task(n_train=400, n_dev=100, n_test=100, seed=7))
    other_seed = _other_shard(tmp_path / "seed", augment=AugmentConfig(n_per_example=2, seed=1))
    other_count = _other_shard(tmp_path / "count", index=2, count=4)
    other_window = _other_shard(tmp_path / "window", window_rows=32)
    whole = generate(toy_teacher(), load_task("synthetic"), tmp_path / "whole" / "m.shard-2-of-3.h5", **OPTIONS)
    return {
        "missing": ([one, three], f"shard 2 of 3 is missing: {one.parent / 'm.shard-2-of-3.h5'} was not given"),
        "same file twice": ([one, two, two, three], f"{two}: shard 2 of 3 is given twice (also as {two})"),
        "a copy": ([one, two, three, copy], f"{copy}: shard 2 of 3 is given twice (also as {two})"),
        "incomplete": ([one, two, partial], f"{partial}: not complete (an unfinished shard"),
        "incomplete, by name": ([one, two, partial.with_suffix("")], f"{partial.with_suffix('')}: not complete"),
        "other data": ([one, other_data, three], f"{other_data}: made from a different dataset ("),
        "other augmentation": ([one, other_seed, three], f"{other_seed}: split transfer made from other input ("),
        "other count": ([one, other_count, three], f"{other_count}: shard 2 of 4 (windows of 64 rows), but {one} "
                                                   f"is shard 1 of 3"),
        "other window": ([one, other_window, three], f"{other_window}: shard 2 of 3 (windows of 32 rows), but"),
        "a whole file": ([one, whole, three], f"{whole}: not a shard (a whole materials file"),
        "no such file": ([one, tmp_path / "nope.h5", three], f"{tmp_path / 'nope.h5'}: no such materials file"),
    }


def test_merging_shards_that_do_not_belong_together_fails_with_one_line_naming_the_shard(shards, tmp_path, capsys):
    out = tmp_path / "out" / "m.h5"
    for what, (given, start) in _cases(shards, tmp_path).items():
        with pytest.raises(MaterialsError) as caught:
            merge(given, out, progress=False, echo=None)
        message = str(caught.value)
        assert message.startswith(start) and "\n" not in message, (what, message)
        assert not out.parent.exists(), what                          # nothing written
    capsys.readouterr()
    code = main(["materials", "merge", str(shards[0]), str(shards[2]), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and err == (f"distill: error: shard 2 of 3 is missing: {shards[0].parent / 'm.shard-2-of-3.h5'} "
                                 f"was not given (all 3 shards are needed)\n")


def test_merge_replaces_only_materials_of_ours_and_never_a_shard(shards, reference, tmp_path, snapshot):
    out = tmp_path / "m.h5"
    out.write_bytes(b"old")
    for overwrite in (False, True):   # a user's file: never, --overwrite or not
        with pytest.raises(DistillError, match=r"m\.h5: a file that is not a materials file written by distill; "
                                               r"it is never replaced"):
            merge(shards, out, overwrite=overwrite, progress=False, echo=None)
        assert out.read_bytes() == b"old"
    before = snapshot(shards[0])   # one of the inputs as the output: it would be destroyed
    with pytest.raises(DistillError, match=r"which this command reads"):
        merge(shards, shards[0], overwrite=True, progress=False, echo=None)
    assert snapshot(shards[0]) == before
    out.unlink()
    Path(f"{out}.partial").write_bytes(b"a merge killed before")
    with pytest.raises(MaterialsError, match=r"m\.h5\.partial: is there \(an interrupted generate or merge of this "
                                             r"file\); pass --overwrite to replace it$"):
        merge(shards, out, progress=False, echo=None)
    merge(shards, out, overwrite=True, progress=False, echo=None)
    assert_identical(reference, out)
    assert not Path(f"{out}.partial").exists()
    with pytest.raises(DistillError, match=r"a materials file is already there; pass --overwrite"):
        merge(shards, out, progress=False, echo=None)
    merge(shards, out, overwrite=True, progress=False, echo=None)   # ours: replaced when told
    assert_identical(reference, out)


def test_a_shard_is_not_materials_a_student_can_read(shards):
    with pytest.raises(MaterialsError, match=r"m\.shard-1-of-3\.h5: is shard 1 of 3, a part of a materials file; "
                                             r"merge the shards first \(`distill materials merge`\)$"):
        MaterialsFile(shards[0])
    with MaterialsFile(shards[0], allow_shard=True) as m:
        assert m.shard == {"index": 1, "count": 3, "window_rows": WINDOW}
        assert "shard          1 of 3 (windows of 64 rows)" in m.describe()
        assert "train          128 rows (rows 0-128 of 400) from synthetic train" in m.describe()


# ------------------------------------------------------------- ranges and names
@pytest.mark.parametrize("total", [0, 1, 63, 64, 65, 400, 1000])
@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shard_ranges_tile_the_split_in_whole_windows(total, count):
    ranges = [shard_range(i, count, total, WINDOW) for i in range(1, count + 1)]
    assert ranges[0][0] == 0 and ranges[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(start % WINDOW == 0 and (stop % WINDOW == 0 or stop == total) for start, stop in ranges)
    sizes = [-(-(stop - start) // WINDOW) for start, stop in ranges]     # windows per shard: within one
    assert max(sizes) - min(sizes) <= 1


def test_shard_names_and_parsing():
    assert Shard.parse("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    assert Shard(2, 3).path("runs/materials/x.h5") == Path("runs/materials/x.shard-2-of-3.h5")
    assert merged_path("runs/materials/x.shard-2-of-3.h5") == Path("runs/materials/x.h5")
    assert merged_path("runs/materials/x.h5") is None
    for bad in ("0/3", "4/3", "3", "a/b", "-1/3"):
        with pytest.raises(MaterialsError, match="shard"):
            Shard.parse(bad)
