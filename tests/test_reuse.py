"""A finished run is reused only when it was made with the options asked for now; otherwise one line
names the options that differ, and the run is left exactly as it was."""

import pytest

from distill.app.cli import main
from materials.testing import write_toy_materials

SMALL = ["--epochs", "1", "--batch-size", "16", "--no-progress"]


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_out_with_other_student_options_is_refused_and_nothing_changes(tmp_path, capsys):
    materials = write_toy_materials(tmp_path / "toy.h5", n_per_split=32)
    out = tmp_path / "mystudent"
    assert main(["student", "train", "--materials", str(materials), "--loss", "mse", "--filters", "8",
                 "--out", str(out), *SMALL]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main(["student", "train", "--materials", str(materials), "--loss", "ce", "--filters", "50",
                 "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"distill: error: {out}: a finished student run made with "
                                                   "other options (")
    assert "--filters 8 there, 50 now" in err and "--loss 'mse' there, 'ce' now" in err
    assert _files(out) == before
    # the same options again: reused, as before
    assert main(["student", "train", "--materials", str(materials), "--loss", "mse", "--filters", "8",
                 "--out", str(out), *SMALL]) == 0
    assert capsys.readouterr().out.startswith(f"reusing the finished run {out}")


def test_the_same_out_with_another_teacher_option_is_refused(tmp_path, capsys):
    from distill.data.synthetic import marker_task
    from distill import api
    from distill.errors import DistillError

    task = marker_task(n_train=40, n_dev=16, n_test=16)
    out = tmp_path / "teacher"
    api.finetune_teacher(task, "tiny", out, epochs=1, max_seq_len=24, batch_size=16, progress=False, echo=None,
                         load=False)
    before = _files(out)
    with pytest.raises(DistillError, match=r"a finished teacher run made with other options \(--lr 3e-05 there, "
                                           r"0.001 now\)"):
        api.finetune_teacher(task, "tiny", out, epochs=1, max_seq_len=24, batch_size=16, lr=1e-3, progress=False,
                             echo=None, load=False)
    assert _files(out) == before


def test_student_train_takes_a_run_materials_folder(tmp_path, capsys):
    folder = tmp_path / "materials" / "rt-polarity-abc"
    folder.mkdir(parents=True)
    write_toy_materials(folder / "materials.h5", n_per_split=32)
    assert main(["student", "train", "--materials", str(folder), "--filters", "4", "--runs-dir",
                 str(tmp_path / "runs"), *SMALL]) == 0
    assert "from materials.h5" in capsys.readouterr().out
