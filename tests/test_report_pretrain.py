"""The report's pretraining section: numbers from a pretraining run's files, its plot, and its
fine-tuning runs kept out of the main tables.

Fake run folders are written in tmp_path in the layout `distill teacher pretrain` writes
(teachers/pretrain.py's docstring): run.json through distill.runfiles.write_run (kind "pretrain",
no label names), epochs.jsonl, train_results.json, finetune.jsonl, `finetune/epoch-K/` teacher
runs and `epoch-K/` checkpoint folders. No TensorFlow.
"""

import json

import pytest

from distill.app.report import collect, load_pretrain, write_report
from distill.errors import DistillError
from distill.runfiles import EVAL_RESULTS, RUN_FILE, RunInfo, TokenizerFacts, read_run, write_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASK = "synthetic"


def metrics(accuracy, n=40):
    return {"n": n, "accuracy": accuracy, "f1": accuracy, "f1_macro": accuracy, "mcc": 0.1, "loss": 0.6,
            "rows": n, "seconds": 0.01, "it_per_s": 4000.0}


def teacher_run(folder, name, dev, test):
    """A finished teacher run folder, as teachers/finetune.py writes it."""
    folder.mkdir(parents=True)
    write_run(folder, RunInfo(kind="teacher", name=name, task=TASK, config={"lr": 1e-3, "seed": 0},
                              label_names=["neg", "pos"], tokenizer=TokenizerFacts(True, 24),
                              provenance={"weights_source": "x", "random_init": False}, complete=True))
    (folder / EVAL_RESULTS).write_text(json.dumps({"dev": metrics(dev), "test": metrics(test)}))


def finetune_line(epoch, dev, test, mlm_loss, mlm_accuracy, best=2, curve=(0.5, 0.6, 0.7)):
    return {"pretrain_epoch": epoch, "task": TASK, "run": f"finetune/epoch-{epoch}", "best_epoch": best,
            "dev": metrics(dev), "test": None if test is None else metrics(test, n=30),
            "mlm_dev_loss": mlm_loss, "mlm_dev_accuracy": mlm_accuracy,
            "curve": [{"epoch": e, "train_loss": 0.7 - 0.1 * e, "dev_loss": 0.69, "dev_accuracy": a}
                      for e, a in enumerate(curve, start=1)],
            "seconds": 9.5}


def epoch_line(epoch, loss, accuracy, tokens_per_s):
    return {"epoch": epoch, "step": 24 * epoch, "train_loss": loss + 0.1, "train_accuracy": accuracy - 0.05,
            "learning_rate": 1e-3, "tokens_per_s": tokens_per_s, "gflop_per_s": tokens_per_s * 1e-4,
            "dev_loss": loss, "dev_accuracy": accuracy, "train_seconds": 1.0}


