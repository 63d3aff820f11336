"""Student training speed by embedding mode: examples/s of the Kim-CNN train step, same batches, same run.

What an embedding mode costs in training is the optimizer's work on the
table: `static` updates no table, `non-static` and `multichannel` run Adam
over all of the teacher's rows (30,522 x 384 for minilm-l6) every step, and
`delta` over the rows the training materials use. This script trains each mode
with `fit` (the engine's path: Keras `fit` on the `Distiller`, mse loss) over
the same `--steps` batches of a materials file's train + transfer rows, one
epoch per repeat, and prints for each mode the median examples/s of the
epochs after the first (the first traces), its ratio to `static` measured in
the same run, and the share of a float32 matmul peak measured in the same run
that the convolutions' training FLOPs (3x the forward) reach.

    python bench/student_train_modes.py runs/materials/<id>/materials.h5
    python bench/student_train_modes.py M.h5 --modes static,delta --steps 40 --repeats 3   # smoke run

Writes a JSON summary (default bench/out/student_train_modes.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("materials", type=Path, help="materials file (materials.h5)")
    p.add_argument("--modes", default="static,delta,non-static", help="embedding modes, comma-separated; "
                   "static is always measured first (the baseline)")
    p.add_argument("--steps", type=int, default=120, help="batches per epoch (default 120)")
    p.add_argument("--batch-size", type=int, default=50, help="training batch size (default 50, the students')")
    p.add_argument("--repeats", type=int, default=4, help="epochs per mode; the first is warm-up (default 4)")
    p.add_argument("--optimizer", choices=("lazy", "adam"), default="lazy",
                   help="lazy: students.lazy_adam.LazyAdam, as `distill student train` uses (default); adam: Keras' "
                   "Adam, which updates a whole table every step")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "student_train_modes.json")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    from distill.app.bench import kim_cnn_flops
    from distill.timing import machine_info, matmul_peak_gflops
    from materials.reader import MaterialsFile
    from students.kim_cnn import build_kim_cnn
    from students.lazy_adam import LazyAdam
    from students.train import FEATURE_SPEC, Distiller

    modes = ["static"] + [m for m in args.modes.split(",") if m and m != "static"]
    with MaterialsFile(args.materials) as mf:
        splits = [s for s in ("train", "transfer") if s in mf.splits and mf.rows(s)]
        stream = iter(mf.dataset(splits[-1], batch_size=args.batch_size, targets=("y", "logits"), shuffle=True,
                                 seed=0))
        batches = [next(stream) for _ in range(args.steps)]
        used = mf.token_ids_used(splits)
        table, num_labels = mf.embedding, mf.num_labels
    rows = sum(int(f["length"].shape[0]) for f, _ in batches)
    lengths = np.concatenate([f["length"].numpy() for f, _ in batches])
    peak = matmul_peak_gflops()
    signature = ({"token_ids": FEATURE_SPEC["token_ids"], "length": FEATURE_SPEC["length"]},
                 {"y": tf.TensorSpec([None], tf.int32), "logits": tf.TensorSpec([None, num_labels], tf.float32)})

    def generator():
        for features, targets in batches:
            yield ({"token_ids": features["token_ids"], "length": features["length"]},
                   {"y": targets["y"], "logits": targets["logits"]})

    data = tf.data.Dataset.from_generator(generator, output_signature=signature).repeat()
    results = {}
    for mode in modes:
        keras.utils.set_random_seed(0)
        model = build_kim_cnn(table, num_labels, embedding_mode=mode,
                              delta_ids=used if mode == "delta" else None)
        distiller = Distiller(model, "mse", 2.0, 0.5)
        optimizer = LazyAdam(1e-3) if args.optimizer == "lazy" else keras.optimizers.Adam(1e-3)
        distiller.compile(optimizer=optimizer, jit_compile=False)
        seconds = []

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds.append(time.perf_counter() - self.start)

        distiller.fit(data, epochs=args.repeats, steps_per_epoch=args.steps, verbose=0, callbacks=[Clock()])
        timed = seconds[1:] or seconds
        per_s = rows / statistics.median(timed)
        channels = 2 if mode == "multichannel" else 1
        flops = 3 * sum(kim_cnn_flops(int(n), model.widths, model.filters, model.embedding_dim, channels,
                                      num_labels, "keras") for n in lengths)
        gflops = flops / statistics.median(timed) / 1e9
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        results[mode] = {"examples_per_s": round(per_s, 1), "epoch_seconds": [round(s, 3) for s in seconds],
                         "trainable_params": trainable, "gflop_per_s": round(gflops, 2),
                         "peak_share": round(gflops / peak, 3)}
    base = results["static"]["examples_per_s"]
    for mode, r in results.items():
        r["ratio_to_static"] = round(r["examples_per_s"] / base, 3)
        print(f"{mode:<13} {r['examples_per_s']:>9,.1f} ex/s  x{r['ratio_to_static']:.2f} of static  "
              f"{r['trainable_params']:>11,} trainable  {r['gflop_per_s']:.1f} GFLOP/s "
              f"({100 * r['peak_share']:.0f}% of {peak:.1f} peak)")
    summary = {"materials": str(args.materials), "optimizer": args.optimizer, "delta_rows": int(len(used)), "vocab": int(table.shape[0]),
               "rows_per_epoch": rows, "steps": args.steps, "batch_size": args.batch_size,
               "repeats": args.repeats, "matmul_peak_gflops": round(peak, 1), "modes": results,
               "machine": machine_info()}
    print(f"delta rows: {len(used):,} of {table.shape[0]:,}; {rows:,} examples per epoch, median of "
          f"{max(args.repeats - 1, 1)} epochs after warm-up")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


if __name__ == "__main__":
    main()
