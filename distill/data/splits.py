"""Seeded train/dev(/test) splits of one table's rows, stratified by label, optionally grouped.

`split_rows(labels, shares, seed, groups=None)` returns, per split, the row
numbers it takes, in file order. The same labels, groups, shares and seed
always give the same rows (scikit-learn's splitters with a fixed
`random_state`), so a split is a pure function of a file and its task name.

- Without groups: `train_test_split(stratify=labels)` twice, first the test
  rows off the whole, then the dev rows off the rest (with `80/20`, once).
  Split sizes are the shares of the row count, rounded by largest remainder;
  each label's rows in a split are its share of that split rounded up or down,
  so with two labels every label's count in every split is within one row of
  its overall share (with more labels, within two: the roundings of the two
  steps can add up). A label with fewer rows than there are splits, or a
  split with fewer rows than there are labels (what scikit-learn needs to
  stratify), is an error naming the label and its count, or the split.
- With groups: `StratifiedGroupKFold` into 100/gcd(shares) equal folds (10 for
  80/10/10, 5 for 80/20), shuffled by the seed; the first folds are train, the
  next dev, the last test. A group never lands in two splits and label shares
  are kept as close as whole groups allow (it balances label distributions
  across folds, unlike `GroupShuffleSplit`, which ignores labels). It places
  the groups most skewed to one label first, into the first folds: so train
  comes first, and a rare label's groups go to train rather than test. It
  needs at least as many groups as folds; a column with one group, a split
  left empty, or a label with no train row are errors.
"""

from __future__ import annotations

import warnings

import numpy as np

from distill.data.spec import split_folds
from distill.errors import DistillError

SPLIT_NAMES = ("train", "dev", "test")


def split_rows(labels: np.ndarray, shares: tuple[int, ...], seed: int, groups: list[str] | None = None, *,
               label_names: list[str], where: str, group_column: str | None = None) -> dict[str, np.ndarray]:
    """{split: sorted row numbers} for `shares` (train, dev[, test] percentages); `where` names the file."""
    labels = np.asarray(labels)
    shown = "/".join(map(str, shares))
    counts = np.bincount(labels, minlength=len(label_names))
    for label in np.argsort(counts, kind="stable"):
        if 0 < counts[label] < len(shares):
            raise DistillError(f"{where}: label {label_names[label]!r} has only {counts[label]} row(s); a stratified "
                               f"{shown} split needs at least {len(shares)} of every label (one per split)")
    if groups is None:
        rows = _stratified(labels, shares, seed, label_names, where)
    else:
        rows = _grouped(labels, np.asarray(groups), shares, seed, label_names, where, group_column)
    return {name: np.sort(r) for name, r in zip(SPLIT_NAMES, rows)}


def split_sizes(n: int, shares: tuple[int, ...]) -> list[int]:
    """Rows per split: `n * share / 100` rounded by largest remainder (ties to the earlier split), summing to n."""
    exact = [n * s / 100 for s in shares]
    sizes = [int(x) for x in exact]
    for i in sorted(range(len(shares)), key=lambda i: -(exact[i] - sizes[i]))[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _stratified(labels, shares, seed, label_names, where) -> list[np.ndarray]:
    from sklearn.model_selection import train_test_split

    sizes = split_sizes(len(labels), shares)
    n_labels = len(np.unique(labels))
    shown = "/".join(map(str, shares))
    for name, size in zip(SPLIT_NAMES, sizes):
        if size < n_labels:
            empty = "would be empty" if size == 0 else f"would have {size} row(s), fewer than the {n_labels} labels"
            raise DistillError(f"{where}: {len(labels):,} rows are too few for a stratified {shown} split: the {name} "
                               f"split {empty}; give it a larger share or use more rows")
    rows = np.arange(len(labels))
    if len(shares) == 2:
        return list(train_test_split(rows, test_size=sizes[1], stratify=labels, random_state=seed))
    rest, test = train_test_split(rows, test_size=sizes[2], stratify=labels, random_state=seed)
    left = np.bincount(labels[rest], minlength=len(label_names))
    for label in np.flatnonzero(left == 1):   # train_test_split cannot stratify a label with a single row
        raise DistillError(f"{where}: label {label_names[label]!r} has only {np.sum(labels == label)} rows, too few "
                           f"to stratify a {shown} split (one is left for train and dev after the test rows)")
    train, dev = train_test_split(rest, test_size=sizes[1], stratify=labels[rest], random_state=seed)
    return [train, dev, test]


def _grouped(labels, groups, shares, seed, label_names, where, group_column) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedGroupKFold

    shown = "/".join(map(str, shares))
    n_folds = split_folds(shares)
    distinct = np.unique(groups)
    if len(distinct) == 1:
        raise DistillError(f"{where}: column {group_column!r} holds one group ({str(distinct[0])!r}) on all "
                           f"{len(labels):,} rows; a grouped {shown} split needs at least {n_folds} groups")
    if len(distinct) < n_folds:
        raise DistillError(f"{where}: column {group_column!r} has {len(distinct)} groups, too few for a grouped "
                           f"{shown} split ({n_folds} folds of {100 // n_folds}%: at least {n_folds} groups)")
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():   # "least populated class has fewer members than n_splits": checked above
        warnings.simplefilter("ignore", UserWarning)
        fold_rows = [held_out for _, held_out in folds.split(np.zeros(len(labels)), labels, groups)]
    ends = np.cumsum([s * n_folds // 100 for s in shares])   # train's folds first, then dev's, then test's
    rows = [np.concatenate(fold_rows[start:end]).astype(np.int64) for start, end in zip([0, *ends[:-1]], ends)]
    for name, part in zip(SPLIT_NAMES, rows):
        if len(part) == 0:
            raise DistillError(f"{where}: the grouped {shown} split left the {name} split empty; use more groups "
                               f"in column {group_column!r} or a larger {name} share")
    in_train = np.bincount(labels[rows[0]], minlength=len(label_names))
    for label in np.flatnonzero((in_train == 0) & (np.bincount(labels, minlength=len(label_names)) > 0)):
        n_groups = len(np.unique(groups[labels == label]))
        raise DistillError(f"{where}: label {label_names[label]!r} has no train row after the grouped {shown} split "
                           f"(its {int(np.sum(labels == label))} rows are in {n_groups} group(s) of column "
                           f"{group_column!r}); add rows of it in more groups, or split without --group-column")
    return rows
