"""Training engine: Keras `fit` (distill.training) against a hand-written loop, same batches, same run.

`distill.training` trains teachers and students with `Model.fit`; the rule
for keeping it is that its step time is within 10% of a plain loop over the
same `tf.function` train step. This script measures both for a teacher (a
BERT classifier, random weights: speed does not depend on their values) and
a Kim-CNN student (static 30522-row embedding, mse on teacher logits), on
the same length-bucketed batches padded to their own longest row:

  loop    a Python loop calling one tf.function step with [None, None] inputs
          (what teachers/finetune.py and students/train.py did before the engine)
  fit     distill.training.train: Model.fit over a from_generator dataset, with
          the engine's callbacks (progress, TensorBoard, best weights, early
          stopping, backup after each epoch)

Each variant runs `--rounds` times, alternating loop and fit so that slow
spells of a shared machine fall on both; each round trains a fresh model for
`--epochs` epochs and its first epoch (tracing, warm-up) is left out. The
median over the remaining epochs is reported as ms per step and examples/s,
with the ratio fit/loop, and the achieved GFLOP/s against the float32 matmul
peak measured in the same run.

    python bench/train_engine.py                           # minilm-l6-sized teacher + Kim-CNN student
    python bench/train_engine.py --teacher-model tiny --steps 20 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

import numpy as np  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher-model", default="minilm-l6", help="BertConfig preset (default minilm-l6)")
    p.add_argument("--teacher-batch", type=int, default=32)
    p.add_argument("--student-batch", type=int, default=50)
    p.add_argument("--steps", type=int, default=30, help="steps per timed epoch (teacher); student x10")
    p.add_argument("--epochs", type=int, default=3, help="epochs per round; the first is warm-up")
    p.add_argument("--rounds", type=int, default=3, help="rounds per variant, loop and fit alternating")
    p.add_argument("--mean-len", type=float, default=26.0, help="mean token length (rt-polarity ~26)")
    p.add_argument("--which", default="teacher,student")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "train_engine.json")
    return p.parse_args(argv)


def lengths_like_text(n, mean_len, rng, max_len=128):
    return np.clip(rng.gamma(4.0, mean_len / 4.0, n).astype(int) + 2, 3, max_len)


def loop_epochs(step, batches_of, epochs):
    """Seconds per epoch of a plain loop: one call and one host sync per step."""
    times = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        for x, y, _ in batches_of(epoch):
            loss = step(x, y)
            float(loss)
        times.append(time.perf_counter() - start)
    return times


def fit_epochs(model, batches_of, signature, steps, examples, epochs, workdir):
    from distill.training import Schedule, train

    result = train(model, batches_of, signature, steps, examples, lambda: {"dev_loss": 0.0}, workdir,
                   Schedule(epochs, "dev_loss", "min", patience=epochs), progress=False, echo=None)
    return [r["train_seconds"] for r in result.history]


def alternate(loop_round, fit_round, rounds):
    """Epoch times of each variant over `rounds` alternating rounds, warm-up epochs left out."""
    times = {"loop": [], "fit": [], "warmup": []}
    for _ in range(rounds):
        for name, run_round in (("loop", loop_round), ("fit", fit_round)):
            epochs = run_round()
            times["warmup"].append(epochs[0])
            times[name].extend(epochs[1:])
    return times


def summarise(name, times, steps, examples, flops_per_epoch, peak):
    steady = statistics.median(times)
    return {"variant": name, "timed_epochs": len(times), "epoch_seconds": [round(t, 3) for t in times],
            "ms_per_step": round(1000 * steady / steps, 2), "examples_per_s": round(examples / steady, 1),
            "gflops": round(flops_per_epoch / steady / 1e9, 1),
            "peak_share": round(flops_per_epoch / steady / 1e9 / peak, 3)}


def bench_teacher(args, rng, peak):
    import keras

    from teachers.batching import BATCH_SPEC, bucketed_batches
    from teachers.bert import BertConfig, BertEncoder
    from teachers.classifier import BertClassifier
    from teachers.finetune import LABELS_SPEC, FinetuneConfig, compiled_train_step, make_optimizer, make_schedule
    from distill.wordpiece import pad_batch

    config = BertConfig.preset(args.teacher_model)
    n = args.teacher_batch * args.steps
    lengths = lengths_like_text(n, args.mean_len, rng)
    ids = [rng.integers(5, config.vocab_size, size=L).astype(np.int32) for L in lengths]
    labels = rng.integers(0, 2, size=n).astype(np.int32)

    def batches_of(epoch):
        for rows in bucketed_batches(lengths, args.teacher_batch, np.random.default_rng([0, epoch])):
            yield pad_batch([ids[i] for i in rows], [np.zeros_like(ids[i]) for i in rows]), labels[rows], len(rows)

    def fresh():
        keras.utils.set_random_seed(0)
        model = BertClassifier(BertEncoder(config), 2)
        c = FinetuneConfig()
        return model, make_optimizer(model, c, make_schedule(c, args.steps * args.epochs))

    # 6 x matmul parameters x tokens: forward + backward of the dense layers; the embedding
    # tables are lookups, not matmuls, and the attention score terms are left out.
    model, _ = fresh()
    lookups = sum(int(np.prod(w.shape)) for w in model.weights if "embeddings" in w.path and w.path.endswith("embeddings"))
    flops = 6 * (model.count_params() - lookups) * float(lengths.sum())

    def loop_round():
        model, optimizer = fresh()
        step = compiled_train_step(model, optimizer)
        return loop_epochs(lambda x, y: step(x, y)[0], batches_of, args.epochs)

    def fit_round():
        model, optimizer = fresh()
        model.compile(optimizer=optimizer, jit_compile=False)
        with tempfile.TemporaryDirectory() as workdir:
            return fit_epochs(model, batches_of, (BATCH_SPEC, LABELS_SPEC), args.steps, n, args.epochs, workdir)

    times = alternate(loop_round, fit_round, args.rounds)
    return [summarise(v, times[v], args.steps, n, flops, peak) for v in ("loop", "fit")]


def bench_student(args, rng, peak):
    import keras
    import tensorflow as tf

    from students import losses
    from students.kim_cnn import build_kim_cnn
    from students.train import FEATURE_SPEC, Distiller
    from distill.wordpiece import pad_ids

    steps = args.steps * 10
    n = args.student_batch * steps
    vocab, dim, filters, widths = 30522, 384, 100, (3, 4, 5)
    embedding = rng.normal(0, 0.05, size=(vocab, dim)).astype(np.float32)
    lengths = lengths_like_text(n, args.mean_len, rng)
    ids = [rng.integers(1000, vocab, size=L).astype(np.int32) for L in lengths]
    y = rng.integers(0, 2, size=n).astype(np.int32)
    teacher = rng.normal(0, 2, size=(n, 2)).astype(np.float32)

    def batches_of(epoch):
        order = np.random.default_rng([0, epoch]).permutation(n)
        for b in range(steps):
            rows = order[b * args.student_batch:(b + 1) * args.student_batch]
            token_ids, length = pad_ids([ids[i] for i in rows])
            yield ({"token_ids": token_ids, "length": length}, {"y": y[rows], "logits": teacher[rows]}, len(rows))

    def fresh():
        keras.utils.set_random_seed(0)
        model = build_kim_cnn(embedding, 2, embedding_mode="static", widths=widths, filters=filters, seed=0)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(model.trainable_variables)
        return model, optimizer

    positions = sum(float(np.maximum(lengths - w + 1, 1).sum()) * w for w in widths)
    flops = 3 * 2 * positions * dim * filters   # forward + backward of the convolutions' matmuls

    signature = (FEATURE_SPEC, {"y": tf.TensorSpec([None], tf.int32), "logits": tf.TensorSpec([None, 2], tf.float32)})

    def loop_round():
        model, optimizer = fresh()
        variables = model.trainable_variables

        @tf.function(input_signature=list(signature))
        def step(features, targets):
            with tf.GradientTape() as tape:
                logits = model(features, training=True)
                loss = losses.student_loss("mse", logits, targets["y"], targets["logits"])
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        return loop_epochs(step, batches_of, args.epochs)

    def fit_round():
        model, optimizer = fresh()
        distiller = Distiller(model, "mse", 2.0, 0.5)
        distiller.compile(optimizer=optimizer, jit_compile=False)
        with tempfile.TemporaryDirectory() as workdir:
            return fit_epochs(distiller, batches_of, signature, steps, n, args.epochs, workdir)

    times = alternate(loop_round, fit_round, args.rounds)
    return [summarise(v, times[v], steps, n, flops, peak) for v in ("loop", "fit")]


def main(argv=None):
    args = parse_args(argv)
    from distill.timing import machine_info, matmul_peak_gflops

    rng = np.random.default_rng(0)
    peak = matmul_peak_gflops(1024, repeats=5)
    out = {"machine": machine_info(), "matmul_peak_gflops": round(peak, 1),
           "args": vars(args) | {"json": str(args.json)}, "rows": []}
    print(f"float32 matmul peak {peak:.0f} GFLOP/s")
    print("| model | variant | ms/step | examples/s | GFLOP/s | peak share | fit/loop step time |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for which in args.which.split(","):
        rows = bench_teacher(args, rng, peak) if which == "teacher" else bench_student(args, rng, peak)
        ratio = rows[1]["ms_per_step"] / rows[0]["ms_per_step"]
        for row in rows:
            row["model"] = which
            out["rows"].append(row)
            print(f"| {which} | {row['variant']} | {row['ms_per_step']} | {row['examples_per_s']} | {row['gflops']} | "
                  f"{row['peak_share']:.0%} | {ratio if row['variant'] == 'fit' else 1.0:.3f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
