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
    assert "dev: 100it" in err and "test: 100it" in err and "it/s]" in err   # tqdm, no total: "Nit [t, r it/s]"
    code, stdout, _ = run(capsys, "info", str(out))
    assert code == 0 and "dev            100 rows from synthetic dev" in stdout
    assert f"teacher run    {run_dir}" in stdout
    code, stdout, _ = run(capsys, "generate", "--teacher", run_dir, "--splits", "dev,test", "--out", str(out),
                          "--no-bucket")
    assert code == 0 and "nothing to do" in stdout


def test_generate_errors_are_one_line(materials_teacher_run, tmp_path, capsys):
    code, out, err = run(capsys, "generate", "--teacher", str(materials_teacher_run.run_dir),
                         "--splits", "train,holdout", "--out", str(tmp_path / "m.h5"))
    assert code == 2 and err.startswith("distill: error: task synthetic has no split 'holdout'") and err.count("\n") == 1
    code, _, err = run(capsys, "generate", "--teacher", str(tmp_path / "nope"))
    assert code == 2 and "no such run folder" in err


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
