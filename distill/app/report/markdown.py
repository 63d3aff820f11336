"""`distill report`'s output: the Markdown page, report.json, and `write_report` that makes them.

Owns `write_report` (collect a runs folder, build the tables, draw the
plots and curves, write `report.md` and `report.json`), `task_table_markdown`,
`distillation_sentence` (under each task table: what distillation bought, at
what speed) and the other Markdown sections (bench detail, pretraining runs,
materials, skipped runs).

Why it/s comes from `distill bench` and not from the runs: only the bench
measures every model one after another on the same inputs and machine, so
only its numbers can be divided by each other. A run's own evaluation speed
is used (and marked) only where no bench row exists.

Nothing here writes outside the output folder; every file is written to a
temporary name and renamed, so a killed report leaves the previous one whole.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from distill.app.report.collect import RUN_KINDS, collect
from distill.app.report.curves import plot_training_curves, read_scalars
from distill.app.report.plots import plot_accuracy_vs_speed, plot_pretraining
from distill.app.report.tables import (EVAL_MODE, PREFERRED_MODE, build_tables, group_runs, pretraining_summary, role,
                                       setting, speed_words)
from distill.errors import DistillError
from distill.overwrite import check_regenerable, json_schema, starts_with
from distill.runfiles import TENSORBOARD_DIR, check_writable

SCHEMA = "distill.app.report/1"


@dataclass
class Report:
    """Where the report went, and what it holds (the report.json content)."""

    markdown: Path
    json: Path
    images: list[Path]
    data: dict


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "task"


def _pct(stat: dict | None) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    text = f"{100 * stat['mean']:.2f}"
    return text + (f" ± {100 * stat['sd']:.2f}" if stat.get("sd") is not None else "")


def _num(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _params(n) -> str:
    if not isinstance(n, (int, float)):
        return "—"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(int(n))


def task_table_markdown(table: dict) -> str:
    """The Markdown table of one task (numbers as in report.json: accuracy in %, sd over seeds)."""
    primary = table["primary_metric"]
    teachers = table["teachers"]
    header = ["role", "model", "params (trainable)", "seeds", "dev acc (%)", "test acc (%)"]
    if primary != "accuracy":
        header.append(f"test {primary} (%)")
    header.append("it/s")
    header += [f"speed-up vs {t}" for t in teachers] + [f"acc kept vs {t} (%)" for t in teachers]
    default = (table["batch_size"], PREFERRED_MODE)
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "|".join(["---:"] * (len(header) - 2)) + "|"]
    notes = set()
    for r in table["rows"]:
        speed = r["speed"]
        its = _num(r["it_per_s"], ",.1f")
        if speed and (speed["batch_size"], speed["mode"]) != default:
            its += f" ({setting(speed['batch_size'], speed['mode'])})"
            notes.add("it/s in brackets were measured in another setting than the header's")
        cells = [r.get("role", r["kind"]), r["model"], _params_split(r.get("params"), r.get("trainable_params")),
                 str(len(r["seeds"])) if r["seeds"] else "—",
                 _pct(r["dev"].get("accuracy")), _pct(r["test"].get("accuracy"))]
        if primary != "accuracy":
            cells.append(_pct(r["test"].get(primary)))
        cells.append(its)
        cells += [f"{r['speedup'][t]:.2f}×" if t in r["speedup"] else "—" for t in teachers]
        cells += [f"{r['accuracy_kept'][t]['percent']:.1f}" + (" (dev)" if r["accuracy_kept"][t]["split"] == "dev"
                                                               else "") if t in r["accuracy_kept"] else "—"
                  for t in teachers]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    text = "\n".join(lines)
    for note in sorted(notes):
        text += f"\n\n_{note}._"
    return text


def _params_split(params, trainable) -> str:
    """"12.18M (0.46M)": all parameters, and in brackets the trainable ones when some are frozen (a
    student's static word table is most of its size but is not learned)."""
    text = _params(params)
    if isinstance(params, int) and isinstance(trainable, int) and trainable < params:
        text += f" ({_params(trainable)})"
    return text


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _test_pct(side: dict) -> str:
    sd = f" ± {side['test_sd_pct']:.2f}" if side["test_sd_pct"] is not None else ""
    return f"{side['test_mean_pct']:.2f}{sd}%"


def _same_network_speed(gain: dict) -> str | None:
    """"same architecture: 9,812 it/s, 52.8× the teacher's", or None without the student's it/s."""
    its = gain["distilled"]["it_per_s"]
    if not its:
        return None
    speedup = gain["speedup_vs_teacher"]
    return f"same architecture: {its:,.0f} it/s" + (f", {speedup:.1f}× the teacher's" if speedup else "")


def distillation_sentence(gain: dict) -> str:
    """One sentence under a task table: the distilled student picked on dev against the same network
    trained on gold labels only (`tables.distillation_gain`), on test, and what it costs in speed (none:
    the same network; the teacher's fine-tuning and the materials are paid once)."""
    d, b = gain["distilled"], gain["baseline"]
    points = f"{gain['difference_points']:+.2f}".replace("-", "−")
    text = (f"**What distillation bought:** {d['model']} ({_seeds(d['seeds'])}) {_test_pct(d)} test vs "
            f"{_test_pct(b)} for the same student trained on gold labels only ({b['model']}, "
            f"{_seeds(b['seeds'])}): {points} points")
    interval = gain.get("interval_points")
    if interval:
        text += f" ({_interval(interval)})"
        if interval["low"] <= 0 <= interval["high"]:
            text += "; the interval includes 0, so on this test set the gain is not distinguishable from noise"
    speed = _same_network_speed(gain)
    if gain["difference_points"] < 0:
        text += ": distillation did not pay here" + (f" ({speed})." if speed else ".")
    else:
        text += ((f", at no cost in speed ({speed})" if speed else "")
                 + "; the cost is paid once, in the teacher's fine-tuning and the teaching materials.")
    gap = gain.get("teacher_gap")
    if gap and gain.get("teacher"):
        text += (f" **Distance to the teacher:** {gap['difference']:+.2f} points".replace("-", "−")
                 + f" ({_interval(gap)}).")
    return text


def _interval(interval: dict) -> str:
    """A paired bootstrap interval in points, in words."""
    low, high = (f"{interval[k]:+.2f}".replace("-", "−") for k in ("low", "high"))
    return (f"{100 * interval['confidence']:.0f}% paired bootstrap interval over the {interval['rows']:,} test "
            f"rows: {low} to {high}")


def _bench_detail_markdown(table: dict) -> str:
    lines = ["| model | batch | input | it/s median | min–max | repeats | GFLOP/s | bench file |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for r in table["rows"]:
        for b in sorted(r["bench"], key=lambda b: (b["batch_size"], b["mode"])):
            s = b["it_per_s"]
            lines.append(f"| {r['model']} | {b['batch_size']} | {b['mode']} | {s['median']:,.1f} | "
                         f"{_num(s.get('min'), ',.1f')}–{_num(s.get('max'), ',.1f')} | {s.get('repeats', '—')} | "
                         f"{_num(b.get('gflops'), '.1f')} | {Path(b['source']).parent.name} |")
    return "\n".join(lines) if len(lines) > 2 else ""


PRETRAIN_HEADER = ("| pretraining epoch | dev MLM loss | dev MLM accuracy | fine-tuned dev accuracy | "
                   "fine-tuned test accuracy | best fine-tuning epoch |")


def _pct1(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def pretraining_markdown(summary: dict, image: str | None) -> str:
    """One pretraining run: heading, throughput, last MLM numbers, fine-tuned accuracy per pretraining
    epoch (when it was fine-tuned as it learned) and its PNG."""
    planned = f" of {summary['epochs_planned']}" if summary["epochs_planned"] else ""
    lines = [f"### {summary['name']} on {summary['corpus']}: {summary['epochs_run']}{planned} epochs, "
             f"{summary['status']}", ""]
    start = "random init" if summary["random_init"] else (summary["start"] or "unknown")
    lines.append(f"`{summary['path']}`; {_params(summary['params'])} parameters; start: {start}.")
    t = summary["throughput"]
    if t.get("tokens_per_s") is not None:
        extra = ""
        if t.get("train_flops_per_token"):
            extra += f"; {t['train_flops_per_token']:,.0f} training FLOPs per token"
        if t.get("mean_row_tokens"):
            extra += f", rows of {t['mean_row_tokens']:.1f} tokens on average"
        lines += ["", f"Throughput: **{t['tokens_per_s']:,.0f} tokens/s**, "
                      f"{_num(t.get('gflop_per_s'), '.2f')} GFLOP/s (from {t['source']}){extra}."]
    else:
        lines += ["", "Throughput: no finished epoch yet."]
    final = summary["final"]
    if final.get("epoch") is not None:
        lines += ["", f"Epoch {final['epoch']}: train MLM loss {_num(final['train_loss'], '.4f')} "
                      f"(masked-token accuracy {_pct1(final['train_accuracy'])} %), dev MLM loss "
                      f"{_num(final['dev_loss'], '.4f')} (accuracy {_pct1(final['dev_accuracy'])} %)."]
    if summary["finetunes"]:
        tasks = ", ".join(summary["finetune_tasks"]) or "a task"
        lines += ["", f"Accuracy against pretraining epochs: the checkpoint of each epoch fine-tuned on {tasks} "
                      "(accuracies in %; MLM numbers on the held-out rows):", "", PRETRAIN_HEADER,
                  "|---|---:|---:|---:|---:|---:|"]
        for f in summary["finetunes"]:
            lines.append(f"| {f['label']} | {_num(f['mlm_dev_loss'], '.4f')} | {_pct1(f['mlm_dev_accuracy'])} | "
                         f"{_pct1(f['dev_accuracy'])} | {_pct1(f['test_accuracy'])} | "
                         f"{'—' if f['best_epoch'] is None else f['best_epoch']} |")
    if image:
        lines += ["", f"![{summary['name']} pretraining: fine-tuned accuracy and MLM loss]({image})"]
    for note in summary["notes"]:
        lines += ["", f"_{note}._"]
    return "\n".join(lines)


def _curve_groups(table: dict, kind: str, runs_of: dict) -> list[dict]:
    """The TensorBoard scalars of every run of the table's `kind` rows, grouped as in the table."""
    out = []
    for r in table["rows"]:
        if r["kind"] != kind:
            continue
        runs = [{"seed": run.seed, "scalars": read_scalars(run.path / TENSORBOARD_DIR)}
                for run in runs_of[(table["task"], kind, r["model"])]]
        runs = [x for x in runs if x["scalars"]]
        if runs:
            out.append({"label": r["model"], "runs": runs, "loss": str(r["config"].get("loss") or "")})
    return out


def write_report(runs_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                 batch_size: int = 32, echo=print, include: list | None = None, note: str | None = None) -> Report:
    """Collect `runs_dir`, write tables, plots, report.md and report.json; return where they are.

    Default layout: images and report.json in RUNS_DIR/report/, the entry point RUNS_DIR/report.md.
    With `out_dir`, everything (report.md included) goes into out_dir.
    """
    runs_dir = Path(runs_dir)
    out = Path(out_dir) if out_dir else runs_dir / "report"
    md_path = (out if out_dir else runs_dir) / "report.md"
    if not runs_dir.is_dir():
        raise DistillError(f"{runs_dir}: no such runs folder")
    for folder in dict.fromkeys((out, md_path.parent)):   # before collecting and plotting, not after
        check_writable(folder, what="report folder", create=False)
    # a report replaces its own pages, never a user's file of the same name
    check_regenerable(md_path, what="a distill report page", ours=starts_with("# distill report:"), option="report")
    check_regenerable(out / "report.json", what="a distill report.json", ours=json_schema(SCHEMA.split("/")[0] + "/"),
                      option="report")
    found = collect(runs_dir, exclude=out, include=include)
    if not found.runs and not found.bench and not found.pretrains:
        skipped = f" ({len(found.skipped)} runs skipped: not complete or no eval_results.json)" if found.skipped else ""
        raise DistillError(f"{runs_dir}: no finished teacher/student runs (run.json + eval_results.json), "
                           f"no pretraining runs and no bench.json found{skipped}")
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(found, batch_size=batch_size)
    runs_of = {(g.task, g.kind, g.label): g.runs for g in group_runs(found.runs)}
    images: list[Path] = []

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, md_path.parent)).as_posix()

    md = [f"# distill report: {runs_dir}", "",
          f"Generated {time.strftime('%Y-%m-%d %H:%M')} from `{runs_dir}`. Accuracy is mean ± sample sd "
          f"over seeds (runs whose config differs only in the seed); **it/s** is examples per second measured "
          f"by `distill bench` at batch {batch_size} on raw text (tokenization included) where available; "
          f"speed-up = it/s ÷ the teacher's it/s; accuracy kept = accuracy ÷ the teacher's (test split "
          f"unless marked dev). Random-weight presets have it/s only."]
    if note:   # e.g. a reduced smoke run must say so where its numbers are read
        md.append(f"\n**{note}**")
    machines = {json.dumps({k: v for k, v in m["machine"].items() if k != "matmul_peak_gflops"}, sort_keys=True)
                for m in found.machines}
    for m in found.machines:
        info = m["machine"]
        peak = info.get("matmul_peak_gflops")
        md.append(f"\n- bench `{m['source']}`: {info.get('cpu', '?')}, {info.get('cores', '?')} cores, "
                  f"GPUs {info.get('gpus') or 'none'}, TensorFlow {info.get('tensorflow', '?')}"
                  + (f"; float32 matmul peak measured in the same run: {peak:.0f} GFLOP/s (speeds on this "
                     "machine move with it from one session to the next)" if isinstance(peak, (int, float)) else ""))
    if len(machines) > 1:
        md.append("\n**Warning:** the bench files come from different machines or settings; speed-ups "
                  "between them compare different machines.")
    for task, table in tables.items():
        slug = _slug(task)
        md += ["", f"## {task}", "", f"Primary metric: {table['primary_metric']}. "
               f"it/s: {speed_words(table)}.", "", task_table_markdown(table)]
        if table["distillation"]:
            md += ["", distillation_sentence(table["distillation"])]
        if any(r["speed"] and r["speed"]["mode"] == EVAL_MODE for r in table["rows"]):
            md.append("\n_\"run's own evaluation\": no bench row for this model; the it/s the run measured while "
                      "evaluating, not comparable with bench numbers._")
        plot_path = out / f"accuracy_vs_speed_{slug}.png"
        plotted = plot_accuracy_vs_speed(table, plot_path)
        images.append(plot_path)
        table["plot"] = {"path": rel(plot_path), "split": plotted["split"], "points": plotted["points"],
                         "pareto": plotted["pareto"], "presets": plotted["presets"]}
        md += ["", f"![{task}: accuracy vs it/s]({rel(plot_path)})",
               "", f"Pareto front (fastest first; rows of one network count as equally fast, their measured speeds "
               f"differing by noise only): {', '.join(plotted['pareto']) or '—'}."]
        detail = _bench_detail_markdown(table)
        if detail:
            md += ["", "### Throughput, every setting measured", "", detail]
        table["curves"] = {}
        for kind in RUN_KINDS:
            curve_groups = _curve_groups(table, kind, runs_of)
            # one figure per loss: ce, mse and kl are on different scales, so one axis would mislead
            by_loss: dict[str, list] = {}
            for group in curve_groups:
                loss = group.pop("loss")
                by_loss.setdefault(loss if kind == "student" else "", []).append(group)
            for loss, groups in by_loss.items():
                key, suffix = (kind, "") if len(by_loss) == 1 else (f"{kind}, loss {loss}", f"_{_slug(loss)}")
                curve_path = out / f"curves_{slug}_{kind}{suffix}.png"
                curves = plot_training_curves(groups, curve_path, f"{task}: {key} training curves")
                images.append(curve_path)
                table["curves"][key] = {"path": rel(curve_path), "groups": curves["groups"]}
                md += ["", f"### {key[0].upper() + key[1:]} training curves", "",
                       f"![{task}: {key} curves]({rel(curve_path)})"]
        with_curves = {label for curves in table["curves"].values() for label in curves["groups"]}
        missing = [r["model"] for r in table["rows"] if r["kind"] in RUN_KINDS and r["model"] not in with_curves]
        if missing:
            md.append(f"\nNo TensorBoard scalars for: {', '.join(missing)}.")
    pretraining = []
    if found.pretrains:
        md += ["", "## Pretraining", "", "Masked-LM pretraining runs (`distill teacher pretrain`). Where a run was "
               "fine-tuned as it learned (finetune.jsonl), its fine-tuning runs (`finetune/epoch-K/`) are shown "
               "here only, not in the tables above."]
        names = [p.path.name for p in found.pretrains]
        for i, record in enumerate(found.pretrains):
            summary = pretraining_summary(record)
            stem = record.path.name if names.count(record.path.name) == 1 else f"{record.path.name}-{i + 1}"
            image = out / f"pretrain-{stem}.png"
            drawn = plot_pretraining(summary, image)
            if drawn is not None:
                images.append(image)
            summary["plot"] = {"path": rel(image)} if drawn is not None else None
            md += ["", pretraining_markdown(summary, rel(image) if drawn is not None else None)]
            pretraining.append(summary)
    if found.materials:
        md += ["", "## Teaching materials", "", "| file | task | teacher | split | rows | teacher acc (%) | "
               "teacher it/s |", "|---|---|---|---|---:|---:|---:|"]
        for m in found.materials:
            for split, s in m.splits.items():
                acc = "—" if s["teacher_accuracy"] is None else f"{100 * s['teacher_accuracy']:.2f}"
                md.append(f"| {m.path.name} | {m.task} | {m.teacher} | {split} | {s['rows']:,} | {acc} | "
                          f"{s['it_per_s']:,.1f} |")
        md += ["", "_The teacher's it/s here is labelling the file's rows: token ids already made, rows of like "
               "length batched together, no tokenization. The task table's it/s is the teacher on raw text as "
               "a user calls it (tokenization included, batches in input order), so it is lower; both are "
               "right._"]
    if found.explains:
        md += ["", "## Which tokens teacher and student listen to", "",
               "Integrated-gradients attributions of the teacher's predicted label for both models, on a fixed "
               "sample of test texts (`distill explain --compare TEACHER STUDENT --sample N`): the mean Spearman "
               "correlation of their word-piece scores per text, and how many of the teacher's 3 highest-scoring "
               "pieces are among the student's.", "",
               "| task | teacher run | student | texts | mean rank corr. | top-3 overlap | same label (%) |",
               "|---|---|---|---:|---:|---:|---:|"]
        roles = {r.path.resolve(): role(r.kind, r.config) for r in found.runs}
        for e in found.explains:
            student = Path(str(e.get("student_run")))
            named = roles.get(student.resolve())
            md.append(f"| {e.get('task')} | {Path(str(e.get('teacher_run'))).name} | "
                      f"{f'{named} ({student.name})' if named else student.name} | {e.get('texts')} | "
                      f"{_num(e.get('mean_rank_correlation'), '+.3f')} | {_num(e.get('mean_top_k_overlap'), '.2f')} | "
                      f"{_num(None if e.get('same_label') is None else 100 * e['same_label'], '.1f')} |")
        for e in found.explains:
            figure = Path(e["path"]).parent / str(e.get("figure"))
            if figure.is_file():
                md += ["", f"![token attributions, most and least agreeing texts]({rel(figure)})"]
    if found.skipped:
        md += ["", "## Skipped", ""] + [f"- `{s['path']}`: {s['reason']}" for s in found.skipped]
    data = {
        "schema": SCHEMA, "runs_dir": str(runs_dir), "batch_size": batch_size, "preferred_mode": PREFERRED_MODE,
        "machines": found.machines, "tasks": tables,
        "materials": [{"path": str(m.path), "task": m.task, "teacher": m.teacher, "splits": m.splits}
                      for m in found.materials],
        "pretraining": pretraining,
        "explains": [{k: v for k, v in e.items() if k != "attributions"} for e in found.explains],
        "skipped": found.skipped, "images": [rel(p) for p in images],
    }
    json_path = out / "report.json"
    _write_text(json_path, json.dumps(data, indent=2, default=str))
    _write_text(md_path, "\n".join(md) + "\n")
    echo(f"report: {md_path} ({len(tables)} task(s), {len(found.runs)} runs, {len(found.pretrains)} pretraining "
         f"runs, {len(found.bench)} bench rows, {len(images)} images in {out})")
    return Report(markdown=md_path, json=json_path, images=images, data=data)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
