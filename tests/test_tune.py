"""teachers.tune: a grid sorted by dev score, the best setting over seeds as mean ± sd, reused on re-run."""

import dataclasses
import json

import numpy as np
import pytest

from distill.data.synthetic import marker_task
from distill.errors import DistillError
from teachers.testing import TINY_FINETUNE, tiny_teacher, tiny_vocab
from teachers.tune import Tuner


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    vocab = tiny_vocab(root / "vocab.txt")
    task = marker_task(n_train=96, n_dev=48, n_test=48, seed=2)
    base = dataclasses.replace(TINY_FINETUNE, epochs=2)
    lines = []
    tuner = Tuner(base, batch_sizes=[16, 32], lrs=[3e-3], seeds=2, progress=False, echo=lines.append)
    tuner.fit(lambda: tiny_teacher(vocab, seed=None), task, root / "search")
    return tuner, lines, vocab, task, root


def test_grid_is_sorted_by_dev_score(search):
    tuner, lines, *_ = search
    scores = [t.score for t in tuner.grid_]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert {t.params["batch_size"] for t in tuner.grid_} == {16, 32}
    assert tuner.best_params_ == tuner.grid_[0].params
    for trial in tuner.grid_:
        assert trial.score == trial.dev["accuracy"]
    table = tuner.grid_table().splitlines()
    assert table[0].split()[:4] == ["rank", "batch_size", "lr", "dev_accuracy"]
    assert [row.split()[0] for row in table[2:]] == ["1", "2"]
    assert tuner.grid_table() in "\n".join(lines)


def test_best_setting_over_seeds_as_mean_and_sd(search):
    tuner, lines, *_ = search
    assert [t.seed for t in tuner.seed_trials_] == [1, 2]
    assert all(t.params == tuner.best_params_ for t in tuner.seed_trials_)
    for split in ("dev", "test"):
        values = [getattr(t, split)["accuracy"] for t in tuner.seed_trials_]
        stat = tuner.summary_.stats[split]["accuracy"]
        assert stat["values"] == values
        assert stat["mean"] == pytest.approx(np.mean(values)) and stat["sd"] == pytest.approx(np.std(values, ddof=1))
    assert "±" in tuner.summary_table() and tuner.summary_table() in "\n".join(lines)
    saved = json.loads((tuner.out_dir_ / "tune_results.json").read_text())
    assert saved["best_params"] == tuner.best_params_ and len(saved["grid"]) == 2 and len(saved["seeds"]) == 2
    assert (tuner.out_dir_ / "seeds" / "seed1" / "model.keras").exists()
    assert not (tuner.out_dir_ / "grid" / "bs16-lr0.003" / "model.keras").exists()


def test_rerun_reuses_finished_trials(search):
    tuner, _, vocab, task, root = search
    lines = []
    again = Tuner(tuner.base, batch_sizes=[16, 32], lrs=[3e-3], seeds=2, progress=False, echo=lines.append)
    again.fit(lambda: pytest.fail("a finished trial was trained again"), task, root / "search")
    assert sum("reusing" in line for line in lines) == 4
    assert [t.score for t in again.grid_] == [t.score for t in tuner.grid_]
    assert again.summary_.stats == tuner.summary_.stats


def test_rejects_an_empty_grid():
    with pytest.raises(DistillError, match="at least one"):
        Tuner(batch_sizes=[], lrs=[1e-3])
    with pytest.raises(DistillError, match="seeds"):
        Tuner(seeds=0)
