"""`distill explain`: token attributions of teacher and student runs, shown as text, HTML or PNG.

Owns loading a run folder as an explainer (teacher or student alike),
rendering attributions (a terminal line with coloured tokens, an HTML page, a
PNG of example sentences) and comparing a teacher with a student on a sample
of texts: the mean rank correlation of their token scores and the overlap of
their top-3 tokens, which the report shows. The methods themselves are in
`distill.attribution`; the model-specific parts in `teachers.attribution`
and `students.attribution`.
"""

from __future__ import annotations

import html
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from distill.attribution import IG_STEPS, Attribution, agreement
from distill.errors import DistillError

TOP_K = 3


@dataclass
class Explainer:
    """A run folder that can attribute its predictions: `explain(texts, texts_b=None, labels=None)`
    returns one `Attribution` per text, of the predicted label or of `labels[i]`."""

    run_dir: Path
    kind: str            # teacher | student
    name: str
    task: str
    is_pair: bool
    explain: Callable


def load_explainer(run_dir, method: str = "ig", steps: int = IG_STEPS) -> Explainer:
    """The explainer of a teacher or student run folder, picked by its run.json `kind`."""
    from distill.runfiles import read_run
    from students.exported import is_export_dir

    run_dir = Path(run_dir)
    if is_export_dir(run_dir):
        raise DistillError(f"{run_dir}: an exported student cannot be explained (no gradients); give the "
                           "student run folder it was exported from")
    info = read_run(run_dir)
    if info.kind == "teacher":
        from teachers.attribution import explain_teacher
        from teachers.run import TeacherRun

        run = TeacherRun.load(run_dir)

        def explain(texts, texts_b=None, labels=None):
            return explain_teacher(run, texts, texts_b, method=method, steps=steps, labels=labels)
    elif info.kind == "student":
        from students.attribution import explain_student
        from students.predictor import StudentPredictor

        predictor = StudentPredictor.load(run_dir, engine="keras")
        if not (hasattr(predictor.model, "embed") and hasattr(predictor.model, "classify")):
            raise DistillError(f"{run_dir}: student architecture {info.name} cannot be explained: attributions "
                               "need a model with embed(token_ids) and classify(vectors, length) methods, as the "
                               "built-in kim-cnn and bilstm have")

        def explain(texts, texts_b=None, labels=None):
            return explain_student(predictor, texts, texts_b, method=method, steps=steps, labels=labels)
    else:
        raise DistillError(f"{run_dir}: a {info.kind} run has no token attributions; give a teacher or student run")
    return Explainer(run_dir, info.kind, info.name, info.task, bool(info.is_pair), explain)


# ------------------------------------------------------------------ rendering
def _shown(token: str) -> str:
    return token[2:] if token.startswith("##") else token


def _joined(tokens: Sequence[str], pieces: Sequence[str]) -> str:
    """Tokens as text: a `##` continuation is glued to the piece before it."""
    out = ""
    for token, piece in zip(tokens, pieces):
        out += piece if token.startswith("##") or not out else " " + piece
    return out


def render_terminal(a: Attribution, colour: bool = False, title: str = "") -> str:
    """Two lines: the prediction, then every token with its score (green: towards the predicted label,
    red: against it; the brighter the stronger when `colour`, else the score in brackets)."""
    predicted = a.label if a.predicted is None else a.predicted
    head = (f"{title + ': ' if title else ''}predicts {a.predicted_name or a.label_name} "
            f"(p = {a.probabilities[predicted]:.3f}); "
            f"{'integrated gradients' if a.method == 'ig' else 'occlusion'} of the logit of {a.label_name}")
    if a.completeness_gap is not None:
        head += f" (completeness gap {100 * a.completeness_gap:.1f}%)"
    scale = float(np.abs(a.scores).max()) or 1.0
    pieces = []
    for token, score, special in zip(a.tokens, a.scores, a.special):
        if special:
            continue
        if colour:
            level = min(5, int(round(5 * abs(score) / scale)))
            # xterm-256 colour cube: green (0, level, 0) or red (level, 0, 0) backgrounds
            code = 16 + (36 * level if score < 0 else 6 * level)
            pieces.append(f"\x1b[48;5;{code}m\x1b[97m{_shown(token)}\x1b[0m")
        else:
            pieces.append(f"{_shown(token)}[{score:+.2f}]")
    tokens = [t for t, s in zip(a.tokens, a.special) if not s]
    return head + "\n  " + _joined(tokens, pieces)


