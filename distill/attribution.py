"""Token attributions: how much each input token pushed a model towards its prediction.

Owns the two methods, written once for every kind of model, and the measures
that compare two models' attributions of the same text. A model comes in as
callables, so teachers (`teachers.attribution`) and students
(`students.attribution`) share this code while neither knows the other.

What is attributed is the *logit of the predicted class* (or of a class the
caller names, so that two models are compared on the same class; not its
probability): the logit is what the student is distilled to match (mse
loss), and integrated gradients' completeness holds for it as for any
differentiable output.

- **Integrated gradients** (Sundararajan et al. 2017) on the word vectors:
  for input vectors x and a baseline x', token i's score is
  sum_d (x_id - x'_id) * mean over a in [0, 1] of dF/dx_id (x' + a (x - x')),
  the integral taken with the trapezoidal rule over `steps` intervals. The
  scores then sum to F(x) - F(x') up to the rule's error (the completeness
  axiom, reported as `completeness_gap`); where the gap exceeds 1% the steps
  are doubled until it does not (a sharply turning logit needs them). The
  baseline is chosen by the caller; both adapters use the same one: every
  word piece's vector replaced by the [PAD] token's, [CLS] and [SEP] kept, so
  the baseline is "a sentence of that length with no words in it".
- **Occlusion**: token i's score is F(x) - F(x with piece i replaced by
  [MASK]), one forward pass per piece, all in one batch. Special tokens are
  not occluded (score 0).

Both return one score per token of the model's own tokenization; teacher and
student share the teacher's WordPiece vocabulary, so their token lists match
position by position and can be compared directly (`agreement`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

METHODS = ("ig", "occlusion")
IG_STEPS = 50
"""Trapezoid intervals of integrated gradients to start with (doubled while the gap exceeds IG_TOLERANCE)."""
IG_TOLERANCE = 0.01
"""Largest completeness gap accepted: |sum of scores - (F(x) - F(x'))| relative to |F(x) - F(x')|."""
IG_ABSOLUTE_TOLERANCE = 1e-3
"""...or this much in logit units, for texts whose logit barely moves along the path (F(x) ~ F(x'))."""
IG_MAX_STEPS = 1600
IG_CHUNK = 26
"""Interpolation points per forward/backward pass (bounds memory for long texts and large teachers)."""


@dataclass
class Attribution:
    """One text's token scores under one model. `scores[i]` belongs to `tokens[i]`."""

    tokens: list[str]
    scores: np.ndarray            # float [L]
    label: int                    # the class whose logit is attributed (by default the predicted one)
    label_name: str
    probabilities: np.ndarray     # float [C]
    method: str
    special: np.ndarray = field(default=None)   # bool [L]: [CLS]/[SEP]/[PAD], never scored
    target: float | None = None     # F(x): the predicted class's logit
    baseline: float | None = None   # F(x'): the same logit at the IG baseline
    steps: int | None = None
    predicted: int | None = None    # the model's predicted class (None: `label`)
    predicted_name: str | None = None

    @property
    def completeness_gap(self) -> float | None:
        """|sum(scores) - (F(x) - F(x'))| / |F(x) - F(x')|: the IG integral's relative error."""
        if self.baseline is None or self.target is None:
            return None
        difference = self.target - self.baseline
        return abs(float(self.scores.sum()) - difference) / max(abs(difference), 1e-12)

    def word_scores(self) -> tuple[list[np.ndarray], np.ndarray]:
        """(indices, scores) of the non-special tokens: what comparisons use."""
        keep = ~self.special if self.special is not None else np.ones(len(self.tokens), bool)
        return list(np.flatnonzero(keep)), self.scores[keep]

    def to_dict(self) -> dict:
        return {"method": self.method, "label": self.label_name, "predicted": self.predicted_name or self.label_name,
                "probabilities": self.probabilities.tolist(),
                "tokens": self.tokens, "scores": [float(s) for s in self.scores], "target_logit": self.target,
                "baseline_logit": self.baseline, "steps": self.steps,
                "completeness_gap": self.completeness_gap}


# ---------------------------------------------------------------- methods
def integrated_gradients(score: Callable, inputs: Sequence, baselines: Sequence, steps: int = IG_STEPS,
                         tolerance: float | None = IG_TOLERANCE,
                         max_steps: int = IG_MAX_STEPS) -> tuple[np.ndarray, float, float, int]:
    """Integrated gradients of `score` from `baselines` to `inputs`.

    `inputs` and `baselines` are lists of float arrays [L, D] (one per input
    channel, e.g. a multichannel CNN's two embeddings); `score(channels)`
    maps a list of [S, L, D] tensors to the [S] scores of S interpolation
    points. While the completeness gap exceeds `tolerance`, the step count is
    doubled (up to `max_steps`; an error under IG_ABSOLUTE_TOLERANCE also
    suffices): a model whose logit turns sharply somewhere
    on the path needs a finer rule there. Returns (token scores [L] summed
    over channels and D, F(x), F(x'), the steps used).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    while True:
        scores, target, baseline = _integrated_gradients(score, inputs, baselines, steps)
        error = abs(scores.sum() - (target - baseline))
        if tolerance is None or error <= max(tolerance * abs(target - baseline), IG_ABSOLUTE_TOLERANCE) \
                or steps * 2 > max_steps:
            return scores, target, baseline, steps
        steps *= 2


def _integrated_gradients(score, inputs, baselines, steps: int) -> tuple[np.ndarray, float, float]:
    import tensorflow as tf

    xs = [tf.constant(np.asarray(x, np.float32)) for x in inputs]
    bs = [tf.constant(np.asarray(b, np.float32)) for b in baselines]
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float32)
    weights[[0, -1]] /= 2.0                                  # trapezoidal rule
    total = [tf.zeros_like(x) for x in xs]
    ends = {}
    for lo in range(0, steps + 1, IG_CHUNK):
        a = tf.constant(alphas[lo:lo + IG_CHUNK])[:, None, None]
        w = tf.constant(weights[lo:lo + IG_CHUNK])[:, None, None]
        points = [b[None] + a * (x - b)[None] for x, b in zip(xs, bs)]
        with tf.GradientTape() as tape:
            tape.watch(points)
            values = tf.cast(score(points), tf.float32)
        grads = tape.gradient(values, points)
        total = [t + tf.reduce_sum(w * g, axis=0) for t, g in zip(total, grads)]
        values = values.numpy()
        if lo == 0:
            ends["baseline"] = float(values[0])
        if lo + len(values) == steps + 1:
            ends["target"] = float(values[-1])
    scores = sum(tf.reduce_sum((x - b) * t, axis=-1) for x, b, t in zip(xs, bs, total))
    return scores.numpy().astype(np.float64), ends["target"], ends["baseline"]


def occlusion(score_ids: Callable, token_ids: np.ndarray, special: np.ndarray, mask_id: int) -> np.ndarray:
    """Occlusion scores [L]: F(ids) - F(ids with piece i set to `mask_id`), 0 for special tokens.

    `score_ids(ids [N, L])` returns the [N] scores; the unmasked text and every
    occluded copy go through it as one batch.
    """
    token_ids = np.asarray(token_ids)
    positions = np.flatnonzero(~np.asarray(special, bool))
    batch = np.repeat(token_ids[None], len(positions) + 1, axis=0)
    batch[np.arange(1, len(positions) + 1), positions] = mask_id
    values = np.asarray(score_ids(batch), dtype=np.float64)
    scores = np.zeros(len(token_ids))
    scores[positions] = values[0] - values[1:]
    return scores


# ----------------------------------------------------------- comparison
def agreement(a: Attribution, b: Attribution, k: int = 3) -> dict:
    """How alike two attributions of the same tokens are (best made of the same class's logit).

    `rank_correlation`: Spearman's rho of the word pieces' scores (None when
    either is constant or there are fewer than 2 pieces); `top_k_overlap`: the
    share of a's k highest-scoring pieces that are among b's k highest
    (k capped at the number of pieces).
    """
    from scipy.stats import spearmanr

    if a.tokens != b.tokens:
        raise ValueError("attributions of different token sequences cannot be compared position by position")
    _, sa = a.word_scores()
    _, sb = b.word_scores()
    rho = None
    if len(sa) >= 2 and np.ptp(sa) > 0 and np.ptp(sb) > 0:
        rho = float(spearmanr(sa, sb).statistic)
    k = min(k, len(sa))
    overlap = None
    if k:
        top_a = set(np.argsort(-sa, kind="stable")[:k])
        top_b = set(np.argsort(-sb, kind="stable")[:k])
        overlap = len(top_a & top_b) / k
    predicted_a = a.label if a.predicted is None else a.predicted
    predicted_b = b.label if b.predicted is None else b.predicted
    return {"rank_correlation": rho, "top_k_overlap": overlap, "k": k, "same_label": predicted_a == predicted_b}
