"""distill.data.registry `load_task`: every kind of name reaches its reader; unknown names list the known ones."""

import pytest

from distill.data import KNOWN_NAMES, load_task
from distill.errors import DistillError


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_synthetic_tasks():
    assert not load_task("synthetic").is_pair
    pair = load_task("synthetic-pair")
    assert pair.is_pair and len(pair["train"]) == 400


def test_tsv_dir_by_name_or_data_dir(tmp_path):
    folder = write(tmp_path, {"train.txt": "sentence\tLabel\na\t0\nb\t1\n", "dev.txt": "sentence\tLabel\nc\t1\n"})
    by_name = load_task(f"tsv:{folder}")
    by_dir = load_task("tsv:", data_dir=folder)
    assert by_name.sha256 == by_dir.sha256 and by_name["train"].texts == ["a", "b"]


def test_csv_columns_are_passed_through(tmp_path):
    folder = write(tmp_path, {"train.csv": "q,p,y\na,b,yes\nc,d,no\n", "dev.csv": "q,p,y\ne,f,no\n"})
    task = load_task(f"csv:{folder}", text_column="q", text_b_column="p", label_column="y")
    assert task.is_pair and task.label_names == ["no", "yes"] and task["train"].texts_b == ["b", "d"]


def test_glue_with_data_dir(tmp_path):
    folder = write(tmp_path, {"train.tsv": "sentence\tlabel\na\t0\n", "dev.tsv": "sentence\tlabel\nb\t1\n"})
    assert load_task("glue/sst2", data_dir=folder)["dev"].labels.tolist() == [1]


@pytest.mark.parametrize("name", ["sst2", "glue/qqp", "json:x", "rt_polarity"])
def test_unknown_name_lists_known_names(name):
    with pytest.raises(DistillError, match=f"unknown task '{name}'; known: rt-polarity, glue/sst2") as info:
        load_task(name)
    assert all(known in str(info.value) for known in KNOWN_NAMES)


def test_reader_without_path():
    with pytest.raises(DistillError, match=r"parquet: needs a directory"):
        load_task("parquet:")
