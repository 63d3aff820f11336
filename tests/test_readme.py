"""The README's "From Python" example, run end to end on a tiny task, so it cannot rot.

The example is taken from README.md as it is; only what makes it big is swapped
for tiny settings (the task, the teacher, epochs), each swap asserted to find
its text, so a README change that the test does not follow fails here.
"""

import csv
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

TINY = {   # README text -> tiny stand-in
    'api.load_task("rt-polarity")': 'api.load_task("csv:" + TINY_CSV, split="60/20/20")',
    '"minilm-l6", epochs=3': '"tiny", epochs=1, max_seq_len=24, batch_size=16, lr=1e-3',
    "augment=10": "augment=2",
    '"kim-cnn", loss="mse", epochs=2': '"kim-cnn", loss="mse", epochs=2, filters=8',
}


def python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def tiny_csv(path: Path) -> Path:
    """Texts whose label is given by a marker word, as `distill.data.synthetic` makes them."""
    from distill.data.synthetic import marker_task

    task = marker_task(n_train=90, n_dev=30, n_test=30)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for split in task.splits.values():
            for text, label in zip(split.texts, split.labels):
                writer.writerow([text, task.label_names[label]])
    return path


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    code = python_example()
    for big, small in TINY.items():
        assert big in code, f"the README example no longer contains {big!r}; update TINY"
        code = code.replace(big, small)
    monkeypatch.chdir(tmp_path)
    namespace = {"TINY_CSV": str(tiny_csv(tmp_path / "tiny.csv")), "__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    cnn, mine = namespace["cnn"], namespace["mine"]
    import keras

    assert isinstance(cnn.model, keras.Model) and isinstance(mine.model, keras.Model)
    assert cnn.config.arch == "kim-cnn" and mine.config.arch.startswith("python:averaged_words")
    assert "kim-cnn" in out and "(4, " in out   # the arch line and the tf.data batch shape
    assert (tmp_path / "runs" / "student" / cnn.run_dir.name / "run.json").is_file()
    exports = list((tmp_path / "runs" / "export").iterdir())
    assert [e.name for e in exports] == [f"{cnn.run_dir.name}-tflite"] and (exports[0] / "model.tflite").is_file()
    # the user's own student is a run like any other: it loads and predicts from raw text
    from distill import api

    labels, probs = api.predict(mine.run_dir, ["w1 w2 w3"])
    assert len(labels) == 1 and probs.shape == (1, 2)


# ------------------------------------------------------- your own data, step by step
SHELL_TINY = {   # README text -> tiny stand-in, each asserted to be there
    "--teacher minilm-l6 --task": "--teacher tiny --epochs 1 --max-seq-len 24 --batch-size 16 --lr 1e-3 --task",
    "--augment 10": "--augment 2",
    "--loss mse --out": "--loss mse --epochs 2 --filters 8 --out",
    "--loss ce --out": "--loss ce --epochs 2 --filters 8 --out",
    "distill bench --teacher": "distill bench --examples 8 --repeats 1 --batch-sizes 8 --modes text --teacher",
}


def own_data_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Your own data, step by step"):]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_own_data_sequence_runs_from_csv_to_exported_student(tmp_path, monkeypatch, capsys):
    """Every command of the section, in order, on a tiny CSV: the README's path from clone to an exported
    student of your own data cannot break unnoticed."""
    import shlex

    from distill.app import cli

    commands = own_data_commands()
    assert commands[0].startswith("distill data prepare csv:reviews.csv") and len(commands) >= 8
    block = "\n".join(commands)
    for big, small in SHELL_TINY.items():
        assert big in block, f"the README's own-data section no longer contains {big!r}; update SHELL_TINY"
        block = block.replace(big, small)
    monkeypatch.chdir(tmp_path)
    tiny_csv(tmp_path / "reviews.csv")
    for line in block.splitlines():
        argv = shlex.split(line)
        assert argv[0] == "distill", line
        assert cli.main(argv[1:]) == 0, f"{line}\n{capsys.readouterr().err}"
    out = capsys.readouterr().out
    assert (tmp_path / "runs" / "mine" / "export" / "model.tflite").is_file()
    assert (tmp_path / "runs" / "mine" / "report.md").is_file()
    labelled = [line for line in out.splitlines() if line.endswith("\tthe best purchase I made this year")]
    assert len(labelled) == 2   # predicted by the student run and by its export
