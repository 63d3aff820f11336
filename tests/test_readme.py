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
    '"kim-cnn", loss="mse"': '"kim-cnn", loss="mse", epochs=2, filters=8',
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
