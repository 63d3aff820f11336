"""Token attributions of a fine-tuned teacher: which word pieces pushed its prediction.

Owns the teacher side of `distill explain`: running `distill.attribution`'s
integrated gradients and occlusion on a `TeacherRun`. Integrated gradients
differentiates with respect to the word vectors (`BertEncoder`'s
"word_vectors" input stands in for the embedding lookup; positions and
segments are added as usual), from the baseline where every word piece's
vector is the [PAD] token's and [CLS]/[SEP] are kept.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from distill.attribution import IG_STEPS, METHODS, Attribution, integrated_gradients, occlusion
from distill.errors import DistillError
from distill.metrics import softmax


def explain_teacher(run, texts: Sequence[str], texts_b: Sequence[str] | None = None, method: str = "ig",
                    steps: int = IG_STEPS, labels: Sequence[int] | None = None) -> list[Attribution]:
    """One `Attribution` per text for the teacher run `run` (a `teachers.run.TeacherRun`): of the
    predicted label, or of `labels[i]` when given."""
    if method not in METHODS:
        raise DistillError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    tokenizer = run.tokenizer
    encoding = tokenizer.encode(list(texts), None if texts_b is None else list(texts_b))
    vocab = tokenizer.vocab
    specials = [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id]
    table = run.encoder.word_embeddings
    score_of = _logit_of_label(run.model, int(table.shape[1]))
    out = []
    for row, (ids, segments) in enumerate(zip(encoding.ids, encoding.segments)):
        ids, segments = ids.astype(np.int32), segments.astype(np.int32)
        mask = np.ones_like(ids)
        logits = run.logits_for_ids(ids[None], segments[None], mask[None])[0]
        predicted = int(np.argmax(logits))
        label = predicted if labels is None else int(labels[row])
        special = np.isin(ids, specials)
        target = baseline = used = None
        if method == "ig":
            vectors = tf.gather(table, ids).numpy()
            reference = vectors.copy()
            reference[~special] = tf.gather(table, [tokenizer.pad_id]).numpy()[0]

            def score(points, ids=ids, segments=segments, label=label):
                n = tf.shape(points[0])[0]
                return score_of(tf.tile(ids[None], [n, 1]), tf.tile(segments[None], [n, 1]), points[0], label)

            scores, target, baseline, used = integrated_gradients(score, [vectors], [reference], steps)
        else:
            def score_ids(batch, segments=segments, mask=mask, label=label):
                n = len(batch)
                return run.logits_for_ids(batch, np.tile(segments, (n, 1)), np.tile(mask, (n, 1)))[:, label]

            scores = occlusion(score_ids, ids, special, tokenizer.mask_id)
        out.append(Attribution([vocab[i] for i in ids], scores, label, run.label_names[label],
                               softmax(logits[None])[0], method, special=special, target=target, baseline=baseline,
                               steps=used if method == "ig" else None, predicted=predicted,
                               predicted_name=run.label_names[predicted]))
    return out


def _logit_of_label(model, hidden: int):
    """A compiled `(ids, segments, word_vectors, label) -> [S]` logit of `label`, traced once for all lengths."""
    spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None, hidden], tf.float32), tf.TensorSpec([], tf.int32)]

    @tf.function(input_signature=spec)
    def logit(ids, segments, word_vectors, label):
        inputs = {"token_ids": ids, "segment_ids": segments, "padding_mask": tf.ones_like(ids),
                  "word_vectors": word_vectors}
        return tf.cast(model(inputs, training=False), tf.float32)[:, label]

    return logit
