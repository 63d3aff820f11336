"""Training through the engine with TensorFlow's malloc settings, and with `distill.training.keep_freed_memory`.

TensorFlow's `from_generator` sets glibc's M_TRIM_THRESHOLD to 128 KB, which
also freezes the adaptive mmap threshold: every large buffer a training step
allocates becomes an mmap and every free a munmap. The engine raises both
thresholds after that (`keep_freed_memory`). This script trains the same
small BERT with masked-LM pretraining (the engine's path, `fit` over a
generator) twice, each in its own process because the setting is process-wide:

  tensorflow   the engine with `keep_freed_memory` disabled (TensorFlow's setting stands)
  kept         the engine as shipped

and prints, for each, the tokens/s of the epochs after the first (the first
traces), the process's user and system CPU seconds, and GFLOP/s against a
float32 matmul peak measured in the same run; the ratio kept/tensorflow is the
figure of merit. The corpus is random sentences over a fixed word list, its
vocab built from them.

    python bench/malloc_thresholds.py                 # mini, 2,500 sentences, 2 epochs
    python bench/malloc_thresholds.py --model tiny --lines 800

Writes a JSON summary (default bench/out/malloc_thresholds.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a checkout

CHILD = r"""
import json, resource, sys, tempfile
from pathlib import Path
import keras, numpy as np
from distill import training
from distill.data.corpus import Corpus, CorpusSource
from distill.wordpiece import build_vocab
from teachers.pretrain import PretrainConfig, Pretrainer, new_teacher

args = json.loads(sys.argv[1])
if args["variant"] == "tensorflow":
    training.keep_freed_memory = lambda: None
rng = np.random.default_rng(0)
words = [f"w{i}" for i in range(3000)]
lines = [" ".join(rng.choice(words, size=rng.integers(8, 40))) for _ in range(args["lines"])]
with tempfile.TemporaryDirectory() as tmp:
    vocab = build_vocab(lines, Path(tmp) / "tok" / "vocab.txt", size=args["vocab_size"])
    config = PretrainConfig(epochs=args["epochs"], save_every=0, max_seq_len=args["seq_len"])
    keras.utils.set_random_seed(0)
    teacher = new_teacher(args["model"], Path(tmp) / "tok", config)
    corpus = Corpus([lines], [CorpusSource("bench", len(lines), 1, "-")])
    before = resource.getrusage(resource.RUSAGE_SELF)
    trainer = Pretrainer(config, progress=False, echo=None).fit(teacher, corpus, Path(tmp) / "run")
    after = resource.getrusage(resource.RUSAGE_SELF)
history = trainer.history_
print(json.dumps({"tokens_per_s": [h["tokens_per_s"] for h in history],
                  "gflop_per_s": [h["gflop_per_s"] for h in history],
                  "user_s": after.ru_utime - before.ru_utime, "system_s": after.ru_stime - before.ru_stime,
                  "flops_per_token": trainer.throughput_["train_flops_per_token"]}))
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="mini", help="BertConfig preset (default mini)")
    p.add_argument("--lines", type=int, default=2500, help="sentences in the corpus (default 2,500)")
    p.add_argument("--epochs", type=int, default=2, help="epochs; the first is not counted (default 2)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=4000)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "malloc_thresholds.json")
    return p.parse_args(argv)


def run_variant(args, variant: str) -> dict:
    payload = json.dumps({"variant": variant, "model": args.model, "lines": args.lines, "epochs": args.epochs,
                          "seq_len": args.seq_len, "vocab_size": args.vocab_size})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD, payload], env=env, cwd=ROOT, capture_output=True, text=True)
    if child.returncode:
        raise SystemExit(f"{variant}: the child failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    import statistics

    from distill.timing import machine_info, matmul_peak_gflops

    args = parse_args(argv)
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the first traces and is not counted)")
    results = {variant: run_variant(args, variant) for variant in ("tensorflow", "kept")}
    peak = matmul_peak_gflops()
    rows = []
    for variant, r in results.items():
        rate = statistics.median(r["tokens_per_s"][1:])
        gflops = rate * r["flops_per_token"] / 1e9
        r.update(steady_tokens_per_s=rate, steady_gflop_per_s=gflops, peak_share=gflops / peak)
        rows.append(f"| {variant} | {rate:,.0f} | {gflops:.1f} | {100 * gflops / peak:.0f}% | {r['user_s']:.1f} | "
                    f"{r['system_s']:.1f} |")
    ratio = results["kept"]["steady_tokens_per_s"] / results["tensorflow"]["steady_tokens_per_s"]
    print(f"masked-LM pretraining of {args.model} through the engine, {args.lines:,} sentences, {args.epochs} epochs "
          f"(tokens/s: median of the epochs after the first); float32 matmul peak {peak:.1f} GFLOP/s in this run")
    print("| malloc | tokens/s | GFLOP/s | of peak | user CPU s | system CPU s |\n|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"kept / tensorflow tokens/s: {ratio:.2f}")
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results, "ratio": ratio,
               "matmul_peak_gflops": peak, "machine": machine_info()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


if __name__ == "__main__":
    main()
