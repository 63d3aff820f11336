"""Fast inference for a trained Kim CNN: its convolutions folded into per-token tables (numpy).

Owns `FoldedKimCNN`, the engine `distill predict` runs a student with.

Why it is exact: the first two layers are linear in a one-hot token. A width-w
filter bank at position t computes sum_k E[x_(t+k)] @ W_k + b, and
E[x] @ W_k is a row of the table E @ W_k, which can be computed once. Folding
every tap of every width gives one table T = E @ [W_(w,k) for all w, k] of
shape [vocab, sum(widths) * filters]; a forward pass becomes one gather of T's
rows plus shifted adds, the max over positions, ReLU and the dense layer. In
multichannel mode the two channels share the filters, so T = (E1 + E2) @ W.
Padding (and anything past `length`) maps to an extra row: zero, exactly the
zero vector the Keras model puts there, except in each width's last tap,
where it is -1e30, so a window reaching past the text (which the model
masks out of its max-pool) cannot win the max; no mask is built, and the
ReLU runs on the pooled features only (max and ReLU commute).

Why it matters: on CPU the Keras forward of a Kim CNN over a 384-d teacher
embedding is ~28 MFLOP per 30-token text and a TF call costs ~0.5 ms of
overhead; the folded one does ~0.4 MFLOP of adds and no TF call: measured
~14x faster at batch 1 and ~6x at batch 32 (forward only) on our 2-core
machines; `bench/student_throughput.py` compares both engines. The price is memory: T is vocab x 1200 float32
(146 MB for a 30522-token vocab with widths 3/4/5 x 100 filters) against the
47 MB embedding, and ~1 s to build it when a run is loaded.
"""

from __future__ import annotations

import numpy as np

PAST_TEXT = np.float32(-1e30)
"""The pad row's value in each width's last tap: no window that sums it can win the max-pool."""


class FoldedKimCNN:
    """Inference-only Kim CNN: `logits(token_ids [B, L], length [B]) -> float32 [B, C]`.

    Same outputs as `KimCNN(..., training=False)` up to float32 rounding (the
    sums run in another order). Build with `FoldedKimCNN.from_model(model)`.
    """

    def __init__(self, table: np.ndarray, widths, filters: int, conv_bias: list[np.ndarray],
                 dense_kernel: np.ndarray, dense_bias: np.ndarray):
        self.widths = tuple(int(w) for w in widths)
        self.filters = int(filters)
        if table.shape[1] != sum(self.widths) * self.filters:
            raise ValueError(f"folded table has {table.shape[1]} columns, expected "
                             f"{sum(self.widths) * self.filters}")
        # One extra row, where padding and tokens past `length` are sent: zero (what the Keras model puts
        # there) except in the last tap of each width, where it is hugely negative, so a window that reaches
        # past the text can never be a max (see `logits`).
        f, offset, self.taps = self.filters, 0, []   # per width, the table columns of each of its taps
        for width in self.widths:
            self.taps.append([slice(offset + k * f, offset + (k + 1) * f) for k in range(width)])
            offset += width * f
        pad = np.zeros((1, table.shape[1]), np.float32)
        for taps in self.taps:
            pad[0, taps[-1]] = PAST_TEXT
        self.table = np.vstack([table.astype(np.float32), pad])
        self.pad_row = len(self.table) - 1
        self.conv_bias = [np.asarray(b, np.float32) for b in conv_bias]
        self.dense_kernel = np.asarray(dense_kernel, np.float32)
        self.dense_bias = np.asarray(dense_bias, np.float32)

    @classmethod
    def from_model(cls, model) -> "FoldedKimCNN":
        """Fold a `students.kim_cnn.KimCNN`'s embedding(s) and conv kernels into one table."""
        embedding = model.word_table()
        # kernel [w, D, F] -> [D, w*F], tap k's filters in columns k*F:(k+1)*F
        taps = [conv.kernel.numpy().transpose(1, 0, 2).reshape(embedding.shape[1], -1) for conv in model.convs]
        table = embedding @ np.concatenate(taps, axis=1)
        return cls(table, model.widths, model.filters, [conv.bias.numpy() for conv in model.convs],
                   model.classifier.kernel.numpy(), model.classifier.bias.numpy())

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def logits(self, token_ids, length) -> np.ndarray:
        token_ids = np.asarray(token_ids, dtype=np.int64)
        length = np.asarray(length, dtype=np.int64).reshape(-1)
        batch, widest = token_ids.shape[0], max(self.widths)
        # the Keras model's (widest - 1) appended pads, then everything past `length` -> the pad row
        token_ids = np.concatenate([token_ids, np.zeros((batch, widest - 1), np.int64)], axis=1)
        positions = np.arange(token_ids.shape[1])
        token_ids = np.where(positions[None, :] < length[:, None], token_ids, self.pad_row)
        if token_ids.size and (token_ids.min() < 0 or token_ids.max() > self.pad_row):
            raise ValueError(f"token ids must be in [0, {self.pad_row}), got {token_ids.min()}..{token_ids.max()}")
        gathered = self.table[token_ids]                      # [B, L', sum(w) * F]
        span, f = token_ids.shape[1], self.filters
        features = np.empty((batch, len(self.widths) * f), np.float32)
        for i, (width, taps, bias) in enumerate(zip(self.widths, self.taps, self.conv_bias)):
            n = span - width + 1
            h = gathered[:, 0:n, taps[0]].copy()
            for k in range(1, width):
                h += gathered[:, k:k + n, taps[k]]
            pooled = features[:, i * f:(i + 1) * f]
            # Windows reaching past the text hold PAST_TEXT, so the max is over the text's windows, and
            # max(relu(h)) = relu(max(h)): the ReLU runs once, on the pooled features.
            h.max(axis=1, out=pooled)
            short = length < width   # a text shorter than the window: the model's one window, pads as zeros
            if short.any():
                pooled[short] = sum(gathered[short, k, taps[k]] for k in range(width - 1))
            pooled += bias
        np.maximum(features, 0.0, out=features)
        return (features @ self.dense_kernel + self.dense_bias).astype(np.float32)

    __call__ = logits
