"""distill.runfiles: the typed run.json (RunInfo), its errors, old files, and starting a run folder."""

import json

import pytest

from distill.errors import DistillError
from distill.runfiles import (RUN_FILE, RunInfo, TokenizerFacts, finished_results, prepare_run_dir, read_run,
                              read_run_or_none, write_run)


def _info(**changes) -> RunInfo:
    base = dict(kind="student", name="kim-cnn", task="toy", config={"loss": "mse", "seed": 0},
                label_names=["negative", "positive"], tokenizer=TokenizerFacts(True, 16, "ab12"), params=10)
    return RunInfo(**{**base, **changes})


def test_write_then_read_gives_the_same_record(tmp_path):
    info = _info(provenance={"materials": {"path": "/x.h5"}}, best_epoch=2, best_value=0.25)
    write_run(tmp_path, info)
    again = read_run(tmp_path, "student")
    assert again == info and again.lowercase is True and again.max_seq_len == 16
    assert not list(tmp_path.glob(".*partial"))  # written atomically: no temporary left


@pytest.mark.parametrize("field, value, message", [
    ("params", "many", "field 'params' has a bad value"),
    ("label_names", ["only-one"], "field 'label_names'"),
    ("kind", "gardener", "field 'kind'"),
    ("tokenizer", {"lowercase": "yes", "max_seq_len": 16}, "field 'tokenizer'"),
    ("colour", "blue", "unknown field 'colour'"),
])
def test_a_bad_field_is_one_error_naming_the_file_and_the_field(tmp_path, field, value, message):
    write_run(tmp_path, _info())
    raw = json.loads((tmp_path / RUN_FILE).read_text())
    raw[field] = value
    (tmp_path / RUN_FILE).write_text(json.dumps(raw))
    with pytest.raises(DistillError, match=message) as err:
        read_run(tmp_path)
    assert str(tmp_path / RUN_FILE) in str(err.value)


def test_missing_field_broken_json_and_no_file(tmp_path):
    write_run(tmp_path, _info())
    raw = json.loads((tmp_path / RUN_FILE).read_text())
    del raw["task"]
    (tmp_path / RUN_FILE).write_text(json.dumps(raw))
    with pytest.raises(DistillError, match="missing field 'task'"):
        read_run(tmp_path)
    (tmp_path / RUN_FILE).write_text("{not json")
    with pytest.raises(DistillError, match="not valid JSON"):
        read_run(tmp_path)
    with pytest.raises(DistillError, match="not a run folder"):
        read_run(tmp_path / "elsewhere")
    assert read_run_or_none(tmp_path / "elsewhere") is None


def test_the_wrong_kind_is_named(tmp_path):
    write_run(tmp_path, _info())
    with pytest.raises(DistillError, match="kind is 'student', not a teacher run"):
        read_run(tmp_path, "teacher")


def test_a_schema_1_run_json_still_reads(tmp_path):
    old = {"kind": "teacher", "schema": 1, "complete": True, "interrupted": False, "teacher": "minilm-l6",
           "task": "rt-polarity", "task_sha256": "abc", "is_pair": False, "primary_metric": "accuracy",
           "config": {"lr": 3e-5}, "label_names": ["rotten", "fresh"], "max_seq_len": 128, "lowercase": True,
           "vocab_sha256": "v", "weights_source": "wheel", "pretrained_weights_sha256": "w", "random_init": False,
           "model_file": "model.keras", "model_sha256": "m", "monitor": "dev_loss", "best_epoch": 2,
           "best_dev_loss": 0.4, "rows": {"train": 3}, "created": "2026-11-24T00:00:00+00:00",
           "versions": {}, "timings": {}, "stopped_early": False, "epochs_run": 3}
    (tmp_path / RUN_FILE).write_text(json.dumps(old))
    info = read_run(tmp_path, "teacher")
    assert info.name == "minilm-l6" and info.tokenizer == TokenizerFacts(True, 128, "v")
    assert info.best_value == 0.4 and info.provenance["task_sha256"] == "abc" and info.schema == 2


def test_prepare_resumes_only_an_interrupted_run_of_the_same_config_and_inputs(tmp_path):
    run = tmp_path / "run"
    same = {"name": "kim-cnn", "task": "toy", "config": {"seed": 0}, "provenance": {"materials": {"sha256": "m1"}}}

    def interrupted():
        write_run(run, _info(config={"seed": 0}, provenance={"materials": {"sha256": "m1", "path": "/a.h5"}},
                             best_epoch=3))
        (run / "backup").mkdir(exist_ok=True)
        (run / "backup" / "latest.weights.h5").write_bytes(b"x")

    assert prepare_run_dir(run, False, "student", same_run=same) is None
    interrupted()
    old = prepare_run_dir(run, False, "student", same_run=same)                     # resume: kept as it is
    assert old is not None and old.best_epoch == 3 and (run / "backup" / "latest.weights.h5").exists()
    assert prepare_run_dir(run, False, "student", same_run={**same, "config": {"seed": 1}}) is None
    assert not any(run.iterdir())                                                   # other config: restarted
    interrupted()
    other_file = {**same, "provenance": {"materials": {"sha256": "m2"}}}
    assert prepare_run_dir(run, False, "student", same_run=other_file) is None    # other materials: restarted
    interrupted()
    assert prepare_run_dir(run, True, "student", same_run=same) is None           # --overwrite: restarted
    write_run(run, _info(complete=True))
    with pytest.raises(DistillError, match="finished student run"):
        prepare_run_dir(run, False, "student", same_run=same)
    assert finished_results(run, "student") is None   # no eval_results.json
    (run / "eval_results.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    assert finished_results(run, "student") == {"test": {"accuracy": 0.5}}
    assert finished_results(run, "teacher") is None


def test_prepare_refuses_a_file_and_a_foreign_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DistillError, match="not a folder"):
        prepare_run_dir(tmp_path / "file", False, "teacher")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep")
    with pytest.raises(DistillError, match="not a teacher run"):
        prepare_run_dir(tmp_path / "notes", True, "teacher")
    assert (tmp_path / "notes" / "a.txt").read_text() == "keep"
