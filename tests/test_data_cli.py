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
    "unseen label": ({"train.csv": "text,label\na,x\nc,z\n", "dev.csv": "text,label\nb,y\n"}, ["csv:DIR"],
                     "dev.csv, line 2: label 'y' does not occur in train"),
    "empty sentence (tsv)": ({"train.txt": "sentence\tLabel\na fine film\t1\n\t0\n"}, ["tsv:DIR"],
                             "train.txt, line 3: column 'sentence' is empty (every row needs a text)"),
    "blank sentence (glue)": ({"dev.tsv": "sentence\tlabel\n   \t1\n"}, ["glue/sst2", "--data-dir", "DIR"],
                              "dev.tsv, line 2: column 'sentence' is empty"),
    "empty text (csv)": ({"train.csv": "text,label\na,x\n\"\",z\n", "dev.csv": "text,label\nb,x\n"}, ["csv:DIR"],
                         "train.csv, line 3: column 'text' is empty"),
    "NaN label (csv)": ({"train.csv": "text,label\na,0.0\nb,1.0\nc,nan\n", "dev.csv": "text,label\nd,1.0\n"},
                        ["csv:DIR"], "train.csv, line 4: column 'label' holds 'nan', a missing value"),
    "empty label (csv)": ({"train.csv": "text,label\na,0\nb,1\nc,\n", "dev.csv": "text,label\nd,1\n"},
                          ["csv:DIR"], "train.csv, line 4: column 'label' is empty (every row needs a label)"),
    "empty label (tsv)": ({"dev.txt": "sentence\tLabel\nok\t\n"}, ["tsv:DIR"],
                          "dev.txt, line 2: column 'Label' is empty (every row needs a label)"),
    "one label (tsv)": ({"train.txt": "sentence\tLabel\na\t1\nb\t1\n"}, ["tsv:DIR"],
                        "train.txt: the train split has only one label (1 on all 2 rows); "
                        "a classifier needs at least 2 distinct labels"),
    "one label (csv)": ({"train.csv": "text,label\na,pos\nb,pos\n", "dev.csv": "text,label\nc,pos\n"}, ["csv:DIR"],
                        "train.csv: the train split has only one label ('pos' on all 2 rows)"),
    "one label (glue)": ({"train.tsv": "sentence\tlabel\ngood\t1\n"}, ["glue/sst2", "--data-dir", "DIR"],
                         "train.tsv: the train split has only one label ('positive' on all 1 rows)"),
    "unknown task": ({}, ["glue/qnli"], "unknown task 'glue/qnli'; known: rt-polarity"),
    "split of a folder": ({"train.csv": "text,label\na,x\nb,y\n", "dev.csv": "text,label\nc,x\n"},
                          ["csv:DIR", "--split", "80/20"],
                          "is a folder of train/dev[/test] files, split already; split= (--split) applies only to a "
                          "single file"),
    "split not summing to 100": ({"d.csv": "text,label\na,x\n"}, ["csv:DIR/d.csv", "--split", "80/10/5"],
                                 "--split 80/10/5: the split must be 2 or 3 percentages that sum to 100"),
    "too few of a label to stratify": ({"d.csv": "text,label\n" + "".join(f"t{i},{'xy'[i % 2]}\n" for i in range(20))
                                        + "u1,z\nu2,z\n"}, ["csv:DIR/d.csv"],
                                       "d.csv: label 'z' has only 2 row(s); a stratified 80/10/10 split needs at "
                                       "least 3 of every label (one per split)"),
    "one group": ({"d.csv": "text,label,g\n" + "".join(f"t{i},{'xy'[i % 2]},same\n" for i in range(20))},
                  ["csv:DIR/d.csv", "--group-column", "g"],
                  "d.csv: column 'g' holds one group ('same') on all 20 rows; a grouped 80/10/10 split needs at "
                  "least 10 groups"),
    "jsonl missing key": ({"d.jsonl": '{"text": "a", "label": "x"}\n{"text": "b"}\n'}, ["jsonl:DIR/d.jsonl"],
                          "d.jsonl, line 2: no key 'label' (keys: text)"),
    "options on a built-in task": ({}, ["synthetic", "--text-column", "body"],
                                   "task synthetic takes no options (a built-in task); text= (--text-column) applies "
                                   "only to csv:, parquet: and jsonl: tasks"),
    "missing directory": ({}, ["tsv:DIR/nope"], "nope: no such directory"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    files, argv, expected = BAD[case]
    defaults = GOOD_TSV if argv[0].startswith("tsv") else SST2 if "glue/sst2" in argv else {}
    write(tmp_path, {**defaults, **files})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, out, err = run(capsys, "prepare", *[a.replace("DIR", str(tmp_path)) for a in argv])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("distill: error: ") and "Traceback" not in err
    assert expected in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before   # nothing written or changed


def test_parquet_nan_and_null_labels_are_one_line(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split, labels in (("train", [0.0, 1.0, float("nan")]), ("dev", [1.0, None, 0.0])):
        pq.write_table(pa.table({"text": ["a", "b", "c"], "label": pa.array(labels, pa.float64())}),
                       tmp_path / f"{split}.parquet")
    code, out, err = run(capsys, "prepare", f"parquet:{tmp_path}")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err == f"distill: error: {tmp_path / 'train.parquet'}, row 3: column 'label' holds 'nan', a missing value " \
                  "(every row needs a label)\n"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0.0, 1.0]}), tmp_path / "train.parquet")
    code, out, err = run(capsys, "prepare", f"parquet:{tmp_path}")
    assert code == 2 and err == f"distill: error: {tmp_path / 'dev.parquet'}, row 2: column 'label' is empty " \
                                "(every row needs a label)\n"