def html_page(rows: list[tuple[str, list[tuple[str, Attribution]]]], title: str = "distill explain") -> str:
    """A standalone HTML page: per text, one line per model with tokens shaded by their scores."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>", GENERATOR,
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "span.t{padding:0 .15em;border-radius:.2em}td{padding:.3em .6em;vertical-align:top}"
             "td.m{color:#555;white-space:nowrap}</style>",
             f"<h1>{html.escape(title)}</h1>",
             "<p>Green: the token pushed the model towards its predicted label; red: away from it. "
             "Scores are attributions of the predicted label's logit.</p>"]
    for text, models in rows:
        parts.append(f"<h3>{html.escape(text)}</h3><table>")
        for name, a in models:
            scale = float(np.abs(a.scores).max()) or 1.0
            spans = []
            for token, score, special in zip(a.tokens, a.scores, a.special):
                if special:
                    continue
                alpha = min(1.0, abs(score) / scale)
                rgb = "0,160,0" if score >= 0 else "210,0,0"
                glue = "" if token.startswith("##") else " "
                spans.append(f"{glue}<span class='t' style='background:rgba({rgb},{alpha:.2f})' "
                             f"title='{score:+.4f}'>{html.escape(_shown(token))}</span>")
            predicted = a.label if a.predicted is None else a.predicted
            parts.append(f"<tr><td class='m'>{html.escape(name)}<br>predicts "
                         f"{html.escape(a.predicted_name or a.label_name)} {a.probabilities[predicted]:.3f}"
                         f"<br>scores of {html.escape(a.label_name)}</td><td>{''.join(spans).strip()}</td></tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


GENERATOR = "<meta name='generator' content='distill explain'>"
"""The line that marks a page as ours: only such a page is written over (`distill.overwrite`)."""


def check_html_path(out: str | os.PathLike) -> Path:
    """`out` as the HTML file to write; an existing folder there is refused (replacing it would fail,
    or lose what it holds), and so is an existing file that is not a page of ours."""
    from distill.overwrite import check_regenerable

    out = Path(out)
    if out.is_dir():
        raise DistillError(f"--html {out}: an existing folder; --html wants the HTML file to write, "
                           f"e.g. {out / 'explain.html'}")
    return check_regenerable(out, what="an explain page", ours=lambda path: _has_generator(path), option="--html")


def _has_generator(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return GENERATOR in handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False


def write_html(out: str | os.PathLike, rows: list[tuple[str, list[tuple[str, Attribution]]]]) -> Path:
    """`html_page(rows)` written to the file `out`, whole or not at all: through a hidden temporary beside it
    (never a name a user's own file may have, such as OUT.tmp) that is removed if anything fails, so a
    failed write leaves nothing behind and an existing `out` as it was."""
    import tempfile

    out = check_html_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(html_page(rows))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


# ---------------------------------------------------------------- comparing
def compare(teacher: list[Attribution], student: list[Attribution], texts: Sequence[str], k: int = TOP_K) -> dict:
    """Agreement of two models' attributions over the same texts: means, and per text.

    Make the student's attributions of the teacher's predicted labels
    (`labels=`), so that both score the same logit even where they disagree.
    """
    per_text = []
    for text, a, b in zip(texts, teacher, student):
        per_text.append({"text": text, **agreement(a, b, k=k), "teacher_label": a.predicted_name or a.label_name,
                         "student_label": b.predicted_name or b.label_name, "attributed_label": a.label_name})
    rhos = [r["rank_correlation"] for r in per_text if r["rank_correlation"] is not None]
    overlaps = [r["top_k_overlap"] for r in per_text if r["top_k_overlap"] is not None]
    return {
        "texts": len(per_text), "k": k,
        "mean_rank_correlation": statistics.fmean(rhos) if rhos else None,
        "median_rank_correlation": statistics.median(rhos) if rhos else None,
        "mean_top_k_overlap": statistics.fmean(overlaps) if overlaps else None,
        "same_label": statistics.fmean(r["same_label"] for r in per_text) if per_text else None,
        "per_text": per_text,
    }


def extreme_examples(summary: dict, n_best: int = 2, n_worst: int = 1, min_pieces: int = 4) -> list[int]:
    """Indices of the most agreeing and least agreeing texts (by rank correlation), longer ones preferred."""
    scored = [(i, r["rank_correlation"]) for i, r in enumerate(summary["per_text"])
              if r["rank_correlation"] is not None and len(r["text"].split()) >= min_pieces]
    scored.sort(key=lambda item: item[1])
    worst = [i for i, _ in scored[:n_worst]]
    best = [i for i, _ in reversed(scored) if i not in worst][:n_best]
    return best + worst


def examples_png(path: str | os.PathLike, rows: list[tuple[str, list[tuple[str, Attribution]]]],
                 title: str = "") -> Path:
    """A PNG of texts with each model's tokens shaded by score, one line per model (the report's figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = sum(len(models) + 1 for _, models in rows)
    fig = plt.figure(figsize=(11, 0.42 * lines + 0.6))
    renderer = fig.canvas.get_renderer()
    y = 1.0 - 0.3 / (0.42 * lines + 0.6)
    step = 0.42 / (0.42 * lines + 0.6)
    if title:
        fig.suptitle(title, fontsize=10)
    for text, models in rows:
        fig.text(0.01, y, text if len(text) < 140 else text[:137] + "...", fontsize=9, style="italic",
                 va="top")
        y -= step
        for name, a in models:
            x = 0.01
            predicted = a.label if a.predicted is None else a.predicted
            label = fig.text(x, y, f"{name}: {a.predicted_name or a.label_name} {a.probabilities[predicted]:.2f}",
                             fontsize=8,
                             va="top", color="#444")
            x += label.get_window_extent(renderer).width / fig.bbox.width + 0.01
            scale = float(np.abs(a.scores).max()) or 1.0
            for token, score, special in zip(a.tokens, a.scores, a.special):
                if special:
                    continue
                alpha = min(1.0, abs(score) / scale)
                colour = (0.0, 0.63, 0.0, alpha) if score >= 0 else (0.82, 0.0, 0.0, alpha)
                if token.startswith("##"):
                    x -= 0.003   # a continuation piece sits against the piece before it
                piece = fig.text(x, y, _shown(token), fontsize=9, va="top",
                                 bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})
                x += piece.get_window_extent(renderer).width / fig.bbox.width + 0.004
                if x > 0.97:
                    break
            y -= step
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------- a sample, on disk
EXPLAIN_FILE = "explain.json"
FIGURE_FILE = "explain_examples.png"
SAMPLE_SIZE = 200


