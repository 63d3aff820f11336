"""distill.data.registry `load_task`: every kind of name reaches its reader; unknown names list the known ones."""

import pytest

from distill.data import KNOWN_NAMES, load_task, task_spec
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
    folder = write(tmp_path, {"train.tsv": "sentence\tlabel\na\t0\nc\t1\n", "dev.tsv": "sentence\tlabel\nb\t1\n"})
    assert load_task("glue/sst2", data_dir=folder)["dev"].labels.tolist() == [1]


@pytest.mark.parametrize("name", ["sst2", "glue/qqp", "json:x", "rt_polarity"])
def test_unknown_name_lists_known_names(name):
    with pytest.raises(DistillError, match=f"unknown task '{name}'; known: rt-polarity, glue/sst2") as info:
        load_task(name)
    assert all(known in str(info.value) for known in KNOWN_NAMES)


def test_reader_without_path():
    with pytest.raises(DistillError, match=r"parquet: needs a file or a directory: parquet:FILE or parquet:DIR"):
        load_task("parquet:")
    with pytest.raises(DistillError, match=r"tsv: needs a directory: tsv:DIR \(or --data-dir\)"):
        load_task("tsv:")


# ------------------------------------------------------------ task names (distill.data.spec)
def test_task_spec_spells_options_in_one_order_and_drops_column_defaults(tmp_path):
    path = tmp_path / "books.csv"
    path.write_text("blurb,genre\n")
    canonical = f"csv:{path}?split=80/10/10&seed=0&group=author&text=blurb&label=genre"
    assert task_spec(f"csv:{path}", label="genre", group="author", text="blurb", split="80/10/10") == canonical
    assert task_spec(f"csv:{path}?label=genre&text=blurb&group=author&seed=0") == canonical     # any order in
    assert task_spec(f"csv:{path}?split=80/10/10&seed=0", text="blurb", label="genre", group="author") == canonical
    assert task_spec(f"csv:{path}", text="text", label="label") == f"csv:{path}?split=80/10/10&seed=0"
    assert task_spec(canonical) == canonical and task_spec(f"csv:{path}", seed=3).endswith("?split=80/10/10&seed=3")
    assert task_spec(f"csv:{tmp_path}", text="q") == f"csv:{tmp_path}?text=q"               # a DIR: columns only
    assert task_spec("csv:", data_dir=path) == f"csv:{path}?split=80/10/10&seed=0"
    assert task_spec("rt-polarity") == "rt-polarity" and task_spec(f"tsv:{tmp_path}/") == f"tsv:{tmp_path}"


def test_option_values_with_reserved_characters_round_trip(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("book blurb,a&b=c\nx,1\n")
    name = task_spec(f"csv:{path}", text="book blurb", label="a&b=c")
    assert name == f"csv:{path}?split=80/10/10&seed=0&text=book%20blurb&label=a%26b%3Dc"
    assert task_spec(name) == name


@pytest.mark.parametrize("name, options, message", [
    ("rt-polarity", {"split": "80/20"}, "task rt-polarity takes no options (a built-in task); split= (--split) "
                                        "applies only to csv:, parquet: and jsonl: tasks"),
    ("glue/sst2?text=x", {}, "task glue/sst2 takes no options (a built-in task); text= (--text-column) applies"),
    ("tsv:DIR", {"label": "y"}, "takes no options (its columns are sentence and Label); label= (--label-column)"),
    ("csv:DIR", {"split": "80/10/10", "seed": 2},
     "is a folder of train/dev[/test] files, split already; split= (--split), seed= (--split-seed) apply only "
     "to a single file"),
    ("csv:DIR/nope.csv", {"split": "80/20"}, "nope.csv: no such file (task csv:"),
    ("csv:FILE", {"split": "80/10/5"}, "--split 80/10/5: the split must be 2 or 3 percentages that sum to 100, "
                                      "train/dev[/test] such as 80/10/10 or 80/20 (they sum to 95)"),
    ("csv:FILE", {"split": "0/100"}, "(each a whole number above 0)"),
    ("csv:FILE?split=90", {}, "split=90: the split must be 2 or 3 percentages"),
    ("csv:FILE?seed=-1", {}, "seed=-1: the split seed must be an integer in [0, 4294967295]"),
    ("csv:FILE?seed=1", {"seed": 2}, "seed=1 in the name, but --split-seed 2; give it once"),
    ("csv:FILE?colour=red", {}, "unknown option 'colour'; options are split=, seed=, group=, text=, text_b=, label="),
    ("csv:FILE?seed=1&seed=1", {}, "option seed= given twice"),
    ("csv:FILE?group=", {}, "group=: the group column needs a name"),
])
def test_bad_names_and_options_are_one_line(tmp_path, name, options, message):
    (tmp_path / "f.csv").write_text("text,label\n")
    name = name.replace("DIR", str(tmp_path)).replace("FILE", str(tmp_path / "f.csv"))
    with pytest.raises(DistillError) as info:
        task_spec(name, **options)
    assert message in str(info.value) and "\n" not in str(info.value)
    if not options:   # a name given directly: load_task says the same
        with pytest.raises(DistillError) as again:
            load_task(name)
        assert str(again.value) == str(info.value)


def test_a_changed_split_changes_the_task_sha256_and_an_unsplit_task_keeps_its_own(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{'xy'[i % 2]}\n" for i in range(30)))
    hashes = {load_task(task_spec(f"csv:{path}", split=s, seed=seed)).sha256 for s in ("80/10/10", "70/15/15")
              for seed in (0, 1)}
    assert len(hashes) == 4
    folder = write(tmp_path / "dir", {"train.txt": "sentence\tLabel\na\t0\nb\t1\n",
                                      "dev.txt": "sentence\tLabel\nc\t1\n"})
    task = load_task(f"tsv:{folder}")
    assert task.split_rows is None and task.split_sha256 is None


@pytest.mark.parametrize("name, files, message", [
    ("tsv:DIR", {"train.txt": "sentence\tLabel\na\t1\nb\t1\n", "dev.txt": "sentence\tLabel\nc\t1\n"},
     "train.txt: the train split has only one label (1 on all 2 rows)"),
    ("csv:DIR", {"train.csv": "text,label\na,x\nb,x\n", "dev.csv": "text,label\nc,x\n"},
     "train.csv: the train split has only one label ('x' on all 2 rows)"),
    ("glue/sst2", {"train.tsv": "sentence\tlabel\na\t0\n", "dev.tsv": "sentence\tlabel\nb\t0\n"},
     "train.tsv: the train split has only one label ('negative' on all 1 rows)"),
])
def test_every_reader_refuses_a_train_split_with_one_label(tmp_path, name, files, message):
    write(tmp_path, files)
    data_dir = tmp_path if name.startswith("glue/") else None
    with pytest.raises(DistillError) as info:
        load_task(name.replace("DIR", str(tmp_path)), data_dir=data_dir)
    assert message in str(info.value) and "a classifier needs at least 2 distinct labels" in str(info.value)
