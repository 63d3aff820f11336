"""`csv:DIR` / `parquet:DIR`: named columns, string labels mapped deterministically, bad input."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distill.data.table import label_maps, load_table_dir
from distill.errors import DistillError

ROWS = {
    "train": [("great, really great", "pos"), ('a "so-so" film', "neutral"), ("bad\nand long", "neg"), ("fine", "pos")],
    "dev": [("nice", "pos"), ("meh", "neutral")],
    "test": [("awful", "neg")],
}


def write_csv(folder, rows=ROWS, text="review", label="sentiment"):
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", text, label])
            writer.writerows((i, t, y) for i, (t, y) in enumerate(items))
    return folder


def write_parquet(folder, rows=ROWS, pair=False):
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        columns = {"text": [t for t, _ in items], "label": [y for _, y in items]}
        if pair:
            columns["text_b"] = [t.upper() for t, _ in items]
        pq.write_table(pa.table(columns), folder / f"{split}.parquet")
    return folder


def test_label_maps_are_sorted_and_numeric_when_integers():
    assert label_maps(["pos", "neg", "pos", "neutral"]) == ({"neg": 0, "neutral": 1, "pos": 2}, ["neg", "neutral", "pos"])
    assert label_maps(["10", "2", "1"])[1] == ["1", "2", "10"]


def test_csv_with_string_labels(tmp_path):
    task = load_table_dir("csv", write_csv(tmp_path), text_column="review", label_column="sentiment")
    assert task.label_names == ["neg", "neutral", "pos"] and not task.is_pair
    train = task["train"]
    assert train.texts == ["great, really great", 'a "so-so" film', "bad\nand long", "fine"]
    assert train.labels.tolist() == [2, 1, 0, 2]
    assert task["dev"].labels.tolist() == [2, 1] and task["test"].labels.tolist() == [0]
    assert task.name == f"csv:{tmp_path}"


def test_parquet_pairs_and_same_content_same_sha(tmp_path):
    task = load_table_dir("parquet", write_parquet(tmp_path / "p", pair=True), text_b_column="text_b")
    assert task.is_pair and task["train"].texts_b[0] == "GREAT, REALLY GREAT"
    assert task.label_names == ["neg", "neutral", "pos"] and task["train"].labels.tolist() == [2, 1, 0, 2]
    single = load_table_dir("parquet", write_parquet(tmp_path / "q"))
    from_csv = load_table_dir("csv", write_csv(tmp_path / "c", text="text", label="label"))
    assert [d.sha256 for d in single.splits.values()] == [d.sha256 for d in from_csv.splits.values()]


def test_parquet_integer_labels_become_names(tmp_path):
    rows = {"train": [("a", 10), ("b", 2)], "dev": [("c", 2)]}
    task = load_table_dir("parquet", write_parquet(tmp_path, rows))
    assert task.label_names == ["2", "10"] and task["train"].labels.tolist() == [1, 0]
    assert sorted(task.splits) == ["dev", "train"]


def test_unseen_label_names_file_row_and_label(tmp_path):
    rows = dict(ROWS, dev=[("nice", "pos"), ("wat", "mixed")])
    message = r"dev\.csv, line 3: label 'mixed' does not occur in train \(train labels: neg, neutral, pos\)"
    with pytest.raises(DistillError, match=message):
        load_table_dir("csv", write_csv(tmp_path / "c", rows), text_column="review", label_column="sentiment")
    with pytest.raises(DistillError, match=r"dev\.parquet, row 2: label 'mixed' does not occur in train"):
        load_table_dir("parquet", write_parquet(tmp_path / "p", rows))


@pytest.mark.parametrize("content, message", [
    ("id,review\n1,x\n", r"train\.csv, line 1: no column 'sentiment' in the header \(columns: id, review\)"),
    ("id,review,sentiment\n1,x,pos\n2,y\n", r"train\.csv, line 3: 2 field\(s\), expected 3"),
    ("id,review,sentiment\n1,x,pos\n2,,neg\n", r"train\.csv, line 3: column 'review' is empty"),
    ("id,review,sentiment\n1,x,pos\n2,\"  \t \",neg\n", r"train\.csv, line 3: column 'review' is empty"),
    ("id,review,sentiment\n1,x,pos\n2,y,\n",
     r"train\.csv, line 3: column 'sentiment' is empty \(every row needs a label\)"),
    ("id,review,sentiment\n1,x,pos\n2,y,NaN\n",
     r"train\.csv, line 3: column 'sentiment' holds 'NaN', a missing value \(every row needs a label\)"),
    ("id,review,sentiment\n1,x,pos\n2,y,None\n", r"train\.csv, line 3: column 'sentiment' holds 'None', a missing"),
    ("id,review,sentiment\n1,x,pos\n2,y,pos\n",
     r"train\.csv: the train split has only one label \('pos' on all 2 rows\); a classifier needs at least 2"),
    ("id,review,sentiment\n1,x,pos\n2,\"broken\"quote,neg\n", r"train\.csv, line 3: malformed record"),
    ("id,review,sentiment\n", r"train\.csv: no data rows after the header \(empty split\)"),
    ("", r"train\.csv: empty file"),
])
def test_bad_csv(tmp_path, content, message):
    write_csv(tmp_path)
    (tmp_path / "train.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DistillError, match=message):
        load_table_dir("csv", tmp_path, text_column="review", label_column="sentiment")


def test_bad_csv_bytes(tmp_path):
    write_csv(tmp_path)
    (tmp_path / "dev.csv").write_bytes(b"id,review,sentiment\n0,caf\xe9,pos\n")
    with pytest.raises(DistillError, match=r"dev\.csv, line 2: not UTF-8"):
        load_table_dir("csv", tmp_path, text_column="review", label_column="sentiment")


def test_bad_parquet(tmp_path):
    write_parquet(tmp_path)
    with pytest.raises(DistillError, match=r"train\.parquet: no column 'review' \(columns: text, label\)"):
        load_table_dir("parquet", tmp_path, text_column="review")
    pq.write_table(pa.table({"text": ["a", None], "label": ["pos", "neg"]}), tmp_path / "train.parquet")
    with pytest.raises(DistillError, match=r"train\.parquet, row 2: column 'text' is empty"):
        load_table_dir("parquet", tmp_path)
    pq.write_table(pa.table({"text": [1, 2], "label": ["pos", "neg"]}), tmp_path / "train.parquet")
    with pytest.raises(DistillError, match=r"train\.parquet: column 'text' holds int64, not text"):
        load_table_dir("parquet", tmp_path)
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}),
                   tmp_path / "train.parquet")
    with pytest.raises(DistillError, match=r"train\.parquet: no rows \(empty split\)"):
        load_table_dir("parquet", tmp_path)
    (tmp_path / "train.parquet").write_bytes(b"text,label\na,pos\n")
    with pytest.raises(DistillError, match=r"train\.parquet: not a readable parquet file"):
        load_table_dir("parquet", tmp_path)


def test_a_file_instead_of_a_directory_is_explained(tmp_path):
    path = write_csv(tmp_path) / "train.csv"
    with pytest.raises(DistillError, match=r"not a directory; csv:DIR needs a folder with train\.csv, dev\.csv"):
        load_table_dir("csv", path)


@pytest.mark.parametrize("labels, message", [
    (pa.array([0.0, 1.0, float("nan")]), r"train\.parquet, row 3: column 'label' holds 'nan', a missing value"),
    (pa.array([1, None, 0]), r"train\.parquet, row 2: column 'label' is empty \(every row needs a label\)"),
    (pa.array(["pos", " ", "neg"]), r"train\.parquet, row 2: column 'label' is empty"),
    (pa.array(["pos", "pos", "pos"]), r"train\.parquet: the train split has only one label \('pos' on all 3 rows\)"),
    (pa.array([1.0, 1.0, 1.0]), r"train\.parquet: the train split has only one label \('1' on all 3 rows\)"),
])
def test_parquet_missing_labels_and_one_label_are_refused(tmp_path, labels, message):
    write_parquet(tmp_path)
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": labels}), tmp_path / "train.parquet")
    with pytest.raises(DistillError, match=message):
        load_table_dir("parquet", tmp_path)


def test_parquet_blank_text_and_blank_second_text_are_refused(tmp_path):
    write_parquet(tmp_path, pair=True)
    pq.write_table(pa.table({"text": ["a", "  "], "label": ["pos", "neg"], "text_b": ["x", "y"]}),
                   tmp_path / "dev.parquet")
    with pytest.raises(DistillError, match=r"dev\.parquet, row 2: column 'text' is empty"):
        load_table_dir("parquet", tmp_path, text_b_column="text_b")
    pq.write_table(pa.table({"text": ["a", "b"], "label": ["pos", "neg"], "text_b": ["x", ""]}),
                   tmp_path / "dev.parquet")
    with pytest.raises(DistillError, match=r"dev\.parquet, row 2: column 'text_b' is empty"):
        load_table_dir("parquet", tmp_path, text_b_column="text_b")


def test_parquet_whole_float_labels_are_named_as_integers(tmp_path):
    rows = {"train": [("a", 0.0), ("b", 1.0), ("c", 10.0)], "dev": [("d", 1.0)]}
    task = load_table_dir("parquet", write_parquet(tmp_path, rows))
    assert task.label_names == ["0", "1", "10"] and task["train"].labels.tolist() == [0, 1, 2]
    rows = {"train": [("a", 0.5), ("b", 1.0)], "dev": [("d", 1.0)]}   # value by value: every file agrees
    assert load_table_dir("parquet", write_parquet(tmp_path / "halves", rows)).label_names == ["0.5", "1"]


def test_csv_fields_longer_than_the_csv_module_default_are_read(tmp_path):
    long = "word " * 40_000   # 200,000 characters, over csv's default field limit of 131,072
    rows = dict(ROWS, train=ROWS["train"] + [(long, "pos")])
    task = load_table_dir("csv", write_csv(tmp_path, rows), text_column="review", label_column="sentiment")
    assert task["train"].texts[-1] == long
