"""The accuracy-vs-speed plot of one task, and the figure plumbing the report's plots share.

Owns `plot_accuracy_vs_speed` (test accuracy against it/s on a log axis,
error bars over seeds, the Pareto front, presets as vertical lines),
`pareto_front`, the label layout that keeps point names from overlapping
(`_label_points`), and `new_figure` / `save_png`: figures drawn by Agg
without pyplot, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.app.report.tables import speed_words


def new_figure(width: float, height: float):
    """A figure drawn by Agg directly, never through pyplot: no global backend state, no GUI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both speed and accuracy, fastest first."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(x2 >= x and y2 >= y and (x2 > x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: -points[i][0])


def plot_accuracy_vs_speed(table: dict, path: str | os.PathLike) -> dict:
    """Test accuracy (%) against it/s (log x) for one task; returns what was drawn.

    Teachers and students get different markers and colours, error bars are
    the sd over seeds, the dashed line is the Pareto front, and
    random-weight presets (no accuracy) are vertical dotted lines at their
    it/s. The returned dict holds the plotted points and the Figure (for tests).
    """
    split = "test" if any("accuracy" in r["test"] for r in table["rows"]) else "dev"
    fig = new_figure(8, 5.5)
    ax = fig.add_subplot()
    style = {"teacher": dict(marker="s", color="tab:blue", label="teacher (fine-tuned)"),
             "student": dict(marker="o", color="tab:orange", label="student (CNN)")}
    points, labels, drawn = [], [], {}
    for kind, st in style.items():
        rows = [r for r in table["rows"] if r["kind"] == kind and r["it_per_s"] and "accuracy" in r[split]]
        if not rows:
            continue
        xs = [r["it_per_s"] for r in rows]
        ys = [100 * r[split]["accuracy"]["mean"] for r in rows]
        err = [100 * (r[split]["accuracy"]["sd"] or 0.0) for r in rows]
        bars = ax.errorbar(xs, ys, yerr=err, linestyle="none", markersize=8, capsize=3, **st)
        bars.lines[0].set_gid(f"{kind}-points")
        drawn[kind] = [{"model": r["model"], "it_per_s": x, "accuracy": y / 100} for r, x, y in zip(rows, xs, ys)]
        for r, x, y in zip(rows, xs, ys):
            points.append((x, y))
            labels.append(r["model"])
    front = pareto_front(points)
    if front:
        line, = ax.plot([points[i][0] for i in front], [points[i][1] for i in front], linestyle="--",
                        color="tab:green", linewidth=1.2, zorder=0, label="Pareto front")
        line.set_gid("pareto")
    presets = [r for r in table["rows"] if r["kind"] not in style and r["it_per_s"]]
    for k, r in enumerate(presets):
        ax.axvline(r["it_per_s"], linestyle=":", color="grey", gid=f"preset-{k}",
                   label="no accuracy, it/s only (presets)" if k == 0 else None)
        ax.text(r["it_per_s"], 0.02, f" {r['model']}", rotation=90, fontsize=8, color="dimgrey",
                transform=ax.get_xaxis_transform(), va="bottom", ha="right")
    xs_all = [p[0] for p in points] + [r["it_per_s"] for r in presets]
    ax.set_xscale("log")
    if xs_all:
        ax.set_xlim(min(xs_all) / 2, max(xs_all) * 2)
    if points:
        lo, hi = min(p[1] for p in points), max(p[1] for p in points)
        pad = max(2.0, (hi - lo) * 0.15)
        ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))
    ax.set_xlabel(f"throughput (examples/s, log scale; {speed_words(table)})")
    ax.set_ylabel(f"{split} accuracy (%)")
    ax.set_title(f"{table['task']}: {split} accuracy vs throughput (error bars: sd over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    if points or presets:
        ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    _label_points(ax, points, labels)
    save_png(fig, Path(path))
    return {"split": split, "points": drawn, "pareto": [labels[i] for i in front],
            "presets": [{"model": r["model"], "it_per_s": r["it_per_s"]} for r in presets], "figure": fig}


def _label_points(ax, points: list[tuple[float, float]], labels: list[str], fontsize: int = 8) -> None:
    """Name each point without labels overlapping: points in the right half of the axes are labelled on
    their left (so names stay inside the figure), the others on their right; on each side labels are
    stacked at least one text line apart, joined to their point by a thin line when moved."""
    if not points:
        return
    to_pixels = ax.transData.transform
    left, right = ax.get_window_extent().x0, ax.get_window_extent().x1
    line = fontsize * ax.figure.dpi / 72 * 1.35
    sides: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    for i, point in enumerate(points):
        px, py = to_pixels(point)
        sides[px > (left + right) / 2].append((py, px, i))
    for on_left, items in sides.items():
        previous = None
        for py, px, i in sorted(items, reverse=True):        # top to bottom
            target = py if previous is None else min(py, previous - line)
            previous = target
            moved = abs(target - py) > 1
            ax.annotate(labels[i], points[i], xytext=(-12 if on_left else 12, target - py), textcoords="offset pixels",
                        fontsize=fontsize, ha="right" if on_left else "left", va="center",
                        arrowprops=dict(arrowstyle="-", color="grey", linewidth=0.5) if moved else None)


