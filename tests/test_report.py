"""The report: its numbers equal the JSON they come from, seeds are averaged, plots hold the right points.

Fake run folders (run.json through distill.runfiles.write_run, eval_results.json,
TensorBoard events written with tf.summary under the runfiles tag constants) and a
bench.json are made in tmp_path in the formats the teacher/student runs and
`distill bench` write.
"""

import json
import statistics

import numpy as np
import pytest

from distill.errors import DistillError
from distill.runfiles import (EVAL_RESULTS, MODEL_FILE, RUN_FILE, TAG_BATCH_LOSS, TAG_BATCH_PREFIX, TAG_DEV_ACCURACY,
                              TAG_DEV_LOSS, TAG_TRAIN_LOSS, TENSORBOARD_DIR, RunInfo, TokenizerFacts, write_run)
from distill.app.report import (
    collect,
    group_runs,
    mean_sd,
    pareto_front,
    pick_curves,
    read_scalars,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASK = "synthetic"


def metrics(accuracy, n=100, **extra):
    return {"n": n, "accuracy": accuracy, "f1": accuracy - 0.01, "f1_macro": accuracy - 0.02,
            "f1_weighted": accuracy - 0.015, "mcc": 2 * accuracy - 1.1, "report": {},
            "confusion_matrix": [[1, 0], [0, 1]],
            "seconds": 1.0, "it_per_s": 100.0, **extra}


def write_events(logdir, dev_accuracy, batch_loss, batch_metric):
    """TensorBoard scalars as the training engine (distill/training.py) writes them: one folder, the
    runfiles tag constants, batch/* by optimizer step from 0, epoch/* by epoch from 1."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for step, value in enumerate(batch_loss):
            tf.summary.scalar(TAG_BATCH_LOSS, value, step=step)
            tf.summary.scalar(TAG_BATCH_PREFIX + batch_metric, 0.5, step=step)
        for epoch, value in enumerate(dev_accuracy, start=1):
            tf.summary.scalar(TAG_DEV_ACCURACY, value, step=epoch)
            tf.summary.scalar(TAG_DEV_LOSS, 0.5, step=epoch)
            tf.summary.scalar(TAG_TRAIN_LOSS, batch_loss[-1], step=epoch)
    writer.close()


def make_run(root, kind, folder, name, seed, dev, test, extra_config=None, events=None, complete=True,
             model_file=MODEL_FILE):
    """A run folder as teachers/finetune.py and students/train.py write it: run.json through write_run."""
    run = root / kind / folder
    run.mkdir(parents=True)
    config = {"lr": 0.001, "batch_size": 32, "seed": seed, **(extra_config or {})}
    if kind == "teacher":
        provenance = {"task_sha256": "0" * 64, "weights_source": "test", "random_init": False}
    else:
        provenance = {"materials": {"path": str(root / "materials" / "toy.h5"), "sha256": "ab" * 32,
                                    "rows": {"train": 16}, "train_splits": ["train"],
                                    "teacher": {"name": "minilm-l6"}, "dataset": {"name": TASK}}}
    write_run(run, RunInfo(kind=kind, name=name, task=TASK, config=config, label_names=["neg", "pos"],
                           tokenizer=TokenizerFacts(lowercase=True, max_seq_len=64), provenance=provenance,
                           complete=complete, model_file=model_file))
    if complete:
        (run / EVAL_RESULTS).write_text(json.dumps({"dev": metrics(dev), "test": metrics(test)}))
    if events:
        write_events(run / TENSORBOARD_DIR, *events, batch_metric="accuracy" if kind == "teacher" else "agreement")
    return run


def bench_row(model, kind, run, batch, mode, median, params, random_weights=False):
    return {"model": model, "kind": kind, "run": run, "random_weights": random_weights, "params": params,
            "flops_per_example": 1e6, "batch_size": batch, "mode": mode,
            "it_per_s": {"median": median, "min": median * 0.9, "max": median * 1.1, "repeats": 5, "examples": 64},
            "gflops": 1.5}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    make_run(root, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88, events=([0.80, 0.86, 0.90], [0.7, 0.5, 0.4, 0.3]))
    make_run(root, "teacher", "t1", "minilm-l6", 1, 0.92, 0.86, events=([0.82, 0.92], [0.69, 0.45, 0.35]))
    make_run(root, "student", "mse0", "kim-cnn", 0, 0.84, 0.83, {"loss": "mse"}, events=([0.7, 0.84], [1.0, 0.6]))
    make_run(root, "student", "mse1", "kim-cnn", 1, 0.86, 0.85, {"loss": "mse"})
    make_run(root, "student", "mse2", "kim-cnn", 2, 0.82, 0.84, {"loss": "mse"})
    make_run(root, "student", "kl0", "kim-cnn", 0, 0.80, 0.79, {"loss": "kl"})
    make_run(root, "student", "half", "kim-cnn", 0, 0, 0, {"loss": "ce"}, complete=False)
    make_run(root, "teacher", "grid/trial1", "minilm-l6", 0, 0.95, 0.95, {"lr": 1e-4}, model_file=None)
    rows = [
        bench_row("minilm-l6", "teacher", str(root / "teacher" / "t0"), 1, "text", 20.0, 22_700_000),
        bench_row("minilm-l6", "teacher", str(root / "teacher" / "t0"), 32, "text", 50.0, 22_700_000),
        bench_row("minilm-l6", "teacher", str(root / "teacher" / "t0"), 32, "ids", 60.0, 22_700_000),
        bench_row("kim-cnn mse", "student", "runs/student/mse0", 32, "text", 2500.0, 150_000),
        bench_row("kim-cnn kl", "student", "runs/student/kl0", 32, "text", 2400.0, 150_000),
        bench_row("bert-base", "preset", None, 32, "text", 8.0, 110_000_000, random_weights=True),
    ]
    from materials.testing import write_toy_materials
    import h5py

    (root / "materials").mkdir()
    write_toy_materials(root / "materials" / "toy.h5", n_per_split=16)
    with h5py.File(root / "teacher" / "t0" / "model.weights.h5", "w") as h5:   # not materials: ignored
        h5["w"] = np.zeros(3)
    bench = root / "bench" / "b1"
    bench.mkdir(parents=True)
    (bench / "bench.json").write_text(json.dumps({
        "machine": {"cpu": "test cpu", "cores": 2, "gpus": [], "tensorflow": "2.21.0"},
        "task": TASK, "split": "test", "rows": rows}))
    return root


@pytest.fixture(scope="module")
def report(runs):
    return write_report(runs, echo=lambda _: None)


def parse_table(markdown, heading):
    """The first pipe table after `## heading`, as a list of {header: cell}."""
    lines = markdown.split(f"## {heading}\n", 1)[1].splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("|"))):]
    table = table[:next((i for i, line in enumerate(table) if not line.startswith("|")), len(table))]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    return [dict(zip(cells[0], row)) for row in cells[2:]]


def row_of(report, model):
    return next(r for r in report.data["tasks"][TASK]["rows"] if r["model"] == model)


def test_runs_differing_only_in_seed_are_one_group_and_labelled_apart(runs):
    found = collect(runs)
    groups = {g.label: g for g in group_runs(found.runs)}
    assert sorted(groups) == ["kim-cnn (loss=kl)", "kim-cnn (loss=mse)", "minilm-l6"]
    assert sorted(groups["kim-cnn (loss=mse)"].seeds) == [0, 1, 2]
    assert sorted(groups["minilm-l6"].seeds) == [0, 1]
    assert sorted(s["reason"].split(" ")[0] for s in found.skipped) == ["no", "not"]   # grid trial, unfinished


def test_report_json_matches_sources_with_mean_and_sample_sd(report, runs):
    mse = row_of(report, "kim-cnn (loss=mse)")
    sources = [json.loads((runs / "student" / f / "eval_results.json").read_text()) for f in ("mse0", "mse1", "mse2")]
    for split in ("dev", "test"):
        values = [s[split]["accuracy"] for s in sources]
        assert mse[split]["accuracy"]["mean"] == pytest.approx(statistics.fmean(values))
        assert mse[split]["accuracy"]["sd"] == pytest.approx(np.std(values, ddof=1))
        assert sorted(mse[split]["accuracy"]["values"]) == sorted(values)
    assert mse["test"]["accuracy"]["mean"] == pytest.approx(0.84)
    kl = row_of(report, "kim-cnn (loss=kl)")
    assert kl["test"]["accuracy"] == {"mean": 0.79, "sd": None, "n": 1, "values": [0.79]}


def test_speed_prefers_batch_32_raw_text_and_speedups_and_kept_are_ratios(report):
    teacher = row_of(report, "minilm-l6")
    assert teacher["it_per_s"] == 50.0 and teacher["speed"]["mode"] == "text" and teacher["speed"]["batch_size"] == 32
    assert teacher["params"] == 22_700_000
    mse = row_of(report, "kim-cnn (loss=mse)")
    assert mse["speedup"]["minilm-l6"] == pytest.approx(2500.0 / 50.0)
    teacher_test = statistics.fmean([0.88, 0.86])
    assert mse["accuracy_kept"]["minilm-l6"]["percent"] == pytest.approx(100 * 0.84 / teacher_test)
    assert mse["accuracy_kept"]["minilm-l6"]["split"] == "test"
    preset = row_of(report, "bert-base (random weights)")
    assert preset["kind"] == "preset" and preset["test"] == {} and preset["accuracy_kept"] == {}
    assert preset["speedup"]["minilm-l6"] == pytest.approx(8.0 / 50.0)


def test_markdown_table_values_equal_report_json(report):
    markdown = report.markdown.read_text()
    assert report.markdown == report.markdown.parent / "report.md" and report.json.parent.name == "report"
    table = {r["model"]: r for r in parse_table(markdown, TASK)}
    assert set(table) == {"minilm-l6", "kim-cnn (loss=mse)", "kim-cnn (loss=kl)", "bert-base (random weights)"}
    for model, cells in table.items():
        row = row_of(report, model)
        for split in ("dev", "test"):
            stat = row[split].get("accuracy")
            if stat is None:
                assert cells[f"{split} acc (%)"] == "—"
                continue
            text = cells[f"{split} acc (%)"].split(" ± ")
            assert float(text[0]) == pytest.approx(100 * stat["mean"], abs=0.005)
            if stat["sd"] is None:
                assert len(text) == 1
            else:
                assert float(text[1]) == pytest.approx(100 * stat["sd"], abs=0.005)
        assert float(cells["it/s"].replace(",", "")) == pytest.approx(row["it_per_s"], abs=0.05)
        speedup = float(cells["speed-up vs minilm-l6"].rstrip("×"))
        assert speedup == pytest.approx(row["speedup"]["minilm-l6"], abs=0.005)
        kept = cells["acc kept vs minilm-l6 (%)"]
        if row["accuracy_kept"]:
            assert float(kept) == pytest.approx(row["accuracy_kept"]["minilm-l6"]["percent"], abs=0.05)
        else:
            assert kept == "—"
    assert table["kim-cnn (loss=mse)"]["dev acc (%)"] == "84.00 ± 2.00"
    assert {model: cells["role"] for model, cells in table.items()} == {
        "minilm-l6": "teacher", "kim-cnn (loss=mse)": "distilled: mse + transfer set",
        "kim-cnn (loss=kl)": "distilled: kl + transfer set", "bert-base (random weights)":
        "preset, random weights: speed only"}


def test_images_are_pngs_and_linked_relative_from_report_md(report):
    markdown = report.markdown.read_text()
    assert len(report.images) == 3   # accuracy vs speed, teacher curves, student curves
    for image in report.images:
        data = image.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
        assert f"]({image.relative_to(report.markdown.parent).as_posix()})" in markdown


def test_plot_holds_the_table_points_pareto_front_and_presets(report):
    plot = report.data["tasks"][TASK]["plot"]
    assert plot["split"] == "test"
    teacher = {p["model"]: (p["it_per_s"], p["accuracy"]) for p in plot["points"]["teacher"]}
    students = {p["model"]: (p["it_per_s"], p["accuracy"]) for p in plot["points"]["student"]}
    assert teacher == {"minilm-l6": (50.0, pytest.approx(0.87))}
    assert students == {"kim-cnn (loss=mse)": (2500.0, pytest.approx(0.84)),
                        "kim-cnn (loss=kl)": (2400.0, pytest.approx(0.79))}
    # kl is slower and less accurate than mse: dominated, off the front
    assert plot["pareto"] == ["kim-cnn (loss=mse)", "minilm-l6"]
    assert plot["presets"] == [{"model": "bert-base (random weights)", "it_per_s": 8.0}]


def test_plot_figure_artists(runs, tmp_path):
    from distill.app.report import build_tables, plot_accuracy_vs_speed

    table = build_tables(collect(runs))[TASK]
    drawn = plot_accuracy_vs_speed(table, tmp_path / "plot.png")
    ax = drawn["figure"].axes[0]
    lines = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    assert ax.get_xscale() == "log" and "examples/s" in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert sorted(lines["student-points"].get_xdata()) == [2400.0, 2500.0]
    assert list(lines["teacher-points"].get_ydata()) == pytest.approx([87.0])
    assert list(lines["pareto"].get_xdata()) == [2500.0, 50.0]
    assert list(lines["preset-0"].get_xdata()) == [8.0, 8.0]
    assert ax.get_legend() is not None and ax.get_title()


def test_point_labels_do_not_overlap_and_stay_inside_the_figure(tmp_path):
    from distill.app.report import plot_accuracy_vs_speed

    def row(model, kind, its, acc):
        return {"model": model, "kind": kind, "it_per_s": its, "test": {"accuracy": {"mean": acc, "sd": 0.004}},
                "dev": {}, "speed": {"batch_size": 32, "mode": "text"}}
    rows = [row("teacher", "teacher", 150.0, 0.827)] + [
        row(f"kim-cnn (epochs=3, loss=student-{i}, transfer=True)", "student", 8000.0 + 50 * i, 0.79 + 0.001 * i)
        for i in range(4)]                   # four students within 0.3 points of each other: labels must stack
    drawn = plot_accuracy_vs_speed({"task": "t", "rows": rows}, tmp_path / "plot.png")
    fig = drawn["figure"]
    renderer = fig.canvas.get_renderer()
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t, renderer)    # the text alone, not its leader line
             for t in fig.axes[0].texts if t.get_text().startswith(("kim", "teacher"))]
    assert len(boxes) == 5
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(0 <= b.x0 and b.x1 <= fig.bbox.width for b in boxes)


def test_training_curves_read_back_the_logged_scalars(runs, report):
    scalars = read_scalars(runs / "teacher" / "t0" / TENSORBOARD_DIR)
    assert scalars[TAG_DEV_ACCURACY] == [(1, pytest.approx(0.80)), (2, pytest.approx(0.86)),
                                         (3, pytest.approx(0.90))]
    picked = pick_curves(scalars)
    assert picked["dev_accuracy"][0] == TAG_DEV_ACCURACY
    assert picked["loss"][0] == TAG_BATCH_LOSS and picked["loss"][2] == "per batch"
    assert [v for _, v in picked["loss"][1]] == pytest.approx([0.7, 0.5, 0.4, 0.3])
    student = pick_curves(read_scalars(runs / "student" / "mse0" / TENSORBOARD_DIR))
    assert student["dev_accuracy"][0] == TAG_DEV_ACCURACY
    assert [v for _, v in student["dev_accuracy"][1]] == pytest.approx([0.7, 0.84])
    assert student["loss"][0] == TAG_BATCH_LOSS
    curves = report.data["tasks"][TASK]["curves"]
    teacher = curves["teacher"]["groups"]["minilm-l6"]
    assert sorted(len(c["values"]) for c in teacher["dev_accuracy"]) == [2, 3]
    assert sorted(len(c["values"]) for c in teacher["loss"]) == [3, 4]
    assert list(curves["student"]["groups"]) == ["kim-cnn (loss=mse)"]   # the only student with events
    assert "No TensorBoard scalars for: kim-cnn (loss=kl)" in report.markdown.read_text()


def test_materials_section_matches_the_file(runs, report):
    from materials.reader import MaterialsFile

    [entry] = report.data["materials"]
    assert entry["path"].endswith("toy.h5")
    rows = {r["split"]: r for r in parse_table(report.markdown.read_text(), "Teaching materials")}
    with MaterialsFile(runs / "materials" / "toy.h5") as m:
        for split in m.splits:
            attrs = m.split_attrs(split)
            assert entry["splits"][split]["rows"] == attrs["rows"] == int(rows[split]["rows"])
            assert float(rows[split]["teacher acc (%)"]) == pytest.approx(100 * attrs["metrics"]["accuracy"], abs=0.005)
            assert float(rows[split]["teacher it/s"].replace(",", "")) == pytest.approx(attrs["it_per_s"], abs=0.05)


def test_pick_curves_reads_the_runfiles_tags_only():
    picked = pick_curves({TAG_TRAIN_LOSS: [(1, 0.9)], TAG_DEV_ACCURACY: [(1, 0.5)], TAG_DEV_LOSS: [(1, 1.0)],
                          "validation/epoch_accuracy": [(0, 0.6)], "train/batch_loss": [(0, 1.0)]})
    assert picked["dev_accuracy"] == (TAG_DEV_ACCURACY, [(1, 0.5)])
    assert picked["loss"] == (TAG_TRAIN_LOSS, [(1, 0.9)], "per epoch")   # no batch/loss: per epoch
    picked = pick_curves({TAG_BATCH_LOSS: [(0, 1.2), (1, 0.8)], TAG_TRAIN_LOSS: [(1, 0.9)]})
    assert picked["loss"][0] == TAG_BATCH_LOSS and picked["loss"][2] == "per batch"
    assert picked["dev_accuracy"] is None
    assert pick_curves({"dev/accuracy": [(1, 0.5)], "epoch_loss": [(0, 1.0)]}) == {"dev_accuracy": None, "loss": None}


def test_pareto_front_and_mean_sd():
    points = [(10.0, 0.9), (100.0, 0.8), (50.0, 0.7), (100.0, 0.85)]
    assert pareto_front(points) == [3, 0]
    assert mean_sd([0.5])["sd"] is None
    assert mean_sd([0.5, 0.7])["sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))


def test_bad_bench_row_and_bad_json_name_the_file(runs, tmp_path):
    root = tmp_path / "runs"
    (root / "bench" / "x").mkdir(parents=True)
    bench = root / "bench" / "x" / "bench.json"
    bench.write_text(json.dumps({"task": TASK, "rows": [bench_row("a", "preset", None, 32, "text", 1.0, 1),
                                                        {"model": "b", "kind": "preset"}]}))
    with pytest.raises(DistillError, match=r"bench\.json: rows\[1\]: no 'batch_size'"):
        collect(root)
    bench.write_text('{"rows": [\n  oops]}')
    with pytest.raises(DistillError, match=r"bench\.json: line 2: not valid JSON"):
        collect(root)
    with pytest.raises(DistillError, match="no such runs folder"):
        collect(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DistillError, match="no finished teacher/student runs"):
        write_report(empty, echo=lambda _: None)
    assert not (empty / "report.md").exists()


def test_bad_run_json_field_names_the_file_and_the_field(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "student", "bad", "kim-cnn", 0, 0.8, 0.8)
    (root / "notes").mkdir()                       # a folder without run.json: not a run, skipped
    (root / "notes" / "eval_results.json").write_text("{}")
    assert [r.path for r in collect(root).runs] == [run]
    meta = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**meta, "params": "many"}))
    with pytest.raises(DistillError, match=r"bad/run\.json: field 'params'"):
        collect(root)
    (run / RUN_FILE).write_text(json.dumps({k: v for k, v in meta.items() if k != "task"}))
    with pytest.raises(DistillError, match=r"bad/run\.json: missing field 'task'"):
        write_report(root, echo=lambda _: None)


def test_cli_report_writes_into_out(runs, tmp_path, capsys):
    from distill.app.cli import main

    out = tmp_path / "out"
    assert main(["report", str(runs), "--out", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "report.json").exists()
    data = json.loads((out / "report.json").read_text())
    assert data["images"] and all((out / image).exists() for image in data["images"])
    assert "report:" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_groups_that_differ_only_in_long_values_get_distinct_labels(tmp_path):
    from distill.app.report import RunRecord

    def run(i, seed, data_dir):
        return RunRecord(path=tmp_path / f"r{i}", kind="teacher", task=TASK, name="tiny",
                         config={"seed": seed, "data_dir": data_dir}, seed=seed, results={"dev": metrics(0.5)})

    groups = group_runs([run(0, 0, "/a/very/long/path/to/data/one"), run(1, 1, "/a/very/long/path/to/data/one"),
                         run(2, 0, "/a/very/long/path/to/data/two")])
    assert sorted(len(g.runs) for g in groups) == [1, 2]
    assert len({g.label for g in groups}) == 2 and all(g.label.startswith("tiny #") for g in groups)


# ------------------------------------------------------- what distillation bought
NETWORK = {"arch": "kim-cnn", "embedding": "static", "filters": 100, "widths": [3, 4, 5]}
GAIN_HEADING = "**What distillation bought:**"


def make_student_group(root, folder, loss, dev, test, **network):
    """One student model trained with len(dev) seeds: one run folder per seed, with these accuracies."""
    for seed, (dev_accuracy, test_accuracy) in enumerate(zip(dev, test)):
        make_run(root, "student", f"{folder}{seed}", "kim-cnn", seed, dev_accuracy, test_accuracy,
                 {**NETWORK, **network, "loss": loss})


def gain_line(markdown):
    return next((line for line in markdown.splitlines() if line.startswith(GAIN_HEADING)), None)


@pytest.fixture(scope="module")
def gain_report(tmp_path_factory):
    """kl has the best test mean but mse the best dev mean; mix has the best dev of all but no ce run of its
    network (another embedding): the sentence must compare mse with ce."""
    root = tmp_path_factory.mktemp("gain")
    make_run(root, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88)
    make_student_group(root, "ce", "ce", dev=[0.79, 0.80, 0.78], test=[0.78, 0.79, 0.77])
    make_student_group(root, "mse", "mse", dev=[0.83, 0.84, 0.85], test=[0.80, 0.81, 0.79])
    make_student_group(root, "kl", "kl", dev=[0.81, 0.82, 0.80], test=[0.84, 0.85, 0.86])
    make_student_group(root, "mix", "mix", dev=[0.95], test=[0.70], embedding="non-static")
    bench = root / "bench" / "b1"
    bench.mkdir(parents=True)
    (bench / "bench.json").write_text(json.dumps({"task": TASK, "rows": [
        bench_row("minilm-l6", "teacher", str(root / "teacher" / "t0"), 32, "text", 50.0, 22_700_000),
        bench_row("kim-cnn mse", "student", str(root / "student" / "mse0"), 32, "text", 2500.0, 150_000),
        bench_row("kim-cnn ce", "student", str(root / "student" / "ce0"), 32, "text", 2450.0, 150_000)]}))
    return write_report(root, echo=lambda _: None)


def test_distillation_gain_picks_the_distilled_student_on_dev_not_test(gain_report):
    gain = gain_report.data["tasks"][TASK]["distillation"]
    distilled, baseline = gain["distilled"], gain["baseline"]
    assert (distilled["loss"], baseline["loss"]) == ("mse", "ce")   # kl is better on test, mse on dev
    assert distilled["model"] == "kim-cnn (embedding=static, loss=mse)"
    assert baseline["model"] == "kim-cnn (embedding=static, loss=ce)"
    assert distilled["dev_mean_pct"] == pytest.approx(84.0)
    assert distilled["test_mean_pct"] == pytest.approx(80.0) and distilled["test_sd_pct"] == pytest.approx(1.0)
    assert baseline["test_mean_pct"] == pytest.approx(78.0) and baseline["test_sd_pct"] == pytest.approx(1.0)
    assert (distilled["seeds"], baseline["seeds"]) == (3, 3)
    assert gain["difference_points"] == pytest.approx(2.0)
    assert (distilled["it_per_s"], baseline["it_per_s"]) == (2500.0, 2450.0)
    assert gain["teacher"] == {"model": "minilm-l6", "it_per_s": 50.0}
    assert gain["speedup_vs_teacher"] == pytest.approx(50.0)
    assert json.loads(gain_report.json.read_text())["tasks"][TASK]["distillation"] == gain


def test_distillation_sentence_follows_the_task_table(gain_report):
    markdown = gain_report.markdown.read_text()
    assert gain_line(markdown) == (
        "**What distillation bought:** kim-cnn (embedding=static, loss=mse) (3 seeds) 80.00 ± 1.00% test vs "
        "78.00 ± 1.00% for the same student trained on gold labels only (kim-cnn (embedding=static, loss=ce), "
        "3 seeds): +2.00 points, at no cost in speed (same architecture: 2,500 it/s, 50.0× the teacher's); the "
        "cost is paid once, in the teacher's fine-tuning and the teaching materials.")
    section = markdown.split(f"## {TASK}\n", 1)[1].splitlines()
    at = section.index(gain_line(markdown))
    first_row = next(i for i, line in enumerate(section) if line.startswith("|"))
    table_end = next(i for i in range(first_row, len(section)) if not section[i].startswith("|"))
    between = section[table_end:at]   # right under the table: nothing but its notes in between
    assert table_end < at and all(line == "" or line.startswith("_") for line in between)
    assert markdown.count(GAIN_HEADING) == 1


def test_no_distillation_sentence_without_a_ce_run_of_the_same_network(tmp_path):
    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88)
    make_student_group(tmp_path, "mse", "mse", dev=[0.83, 0.84], test=[0.80, 0.81])
    make_student_group(tmp_path, "ce", "ce", dev=[0.79, 0.80], test=[0.78, 0.79], embedding="non-static")
    report = write_report(tmp_path, echo=lambda _: None)
    assert report.data["tasks"][TASK]["distillation"] is None
    assert GAIN_HEADING not in report.markdown.read_text()


def test_distillation_sentence_says_when_distillation_did_not_pay(tmp_path):
    from distill.app.report import distillation_sentence

    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88)
    make_student_group(tmp_path, "ce", "ce", dev=[0.80, 0.82], test=[0.82, 0.84])
    make_student_group(tmp_path, "mse", "mse", dev=[0.81, 0.83], test=[0.81, 0.82])
    report = write_report(tmp_path, echo=lambda _: None)
    gain = report.data["tasks"][TASK]["distillation"]
    assert gain["difference_points"] == pytest.approx(81.5 - 83.0)
    line = gain_line(report.markdown.read_text())   # no bench: the runs' own evaluation it/s (100 each)
    assert line.endswith("(kim-cnn (loss=ce), 2 seeds): −1.50 points: distillation did not pay here "
                         "(same architecture: 100 it/s, 1.0× the teacher's).")
    assert "81.50 ± 0.71% test vs 83.00 ± 1.41%" in line and "cost is paid once" not in line
    unmeasured = {**gain, "distilled": {**gain["distilled"], "it_per_s": None}, "speedup_vs_teacher": None}
    assert distillation_sentence(unmeasured).endswith("−1.50 points: distillation did not pay here.")


def test_only_rows_with_as_many_seeds_are_compared(tmp_path):
    """A one-seed row with the best dev is not set against a three-seed baseline."""
    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88)
    make_student_group(tmp_path, "ce", "ce", dev=[0.79, 0.80, 0.78], test=[0.78, 0.79, 0.77])
    make_student_group(tmp_path, "mse", "mse", dev=[0.81, 0.82, 0.80], test=[0.80, 0.81, 0.79])
    make_student_group(tmp_path, "lucky", "mse", dev=[0.90], test=[0.84], filters=200)   # 1 seed, other network
    make_student_group(tmp_path, "lucky-ce", "ce", dev=[0.70], test=[0.70], filters=200)
    make_student_group(tmp_path, "one", "kl", dev=[0.95], test=[0.60])                   # 1 seed, same network
    gain = write_report(tmp_path, echo=lambda _: None).data["tasks"][TASK]["distillation"]
    # kl (1 seed, dev 0.95) has no 1-seed ce of its network: never compared; of the like-with-like
    # pairs, the 200-filter one has the best dev
    assert gain["distilled"]["loss"] == "mse" and (gain["distilled"]["seeds"], gain["baseline"]["seeds"]) == (1, 1)
    assert gain["difference_points"] == pytest.approx(84.0 - 70.0)


def _keep_predictions(run, correct_share, rows=400, seed=0):
    """predictions.npz of a run: the model right on the first `correct_share` of the rows, the teacher
    right on 90% of them."""
    from distill.runfiles import write_predictions

    gold = np.random.default_rng(0).integers(0, 2, rows)
    model = np.where(np.arange(rows) < int(correct_share * rows), gold, 1 - gold)
    teacher = np.where(np.arange(rows) < int(0.9 * rows), gold, 1 - gold)
    write_predictions(run, {"test_model": model, "test_teacher": teacher, "test_gold": gold})


def test_the_gain_and_the_teacher_gap_come_with_paired_bootstrap_intervals(tmp_path):
    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.90)
    make_student_group(tmp_path, "ce", "ce", dev=[0.79, 0.80], test=[0.80, 0.80])
    make_student_group(tmp_path, "mse", "mse", dev=[0.83, 0.84], test=[0.85, 0.85])
    for name, share in (("ce0", 0.80), ("ce1", 0.80), ("mse0", 0.85), ("mse1", 0.85)):
        _keep_predictions(tmp_path / "student" / name, share)
    report = write_report(tmp_path, echo=lambda _: None)
    gain = report.data["tasks"][TASK]["distillation"]
    interval, gap = gain["interval_points"], gain["teacher_gap"]
    assert interval["difference"] == pytest.approx(5.0) and interval["low"] <= 5.0 <= interval["high"]
    assert interval["rows"] == 400 and 0 < interval["low"]   # 20 rows better, none worse: clearly real
    assert gap["difference"] == pytest.approx(-5.0) and gap["low"] <= -5.0 <= gap["high"] < 0
    line = gain_line(report.markdown.read_text())
    assert "95% paired bootstrap interval over the 400 test rows: +" in line and "not distinguishable" not in line
    assert "**Distance to the teacher:** −5.00 points" in line


def test_a_gain_within_the_noise_is_called_so(tmp_path):
    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.90)
    make_student_group(tmp_path, "ce", "ce", dev=[0.79], test=[0.80])
    make_student_group(tmp_path, "mse", "mse", dev=[0.83], test=[0.8025])
    _keep_predictions(tmp_path / "student" / "ce0", 0.80)
    _keep_predictions(tmp_path / "student" / "mse0", 0.8025)   # one row of 400 better
    line = gain_line(write_report(tmp_path, echo=lambda _: None).markdown.read_text())
    assert "the interval includes 0, so on this test set the gain is not distinguishable from noise" in line


def test_rows_say_their_role_and_frozen_parameters(tmp_path):
    """A baseline is named as such, a student without the transfer set says so, and a student whose
    table is frozen shows its trainable parameters beside the total."""
    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88)
    make_student_group(tmp_path, "ce", "ce", dev=[0.79], test=[0.78])
    make_student_group(tmp_path, "noaug", "mse", dev=[0.80], test=[0.79], transfer=False)
    info = json.loads((tmp_path / "student" / "ce0" / "run.json").read_text())
    info.update(params=12_180_000, trainable_params=460_000)
    (tmp_path / "student" / "ce0" / "run.json").write_text(json.dumps(info))
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench.json").write_text(json.dumps({
        "task": TASK, "matmul_peak_gflops": 123.4, "machine": {"cpu": "test cpu", "cores": 2},
        "rows": [bench_row("minilm-l6", "teacher", str(tmp_path / "teacher" / "t0"), 32, "text", 50.0, 22_700_000)]}))
    report = write_report(tmp_path, echo=lambda _: None)
    assert "float32 matmul peak measured in the same run: 123 GFLOP/s" in report.markdown.read_text()
    rows = {r["model"]: r for r in parse_table(report.markdown.read_text(), TASK)}
    by_role = {cells["role"]: cells for cells in rows.values()}
    assert set(by_role) == {"teacher", "baseline: gold labels only", "distilled: mse, no transfer set"}
    assert by_role["baseline: gold labels only"]["params (trainable)"] == "12.18M (460.0k)"


def test_student_curves_get_one_figure_per_loss(runs, tmp_path):
    """ce, mse and kl losses differ in scale: each loss has its own axis."""
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(runs, root)
    ce = root / "student" / "ce-with-events"
    shutil.copytree(root / "student" / "mse0", ce)
    info = json.loads((ce / "run.json").read_text())
    info["config"]["loss"] = "ce"
    (ce / "run.json").write_text(json.dumps(info))
    report = write_report(root, echo=lambda _: None)
    curves = report.data["tasks"][TASK]["curves"]
    assert set(curves) == {"teacher", "student, loss mse", "student, loss ce"}
    assert curves["student, loss ce"]["path"].endswith("_student_ce.png")
    assert all(list(c["groups"]) for c in curves.values())


def test_epoch_caps_are_not_what_names_a_row(tmp_path):
    """`epochs=20` is a cap that early stopping ends sooner: rows differing in loss are named by it."""
    make_run(tmp_path, "teacher", "t0", "minilm-l6", 0, 0.90, 0.88)
    make_student_group(tmp_path, "ce", "ce", dev=[0.79], test=[0.78], epochs=20)
    make_student_group(tmp_path, "mse", "mse", dev=[0.80], test=[0.79], epochs=2)
    models = {r["model"] for r in write_report(tmp_path, echo=lambda _: None).data["tasks"][TASK]["rows"]}
    assert models == {"minilm-l6", "kim-cnn (loss=ce)", "kim-cnn (loss=mse)"}
