"""Training curves: the TensorBoard scalars of a run, read back and plotted.

Owns `read_scalars` (every scalar under a run's `tensorboard/` folder),
`pick_curves` (the dev-accuracy and training-loss series among them, by the
tag names `distill.runfiles` defines and the training engine writes) and
`plot_training_curves` (one PNG per task and kind, one line per seed).
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.app.report.plots import new_figure, save_png
from distill.errors import DistillError
from distill.runfiles import TAG_BATCH_LOSS, TAG_DEV_ACCURACY, TAG_TRAIN_LOSS

EVENT_PREFIX = "events.out.tfevents"


def read_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar under a TensorBoard log folder: "subdir/tag" -> [(step, value)] sorted by step.

    Reads TF2 summaries (stored as tensors) and TF1 ones (simple values);
    when a resumed run logged a step twice the later value wins.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    logdir = Path(logdir)
    scalars: dict[str, list[tuple[int, float]]] = {}
    if not logdir.is_dir():
        return scalars
    for dirpath, dirnames, filenames in sorted(os.walk(logdir)):
        dirnames.sort()
        if not any(f.startswith(EVENT_PREFIX) for f in filenames):
            continue
        sub = Path(dirpath).relative_to(logdir).as_posix()
        acc = ea.EventAccumulator(dirpath, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
        try:
            acc.Reload()
        except Exception as exc:   # a truncated event file from a killed run: say which
            raise DistillError(f"{dirpath}: cannot read TensorBoard events ({exc})") from None
        tags = acc.Tags()
        series = {}
        for tag in tags.get("scalars", []):
            series[tag] = [(e.step, float(e.value)) for e in acc.Scalars(tag)]
        for tag in tags.get("tensors", []):
            values = []
            for e in acc.Tensors(tag):
                array = tensor_util.make_ndarray(e.tensor_proto)
                if array.size == 1 and array.dtype.kind in "fiu":
                    values.append((e.step, float(array.reshape(-1)[0])))
            if values:
                series[tag] = values
        for tag, values in series.items():
            by_step = dict(values)
            scalars[f"{sub}/{tag}" if sub != "." else tag] = sorted(by_step.items())
    return scalars


def pick_curves(scalars: dict) -> dict:
    """The dev-accuracy-per-epoch and training-loss series among a run's scalars.

    Dev accuracy is `TAG_DEV_ACCURACY` (by epoch); training loss is
    `TAG_BATCH_LOSS` (the epoch's running mean after each batch, by step)
    when logged, else `TAG_TRAIN_LOSS` (by epoch). Returns {"dev_accuracy":
    (tag, series) | None, "loss": (tag, series, "per batch" | "per epoch") | None}.
    """
    dev = (TAG_DEV_ACCURACY, scalars[TAG_DEV_ACCURACY]) if scalars.get(TAG_DEV_ACCURACY) else None
    if scalars.get(TAG_BATCH_LOSS):
        loss = (TAG_BATCH_LOSS, scalars[TAG_BATCH_LOSS], "per batch")
    elif scalars.get(TAG_TRAIN_LOSS):
        loss = (TAG_TRAIN_LOSS, scalars[TAG_TRAIN_LOSS], "per epoch")
    else:
        loss = None
    return {"dev_accuracy": dev, "loss": loss}


def _smooth(values: list[float]) -> list[float]:
    """TensorBoard-style debiased EMA; weight grows with the series so short curves are not flattened."""
    n = len(values)
    weight = 0.0 if n < 20 else 0.6 if n < 200 else 0.9
    out, last = [], 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out.append(last / (1 - weight ** (i + 1)))
    return out


def plot_training_curves(groups: list[dict], path: str | os.PathLike, title: str) -> dict:
    """Dev accuracy per epoch and training loss for groups of runs, one colour per group.

    `groups` is [{"label": str, "runs": [{"seed": ..., "scalars": read_scalars(...)}]}]; every
    seed is its own line. Loss is drawn as logged (faint when a smoothed line is drawn over it).
    Long series are also drawn smoothed. Returns the plotted series per group and the Figure.
    """
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(12, 4.8)
    ax_acc, ax_loss = fig.subplots(1, 2)
    drawn = {}
    loss_units, smoothed, all_losses = set(), False, []
    colours = [f"C{i}" for i in range(10)]
    for i, group in enumerate(groups):
        colour = colours[i % len(colours)]
        entry = drawn.setdefault(group["label"], {"dev_accuracy": [], "loss": []})
        for j, run in enumerate(group["runs"]):
            picked = pick_curves(run["scalars"])
            label = group["label"] if j == 0 else None
            if picked["dev_accuracy"]:
                tag, series = picked["dev_accuracy"]
                steps, values = zip(*series)
                ax_acc.plot(steps, [100 * v for v in values], marker="o", markersize=4, color=colour,
                            label=label, gid=f"acc:{group['label']}:{run['seed']}")
                entry["dev_accuracy"].append({"seed": run["seed"], "tag": tag, "steps": list(steps),
                                              "values": list(values)})
            if picked["loss"]:
                tag, series, unit = picked["loss"]
                loss_units.add(unit)
                steps, values = zip(*series)
                all_losses += values
                if len(values) >= 20:
                    smoothed = True
                    ax_loss.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
                ax_loss.plot(steps, _smooth(list(values)), color=colour, linewidth=1.5, label=label,
                             gid=f"loss:{group['label']}:{run['seed']}")
                entry["loss"].append({"seed": run["seed"], "tag": tag, "unit": unit, "steps": list(steps),
                                      "values": list(values)})
    ax_acc.set_xlabel("epoch (as logged)")
    ax_acc.set_ylabel("dev accuracy (%)")
    ax_acc.set_title("dev accuracy per epoch")
    unit = next(iter(loss_units)) if len(loss_units) == 1 else "per batch or epoch"
    ax_loss.set_xlabel("training step (batch)" if unit == "per batch" else "epoch (as logged)")
    ax_loss.set_ylabel("training loss (log scale)" if all_losses and min(all_losses) > 0 else "training loss")
    if all_losses and min(all_losses) > 0:   # objectives (mse, kl, ce) differ in scale: compare shapes
        ax_loss.set_yscale("log")
    ax_loss.set_title(f"training loss {unit}" + (" (faint: as logged, solid: smoothed)" if smoothed else ""))
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_acc, ax_loss):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, title="one line per seed", title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, Path(path))
    return {"groups": drawn, "figure": fig}


