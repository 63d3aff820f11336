"""Forward throughput of BERT encoders, next to a float32 matmul peak measured in the same run.

Prints a Markdown table: examples/s (median of repeats after warm-up),
FLOPs per example, achieved GFLOP/s and its share of the matmul peak, for
each model x sequence length x batch size. Weights are random (throughput
does not depend on their values), so the numbers say nothing about accuracy.

    python bench/encoder_throughput.py                          # the full grid (slow on 2 cores)
    python bench/encoder_throughput.py --models minilm-l6 --lengths 64 --batches 32 --repeats 2

Writes a JSON summary (default bench/out/encoder_throughput.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

import numpy as np  # noqa: E402


def _csv(kind):
    return lambda text: [kind(item) for item in text.split(",") if item]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=_csv(str), default=["minilm-l6", "base", "large"],
                   help="comma-separated BertConfig presets (default minilm-l6,base,large)")
    p.add_argument("--lengths", type=_csv(int), default=[64, 128], help="sequence lengths (default 64,128)")
    p.add_argument("--batches", type=_csv(int), default=[1, 32, 128], help="batch sizes (default 1,32,128)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per cell; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per cell (tracing, caches)")
    p.add_argument("--min-examples", type=int, default=32,
                   help="each repeat runs whole batches until at least this many examples (steadier small batches)")
    p.add_argument("--policy", default="float32", help="Keras dtype policy, e.g. float32 or mixed_bfloat16")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "encoder_throughput.json")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from distill.timing import machine_info, matmul_peak_gflops, measure
    from teachers.bert import BertConfig, BertEncoder

    keras.mixed_precision.set_global_policy(args.policy)
    peak = matmul_peak_gflops(2048, dtype="float32")
    rows = []
    cells = [(m, length, batch) for m in args.models for length in args.lengths for batch in args.batches]
    progress = tqdm(cells, desc="encoder throughput", unit="cell", file=sys.stderr)
    encoders = {}
    for model, length, batch in progress:
        progress.set_postfix_str(f"{model} L={length} B={batch}")
        config = BertConfig.preset(model)
        if model not in encoders:
            encoders.clear()  # one big model in memory at a time
            encoders[model] = BertEncoder(config)
        encoder = encoders[model]
        forward = tf.function(lambda inputs, e=encoder: e(inputs, training=False)["sequence_output"])
        rng = np.random.default_rng(0)
        inputs = {
            "token_ids": tf.constant(rng.integers(1000, config.vocab_size, (batch, length)), tf.int32),
            "segment_ids": tf.zeros((batch, length), tf.int32),
            "padding_mask": tf.ones((batch, length), tf.int32),
        }
        steps = max(1, math.ceil(args.min_examples / batch))

        def run_once():
            for _ in range(steps):
                forward(inputs).numpy()
            return steps * batch

        started = time.perf_counter()
        result = measure(run_once, warmup=args.warmup, repeats=args.repeats)
        flops = config.flops_per_token(length) * length
        gflops = result.median * flops / 1e9
        rows.append({
            "model": model, "params": config.num_parameters(), "length": length, "batch": batch,
            "examples_per_s": result.median, "min": result.min, "max": result.max,
            "repeats": result.repeats, "examples_per_repeat": result.examples,
            "gflop_per_example": flops / 1e9, "gflops": gflops, "peak_fraction": gflops / peak,
            "seconds": time.perf_counter() - started,
        })
    progress.close()

    print(f"\nEncoder forward throughput — random weights (throughput only), policy {args.policy}; "
          f"float32 matmul peak (2048x2048) {peak:.0f} GFLOP/s; median of {args.repeats} after {args.warmup} warm-up\n")
    print("| model | params | length | batch | examples/s | (min–max) | GFLOP/example | GFLOP/s | % of peak |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['params'] / 1e6:.1f}M | {r['length']} | {r['batch']} | "
              f"{r['examples_per_s']:.1f} | {r['min']:.1f}–{r['max']:.1f} | {r['gflop_per_example']:.2f} | "
              f"{r['gflops']:.0f} | {100 * r['peak_fraction']:.0f}% |")
    summary = {"benchmark": "encoder_throughput", "weights": "random (throughput only)", "policy": args.policy,
               "matmul_peak_gflops": peak, "machine": machine_info(), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
