"""Fine-tuning on one device against `mirrored` over logical CPU devices: the losses step by step.

`--strategy mirrored` (distill.distribute) cuts each batch into one slice
per replica and is meant to give the one-device run's results up to
floating-point order. This script checks that on a real teacher and task: it
splits the CPU into `--devices` logical devices (what a machine without GPUs
can do), fine-tunes the same teacher from the same weights twice, once with
`one` and once with `mirrored`, for `--epochs` epochs, and prints the loss
of every step side by side (read from each run's TensorBoard), the largest
difference, the dev metrics of both, and their seconds.

Dropout is 0 by default (teacher encoder and head): the replicas draw their
own dropout masks, so with dropout the two runs differ as two draws would.
The logical devices share the same cores, so `mirrored` here is no faster;
the point is the numbers, not the speed.

    python bench/distributed_finetune.py                    # minilm-l6 on rt-polarity, one epoch
    python bench/distributed_finetune.py --teacher tiny --task synthetic --max-seq-len 32 --lr 3e-3 --batch-size 16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="minilm-l6", help="teacher name, as for `distill teacher finetune`")
    p.add_argument("--task", default="rt-polarity", help="task name, as for `distill data prepare`")
    p.add_argument("--data-dir", help="local files of the task")
    p.add_argument("--devices", type=int, default=2, help="logical CPU devices = mirrored replicas (default 2)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32, help="the global batch, the same for both runs")
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0, help="encoder and head dropout (default 0: see above)")
    p.add_argument("--train-rows", type=int, default=0, help="first N train rows only (default 0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="where the two run folders go (default a temporary folder)")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "distributed_finetune.json")
    return p.parse_args(argv)


def batch_losses(run_dir: Path) -> list[float]:
    """The per-step training loss the engine wrote to TensorBoard (`batch/loss`)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    return [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("batch/loss")]


def cut_train(task, rows: int):
    if not rows or len(task.splits["train"]) <= rows:
        return task
    train = task.splits["train"]
    train = dataclasses.replace(train, texts=train.texts[:rows], labels=train.labels[:rows],
                                texts_b=None if train.texts_b is None else train.texts_b[:rows],
                                groups=None if train.groups is None else train.groups[:rows], sha256="")
    return dataclasses.replace(task, splits={**task.splits, "train": train}, split_rows=None)


def teacher_with_dropout(args):
    """The teacher as loaded (seeded), its encoder rebuilt with `--dropout`."""
    import keras

    from teachers.bert import BertEncoder
    from teachers.registry import load_teacher

    keras.utils.set_random_seed(args.seed)
    teacher = load_teacher(args.teacher, max_seq_len=args.max_seq_len)
    config = dataclasses.replace(teacher.config, dropout=args.dropout)
    encoder = BertEncoder(config)
    encoder.set_weights(teacher.encoder.get_weights())
    return dataclasses.replace(teacher, config=config, encoder=encoder)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from distill import distribute

    distribute.split_cpu(args.devices)   # before TensorFlow starts its devices

    from distill.data import load_task
    from teachers.finetune import FinetuneConfig, Finetuner

    task = cut_train(load_task(args.task, data_dir=args.data_dir), args.train_rows)
    config = FinetuneConfig(lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, max_seq_len=args.max_seq_len,
                            dropout=args.dropout, patience=args.epochs, seed=args.seed, save_model=False)
    out = args.out or Path(tempfile.mkdtemp(prefix="distributed-finetune-"))
    runs = {}
    for strategy in ("one", "mirrored"):
        finetuner = Finetuner(config, strategy=strategy, echo=print).fit(teacher_with_dropout(args), task,
                                                                         out / strategy, overwrite=True)
        runs[strategy] = {"losses": batch_losses(out / strategy), "dev": finetuner.eval_results_["dev"],
                          "train_seconds": finetuner.train_results_["train_seconds"],
                          "strategy": finetuner.train_results_["strategy"]}
    one, mirrored = runs["one"]["losses"], runs["mirrored"]["losses"]
    diffs = [abs(a - b) for a, b in zip(one, mirrored)]
    print(f"\n{'step':>5}  {'one':>10}  {'mirrored':>10}  {'|diff|':>9}")
    for step, (a, b, d) in enumerate(zip(one, mirrored, diffs), 1):
        print(f"{step:>5}  {a:10.6f}  {b:10.6f}  {d:9.2e}")
    summary = {
        "teacher": args.teacher, "task": task.name, "train_rows": len(task.splits["train"]),
        "epochs": args.epochs, "batch_size": args.batch_size, "devices": args.devices, "dropout": args.dropout,
        "steps": [len(one), len(mirrored)], "max_abs_diff": max(diffs) if diffs else None,
        "mean_abs_diff": sum(diffs) / len(diffs) if diffs else None,
        "dev_accuracy": {s: runs[s]["dev"].get("accuracy") for s in runs},
        "dev_loss": {s: runs[s]["dev"].get("loss") for s in runs},
        "train_seconds": {s: runs[s]["train_seconds"] for s in runs},
        "strategy": runs["mirrored"]["strategy"], "losses": {"one": one, "mirrored": mirrored}, "runs": str(out)}
    accuracy, seconds = summary["dev_accuracy"], summary["train_seconds"]
    print(f"\n{len(one)} steps: max |diff| {summary['max_abs_diff']:.2e}, mean {summary['mean_abs_diff']:.2e}; "
          f"dev accuracy one {accuracy['one']:.4f}, mirrored {accuracy['mirrored']:.4f}; "
          f"train seconds one {seconds['one']:.1f}, mirrored {seconds['mirrored']:.1f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.json}")
    return summary


if __name__ == "__main__":
    main()
