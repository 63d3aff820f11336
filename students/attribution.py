"""Token attributions of a trained student: which word pieces pushed its prediction.

Owns the student side of `distill explain`: running `distill.attribution`'s
integrated gradients and occlusion on a `students.predictor.StudentPredictor`
(the Keras model, not the folded engine, because gradients are needed).
Integrated gradients differentiates with respect to the word vectors of every
embedding channel (`KimCNN.embed` / `KimCNN.classify`), from the same
baseline the teacher side uses: every word piece's vector replaced by the
[PAD] token's, [CLS] and [SEP] kept. The student reads the teacher's
tokenization, so the two attributions line up token by token.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from distill.attribution import IG_STEPS, METHODS, Attribution, integrated_gradients, occlusion
from distill.errors import DistillError
from distill.metrics import softmax


def explain_student(predictor, texts: Sequence[str], texts_b: Sequence[str] | None = None, method: str = "ig",
                    steps: int = IG_STEPS, labels: Sequence[int] | None = None) -> list[Attribution]:
    """One `Attribution` per text for `predictor` (a `StudentPredictor`; its Keras model is used): of
    the predicted label, or of `labels[i]` when given."""
    if method not in METHODS:
        raise DistillError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    model, tokenizer = predictor.model, predictor.tokenizer
    ids_list = predictor.encode(list(texts), None if texts_b is None else list(texts_b))
    specials = [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id]
    out = []
    for row, ids in enumerate(ids_list):
        ids = ids.astype(np.int32)
        length = np.array([len(ids)], np.int32)
        channels = [c.numpy()[0] for c in model.embed(ids[None])]
        logits = _logits(model, [tf.constant(c[None]) for c in channels], tf.constant(length)).numpy()[0]
        predicted = int(np.argmax(logits))
        label = predicted if labels is None else int(labels[row])
        special = np.isin(ids, specials)
        target = baseline = used = None
        if method == "ig":
            pad_vectors = [c.numpy()[0, 0] for c in model.embed(np.array([[tokenizer.pad_id]], np.int32))]
            references = []
            for vectors, pad in zip(channels, pad_vectors):
                reference = vectors.copy()
                reference[~special] = pad
                references.append(reference)

            def score(points, label=label, n=len(ids)):
                lengths = tf.fill([tf.shape(points[0])[0]], n)
                return _logits(model, points, lengths)[:, label]

            scores, target, baseline, used = integrated_gradients(score, channels, references, steps)
        else:
            def score_ids(batch, label=label):
                lengths = np.full(len(batch), len(ids), np.int32)
                return predictor.logits_for_ids(batch, lengths)[:, label]

            scores = occlusion(score_ids, ids, special, tokenizer.mask_id)
        out.append(Attribution([tokenizer.vocab[i] for i in ids], scores, label, predictor.label_names[label],
                               softmax(logits[None])[0], method, special=special, target=target, baseline=baseline,
                               steps=used if method == "ig" else None, predicted=predicted,
                               predicted_name=predictor.label_names[predicted]))
    return out


def _logits(model, channels, lengths):
    """float32 logits [B, C] from word vectors (one [B, L, D] tensor per channel) and lengths [B]."""
    return tf.cast(model.classify(channels, lengths, training=False), tf.float32)
