"""Masked-LM pretraining step: tokens/s and FLOP/s, against the same model's forward pass.

`distill teacher pretrain` reports tokens/s and GFLOP/s per epoch; this
script says whether those are good numbers on this machine. It builds a
random-weight `teachers.mlm.BertPretrainer` (a `BertEncoder` of preset
--model with --vocab-size ids), compiled as teachers/pretrain.py compiles it
(AdamW with warm-up and decay, `teachers.finetune.make_optimizer`), and times
on the same batches (random full rows of --seq-len ids, BERT-masked by
`teachers.mlm.mask_rows`, made by `teachers.mlm.mlm_batch`):

  forward  the model's forward pass, MLM head at the masked positions (the dev
           evaluation's pass; tf.function with the MLM_BATCH_SPEC signature)
  train    `model.train_step` (forward, loss, backward, clipping, AdamW), the step
           `fit` runs, compiled through tf.function with the MLM_BATCH_SPEC signature

Both are the median tokens/s of --repeats passes of --steps batches, after
--warmup-steps untimed steps (tracing, caches). GFLOP/s uses
`teachers.pretrain.train_flops_per_token` (3x the forward pass) and the
forward FLOPs it is built from; the share of the peak is against a float32
2048x2048 matmul timed in the same run (`distill.timing.matmul_peak_gflops`).
The baseline is the forward pass: train/forward tokens/s is ~1/3 by the
textbook count (backward ~2x forward), less when the optimizer's elementwise
work over every weight (the vocab-sized embedding too) is not negligible.

    python bench/pretrain_throughput.py                         # mini, vocab 8192, batch 32, seq 128
    python bench/pretrain_throughput.py --model tiny --steps 20

Weights are random: speed does not depend on their values. Writes a JSON
summary (default bench/out/pretrain_throughput.json).
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

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}   # ids of the random vocab's special tokens


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="mini", help="BertConfig preset (default mini)")
    p.add_argument("--vocab-size", type=int, default=8192, help="vocab size (default 8192)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128, help="length of every packed row (default 128)")
    p.add_argument("--mask-rate", type=float, default=0.15)
    p.add_argument("--steps", type=int, default=5,
                   help="batches per timed pass (default 5: ~2 min for mini on 2 cores)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes; the median is reported (default 3)")
    p.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "pretrain_throughput.json")
    return p.parse_args(argv)


def make_batches(args, rng) -> list:
    """`--steps` distinct MLM batches of full rows `[CLS] random ids [SEP]`, as tensors (feeding is not timed)."""
    import tensorflow as tf

    from teachers.mlm import mask_rows, mlm_batch

    batches = []
    for _ in range(args.steps):
        rows = [np.concatenate([[SPECIAL["cls"]], rng.integers(len(SPECIAL), args.vocab_size, args.seq_len - 2),
                                [SPECIAL["sep"]]]).astype(np.int32) for _ in range(args.batch_size)]
        x, y = mlm_batch(*mask_rows(rows, rng, args.vocab_size, SPECIAL["mask"], SPECIAL.values(), args.mask_rate))
        batches.append(({k: tf.constant(v) for k, v in x.items()}, tf.constant(y)))
    return batches


def build_model(args):
    """A random BertPretrainer compiled as teachers/pretrain.py compiles it."""
    import keras

    from teachers.bert import BertConfig, BertEncoder
    from teachers.finetune import make_optimizer, make_schedule
    from teachers.mlm import BertPretrainer
    from teachers.pretrain import PretrainConfig

    keras.utils.set_random_seed(args.seed)
    c = PretrainConfig(batch_size=args.batch_size, max_seq_len=args.seq_len, mask_rate=args.mask_rate)
    config = dataclasses.replace(BertConfig.preset(args.model), vocab_size=args.vocab_size, dropout=c.dropout)
    model = BertPretrainer(BertEncoder(config))
    schedule = make_schedule(c, 10_000)   # a real run's length; the learning rate's value does not change the speed
    model.compile(optimizer=make_optimizer(model, c, schedule), jit_compile=False)
    return model, config


def time_pass(name, step, batches, args) -> dict:
    """Median tokens/s over `--repeats` passes of every batch through `step`, after the warm-up steps."""
    from distill.timing import measure

    tokens = args.batch_size * args.seq_len
    started = time.perf_counter()
    for i in range(args.warmup_steps):
        step(*batches[i % len(batches)])
    warmup = time.perf_counter() - started

    def one_pass() -> int:
        for batch in batches:
            out = step(*batch)
        np.asarray(out)   # wait for the last step (and so every step before it) to finish
        return tokens * len(batches)

    result = measure(one_pass, warmup=0, repeats=args.repeats)
    print(f"{name}: {result.median:,.0f} tokens/s ({warmup:.1f} s warm-up, "
          f"{time.perf_counter() - started:.1f} s in all)", file=sys.stderr)
    return {"pass": name, "tokens_per_s": result.median, "min": result.min, "max": result.max,
            "repeats": result.repeats, "tokens_per_repeat": result.examples,
            "warmup_seconds": round(warmup, 2)}


def main(argv=None) -> int:
    args = parse_args(argv)
    import tensorflow as tf

    from distill.timing import machine_info, matmul_peak_gflops
    from teachers.mlm import MLM_BATCH_SPEC
    from teachers.pretrain import train_flops_per_token

    started = time.perf_counter()
    peak = matmul_peak_gflops(2048, dtype="float32")
    model, config = build_model(args)
    batches = make_batches(args, np.random.default_rng(args.seed))
    forward = tf.function(lambda x: model(x, training=False), input_signature=[MLM_BATCH_SPEC[0]])
    train = tf.function(lambda x, y: model.train_step((x, y))["loss"], input_signature=list(MLM_BATCH_SPEC))

    train_flops = train_flops_per_token(config, args.seq_len, args.mask_rate)
    flops = {"forward": train_flops / 3, "train": train_flops}
    rows = [time_pass("forward", lambda x, y: forward(x), batches, args), time_pass("train", train, batches, args)]
    base = rows[0]["tokens_per_s"]
    for r in rows:
        r["flops_per_token"] = flops[r["pass"]]
        r["gflop_per_s"] = r["tokens_per_s"] * r["flops_per_token"] / 1e9
        r["peak_fraction"] = r["gflop_per_s"] / peak
        r["ratio_to_forward"] = r["tokens_per_s"] / base

    print(f"\nMLM pretraining throughput: {args.model} (vocab {args.vocab_size}, {model.count_params() / 1e6:.2f}M "
          f"params), batch {args.batch_size} x seq {args.seq_len}, mask rate {args.mask_rate}; random weights; "
          f"median of {args.repeats} passes of {args.steps} steps after {args.warmup_steps} warm-up steps; "
          f"float32 matmul peak (2048x2048) {peak:.1f} GFLOP/s, measured in this run\n")
    print("| pass | tokens/s | (min–max) | MFLOP/token | GFLOP/s | % of matmul peak | × forward |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['pass']} | {r['tokens_per_s']:,.0f} | {r['min']:,.0f}–{r['max']:,.0f} | "
              f"{r['flops_per_token'] / 1e6:.2f} | {r['gflop_per_s']:.1f} | {100 * r['peak_fraction']:.0f}% | "
              f"{r['ratio_to_forward']:.2f} |")
    ratio = rows[1]["ratio_to_forward"]
    print(f"\ntrain/forward tokens/s: {ratio:.2f} (textbook ~0.33: backward ~2x forward; "
          f"{'below' if ratio < 0.30 else 'about' if ratio <= 0.37 else 'above'} it)")
    summary = {"benchmark": "pretrain_throughput", "weights": "random (throughput only)",
               "args": {k: str(v) for k, v in vars(args).items()}, "params": int(model.count_params()),
               "matmul_peak_gflops": peak, "train_over_forward": ratio, "rows": rows, "machine": machine_info(),
               "seconds": round(time.perf_counter() - started, 1)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary written to {args.json} ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
