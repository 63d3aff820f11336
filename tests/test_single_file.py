"""`csv:FILE`, `parquet:FILE`, `jsonl:FILE`: one file split here, seeded, stratified, optionally grouped."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distill.data import load_task, task_spec
from distill.errors import DistillError

GENRES = ("fantasy", "mystery", "romance")


def books(n=120, genres=GENRES, authors=None, seed=0):
    """Rows of a book table: blurb, genre (string labels, unbalanced), author (`authors` distinct)."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, len(genres) + 1) / sum(range(1, len(genres) + 1))
    rows = []
    for i in range(n):
        genre = str(rng.choice(genres, p=weights))
        author = f"author {int(rng.integers(authors or n))}"
        rows.append({"id": i, "blurb": f"book {i}: a {genre} tale", "genre": genre, "author": author})
    return rows


def write_csv(path, rows, columns=("id", "blurb", "genre", "author")):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def name(path, **options):
    return task_spec(f"csv:{path}", text="blurb", label="genre", **options)


# ------------------------------------------------------------------ the split
def test_a_csv_with_string_labels_splits_the_same_way_twice_and_differently_with_another_seed(tmp_path):
    path = write_csv(tmp_path / "books.csv", books())
    first, again = load_task(name(path, split="80/10/10")), load_task(name(path, split="80/10/10"))
    assert first.label_names == list(GENRES) and list(first.splits) == ["train", "dev", "test"]
    assert [len(first[s]) for s in first.splits] == [96, 12, 12]
    for split in first.splits:
        assert first[split].texts == again[split].texts and (first[split].labels == again[split].labels).all()
        assert (first.split_rows[split] == again.split_rows[split]).all()
    assert first.sha256 == again.sha256 and first.split_sha256 == again.split_sha256
    other = load_task(name(path, split="80/10/10", seed=1))
    assert other.name.endswith("split=80/10/10&seed=1&text=blurb&label=genre")
    assert other["test"].texts != first["test"].texts
    assert other.split_sha256 != first.split_sha256 and other.sha256 != first.sha256


def test_row_ids_are_the_source_rows_in_file_order_and_cover_the_file_once(tmp_path):
    rows = books(50)
    task = load_task(name(write_csv(tmp_path / "b.csv", rows), split="60/20/20"))
    taken = np.concatenate(list(task.split_rows.values()))
    assert sorted(taken.tolist()) == list(range(50))
    for split, ids in task.split_rows.items():
        assert (np.diff(ids) > 0).all()                                  # file order kept inside a split
        assert task[split].texts == [rows[i]["blurb"] for i in ids]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shares", ["80/10/10", "70/15/15", "80/20"])
def test_stratification_keeps_each_labels_share_within_one_row_per_split(tmp_path, seed, shares):
    path = write_csv(tmp_path / "b.csv", books(157, genres=("bad", "good"), seed=seed))
    task = load_task(name(path, split=shares, seed=seed))
    everything = np.concatenate([d.labels for d in task.splits.values()])
    for data in task.splits.values():
        for label in range(2):
            expected = len(data) * np.mean(everything == label)
            assert abs(np.sum(data.labels == label) - expected) <= 1, (data.split, label)


def test_with_more_labels_each_share_is_within_two_rows(tmp_path):
    task = load_task(name(write_csv(tmp_path / "b.csv", books(211, genres=tuple("abcde"))), split="80/10/10"))
    everything = np.concatenate([d.labels for d in task.splits.values()])
    for data in task.splits.values():
        for label in range(5):
            assert abs(np.sum(data.labels == label) - len(data) * np.mean(everything == label)) < 2


def test_grouped_splits_never_share_a_group(tmp_path):
    rows = books(300, authors=40)
    task = load_task(name(write_csv(tmp_path / "b.csv", rows), split="80/10/10", group="author"))
    groups = {split: set(data.groups) for split, data in task.splits.items()}
    assert not groups["train"] & groups["dev"] and not groups["train"] & groups["test"]
    assert not groups["dev"] & groups["test"]
    assert set().union(*groups.values()) == {row["author"] for row in rows}
    assert task.name.endswith("?split=80/10/10&seed=0&group=author&text=blurb&label=genre")
    assert task.split_sha256 != load_task(name(tmp_path / "b.csv", split="80/10/10")).split_sha256


def test_80_20_is_train_and_dev_only(tmp_path):
    task = load_task(name(write_csv(tmp_path / "b.csv", books(40)), split="80/20"))
    assert {s: len(d) for s, d in task.splits.items()} == {"train": 32, "dev": 8}


def test_a_file_without_split_gets_80_10_10_seed_0_spelled_out_in_its_name(tmp_path):
    path = write_csv(tmp_path / "b.csv", books(60))
    task = load_task(f"csv:{path}", text_column="blurb", label_column="genre")
    assert task.name == f"csv:{path}?split=80/10/10&seed=0&text=blurb&label=genre"
    assert task.sha256 == load_task(task.name).sha256


def test_parquet_and_jsonl_files_split_like_the_csv(tmp_path):
    rows = books(80)
    from_csv = load_task(name(write_csv(tmp_path / "b.csv", rows), split="80/10/10"))
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in ("blurb", "genre", "author")}), tmp_path / "b.parquet")
    for path in (tmp_path / "b.parquet", write_jsonl(tmp_path / "b.jsonl", rows)):
        task = load_task(task_spec(f"{path.suffix[1:]}:{path}", split="80/10/10", text="blurb", label="genre"))
        assert [d.sha256 for d in task.splits.values()] == [d.sha256 for d in from_csv.splits.values()]
        assert task.split_sha256 == from_csv.split_sha256