def test_a_line_longer_than_the_csv_module_limit_is_read(tmp_path, capsys):
    long = "a long review " * 10_000   # 140,000 characters: over csv's default field limit of 131,072
    folder = write(tmp_path, {"train.txt": f"sentence\tLabel\n{long}\t1\nshort\t0\n",
                              "dev.txt": "sentence\tLabel\nok\t1\n"})
    code, out, err = run(capsys, "show", f"tsv:{folder}", "-n", "1")
    assert code == 0 and err == "" and out.splitlines()[2].startswith("  [1] a long review a long review")


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


BOOKS = "blurb,genre,author\n" + "".join(f"book {i},{('fantasy', 'mystery', 'romance')[i % 3]},a{i % 12}\n"
                                          for i in range(60))


def test_prepare_a_single_csv_split_here(tmp_path, capsys):
    path = tmp_path / "books.csv"
    path.write_text(BOOKS, encoding="utf-8")
    options = ["--split", "80/10/10", "--split-seed", "1", "--text-column", "blurb", "--label-column", "genre",
               "--group-column", "author"]
    code, out, err = run(capsys, "prepare", f"csv:{path}", *options)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"task csv:{path}?split=80/10/10&seed=1&group=author&text=blurb&label=genre: 60 rows")
    assert [line.split()[0] for line in lines[3:6]] == ["train", "dev", "test"]
    assert sum(int(line.split()[1]) for line in lines[3:6]) == 60
    assert "groups in more than one split: 0" in out and lines[-1].startswith("split here from one file: source rows")
    by_name = run(capsys, "prepare", f"csv:{path}?label=genre&text=blurb&group=author&seed=1&split=80/10/10")
    assert by_name == (0, out, "")   # the name given directly is the same task


def test_a_single_file_without_split_is_split_80_10_10(tmp_path, capsys):
    (tmp_path / "d.jsonl").write_text("".join(f'{{"text": "t{i}", "label": "{"xy"[i % 2]}"}}\n' for i in range(30)))
    code, out, _ = run(capsys, "show", f"jsonl:{tmp_path / 'd.jsonl'}", "-n", "0")
    assert code == 0 and out.splitlines() == [f"task jsonl:{tmp_path / 'd.jsonl'}?split=80/10/10&seed=0 (single "
                                              "sentences)", "train (24 rows):", "dev (3 rows):", "test (3 rows):"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_a_column_named_twice_is_refused_naming_both_positions(tmp_path, capsys, snapshot, fmt):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "data"
    if fmt == "csv":    # which blurb is the text would be a guess
        write(folder, {"train.csv": "id,blurb,genre,blurb\n1,a,x,b\n2,c,y,d\n", "dev.csv": "id,blurb,genre\n3,e,x\n"})
        options, where = ["--text-column", "blurb", "--label-column", "genre"], "train.csv, line 1: column 'blurb'"
        expected = f"{where} appears twice in the header, as columns 2 and 4; rename or drop one"
    elif fmt == "tsv":
        write(folder, {"train.txt": "sentence\tLabel\tsentence\na\t1\tb\nc\t0\td\n",
                       "dev.txt": "sentence\tLabel\ne\t1\n"})
        options = []
        expected = ("train.txt, line 1: column 'sentence' appears twice in the header, as columns 1 and 3; rename "
                    "or drop one")
    elif fmt == "parquet":
        folder.mkdir()
        table = pa.Table.from_arrays([pa.array(["a", "c"]), pa.array(["x", "y"]), pa.array(["b", "d"])],
                                     names=["text", "label", "text"])
        pq.write_table(table, folder / "train.parquet")
        pq.write_table(pa.table({"text": ["e"], "label": ["x"]}), folder / "dev.parquet")
        options = []
        expected = "train.parquet: column 'text' appears twice in its schema, as columns 1 and 3; rename or drop one"
    else:               # json.loads would keep the last without a word
        write(folder, {"train.jsonl": '{"text": "a", "label": "x"}\n{"text": "c", "label": "y", "text": "d"}\n',
                       "dev.jsonl": '{"text": "e", "label": "x"}\n'})
        options = []
        expected = "train.jsonl, line 2: key 'text' appears twice in the object, as keys 1 and 3; rename or drop one"
    before = snapshot(folder)
    code, out, err = run(capsys, "prepare", f"{fmt}:{folder}", *options)
    assert code == 2 and out == "" and err == f"distill: error: {folder / expected}\n"
    assert snapshot(folder) == before
