"""`distill materials info|generate` through `distill.app.cli.main`: output, and one-line errors with exit 2."""

import h5py

from distill.app.cli import main
from materials.testing import write_toy_materials


def run(capsys, *argv):
    code = main(["materials", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_prints_provenance_splits_and_the_metrics_table(tmp_path, capsys):
    path = write_toy_materials(tmp_path / "m.h5", n_per_split=20, transfer_rows=5)
    code, out, err = run(capsys, "info", str(path))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"file           {path}") and "distill.materials/1" in lines[0]
    assert "transfer       5 rows from" in out
    header = next(i for i, line in enumerate(lines) if line.startswith("split"))
    assert lines[header].split() == ["split", "n", "accuracy", "f1", "f1_macro", "mcc", "seconds", "it/s"]
    assert lines[header + 2].split()[:3] == ["train", "20", "1.0000"]
    assert lines[header + 5].split()[:3] == ["transfer", "5", "-"]


def test_info_on_a_partial_file_shows_committed_rows(tmp_path, capsys):
    path = write_toy_materials(tmp_path / "m.h5", n_per_split=20)
    partial = path.rename(tmp_path / "m.h5.partial")
    with h5py.File(partial, "r+") as h5:
        h5["test"].attrs["complete"] = False
        h5["test"].attrs["rows"] = 10
    code, out, _ = run(capsys, "info", str(partial))
    assert code == 0 and "test           10 rows" in out


def test_info_errors_are_one_line(tmp_path, capsys):
    path = write_toy_materials(tmp_path / "m.h5", n_per_split=20)
    with h5py.File(path, "r+") as h5:
        h5.attrs["schema"] = "other/2"
    code, out, err = run(capsys, "info", str(path))
    assert code == 2 and out == ""
    assert err == f"distill: error: {path}: unknown schema version 'other/2' (this distill reads 'distill.materials/1')\n"


def test_generate_then_info_then_nothing_to_do(materials_teacher_run, tmp_path, capsys):
    out = tmp_path / "m.h5"
    run_dir = str(materials_teacher_run.run_dir)
    code, stdout, err = run(capsys, "generate", "--teacher", run_dir, "--splits", "dev,test", "--out", str(out),
                            "--batch-size", "8")
    assert code == 0, err
    assert stdout.splitlines()[-1] == f"materials: {out}"
    assert "(primary metric: accuracy)" in stdout and "dev " in stdout
    # tqdm bars with the split's size as total, so a rate and an ETA
    assert "dev: 100%|" in err and "| 100/100 [" in err and "test: 100%|" in err and " rows/s]" in err
    code, stdout, _ = run(capsys, "info", str(out))
    assert code == 0 and "dev            100 rows from synthetic dev" in stdout
    assert f"teacher run    {run_dir}" in stdout
    code, stdout, _ = run(capsys, "generate", "--teacher", run_dir, "--splits", "dev,test", "--out", str(out),
                          "--no-bucket")
    assert code == 0 and "nothing to do" in stdout


def test_generate_no_progress_prints_no_bars(materials_teacher_run, tmp_path, capsys):
    out = tmp_path / "m.h5"
    code, stdout, err = run(capsys, "generate", "--teacher", str(materials_teacher_run.run_dir), "--splits", "dev",
                            "--out", str(out), "--no-progress", "--augment", "1")
    assert code == 0, err
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith("augment: ")]   # no bar
    assert stdout.splitlines()[-1] == f"materials: {out}"


def test_generate_errors_are_one_line(materials_teacher_run, tmp_path, capsys):
    code, out, err = run(capsys, "generate", "--teacher", str(materials_teacher_run.run_dir),
                         "--splits", "train,holdout", "--out", str(tmp_path / "m.h5"))
    assert code == 2 and err.startswith("distill: error: task synthetic has no split 'holdout'") and err.count("\n") == 1
    code, _, err = run(capsys, "generate", "--teacher", str(tmp_path / "nope"))
    assert code == 2 and "no such run folder" in err


