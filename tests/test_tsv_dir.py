"""`tsv:DIR`: train/dev/test.txt in `sentence<TAB>Label` format, and its bad-input errors."""

import pytest

from distill.data.tsv_dir import load_tsv_dir
from distill.errors import DistillError

GOOD = {
    "train.txt": "sentence\tLabel\na gripping , funny film\t1\na \"dull\" mess\t0\nmiddling\t2\n",
    "dev.txt": "sentence\tLabel\nlovely\t1\nawful\t0\n",
    "test.txt": "sentence\tLabel\nfine\t2\n",
}


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_reads_all_splits_with_integer_labels(tmp_path):
    task = load_tsv_dir(write(tmp_path, GOOD))
    assert sorted(task.splits) == ["dev", "test", "train"]
    assert task.label_names == ["0", "1", "2"] and not task.is_pair
    assert task["train"].texts == ["a gripping , funny film", 'a "dull" mess', "middling"]
    assert task["train"].labels.tolist() == [1, 0, 2]
    assert task["test"].labels.tolist() == [2]
    assert task.name == f"tsv:{tmp_path}"


def test_columns_in_either_order_and_test_optional(tmp_path):
    files = {"train.txt": "label\tsentence\n0\tx\n1\ty\n", "dev.txt": "Label\tSentence\n1\tz\n"}
    task = load_tsv_dir(write(tmp_path, files))
    assert sorted(task.splits) == ["dev", "train"]
    assert task["train"].texts == ["x", "y"] and task["dev"].labels.tolist() == [1]


@pytest.mark.parametrize("files, message", [
    ({"train.txt": "text\tLabel\na\t1\n"}, r"train\.txt, line 1: no column 'sentence' in the header"),
    ({"train.txt": "sentence\tLabel\na\t1\nb\t0\textra\n"}, r"train\.txt, line 3: 3 field\(s\), expected 2"),
    ({"train.txt": "sentence\tLabel\na\tpositive\n"}, r"train\.txt, line 2: Label 'positive' is not an integer"),
    ({"train.txt": "sentence\tLabel\na\t-1\n"}, r"train\.txt, line 2: label -1 is negative"),
    ({"dev.txt": "sentence\tLabel\nx\t1\ny\t7\n"}, r"dev\.txt, line 3: label 7 never occurs in train"),
    ({"dev.txt": "sentence\tLabel\n"}, r"dev\.txt: no data rows after the header \(empty split\)"),
    ({"test.txt": ""}, r"test\.txt: empty file"),
    ({"train.txt": "sentence\tLabel\na\t1\n\t0\n"}, r"train\.txt, line 3: column 'sentence' is empty"),
    ({"dev.txt": "sentence\tLabel\nok\t1\n   \t0\n"}, r"dev\.txt, line 3: column 'sentence' is empty"),
    ({"test.txt": "Label\tSentence\n1\t\t\n"}, r"test\.txt, line 2: 3 field"),
    ({"test.txt": "Label\tSentence\n1\t \n"}, r"test\.txt, line 2: column 'Sentence' is empty"),
    ({"train.txt": "sentence\tLabel\na\t1\nb\t\n"}, r"train\.txt, line 3: column 'Label' is empty"),
    ({"train.txt": "sentence\tLabel\na\t1\nb\tnan\n"}, r"train\.txt, line 3: column 'Label' holds 'nan', a missing"),
    ({"train.txt": "sentence\tLabel\na\t1\nb\t1\n"},
     r"train\.txt: the train split has only one label \(1 on all 2 rows\); a classifier needs at least 2"),
])
def test_bad_input_names_file_and_line(tmp_path, files, message):
    with pytest.raises(DistillError, match=message):
        load_tsv_dir(write(tmp_path, dict(GOOD, **files)))


def test_non_utf8_and_missing_files(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "dev.txt").write_bytes(b"sentence\tLabel\nok\t1\n\xff\xfe\t0\n")
    with pytest.raises(DistillError, match=r"dev\.txt, line 3: not UTF-8"):
        load_tsv_dir(tmp_path)
    (tmp_path / "dev.txt").unlink()
    with pytest.raises(DistillError, match=r"dev\.txt: no such file"):
        load_tsv_dir(tmp_path)
    with pytest.raises(DistillError, match=r"no such directory"):
        load_tsv_dir(tmp_path / "nope")


def test_lines_longer_than_the_csv_module_default_are_read(tmp_path):
    long = "a long review " * 12_000   # 168,000 characters; csv's default field limit is 131,072
    files = dict(GOOD, **{"train.txt": GOOD["train.txt"] + long + "\t1\n"})
    task = load_tsv_dir(write(tmp_path, files))
    assert task["train"].texts[-1] == long and task["train"].labels.tolist()[-1] == 1