def pretrain_run(root, folder, *, name, complete, random_init, epochs, finetunes, planned, train_results=None,
                 tail=""):
    """A pretraining run folder as teachers/pretrain.py writes it; `tail` is appended to finetune.jsonl
    (a line a kill cut short)."""
    run = root / "pretrain" / folder
    run.mkdir(parents=True)
    write_run(run, RunInfo(
        kind="pretrain", name=name, task="rt-polarity:plots + csv:extra.txt",
        config={"lr": 5e-4, "batch_size": 32, "epochs": planned, "max_seq_len": 128, "mask_rate": 0.15, "seed": 0},
        label_names=[], tokenizer=TokenizerFacts(True, 128, "ab" * 32), params=4_400_000,
        provenance={"corpus": [{"spec": "rt-polarity:plots", "lines": 1097, "documents": 1097, "sha256": "cd" * 32}],
                    "vocab_sha256": "ab" * 32, "start": "random" if random_init else "minilm-l6",
                    "random_init": random_init},
        complete=complete, model_file=None, epochs_run=len(epochs) if complete else 0))
    (run / "epochs.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    if train_results is not None:
        (run / "train_results.json").write_text(json.dumps(train_results))
    if finetunes:
        (run / "finetune.jsonl").write_text("".join(json.dumps(f) + "\n" for f in finetunes) + tail)
    for f in finetunes:
        k = f["pretrain_epoch"]
        (run / f"epoch-{k}").mkdir(exist_ok=True)
        (run / f"epoch-{k}" / "bert_config.json").write_text("{}")
        teacher_run(run / "finetune" / f"epoch-{k}", f"epoch-{k}", f["dev"]["accuracy"],
                    (f["test"] or f["dev"])["accuracy"])
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    teacher_run(root / "teacher" / "t0", "minilm-l6", 0.90, 0.88)
    pretrain_run(root, "mini-aaaa1111", name="mini", complete=True, random_init=True, planned=4,
                 epochs=[epoch_line(1, 3.1, 0.13, 900.0), epoch_line(2, 2.6, 0.20, 15000.0),
                         epoch_line(3, 2.4, 0.41, 2000.0), epoch_line(4, 2.3, 0.44, 10000.0)],
                 finetunes=[finetune_line(0, 0.50, 0.45, 9.05, 0.0, best=1, curve=(0.5,)),
                            finetune_line(2, 0.61, 0.58, 2.6, 0.20),
                            finetune_line(4, 0.72, 0.69, 2.3, 0.44, best=3)],
                 train_results={"tokens_per_s": 10000.0, "train_flops_per_token": 118397, "gflop_per_s": 1.18,
                                "mean_row_tokens": 21.9, "tokens_per_epoch": 8308})
    pretrain_run(root, "minilm-l6-bbbb2222", name="minilm-l6", complete=False, random_init=False, planned=10,
                 epochs=[epoch_line(1, 2.0, 0.50, 100.0), epoch_line(2, 1.9, 0.52, 300.0),
                         epoch_line(3, 1.8, 0.53, 500.0)],
                 finetunes=[finetune_line(0, 0.80, None, None, None),
                            finetune_line(2, 0.83, 0.81, 1.9, 0.52)],
                 tail='{"pretrain_epoch": 3, "task": "synth')
    return root


@pytest.fixture(scope="module")
def report(runs):
    return write_report(runs, echo=lambda *_: None)


def section(text, heading):
    """The Markdown from `heading` to the next heading of the same or a higher level."""
    start = text.index(heading)
    level = heading.split(" ")[0]
    ends = [text.find("\n" + "#" * n + " ", start + 1) for n in range(1, len(level) + 1)]
    ends = [e for e in ends if e != -1]
    return text[start:min(ends) if ends else len(text)]


def table_rows(text):
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| pretraining epoch")]


def test_nested_fine_tunings_are_not_rows_of_the_main_tables(runs, report):
    found = collect(runs)
    assert [r.path.name for r in found.runs] == ["t0"]
    assert not any("finetune" in s["path"] for s in found.skipped)
    assert sorted(p.path.name for p in found.pretrains) == ["mini-aaaa1111", "minilm-l6-bbbb2222"]
    rows = report.data["tasks"][TASK]["rows"]
    assert [r["model"] for r in rows] == ["minilm-l6"]
    assert all("pretrain" not in path for r in rows for path in r["runs"])
    main = section(report.markdown.read_text(), f"## {TASK}")
    assert "epoch-" not in main


def test_section_headings_and_throughput(report):
    text = report.markdown.read_text()
    assert "## Pretraining" in text
    done = section(text, "### mini on rt-polarity:plots + csv:extra.txt: 4 of 4 epochs, complete")
    assert "Throughput: **10,000 tokens/s**, 1.18 GFLOP/s (from train_results.json: median of the epochs after the first)" in done
    assert "118,397 training FLOPs per token" in done
    running = section(text, "### minilm-l6 on rt-polarity:plots + csv:extra.txt: 3 of 10 epochs, not complete")
    # no train_results.json yet: the median of the epochs after the first (300, 500)
    assert "Throughput: **400 tokens/s**, 0.04 GFLOP/s (from epochs.jsonl: median of the epochs after the first)" in running


def test_accuracy_against_pretraining_epochs_table(report):
    text = report.markdown.read_text()
    done = section(text, "### mini on")
    assert ("| pretraining epoch | dev MLM loss | dev MLM accuracy | fine-tuned dev accuracy | "
            "fine-tuned test accuracy | best fine-tuning epoch |") in done
    assert table_rows(done) == [["0 (random init)", "9.0500", "0.00", "50.00", "45.00", "1"],
                                ["2", "2.6000", "20.00", "61.00", "58.00", "2"],
                                ["4", "2.3000", "44.00", "72.00", "69.00", "3"]]
    # started from a teacher: epoch 0 is "the start"; no test split there, no MLM numbers copied
    running = section(text, "### minilm-l6 on")
    assert table_rows(running) == [["0 (start)", "—", "—", "80.00", "—", "2"],
                                   ["2", "1.9000", "52.00", "83.00", "81.00", "2"]]


def test_a_line_cut_short_by_a_kill_is_skipped_and_said(runs, report):
    running = section(report.markdown.read_text(), "### minilm-l6 on")
    assert "finetune.jsonl: 1 line(s) cut short" in running
    record = load_pretrain(runs / "pretrain" / "minilm-l6-bbbb2222")
    assert [f["pretrain_epoch"] for f in record.finetunes] == [0, 2]
    assert record.status.startswith("not complete")


def test_the_png_is_written_and_embedded(report):
    text = report.markdown.read_text()
    for folder in ("mini-aaaa1111", "minilm-l6-bbbb2222"):
        png = report.json.parent / f"pretrain-{folder}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert f"](report/pretrain-{folder}.png)" in text
        assert png in report.images


