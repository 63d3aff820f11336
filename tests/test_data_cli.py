"""`distill data prepare|show` through `distill.app.cli.main`: output, and one-line errors with exit 2."""

import urllib.error
import urllib.request

import pytest

from distill.app.cli import main

GOOD_TSV = {"train.txt": "sentence\tLabel\na fine film\t1\na dull film\t0\n", "dev.txt": "sentence\tLabel\nok\t1\n"}
SST2 = {"train.tsv": "sentence\tlabel\ngood \t1\nbad \t0\n", "dev.tsv": "sentence\tlabel\nfine \t1\n"}


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def run(capsys, *argv):
    code = main(["data", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prepare_prints_sizes_and_balance(tmp_path, capsys):
    folder = write(tmp_path, GOOD_TSV)
    code, out, err = run(capsys, "prepare", f"tsv:{folder}")
    assert code == 0 and err == ""
    assert out.splitlines()[3].split() == ["train", "2", "1", "(50.0%)", "1", "(50.0%)"]
    assert sorted(p.name for p in folder.iterdir()) == ["dev.txt", "train.txt"]  # prepare wrote nothing


def test_show_prints_rows(tmp_path, capsys):
    code, out, _ = run(capsys, "show", "glue/sst2", "--data-dir", str(write(tmp_path, SST2)), "-n", "1")
    assert code == 0 and out.splitlines()[1:3] == ["train (2 rows):", "  [positive] good"]


def test_csv_columns_from_the_command_line(tmp_path, capsys):
    folder = write(tmp_path, {"train.csv": "body,tag\nx,spam\ny,ham\n", "dev.csv": "body,tag\nz,ham\n"})
    code, out, _ = run(capsys, "prepare", f"csv:{folder}", "--text-column", "body", "--label-column", "tag")
    assert code == 0 and "2 labels (ham, spam)" in out


# Each case: files to write, the arguments (DIR is replaced by the folder), and what the error line must say.
BAD = {
    "missing column": ({"train.txt": "text\tLabel\na\t1\n"}, ["tsv:DIR"], "train.txt, line 1: no column 'sentence'"),
    "wrong field count": ({"train.tsv": "sentence\tlabel\na\t1\nb\t0\t1\n"}, ["glue/sst2", "--data-dir", "DIR"],
                          "train.tsv, line 3: 3 field(s), expected 2"),
    "empty file": ({"dev.txt": ""}, ["tsv:DIR"], "dev.txt: empty file"),
    "non-utf8": ({"dev.txt": b"sentence\tLabel\n\xc3\x28\t1\n"}, ["tsv:DIR"], "dev.txt, line 2: not UTF-8"),
    "non-integer label": ({"train.tsv": "gj04\tyes\t\ta.\n", "dev.tsv": "gj04\t1\t\tb.\n"}, ["glue/cola", "--data-dir", "DIR"],
                          "train.tsv, line 1: label 'yes' is not an integer"),
    "empty split": ({"dev.tsv": "sentence\tlabel\n"}, ["glue/sst2", "--data-dir", "DIR"],
                    "dev.tsv: no data rows after the header (empty split)"),
    "unseen label": ({"train.csv": "text,label\na,x\n", "dev.csv": "text,label\nb,y\n"}, ["csv:DIR"],
                     "dev.csv, line 2: label 'y' does not occur in train"),
    "unknown task": ({}, ["glue/qnli"], "unknown task 'glue/qnli'; known: rt-polarity"),
    "missing directory": ({}, ["tsv:DIR/nope"], "nope: no such directory"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    files, argv, expected = BAD[case]
    defaults = GOOD_TSV if argv[0].startswith("tsv") else SST2 if "glue/sst2" in argv else {}
    write(tmp_path, {**defaults, **files})
    code, out, err = run(capsys, "prepare", *[a.replace("DIR", str(tmp_path)) for a in argv])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("distill: error: ")
    assert expected in err


def test_glue_offline_is_one_line_that_points_to_data_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))

    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, _, err = run(capsys, "prepare", "glue/cola")
    assert code == 2 and err.count("\n") == 1 and "glue/cola" in err and "--data-dir" in err


@pytest.mark.slow
def test_prepare_rt_polarity_prints_the_three_split_sizes(capsys):
    code, out, _ = run(capsys, "prepare", "rt-polarity")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[3:6]}
    assert rows == {"train": "10,185", "dev": "1,282", "test": "1,285"}
    assert "groups in more than one split: 0" in out
