"""Task metrics, all computed by scikit-learn.

Every stage (teacher eval, materials, students, report) scores predictions
through `classification_metrics`, so numbers from different stages are the
same quantity. `primary_metric` says which one ranks models for a task
(GLUE's conventions: CoLA by Matthews correlation, MRPC by F1, others by
accuracy). `softmax` turns logits into the probabilities every stage reports
and stores (teacher and student predictions, a materials file's `ysm`).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
)

PRIMARY_METRICS = {"glue/cola": "mcc", "glue/mrpc": "f1"}
METRIC_NAMES = ("accuracy", "f1", "f1_macro", "f1_weighted", "mcc")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax of float [N, C] logits: computed in float64 (max subtracted first), returned float32."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


def primary_metric(task_name: str) -> str:
    return PRIMARY_METRICS.get(task_name, "accuracy")


def classification_metrics(y_true, y_pred, label_names: list[str]) -> dict:
    """Accuracy, F1 (binary positive class, macro, weighted), MCC, report, confusion.

    `f1` is the F1 of label 1 for binary tasks (GLUE's MRPC convention) and
    macro F1 otherwise. Rows whose gold label is -1 (unknown) are skipped.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    known = y_true >= 0
    y_true, y_pred = y_true[known], y_pred[known]
    labels = list(range(len(label_names)))
    if len(y_true) == 0:
        return {"n": 0}
    binary = len(label_names) == 2
    f1_macro = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, pos_label=1, average="binary", zero_division=0))
        if binary else float(f1_macro),
        "f1_macro": float(f1_macro),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "report": classification_report(
            y_true, y_pred, labels=labels, target_names=label_names, output_dict=True, zero_division=0
        ),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def format_metrics_table(rows: dict[str, dict], primary: str = "accuracy") -> str:
    """A fixed-width table, one row per split: n, accuracy, F1s, MCC, and timing when present.

    Used by `distill teacher eval` and `distill materials generate` alike so
    their summaries can be compared line by line.
    """
    header = f"{'split':<10}{'n':>8}{'accuracy':>10}{'f1':>8}{'f1_macro':>10}{'mcc':>8}{'seconds':>10}{'it/s':>10}"
    lines = [header, "-" * len(header)]
    for split, m in rows.items():
        def fmt(key, width, spec=".4f"):
            value = m.get(key)
            return f"{value:>{width}{spec}}" if isinstance(value, (int, float)) else f"{'-':>{width}}"
        lines.append(
            f"{split:<10}{m.get('n', 0):>8}{fmt('accuracy', 10)}{fmt('f1', 8)}{fmt('f1_macro', 10)}"
            f"{fmt('mcc', 8)}{fmt('seconds', 10, '.1f')}{fmt('it_per_s', 10, '.1f')}"
        )
    lines.append(f"(primary metric: {primary})")
    return "\n".join(lines)


def paired_bootstrap(a, b, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict:
    """The mean of `a - b` over paired rows (e.g. per-row correctness of two models on the same test
    rows, each averaged over seeds) with its percentile bootstrap interval, rows resampled together.

    This is what says whether a difference between two models is real: on a test set of ~1,300
    rows, a one-point difference between single runs is within the noise. Returned in the units of
    `a` and `b` (fractions for correctness): {"difference", "low", "high", "confidence", "rows"}."""
    from scipy.stats import bootstrap

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired_bootstrap: two 1-D arrays of the same length >= 2, got {a.shape} and {b.shape}")
    difference = a - b
    if np.all(difference == difference[0]):   # no spread to resample: the interval is the value
        low = high = float(difference[0])
    else:
        result = bootstrap((difference,), np.mean, confidence_level=confidence, n_resamples=resamples,
                           method="percentile", rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return {"difference": float(difference.mean()), "low": low, "high": high, "confidence": confidence,
            "rows": int(len(a))}