def test_generate_checks_the_output_path_before_loading_the_teacher(tmp_path, capsys):
    """A folder, a file in the way: said first (the teacher folder given does not even exist)."""
    folder = tmp_path / "out"
    folder.mkdir()
    (tmp_path / "file").write_text("x")
    nope = str(tmp_path / "nope")
    code, out, err = run(capsys, "generate", "--teacher", nope, "--out", str(folder), "--overwrite")
    assert (code, out) == (2, "")
    assert err == f"distill: error: {folder}: is a folder; the materials file needs a file name " \
                  f"(e.g. {folder / 'materials.h5'})\n"
    code, _, err = run(capsys, "generate", "--teacher", nope, "--out", str(tmp_path / "file" / "sub" / "m.h5"))
    assert code == 2
    assert err == f"distill: error: {tmp_path / 'file' / 'sub' / 'm.h5'}: cannot be created, {tmp_path / 'file'} " \
                  f"is a file, not a folder\n"
    (tmp_path / "m.h5.partial").mkdir()
    code, _, err = run(capsys, "generate", "--teacher", nope, "--out", str(tmp_path / "m.h5"))
    assert code == 2 and err.startswith(f"distill: error: {tmp_path / 'm.h5.partial'}: is a folder") \
        and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "m.h5.partial", "out"]   # nothing made
    assert not list(folder.iterdir())


def test_a_folder_or_a_non_hdf5_file_given_as_materials_is_one_line(tmp_path, capsys):
    folder = tmp_path / "m.h5"
    folder.mkdir()
    code, out, err = run(capsys, "info", str(folder))
    assert (code, out, err) == (2, "", f"distill: error: {folder}: is a folder, not a materials file (.h5)\n")
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    code, _, err = run(capsys, "info", str(text))
    assert (code, err) == (2, f"distill: error: {text}: not a readable HDF5 file (file signature not found)\n")
    code, _, err = run(capsys, "info", str(tmp_path / "missing.h5"))
    assert (code, err) == (2, f"distill: error: {tmp_path / 'missing.h5'}: no such materials file\n")


def test_student_train_on_a_folder_or_non_finite_materials_is_one_line_and_makes_no_run(tmp_path, capsys):
    import numpy as np

    folder = tmp_path / "m.h5"
    folder.mkdir()
    code = main(["student", "train", "--materials", str(folder), "--out", str(tmp_path / "run")])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("distill: error: ") and str(folder) in err and err.count("\n") == 1
    bad = write_toy_materials(tmp_path / "bad.h5", n_per_split=40)
    with h5py.File(bad, "r+") as h5:
        logits = h5["train/logits"][:]
        logits[17, 1] = np.nan
        h5["train/logits"][:] = logits
    for out in (["--out", str(tmp_path / "run")], ["--runs-dir", str(tmp_path / "runs")]):
        code = main(["student", "train", "--materials", str(bad), *out, "--epochs", "1", "--no-progress"])
        _, err = capsys.readouterr()
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"distill: error: {bad}: split train: logits row 17 is not finite (")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5", "m.h5"]   # no run folder was made


def test_generate_with_augment_adds_a_transfer_split_from_train(materials_teacher_run, tmp_path, capsys):
    out = tmp_path / "m.h5"
    code, _, err = run(capsys, "generate", "--teacher", str(materials_teacher_run.run_dir), "--splits", "train,dev",
                       "--out", str(out), "--augment", "3", "--p-mask", "0.3")
    assert code == 0, err
    with h5py.File(out, "r") as h5:
        train = {t.decode() for t in h5["train/text"][:]}
        transfer = [t.decode() for t in h5["transfer/text"][:]]
        assert 0 < len(transfer) <= 3 * len(train) and (h5["transfer/y"][:] == -1).all()
        assert not train & set(transfer)                      # duplicates of originals are dropped
        assert any("[MASK]" in t for t in transfer)
        source = h5["transfer"].attrs["source"]
    assert '"p_mask": 0.3' in source and '"n_per_example": 3' in source
    assert f"augment: {len(transfer)} variants from {len(train)} sentences" in err
    code, stdout, _ = run(capsys, "info", str(out))
    assert code == 0 and f"transfer       {len(transfer)} rows from augment" in stdout
    assert f"augmented: {len(transfer)} variants of {len(train)} sentences" in stdout