def test_jsonl_dir_reads_like_csv_dir(tmp_path):
    for split, rows in (("train", [("good", 1), ("bad", 0)]), ("dev", [("fine", 1)]), ("test", [("poor", 0)])):
        write_jsonl(tmp_path / f"{split}.jsonl", [{"text": t, "label": y, "extra": [1]} for t, y in rows])
    task = load_task(f"jsonl:{tmp_path}")
    assert task.name == f"jsonl:{tmp_path}" and task.split_rows is None and task.label_names == ["0", "1"]
    assert task["train"].texts == ["good", "bad"] and task["test"].labels.tolist() == [0]


def test_jsonl_labels_may_be_numbers_and_blank_lines_are_skipped(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 1.0}\n\n{"text": "b", "label": 0}\n' * 15)
    task = load_task(f"jsonl:{tmp_path / 'd.jsonl'}")
    assert task.label_names == ["0", "1"] and sum(len(d) for d in task.splits.values()) == 30


# ------------------------------------------------------------------ bad input
def bad(tmp_path, text, options=None, suffix="csv"):
    path = tmp_path / f"d.{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DistillError) as info:
        load_task(task_spec(f"{suffix}:{path}", **(options or {})))
    assert "\n" not in str(info.value)
    return str(info.value).replace(str(path), "FILE")


def test_jsonl_with_a_missing_key_is_named_by_line(tmp_path):
    text = '{"text": "a", "label": "x"}\n\n{"text": "b", "label": "y"}\n{"body": "c", "label": "x"}\n'
    assert bad(tmp_path, text, suffix="jsonl") == "FILE, line 4: no key 'text' (keys: body, label)"


@pytest.mark.parametrize("text, message", [
    ('{"text": "a", "label": null}\n', "FILE, line 1: column 'label' is empty (every row needs a label)"),
    ('{"text": "a", "label": NaN}\n', "FILE, line 1: column 'label' holds 'nan', a missing value"),
    ('{"text": "  ", "label": "x"}\n', "FILE, line 1: column 'text' is empty (every row needs a text)"),
    ('{"text": 3, "label": "x"}\n', "FILE, line 1: key 'text' holds a number, not text"),
    ('{"text": "a", "label": ["x"]}\n', "FILE, line 1: key 'label' holds a list, not a label"),
    ('{"text": "a", "label": "x"}\n{"text": "b" "label": "y"}\n',
     "FILE, line 2: not valid JSON (Expecting ',' delimiter at column 14)"),
    ('["a", "x"]\n', "FILE, line 1: a list, not a JSON object"),
    ("\n\n", "FILE: empty file"),
])
def test_bad_jsonl_is_one_line_naming_file_and_line(tmp_path, text, message):
    assert bad(tmp_path, text, suffix="jsonl").startswith(message)


CSV = "blurb,genre,author\n" + "".join(f"book {i},{'ab'[i % 2]},p{i % 10}\n" for i in range(40))


@pytest.mark.parametrize("text, options, message", [
    (CSV, {"text": "title"}, "FILE, line 1: no column 'title' in the header (columns: blurb, genre, author)"),
    (CSV + ",a,p1\n", {"text": "blurb", "label": "genre"}, "FILE, line 42: column 'blurb' is empty"),
    (CSV + "late,nan,p1\n", {"text": "blurb", "label": "genre"},
     "FILE, line 42: column 'genre' holds 'nan', a missing value (every row needs a label)"),
    (CSV + "c1,c,p1\nc2,c,p2\n", {"text": "blurb", "label": "genre"},
     "FILE: label 'c' has only 2 row(s); a stratified 80/10/10 split needs at least 3 of every label (one per split)"),
    (CSV.replace(",a,", ",b,"), {"text": "blurb", "label": "genre"},
     "FILE: only one label ('b' on all 40 rows); a classifier needs at least 2 distinct labels"),
    (CSV, {"text": "blurb", "label": "genre", "group": "author", "split": "80/10/10"},
     None),   # 10 authors, 10 folds: fine
    (CSV + "c1,c,pc\nc2,c,pc\nc3,c,pc\n", {"text": "blurb", "label": "genre", "group": "author"},
     None),   # a label all in one group: its group goes to train (the first folds), not test
    ("".join(CSV.splitlines(True)[:1]) + "".join(f"b{i},{'ab'[i % 2]},same\n" for i in range(30)),
     {"text": "blurb", "label": "genre", "group": "author"},
     "FILE: column 'author' holds one group ('same') on all 30 rows; a grouped 80/10/10 split needs at least 10 "
     "groups"),
    (CSV, {"text": "blurb", "label": "genre", "group": "author", "split": "85/10/5"},
     "FILE: column 'author' has 10 groups, too few for a grouped 85/10/5 split (20 folds of 5%: at least 20 groups)"),
    (CSV + "x,a,\n", {"text": "blurb", "label": "genre", "group": "author"},
     "FILE, line 42: column 'author' is empty (every row needs a group)"),
    ("blurb,genre\n" + "".join(f"b{i},{'abcd'[i % 4]}\n" for i in range(20)), {"text": "blurb", "label": "genre"},
     "FILE: 20 rows are too few for a stratified 80/10/10 split: the dev split would have 2 row(s), fewer than the "
     "4 labels"),
])
def test_bad_csv_is_one_line_naming_what_and_where(tmp_path, text, options, message):
    if message is None:   # the good neighbours of the bad cases load
        path = tmp_path / "d.csv"
        path.write_text(text, encoding="utf-8")
        assert len(load_task(task_spec(f"csv:{path}", **options))["train"]) > 0
        return
    assert bad(tmp_path, text, options).startswith(message)