def test_report_json_holds_the_numbers(report):
    data = json.loads(report.json.read_text())
    done, running = sorted(data["pretraining"], key=lambda p: p["folder"])
    assert done["name"] == "mini" and done["complete"] and done["status"] == "complete"
    assert done["epochs_run"] == 4 and done["epochs_planned"] == 4 and done["random_init"] is True
    assert done["throughput"]["tokens_per_s"] == 10000.0 and done["throughput"]["gflop_per_s"] == 1.18
    assert [(f["label"], f["mlm_dev_loss"], f["mlm_dev_accuracy"], f["dev_accuracy"], f["test_accuracy"],
             f["best_epoch"]) for f in done["finetunes"]] == [
        ("0 (random init)", 9.05, 0.0, 0.50, 0.45, 1), ("2", 2.6, 0.20, 0.61, 0.58, 2),
        ("4", 2.3, 0.44, 0.72, 0.69, 3)]
    assert [c["dev_accuracy"] for c in done["finetunes"][2]["curve"]] == [0.5, 0.6, 0.7]
    assert [h["dev_loss"] for h in done["history"]] == [3.1, 2.6, 2.4, 2.3]
    assert done["plot"]["path"] == "report/pretrain-mini-aaaa1111.png"
    assert running["throughput"]["tokens_per_s"] == 400.0 and running["notes"]
    assert running["finetunes"][0]["label"] == "0 (start)" and running["finetunes"][0]["test_accuracy"] is None
    assert data["tasks"][TASK]["rows"][0]["model"] == "minilm-l6"   # the main tables are unchanged


def test_plot_draws_every_fine_tuning(runs, tmp_path):
    from distill.app.report import plot_pretraining, pretraining_summary

    summary = pretraining_summary(load_pretrain(runs / "pretrain" / "mini-aaaa1111"))
    drawn = plot_pretraining(summary, tmp_path / "p.png")
    assert drawn["points"]["dev_accuracy"] == [(0, 50.0), (2, 61.0), (4, 72.0)]
    assert sorted(drawn["points"]["curves"]) == [0, 2, 4]
    assert drawn["points"]["mlm_dev_loss"][0] == (0, 9.05)     # the start's dev loss, from finetune.jsonl
    gids = {line.get_gid() for ax in drawn["figure"].axes for line in ax.get_lines()}
    assert {"finetuned-dev_accuracy", "finetuned-test_accuracy", "mlm-dev-accuracy", "curve-4"} <= gids


def test_a_pretraining_run_alone_is_reported(tmp_path):
    pretrain_run(tmp_path, "p", name="mini", complete=False, random_init=True, planned=3,
                 epochs=[epoch_line(1, 3.0, 0.1, 100.0)], finetunes=[])
    result = write_report(tmp_path, echo=lambda *_: None)
    text = result.markdown.read_text()
    assert "### mini on rt-polarity:plots + csv:extra.txt: 1 of 3 epochs, not complete" in text
    assert "Throughput: **100 tokens/s**" in text and "| pretraining epoch |" not in text
    assert (tmp_path / "report" / "pretrain-p.png").read_bytes()[:8] == PNG_SIGNATURE


def test_a_malformed_finetune_line_names_the_file_and_line(tmp_path):
    run = pretrain_run(tmp_path, "p", name="mini", complete=True, random_init=True, planned=1,
                       epochs=[epoch_line(1, 3.0, 0.1, 100.0)], finetunes=[finetune_line(0, 0.5, 0.5, 4.0, 0.0)])
    with open(run / "finetune.jsonl", "a") as handle:
        handle.write(json.dumps({"task": TASK}) + "\n")
    with pytest.raises(DistillError, match=r"finetune\.jsonl: line 2: 'pretrain_epoch'"):
        load_pretrain(run)


def test_run_json_of_a_pretraining_run_has_no_labels_but_a_classifier_needs_two(tmp_path):
    run = pretrain_run(tmp_path, "p", name="mini", complete=True, random_init=True, planned=1,
                       epochs=[epoch_line(1, 3.0, 0.1, 100.0)], finetunes=[])
    assert read_run(run, "pretrain").label_names == []
    raw = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**raw, "kind": "teacher"}))
    with pytest.raises(DistillError, match="field 'label_names'"):
        read_run(run)