# ------------------------------------------------------------- shards
def _toy_shards(folder, count=2):
    from distill.data.synthetic import MARKER, WORDS, marker_task
    from materials.generate import generate
    from materials.shards import Shard
    from materials.testing import ToyTeacher

    task = marker_task(n_train=100, n_dev=30, n_test=30, seed=2)
    return [generate(ToyTeacher(sorted({*WORDS, MARKER}), max_seq_len=24), task, folder / "m.h5",
                     shard=Shard(i, count), window_rows=32, progress=False, echo=None) for i in range(1, count + 1)]


def test_generate_refuses_a_bad_shard_before_anything_runs(tmp_path, capsys):
    import pytest

    for bad, said in (("0/3", "needs 1 <= i <= n"), ("4/3", "needs 1 <= i <= n"), ("two/3", "expected I/N")):
        with pytest.raises(SystemExit) as caught:
            main(["materials", "generate", "--teacher", str(tmp_path / "nope"), "--shard", bad])
        _, err = capsys.readouterr()
        assert caught.value.code == 2 and f"argument --shard: shard {bad}: {said}" in err
    folder = tmp_path / "m.shard-1-of-2.h5"
    folder.mkdir()      # --out is checked as the shard's file, before the teacher is looked for
    code, out, err = run(capsys, "generate", "--teacher", str(tmp_path / "nope"), "--out", str(tmp_path / "m.h5"),
                         "--shard", "1/2")
    assert (code, out) == (2, "") and err.startswith(f"distill: error: {folder}: is a folder;")


def test_generate_help_gives_the_window_default():
    import argparse

    from distill.app.cli import build_parser
    from materials.generate import WINDOW_ROWS

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["materials"]
    generate = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices["generate"]
    assert f"(default {WINDOW_ROWS})" in generate.format_help().replace("\n", " ").replace("  ", " ")


def test_merge_names_the_file_the_shards_share_and_info_shows_a_shard(tmp_path, capsys):
    shards = _toy_shards(tmp_path)
    code, out, err = run(capsys, "info", str(shards[1]))
    assert code == 0, err
    assert "shard          2 of 2 (windows of 32 rows); merge all 2 with `distill materials merge`" in out
    assert "train          64 rows (rows 64-100 of 100) from synthetic train" not in out    # 4 windows: 2 each
    assert "train          36 rows (rows 64-100 of 100) from synthetic train" in out
    code, out, err = run(capsys, "merge", *map(str, shards), "--no-progress")
    assert code == 0, err
    assert out.splitlines()[-1] == f"materials: {tmp_path / 'm.h5'}"
    code, out, _ = run(capsys, "info", str(tmp_path / "m.h5"))
    assert code == 0 and "train          100 rows from synthetic train" in out and "shard " not in out


def test_merge_errors_are_one_line(tmp_path, capsys):
    shards = _toy_shards(tmp_path)
    odd = tmp_path / "odd.h5"
    shards[1].rename(odd)
    code, out, err = run(capsys, "merge", str(shards[0]), str(odd))
    assert (code, out) == (2, "")
    assert err == f"distill: error: --out is needed: {odd} is not named NAME.shard-I-of-N.h5 like the others\n"
    code, _, err = run(capsys, "merge", str(shards[0]), "--out", str(tmp_path / "m.h5"))
    assert code == 2 and err == (f"distill: error: shard 2 of 2 is missing: {tmp_path / 'm.shard-2-of-2.h5'} was "
                                 f"not given (all 2 shards are needed)\n")
    assert not (tmp_path / "m.h5").exists()
    code, _, err = run(capsys, "merge", str(shards[0]), str(odd), "--out", str(tmp_path / "m.h5"), "--no-progress")
    assert code == 0, err                   # a shard is known by what it holds, not by its name
    code = main(["student", "train", "--materials", str(shards[0]), "--out", str(tmp_path / "run")])
    _, err = capsys.readouterr()
    assert code == 2 and err == (f"distill: error: {shards[0]}: is shard 1 of 2, a part of a materials file; merge "
                                 f"the shards first (`distill materials merge`)\n")
    assert not (tmp_path / "run").exists()
