"""`distill.api`: every command goes through it, every public name explains itself, and the
functions the command line's smaller commands call work from Python on tiny inputs."""

import ast
import inspect
from pathlib import Path

import pytest

from distill import api
from distill.errors import DistillError

CLI = Path(api.__file__).resolve().parent / "app" / "cli"


def _handlers(tree: ast.Module) -> set[str]:
    """Names given as `handler=` to `set_defaults` in a CLI module (both arms of a conditional)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "handler":
            value = node.value
            for arm in (value.body, value.orelse) if isinstance(value, ast.IfExp) else (value,):
                names.add(arm.id)
    return names


def test_every_command_handler_calls_the_api():
    """One path, not two: a command's handler runs its work through `distill.api`."""
    checked = []
    for module in sorted(CLI.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        for name in _handlers(tree):
            body = ast.unparse(functions[name])
            uses_api = "api." in body or "load_predictor(" in body   # predict's load_predictor is api's
            assert uses_api, f"{module.name}: handler {name}() does not go through distill.api"
            checked.append(f"{module.stem}.{name}")
    assert len(checked) >= 18, checked   # every command of `distill --help`


def test_predict_loads_through_the_api():
    from distill.app.cli import predict

    assert predict.load_predictor is api.load_predictor


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_says_what_it_does(name):
    doc = inspect.getdoc(getattr(api, name))
    assert doc and len(doc.split()) >= 5, f"api.{name} needs a docstring for help()"


def test_describe_and_show_a_task():
    task = api.load_task("synthetic")
    described = api.describe_task(task)
    assert "train" in described and "dev" in described
    shown = api.show_task("synthetic", rows=2)
    assert task.splits["train"].texts[0] in shown


def test_train_a_tokenizer_from_python(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the film number {i} was quite good and funny" for i in range(50)), encoding="utf-8")
    info = api.train_tokenizer([str(corpus)], tmp_path / "tok", vocab_size=200, min_frequency=1, echo=None)
    assert Path(info["out"]) == tmp_path / "tok" and (tmp_path / "tok" / "vocab.txt").is_file()
    vocab = (tmp_path / "tok" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert info["tokens"] == len([t for t in vocab if t]) and "film" in vocab
    assert info["coverage"]["words"] == 50 * 9


def test_describe_materials_accepts_a_run_folder(tmp_path):
    from materials.testing import write_toy_materials

    write_toy_materials(tmp_path / "mat" / "materials.h5", n_per_split=8)
    text = api.describe_materials(tmp_path / "mat")
    assert "materials.h5" in text and "8 rows" in text and "50 x 16" in text   # the embedding table


def test_explain_texts_takes_one_or_two_runs():
    with pytest.raises(DistillError, match="one run, or two"):
        api.explain_texts(["a", "b", "c"], ["text"])


def test_evaluate_a_teacher_reports_its_speed(tmp_path):
    from teachers.testing import marker_pair_task, train_tiny_run

    task = marker_pair_task(n_train=32, n_dev=16, n_test=16)
    run_dir = tmp_path / "teacher"
    train_tiny_run(run_dir, task=task)
    run = api.open_teacher(run_dir, task)
    results = api.evaluate(run, task, ["dev"], batch_size=8)
    assert set(results) == {"dev"} and results["dev"]["it_per_s"] > 0 and "loss" in results["dev"]
    with pytest.raises(DistillError, match="no split 'nope'"):
        api.evaluate(run, task, ["nope"])
