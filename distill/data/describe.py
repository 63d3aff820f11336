"""Human-readable summaries of a task: `describe_task` (sizes, label balance) and `show_task` (rows).

These are what `distill data prepare` and `distill data show` print, so a
user can check a split before spending hours on a teacher: are the splits the
expected size, is the label balance similar in each, are any labels missing,
do grouped splits really keep groups apart, and (for one file split here)
which split of its rows this is.
"""

from __future__ import annotations

import re

import numpy as np

from distill.data.dataset import UNKNOWN_LABEL, Task

TEXT_WIDTH = 110


def describe_task(task: Task) -> str:
    """Split sizes, per-label counts and percentages, pair or not, groups, content sha256 prefix."""
    total = sum(len(d) for d in task.splits.values())
    kind = "sentence pairs" if task.is_pair else "single sentences"
    sources = sorted({d.source_id for d in task.splits.values()})
    lines = [
        f"task {task.name}: {total:,} rows, {kind}, {len(task.label_names)} labels "
        f"({', '.join(task.label_names)}), primary metric {task.primary_metric}",
        f"source {', '.join(sources)}; sha256 {task.sha256[:12]}",
    ]
    unlabeled = any(np.any(d.labels == UNKNOWN_LABEL) for d in task.splits.values())
    grouped = all(d.groups is not None for d in task.splits.values())
    headers = ["split", "rows", *task.label_names]
    headers += (["unlabeled"] if unlabeled else []) + (["groups"] if grouped else [])
    table = []
    for name, data in task.splits.items():
        n = len(data)
        counts = np.bincount(data.labels[data.labels >= 0], minlength=len(task.label_names))
        cells = [name, f"{n:,}"] + [f"{c:,} ({100 * c / n:.1f}%)" for c in counts]
        if unlabeled:
            cells.append(f"{int(np.sum(data.labels == UNKNOWN_LABEL)):,}")
        if grouped:
            cells.append(f"{len(set(data.groups)):,}")
        table.append(cells)
    widths = [max(len(row[i]) for row in [headers, *table]) for i in range(len(headers))]
    for row in [headers, *table]:
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells))
    if grouped:
        lines.append(f"groups in more than one split: {_shared_groups(task)}")
    if task.split_rows is not None:
        lines.append(f"split here from one file: source rows sha256 {task.split_sha256[:12]} (part of the task sha256)")
    return "\n".join(lines)


def _shared_groups(task: Task) -> int:
    seen: dict[str, str] = {}
    shared = set()
    for name, data in task.splits.items():
        for group in set(data.groups):
            if seen.setdefault(group, name) != name:
                shared.add(group)
    return len(shared)


def show_task(task: Task, rows: int = 3) -> str:
    """The first `rows` rows of each split as `[label] text` (and `||| text_b` for pairs)."""
    lines = [f"task {task.name} ({'sentence pairs' if task.is_pair else 'single sentences'})"]
    for name, data in task.splits.items():
        lines.append(f"{name} ({len(data):,} rows):")
        for i in range(min(rows, len(data))):
            label = int(data.labels[i])
            tag = "?" if label == UNKNOWN_LABEL else data.label_names[label]
            text = _clip(data.texts[i])
            if data.texts_b is not None:
                text += " ||| " + _clip(data.texts_b[i])
            lines.append(f"  [{tag}] {text}")
    return "\n".join(lines)


def _clip(text: str, width: int = TEXT_WIDTH) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= width else text[: width - 3] + "..."
