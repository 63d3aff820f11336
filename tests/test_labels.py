"""teachers.labels: a head's outputs meet a task's labels by name, by position only when said."""

import pytest

from distill.errors import DistillError
from teachers.labels import head_order, parse_label_order

TASK = ["rotten", "fresh"]


def test_label_order_parses_names_in_output_order():
    assert parse_label_order(None) is None
    assert parse_label_order(" fresh, rotten ") == ["fresh", "rotten"]
    for bad in ("fresh", "fresh,,rotten", "a,a"):
        with pytest.raises(DistillError, match="--label-order"):
            parse_label_order(bad)


def test_outputs_are_taken_in_the_tasks_order_by_name():
    assert head_order("rt", TASK, 2, ["rotten", "fresh"], None, "f/config.json: field 'id2label'") == [0, 1]
    assert head_order("rt", TASK, 2, ["fresh", "rotten"], None, "f/config.json: field 'id2label'") == [1, 0]
    # stated explicitly, the order wins over the folder's names
    assert head_order("rt", TASK, 2, ["rotten", "fresh"], ["fresh", "rotten"], "w") == [1, 0]
    assert head_order("rt", TASK, 2, None, ["rotten", "fresh"], "w") == [0, 1]


def test_a_mismatch_is_one_line_listing_both():
    with pytest.raises(DistillError) as error:
        head_order("rt", TASK, 2, ["LABEL_0", "LABEL_1"], None, "f/config.json: field 'id2label'")
    assert str(error.value) == ("f/config.json: field 'id2label' names the head's outputs ['LABEL_0', 'LABEL_1'] "
                                "but task rt has labels ['rotten', 'fresh']; if output i is the task's label i, pass "
                                "--label-order rotten,fresh")
    with pytest.raises(DistillError) as error:
        head_order("rt", TASK, 3, ["a", "b", "c"], None, "f/config.json: field 'id2label'")
    assert str(error.value) == ("f/config.json: field 'id2label' names the head's outputs ['a', 'b', 'c'] but task "
                                "rt has labels ['rotten', 'fresh']")
    with pytest.raises(DistillError) as error:
        head_order("rt", TASK, 2, None, ["good", "bad"], "f")
    assert str(error.value) == "--label-order names the head's outputs ['good', 'bad'] but task rt has labels " \
                               "['rotten', 'fresh']"
    with pytest.raises(DistillError, match=r"^--label-order names 3 labels \(a, b, c\) but the classifier head in f "
                                           r"has 2 outputs$"):
        head_order("rt", TASK, 2, None, ["a", "b", "c"], "f")


def test_no_names_at_all_asks_for_them():
    with pytest.raises(DistillError) as error:
        head_order("rt", TASK, 2, None, None, "/ckpt")
    assert str(error.value) == ("/ckpt: the classifier head's 2 outputs have no label names; say which output is "
                                "which with --label-order (task rt has rotten, fresh; e.g. --label-order rotten,fresh "
                                "if output i is its label i)")