def sample_texts(task, split: str = "test", n: int = SAMPLE_SIZE, seed: int = 0) -> list[str]:
    """A fixed sample of a task split's texts (`task`: a `Task` or a task name): the same `n` rows for the
    same task, split and seed, in the split's order."""
    from distill.data import load_task

    task = load_task(task) if isinstance(task, str) else task
    if split not in task.splits:
        raise DistillError(f"task {task.name} has no split {split!r} (has {', '.join(task.splits)})")
    texts = list(task[split].texts)
    if not texts:
        raise DistillError(f"task {task.name}: split {split} is empty")
    rows = np.random.default_rng(seed).permutation(len(texts))[:n]
    return [texts[i] for i in sorted(rows)]


def compare_runs(teacher_dir, student_dir, out_dir, texts: Sequence[str] | None = None, split: str = "test",
                 n: int = SAMPLE_SIZE, method: str = "ig", progress: bool = True, echo=print, task=None) -> dict:
    """Attributions of a teacher and a student on the same texts (by default a fixed sample of the `split`
    of `task`, a `Task` or name, else of the runs' task), compared; writes explain.json and the PNG of the
    most and least agreeing texts."""
    from tqdm import tqdm

    from distill.runfiles import write_json_atomic

    from distill.overwrite import check_regenerable, json_kind

    check_regenerable(Path(out_dir) / EXPLAIN_FILE, what="an explain.json", ours=lambda p: json_kind(p) == "explain",
                      option="explain")   # a rerun replaces its own file, never a user's
    teacher, student = load_explainer(teacher_dir, method=method), load_explainer(student_dir, method=method)
    if teacher.task != student.task:
        raise DistillError(f"{student_dir}: student of task {student.task}, but the teacher's is {teacher.task}")
    if teacher.is_pair or student.is_pair:
        raise DistillError("explain: sentence-pair runs are not supported yet; give single-sentence runs")
    texts = list(texts) if texts is not None else sample_texts(task or teacher.task, split, n)
    a, b = [], []
    with tqdm(total=len(texts), desc="explain", unit="text", disable=not progress) as bar:
        for lo in range(0, len(texts), 10):
            chunk = texts[lo:lo + 10]
            a += teacher.explain(chunk)
            b += student.explain(chunk, labels=[x.label for x in a[lo:]])
            bar.update(len(chunk))
    summary = compare(a, b, texts)
    chosen = extreme_examples(summary)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [(texts[i], [(f"teacher {teacher.name}", a[i]), (f"student {student.name}", b[i])]) for i in chosen]
    examples_png(out_dir / FIGURE_FILE, rows, title="token attributions of the teacher's predicted label "
                 "(green: towards it, red: against it); most, then least agreeing")
    record = {"kind": "explain", "task": teacher.task, "method": method, "split": split,
              "teacher_run": str(Path(teacher_dir)), "student_run": str(Path(student_dir)),
              "figure": FIGURE_FILE, "examples": chosen,
              "attributions": [{"teacher": x.to_dict(), "student": y.to_dict()} for x, y in zip(a, b)],
              **summary}
    write_json_atomic(out_dir / EXPLAIN_FILE, record)
    if echo:
        echo(f"explain: {len(texts)} texts, mean rank correlation {summary['mean_rank_correlation']:+.3f}, "
             f"top-{summary['k']} overlap {summary['mean_top_k_overlap']:.2f} -> {out_dir / EXPLAIN_FILE}")
    return record
