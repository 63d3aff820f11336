"""`describe_task` / `show_task`: sizes, label balance, unlabeled rows, groups, clipped rows."""

from distill.data import Dataset, Task, describe_task, show_task
from distill.data.synthetic import marker_task

NAMES = ["rotten", "fresh"]


def grouped_task(dev_groups=("m3",)):
    train = Dataset(["a", "b", "c", "d"], [0, 1, 1, 1], NAMES, "train", "toy", groups=["m1", "m1", "m2", "m2"])
    dev = Dataset(["e", "f"], [0, 1], NAMES, "dev", "toy", groups=list(dev_groups) * (2 // len(dev_groups)))
    test = Dataset(["g\n  h " + "x" * 200], [-1], NAMES, "test", "toy", groups=["m4"])
    return Task("toy", {"train": train, "dev": dev, "test": test}, NAMES)


def test_describe_shows_sizes_balance_unlabeled_and_groups():
    task = grouped_task()
    lines = describe_task(task).splitlines()
    assert lines[0] == "task toy: 7 rows, single sentences, 2 labels (rotten, fresh), primary metric accuracy"
    assert lines[1] == f"source toy; sha256 {task.sha256[:12]}"
    assert lines[2].split() == ["split", "rows", "rotten", "fresh", "unlabeled", "groups"]
    assert lines[3].split() == ["train", "4", "1", "(25.0%)", "3", "(75.0%)", "0", "2"]
    assert lines[4].split() == ["dev", "2", "1", "(50.0%)", "1", "(50.0%)", "0", "1"]
    assert lines[5].split() == ["test", "1", "0", "(0.0%)", "0", "(0.0%)", "1", "1"]
    assert lines[6] == "groups in more than one split: 0"
    assert describe_task(grouped_task(dev_groups=("m1", "m2"))).splitlines()[-1] == "groups in more than one split: 2"


def test_describe_pair_task_without_groups():
    text = describe_task(marker_task(n_train=10, n_dev=4, n_test=4, pair=True))
    assert "sentence pairs" in text and "groups" not in text and "unlabeled" not in text
    assert text.splitlines()[2].split() == ["split", "rows", "negative", "positive"]


def test_show_task_clips_and_marks_unknown_labels():
    lines = show_task(grouped_task(), rows=1).splitlines()
    assert lines[:3] == ["task toy (single sentences)", "train (4 rows):", "  [rotten] a"]
    assert lines[5:7] == ["test (1 rows):", "  [?] g h " + "x" * 103 + "..."]  # clipped to 110 characters
    pair = show_task(marker_task(n_train=3, n_dev=1, n_test=1, pair=True), rows=5)
    assert sum(" ||| " in line for line in pair.splitlines()) == 5
