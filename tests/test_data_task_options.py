"""The task options (`--split`, `--split-seed`, `--group-column`, column options) on every command with a task.

They all fold into the one task name (`distill.app.cli.tasks.task_name`), so
every stage loads, hashes and records the same split. These tests parse
arguments and run the cheap checks only: nothing here loads TensorFlow on
purpose or trains anything.
"""

import pytest

from distill.app import cli
from distill.app.cli import tasks

BOOKS = "blurb,genre\n" + "".join(f"book {i},{'xy'[i % 2]}\n" for i in range(30))
OPTIONS = ["--split-seed", "4", "--text-column", "blurb", "--label-column", "genre"]


@pytest.fixture
def books(tmp_path):
    path = tmp_path / "books.csv"
    path.write_text(BOOKS, encoding="utf-8")
    return path


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", [
    ["teacher", "finetune", "--teacher", "tiny"],
    ["teacher", "tune", "--teacher", "tiny"],
    ["run"],
])
def test_commands_that_train_take_split_and_fold_everything_into_the_name(books, command):
    args = parse(*command, "--task", f"csv:{books}", "--split", "70/30", *OPTIONS)
    assert tasks.task_name(args) == f"csv:{books}?split=70/30&seed=4&text=blurb&label=genre"


@pytest.mark.parametrize("command", [
    ["teacher", "eval", "RUN", "--splits", "dev"],
    ["materials", "generate", "--teacher", "RUN", "--splits", "train"],
    ["bench", "--preset", "tiny", "--splits", "dev"],
])
def test_commands_that_read_named_splits_take_splits_and_every_task_option(books, command):
    args = parse(*command, "--task", f"csv:{books}?split=60/20/20", *OPTIONS)
    assert args.splits == command[-1]
    assert tasks.task_name(args) == f"csv:{books}?split=60/20/20&seed=4&text=blurb&label=genre"
    args = parse(*command, "--task", f"csv:{books}", "--split", "70/30", *OPTIONS)   # --split: percentages
    assert args.splits == command[-1]
    assert tasks.task_name(args) == f"csv:{books}?split=70/30&seed=4&text=blurb&label=genre"
    assert tasks.task_name(parse(*command), default="synthetic") == "synthetic"   # a run's own task, untouched


def test_run_config_gets_the_canonical_name(books):
    from distill.app.cli.run import pipeline_config

    config = pipeline_config(parse("run", "--task", f"csv:{books}", "--group-column", "g", *OPTIONS))
    assert config.task == f"csv:{books}?split=80/10/10&seed=4&group=g&text=blurb&label=genre"
    assert pipeline_config(parse("run")).task == "rt-polarity"


@pytest.mark.parametrize("argv, message", [
    (["teacher", "finetune", "--teacher", "tiny", "--task", "csv:DIR", "--split", "80/20"],
     "is a folder of train/dev[/test] files, split already; split= (--split) applies only to a single file"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "csv:DIR/books.csv", "--split", "90/20"],
     "--split 90/20: the split must be 2 or 3 percentages that sum to 100"),
    (["teacher", "tune", "--teacher", "tiny", "--task", "rt-polarity", "--group-column", "movie"],
     "task rt-polarity takes no options (a built-in task); group= (--group-column) applies only"),
    (["run", "--split", "80/20"], "--split: give the task too (--task NAME)"),
    (["run", "--task", "csv:DIR/books.csv?seed=1", "--split-seed", "2"],
     "seed=1 in the name, but --split-seed 2; give it once"),
    (["teacher", "finetune", "--teacher", "tiny", "--task", "jsonl:DIR/nope.jsonl"],
     "nope.jsonl: no such file or folder (task jsonl:"),
])
def test_bad_task_options_are_one_line_before_any_work(books, capsys, argv, message):
    argv = [a.replace("DIR", str(books.parent)) for a in argv]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("distill: error: ") and message in err
    assert sorted(p.name for p in books.parent.iterdir()) == ["books.csv"]   # nothing written
