"""Fine-tuning step: how compiling the train step copes with per-batch padded lengths.

Length-bucketed batches are padded to their own longest row, so one epoch
sees many batch shapes. This script runs the same batches through the
fine-tuning train step compiled three ways, and pads to a fixed length as
the no-bucketing baseline:

  signature        tf.function with input_signature [None, None] (what teachers.finetune uses)
  reduce_retracing tf.function(reduce_retracing=True)
  plain            tf.function() — traces once per new shape (the "retrace storm")
  fixed            signature, every batch padded to --max-len (no bucketing)

For each: traces, the first pass over the batches (tracing included) and
the steady examples/s (median of repeats after a warm-up pass, via
distill.app.bench.measure), with ratios against `signature` measured in the
same run. Weights are random: speed does not depend on their values.

    python bench/teacher_train_step.py                       # tiny preset, 24 batches
    python bench/teacher_train_step.py --model mini --batches 12

Writes a JSON summary (default bench/out/teacher_train_step.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

import numpy as np  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny", help="BertConfig preset (default tiny)")
    p.add_argument("--vocab-size", type=int, default=1000, help="vocab size for the random ids (default 1000)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--batches", type=int, default=24, help="batches per pass (default 24)")
    p.add_argument("--min-len", type=int, default=8)
    p.add_argument("--max-len", type=int, default=64, help="longest row; also the fixed padding length")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--variants", default="signature,reduce_retracing,plain,fixed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "teacher_train_step.json")
    return p.parse_args(argv)


def make_batches(args, rng):
    """Bucketed batches of random ids: each batch padded to its own longest row."""
    from teachers.batching import bucketed_batches
    from distill.wordpiece import pad_batch

    n = args.batch_size * args.batches
    lengths = rng.integers(args.min_len, args.max_len + 1, size=n)
    rows = [rng.integers(5, args.vocab_size, size=int(k)).astype(np.int32) for k in lengths]
    labels = rng.integers(0, 2, size=n).astype(np.int32)
    batches = []
    for index in bucketed_batches(lengths, args.batch_size, rng, window_batches=args.batches):
        bucketed = pad_batch([rows[i] for i in index])
        fixed = pad_batch([rows[i] for i in index], length=args.max_len)
        batches.append((bucketed, fixed, labels[index]))
    return batches


def run_variant(name, args, batches):
    import keras
    import tensorflow as tf

    from distill.timing import measure
    from teachers.batching import BATCH_SPEC, Traces
    from teachers.bert import BertConfig, BertEncoder
    from teachers.classifier import BertClassifier
    from teachers.finetune import LABELS_SPEC, FinetuneConfig, make_optimizer, make_schedule, train_step_function

    keras.utils.set_random_seed(args.seed)
    config = dataclasses.replace(BertConfig.preset(args.model), vocab_size=args.vocab_size)
    model = BertClassifier(BertEncoder(config), 2)
    optimizer = make_optimizer(model, FinetuneConfig(lr=1e-4), make_schedule(FinetuneConfig(lr=1e-4), 10_000))
    traces = Traces()
    step = train_step_function(model, optimizer, traces)
    if name in ("signature", "fixed"):
        step = tf.function(step, input_signature=[BATCH_SPEC, LABELS_SPEC])
    elif name == "reduce_retracing":
        step = tf.function(step, reduce_retracing=True)
    elif name == "plain":
        step = tf.function(step)
    else:
        raise SystemExit(f"unknown variant {name!r}")
    which = 1 if name == "fixed" else 0

    def one_pass() -> int:
        examples = 0
        for batch in batches:
            loss, _ = step(batch[which], batch[2])
            float(loss)
            examples += len(batch[2])
        return examples

    start = time.perf_counter()
    one_pass()
    first = time.perf_counter() - start
    throughput = measure(one_pass, warmup=0, repeats=args.repeats)
    shapes = len({b[which]["token_ids"].shape for b in batches})
    return {"variant": name, "traces": traces["train"], "shapes": shapes, "first_pass_seconds": round(first, 3),
            "examples_per_s": round(throughput.median, 1), "examples_per_s_min": round(throughput.min, 1),
            "examples_per_s_max": round(throughput.max, 1)}


def main(argv=None) -> int:
    args = parse_args(argv)
    from distill.timing import machine_info

    batches = make_batches(args, np.random.default_rng(args.seed))
    rows = [run_variant(name.strip(), args, batches) for name in args.variants.split(",") if name.strip()]
    base = next((r for r in rows if r["variant"] == "signature"), rows[0])
    print(f"model {args.model}, batch {args.batch_size}, {args.batches} batches, lengths "
          f"{args.min_len}-{args.max_len}; ratios against '{base['variant']}' in this run")
    print("| variant | shapes | traces | first pass s | x | steady ex/s | x |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        r["first_pass_ratio"] = round(r["first_pass_seconds"] / base["first_pass_seconds"], 2)
        r["throughput_ratio"] = round(r["examples_per_s"] / base["examples_per_s"], 2)
        print(f"| {r['variant']} | {r['shapes']} | {r['traces']} | {r['first_pass_seconds']:.1f} | "
              f"{r['first_pass_ratio']:.2f} | {r['examples_per_s']:.0f} | {r['throughput_ratio']:.2f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine_info(),
                                     "results": rows}, indent=2))
    print(f"summary: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
