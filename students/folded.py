"""Fast inference for a trained Kim CNN: its convolutions folded into per-token tables (numpy).

Owns `FoldedKimCNN`, the engine `distill predict` runs a student with.

Why it is exact: the first two layers are linear in a one-hot token. A width-w
filter bank at position t computes sum_k E[x_(t+k)] @ W_k + b, and
E[x] @ W_k is a row of the table E @ W_k, which can be computed once. Folding
every tap of every width gives one table T = E @ [W_(w,k) for all w, k] of
shape [vocab, sum(widths) * filters]; a forward pass becomes one gather of T's
rows plus shifted adds, ReLU, the masked max and the dense layer. In
multichannel mode the two channels share the filters, so T = (E1 + E2) @ W.
Padding (and anything past `length`) maps to an extra zero row, which is
exactly the zero vector the Keras model puts there.

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
        # one extra all-zero row: where padding and tokens past `length` are sent
        self.table = np.vstack([table.astype(np.float32), np.zeros((1, table.shape[1]), np.float32)])
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
        batch = token_ids.shape[0]
        # the Keras model's (widest - 1) appended pads, then everything past `length` -> the zero row
        token_ids = np.concatenate([token_ids, np.zeros((batch, max(self.widths) - 1), np.int64)], axis=1)
        positions = np.arange(token_ids.shape[1])
        token_ids = np.where(positions[None, :] < length[:, None], token_ids, self.pad_row)
        if token_ids.size and (token_ids.min() < 0 or token_ids.max() > self.pad_row):
            raise ValueError(f"token ids must be in [0, {self.pad_row}), got {token_ids.min()}..{token_ids.max()}")
        gathered = self.table[token_ids]                      # [B, L', sum(w) * F]
        span, f, offset, pooled = token_ids.shape[1], self.filters, 0, []
        for width, bias in zip(self.widths, self.conv_bias):
            n = span - width + 1
            h = gathered[:, 0:n, offset:offset + f] + bias
            for k in range(1, width):
                h += gathered[:, k:k + n, offset + k * f:offset + (k + 1) * f]
            offset += width * f
            np.maximum(h, 0.0, out=h)
            valid = np.arange(n)[None, :] < np.maximum(length - width + 1, 1)[:, None]
            h[~valid] = -np.inf
            pooled.append(h.max(axis=1))
        features = np.concatenate(pooled, axis=1)
        return (features @ self.dense_kernel + self.dense_bias).astype(np.float32)

    __call__ = logits
