"""The accuracy-vs-speed plot of one task, and the figure plumbing the report's plots share.

Owns `plot_accuracy_vs_speed` (test accuracy against it/s on a log axis,
error bars over seeds, the Pareto front, presets as vertical lines),
`pareto_front`, the label layout that keeps point names from overlapping
(`_label_points`), `plot_pretraining` (a pretraining run: fine-tuned
accuracy against pretraining epochs, each fine-tuning's validation curve,
the MLM loss), and `new_figure` / `save_png`: figures drawn by Agg without
pyplot, written atomically.
"""

from __future__ import annotations

import json
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


NETWORK_KEYS = ("arch", "embedding", "filters", "widths")
"""Student config keys that make the same network, hence the same speed up to measurement noise."""


def _same_network_same_speed(points: list[tuple[float, float]], networks: list) -> list[tuple[float, float]]:
    """`points` with every student of one network at their median speed: three seeds or losses of one
    network are not faster or slower than each other, whatever one timing said."""
    import statistics

    speeds: dict[str, list[float]] = {}
    for (x, _), network in zip(points, networks):
        if network is not None:
            speeds.setdefault(network, []).append(x)
    return [((statistics.median(speeds[n]) if n is not None else x), y) for (x, y), n in zip(points, networks)]


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
    points, labels, networks, drawn = [], [], [], {}
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
            networks.append(json.dumps([kind] + [r.get("config", {}).get(k) for k in NETWORK_KEYS], default=str)
                            if kind == "student" else None)
    front = pareto_front(_same_network_same_speed(points, networks))
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




def plot_pretraining(summary: dict, path: str | os.PathLike) -> dict | None:
    """A pretraining run's PNG (`tables.pretraining_summary`'s dict); None when there is nothing to draw.

    With fine-tunings: left, fine-tuned dev and test accuracy against the pretraining epoch (and the
    dev MLM accuracy on a twin axis); middle, each fine-tuning's dev accuracy per fine-tuning epoch,
    coloured by its pretraining epoch (viridis, with a colorbar). Always (when epochs.jsonl has
    epochs): right, the train and dev MLM loss per pretraining epoch. Returns what was drawn and the
    Figure (for tests).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    finetunes, history = summary["finetunes"], summary["history"]
    if not finetunes and not history:
        return None
    panels = 3 if finetunes else 1
    fig = new_figure(5.2 * panels, 4.6)
    axes = list(fig.subplots(1, panels)) if panels > 1 else [fig.add_subplot()]
    drawn: dict = {}
    if finetunes:
        ax, ax_curves = axes[0], axes[1]
        epochs = [f["pretrain_epoch"] for f in finetunes]
        for key, colour, marker in (("dev_accuracy", "tab:blue", "o"), ("test_accuracy", "tab:orange", "s")):
            points = [(e, 100 * f[key]) for e, f in zip(epochs, finetunes) if f[key] is not None]
            if points:
                ax.plot(*zip(*points), marker=marker, color=colour, gid=f"finetuned-{key}",
                        label=f"fine-tuned {key.split('_')[0]} accuracy")
                drawn[key] = points
        mlm = [(e, 100 * f["mlm_dev_accuracy"]) for e, f in zip(epochs, finetunes) if f["mlm_dev_accuracy"] is not None]
        if mlm:
            twin = ax.twinx()
            twin.plot(*zip(*mlm), marker="^", linestyle="--", color="grey", gid="mlm-dev-accuracy",
                      label="dev MLM accuracy (right axis)")
            twin.set_ylabel("dev MLM accuracy (%)", color="dimgrey")
            drawn["mlm_dev_accuracy"] = mlm
            handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
            ax.legend(handles=handles, fontsize=8, loc="best")
        elif drawn:
            ax.legend(fontsize=8, loc="best")
        tasks = ", ".join(summary["finetune_tasks"]) or "the task"
        ax.set_xlabel("pretraining epoch (0: before pretraining)")
        ax.set_ylabel(f"fine-tuned accuracy on {tasks} (%)")
        ax.set_title("fine-tuned accuracy against pretraining")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)

        norm = Normalize(min(epochs), max(epochs) if max(epochs) > min(epochs) else min(epochs) + 1)
        cmap = colormaps["viridis"]
        drawn["curves"] = {}
        for e, f in zip(epochs, finetunes):
            points = [(c["epoch"], 100 * c["dev_accuracy"]) for c in f["curve"]
                      if isinstance(c.get("epoch"), (int, float)) and isinstance(c.get("dev_accuracy"), (int, float))]
            if points:
                ax_curves.plot(*zip(*points), marker="o", markersize=3, color=cmap(norm(e)), gid=f"curve-{e}")
                drawn["curves"][e] = points
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax_curves)
        bar.set_ticks(sorted(set(epochs)))
        bar.set_label("pretraining epoch")
        steps = [x for points in drawn["curves"].values() for x, _ in points]
        if steps and max(steps) - min(steps) < 2:   # one or two fine-tuning epochs: no fractional ticks
            ax_curves.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
        ax_curves.set_xlabel("fine-tuning epoch")
        ax_curves.set_ylabel("dev accuracy (%)")
        ax_curves.set_title("each fine-tuning's validation curve")
        ax_curves.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_curves.grid(True, alpha=0.3)
    ax_mlm = axes[-1]
    start = next((f["mlm_dev_loss"] for f in finetunes if f["pretrain_epoch"] == 0 and f["mlm_dev_loss"] is not None),
                 None)
    for key, colour in (("train_loss", "tab:blue"), ("dev_loss", "tab:red")):
        points = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
        if key == "dev_loss" and start is not None and all(e != 0 for e, _ in points):
            points.insert(0, (0, start))
        if points:
            ax_mlm.plot(*zip(*points), marker="o", markersize=3, color=colour, gid=f"mlm-{key}",
                        label=f"{key.split('_')[0]} MLM loss")
            drawn[f"mlm_{key}"] = points
    ax_mlm.set_xlabel("pretraining epoch")
    ax_mlm.set_ylabel("masked-LM loss (cross-entropy)")
    ax_mlm.set_title("masked-LM loss")
    ax_mlm.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_mlm.grid(True, alpha=0.3)
    if ax_mlm.get_legend_handles_labels()[0]:
        ax_mlm.legend(fontsize=8)
    fig.suptitle(f"pretraining {summary['name']} on {summary['corpus']} ({summary['folder']})")
    fig.tight_layout()
    save_png(fig, Path(path))
    return {"points": drawn, "figure": fig}
