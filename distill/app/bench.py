"""`distill bench`: teacher runs, teacher presets and student runs timed side by side.

Adapters that turn each kind of model into a `ModelBench` (raw text end to end,
or pre-padded ids) over the foundation's timing harness (`distill.timing`), in
one process on the same texts, so their examples/s can be divided by each other.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

from distill.errors import DistillError
from distill.timing import machine_info, matmul_peak_gflops, measure
from distill.training import keep_freed_memory

# ------------------------------------------------------------------- models
# What `distill bench` measures: any mix of teacher runs, teacher presets and
# student runs, one after another in one process, on the same texts, so that
# their examples/s can be divided by each other.

PRESET_MODELS = ("minilm-l6", "bert-base", "bert-large", "base", "large", "mini", "tiny")
STUDENT_ENGINES = ("folded", "keras")
"""How a student run is executed: `students.folded` tables in numpy, or the Keras model."""
MODES = ("text", "ids")
"""text: raw strings in, logits out (tokenization, per-batch padding, forward), as `distill predict`;
ids: batches tokenized and padded beforehand, the forward pass alone."""


@dataclass
class ModelBench:
    """One model to time. `text(texts, batch)` runs raw strings end to end; `prepare(texts, batch)`
    pre-pads id batches for `ids(padded)`, the forward pass alone; `flops(lengths)` is the forward
    FLOPs of one example of each real token length, `lengths(texts)` those lengths."""

    model: str
    kind: str                 # teacher | student | preset (the report's row kinds)
    run: str | None
    random_weights: bool
    params: int
    text: Callable
    prepare: Callable
    ids: Callable
    flops: Callable | None = None
    lengths: Callable | None = None   # texts -> real token lengths, for `flops`
    task: str | None = None
    float_math: bool = True   # False for int8 models: the float32 matmul peak is not their ceiling


def kim_cnn_flops(length: int, widths, filters: int, embedding_dim: int, channels: int, num_labels: int,
                  engine: str) -> float:
    """Forward FLOPs of one Kim-CNN example of `length` tokens.

    keras: each width-w filter bank is a [w * dim, filters] matmul per position
    (2 FLOPs per multiply-add, per channel). folded (`students.folded`): the
    convolutions are precomputed per token, so what is left is one add per tap
    per filter per position. Both add the dense layer; ReLU and max are left out.
    """
    positions = [max(length - w + 1, 1) for w in widths]
    if engine == "folded":
        conv = sum(p * w * filters for p, w in zip(positions, widths))
    else:
        conv = sum(2 * p * w * embedding_dim * channels * filters for p, w in zip(positions, widths))
    return float(conv + 2 * len(widths) * filters * num_labels)


def student_model_bench(run_dir, engine: str = "folded") -> ModelBench:
    """A trained student run, as `distill predict` loads it (`students.predictor`)."""
    from pathlib import Path

    from distill.wordpiece import pad_ids
    from students.predictor import StudentPredictor

    predictor = StudentPredictor.load(run_dir, engine=engine)
    m = predictor.model
    engine = predictor.engine   # a student that is not a Kim CNN runs as Keras
    channels = 2 if getattr(m, "embedding_mode", "") == "multichannel" else 1

    def prepare(texts, batch):
        ids = predictor.encode(texts)
        return [pad_ids(ids[i:i + batch]) for i in range(0, len(ids), batch)]

    def flops(lengths):
        return [kim_cnn_flops(int(n), m.widths, m.filters, m.embedding_dim, channels, m.num_labels, engine)
                for n in lengths]

    from students.kim_cnn import KimCNN

    kim_cnn = isinstance(m, KimCNN)   # other architectures: no FLOP count, no % peak
    return ModelBench(f"student:{Path(run_dir).name}" + ("" if engine == "folded" else f"/{engine}"), "student",
                      str(run_dir), False, int(m.count_params()),
                      text=lambda texts, batch: predictor.predict_logits(texts, batch_size=batch),
                      prepare=prepare, ids=lambda padded: predictor.logits_for_ids(*padded),
                      flops=flops if kim_cnn else None,
                      lengths=lambda texts: [len(ids) for ids in predictor.encode(texts)],
                      task=predictor.task_name)


def exported_model_bench(export_dir) -> ModelBench:
    """An exported student folder (`distill student export`), as `distill predict DIR` loads it.

    FLOPs are the Keras model's (the exported graph computes the same convolutions),
    also for quantised models, whose operations are cheaper but not fewer; for
    dynamic and int8 ones the share of the float32 matmul peak is left out, since
    their matmuls run in int8 (AVX512-VNNI), whose ceiling is several times higher.
    """
    from pathlib import Path

    from distill.wordpiece import pad_ids
    from students.exported import ExportedStudent

    exported = ExportedStudent.load(export_dir)
    shape = exported.info.get("model_config") or {}
    channels = 2 if shape.get("embedding_mode") == "multichannel" else 1

    def prepare(texts, batch):
        ids = exported.encode(texts)
        return [pad_ids(ids[i:i + batch]) for i in range(0, len(ids), batch)]

    def flops(lengths):
        return [kim_cnn_flops(int(n), shape["widths"], shape["filters"], shape["embedding_dim"], channels,
                              shape["num_labels"], "keras") for n in lengths]

    suffix = exported.format + ("" if exported.quantize == "none" else f"-{exported.quantize}")
    name = Path(export_dir).name
    return ModelBench(f"export:{name}" if name.endswith(suffix) else f"export:{name}/{suffix}", "student",
                      str(export_dir), False,
                      int(exported.params or 0),
                      text=lambda texts, batch: exported.predict_logits(texts, batch_size=batch),
                      prepare=prepare, ids=lambda padded: exported.logits_for_ids(*padded),
                      flops=flops if "widths" in shape else None,
                      lengths=lambda texts: [len(ids) for ids in exported.encode(texts)],
                      task=exported.task_name, float_math=exported.quantize not in ("dynamic", "int8"))


def teacher_model_bench(run_dir=None, preset: str | None = None, max_seq_len: int = 128,
                        num_labels: int = 2, precision: str = "fp32") -> ModelBench:
    """A fine-tuned teacher run folder, a model folder (HF or Google; its classifier head when it has
    one, else a fresh `num_labels` head), or a teacher by name: `minilm-l6` (pretrained encoder) or a
    BERT shape with RANDOM weights (`bert-base`, `bert-large`, ...: throughput only), with a fresh
    `num_labels` head. `precision` bf16 runs it under Keras mixed bfloat16 (`teachers.precision`);
    the model's label then ends in `/bf16`."""
    from teachers.batching import compiled_forward, logits_in_order
    from teachers.precision import precision_scope
    from distill.wordpiece import pad_batch

    with precision_scope(precision):
        model, tokenizer, config, label, kind, random_weights, task = _teacher_model(run_dir, preset, max_seq_len,
                                                                                     num_labels, precision)
    if precision != "fp32":
        label += f"/{precision}"
    forward = compiled_forward(model)

    def prepare(texts, batch):
        enc = tokenizer.encode(texts)
        return [pad_batch(enc.ids[i:i + batch], enc.segments[i:i + batch]) for i in range(0, len(enc), batch)]

    def flops(lengths):
        return [float(config.flops_per_token(int(n)) * int(n)) for n in lengths]

    return ModelBench(label, kind, str(run_dir) if run_dir else None, random_weights, int(model.count_params()),
                      text=lambda texts, batch: logits_in_order(forward, tokenizer.encode(texts), batch),
                      prepare=prepare, ids=lambda padded: forward(padded).numpy(), flops=flops,
                      lengths=lambda texts: tokenizer.encode(texts).lengths.tolist(), task=task)


def _teacher_model(run_dir, preset: str | None, max_seq_len: int, num_labels: int, precision: str) -> tuple:
    """(model, tokenizer, config, label, kind, random weights?, task) of `teacher_model_bench`."""
    from pathlib import Path

    from teachers.classifier import BertClassifier
    from teachers.folder import RUN, kind_of
    from teachers.registry import load_teacher

    if run_dir and kind_of(run_dir) not in (RUN, None):   # a model folder
        teacher = load_teacher(str(run_dir), max_seq_len=max_seq_len)
        head = teacher.classifier_head
        model = BertClassifier(teacher.encoder, int(head[0].shape[0]) if head else num_labels)
        if head is not None:
            model.set_head(*head)
        if head is None:   # a pretrained encoder with an untrained head, as the minilm-l6 preset
            return model, teacher.tokenizer, teacher.config, teacher.name, "preset", False, None
        return model, teacher.tokenizer, teacher.config, f"teacher:{teacher.name}", "teacher", False, None
    if run_dir:
        from teachers.run import TeacherRun

        run = TeacherRun.load(run_dir, precision=precision)
        return (run.model, run.tokenizer, run.config, f"teacher:{Path(run_dir).name}", "teacher", False,
                run.task_name)
    if preset not in PRESET_MODELS:
        raise DistillError(f"unknown preset {preset!r}; known: {', '.join(PRESET_MODELS)}")
    teacher = load_teacher(preset, random_init=preset != "minilm-l6", max_seq_len=max_seq_len)
    return (BertClassifier(teacher.encoder, num_labels), teacher.tokenizer, teacher.config, preset, "preset",
            teacher.random_init, None)


MIN_REPEAT_SECONDS = 0.25
"""A timed repeat passes over the texts until it has lasted this long (a student's pass is milliseconds)."""


def time_model(bench: ModelBench, texts: list[str], batch_size: int, mode: str, warmup: int = 1,
               repeats: int = 5) -> dict:
    """One bench row: examples/s of `bench` over `texts` at `batch_size` in `mode`, with FLOPs.

    FLOPs per example are those of the real token lengths (mean over `texts`),
    so GFLOP/s is useful work: padding a batch costs time but adds no FLOPs.
    """
    if mode == "text":
        def run_once():
            for i in range(0, len(texts), batch_size):
                bench.text(texts[i:i + batch_size], batch_size)
            return len(texts)
    elif mode == "ids":
        padded = bench.prepare(texts, batch_size)

        def run_once():
            for p in padded:
                bench.ids(p)
            return len(texts)
    else:
        raise DistillError(f"unknown bench mode {mode!r}; known: {', '.join(MODES)}")
    started = time.perf_counter()
    result = measure(run_once, warmup=warmup, repeats=repeats, min_seconds=MIN_REPEAT_SECONDS)
    flops = None
    if bench.flops is not None and bench.lengths is not None and texts:
        flops = statistics.fmean(bench.flops(bench.lengths(texts)))
    return {"model": bench.model, "kind": bench.kind, "run": bench.run, "random_weights": bench.random_weights,
            "params": bench.params, "batch_size": batch_size, "mode": mode, "it_per_s": result.to_dict(),
            "flops_per_example": flops, "gflops": flops * result.median / 1e9 if flops else None,
            "seconds": time.perf_counter() - started}


def bench_texts(task, split: str = "test", examples: int = 256) -> tuple[list[str], str]:
    """`examples` texts of a task split (cycled when the split has fewer), and where they came from.

    Sentence-pair tasks are refused: the benches here time single texts.
    """
    if split not in task.splits:
        raise DistillError(f"task {task.name} has no split {split!r}; it has {', '.join(task.splits)}")
    data = task.splits[split]
    if data.is_pair:
        raise DistillError(f"task {task.name} has sentence pairs; distill bench times single-sentence tasks")
    texts = list(data.texts)
    if not texts:
        raise DistillError(f"task {task.name} split {split} is empty")
    return [texts[i % len(texts)] for i in range(examples)], f"{task.name} {split}"


def benchmark(factories: list[Callable[[], ModelBench]], texts: list[str], batch_sizes=(1, 32), modes=MODES,
              warmup: int = 1, repeats: int = 5, progress: bool = True, peak: float | None = None) -> dict:
    """Time every model in turn (each built when its turn comes, then dropped) on the same texts.

    Returns the `bench.json` object `distill report` reads: machine, settings,
    the float32 matmul peak measured in the same run, and one row per model x
    mode x batch size.
    """
    import gc

    from tqdm import tqdm

    peak = matmul_peak_gflops(1024, repeats=3) if peak is None else peak
    rows = []
    cells = len(factories) * len(modes) * len(batch_sizes)
    with tqdm(total=cells, desc="bench", unit="cell", disable=not progress) as bar:
        for factory in factories:
            bench = factory()
            # A model timed after a TensorFlow input pipeline has run would otherwise pay page faults for
            # every large buffer it allocates (TF's malloc patch; see `distill.training.keep_freed_memory`).
            keep_freed_memory()
            for mode in modes:
                for batch in batch_sizes:
                    bar.set_postfix_str(f"{bench.model} {mode} batch {batch}")
                    row = time_model(bench, texts, batch, mode, warmup=warmup, repeats=repeats)
                    row["task"] = bench.task
                    row["peak_fraction"] = (row["gflops"] / peak if row["gflops"] and peak and bench.float_math
                                            else None)
                    rows.append(row)
                    bar.update()
            del bench
            gc.collect()
    return {"schema": "distill.app.bench/1", "examples": len(texts), "batch_sizes": list(batch_sizes),
            "modes": list(modes), "warmup": warmup, "repeats": repeats, "matmul_peak_gflops": peak,
            "machine": machine_info(), "rows": rows}


def markdown_table(summary: dict) -> str:
    """The bench rows as a Markdown table, with how they were measured above it."""
    m = summary.get("machine", {})
    lines = [f"{summary['examples']} texts from {summary.get('texts', '?')}; median of {summary['repeats']} timed "
             f"passes after {summary['warmup']} warm-up; {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
             f"GPUs: {', '.join(m.get('gpus') or []) or 'none'}, TensorFlow {m.get('tensorflow', '?')}; "
             f"float32 matmul peak {summary['matmul_peak_gflops']:.0f} GFLOP/s", "",
             "| model | weights | params | input | batch | examples/s | min–max | MFLOP/example | GFLOP/s | % peak |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in summary["rows"]:
        t = r["it_per_s"]
        weights = "RANDOM (throughput only)" if r["random_weights"] else "trained" if r["kind"] != "preset" \
            else "pretrained"
        flops = _figure(r["flops_per_example"] / 1e6) if r.get("flops_per_example") else "-"
        gflops = _figure(r["gflops"]) if r.get("gflops") else "-"
        share = f"{100 * r['peak_fraction']:.0f}%" if r.get("peak_fraction") else "-"
        lines.append(f"| {r['model']} | {weights} | {r['params'] / 1e6:,.2f}M | {r['mode']} | {r['batch_size']} | "
                     f"{t['median']:,.1f} | {t['min']:,.1f}–{t['max']:,.1f} | {flops} | {gflops} | {share} |")
    return "\n".join(lines) + "\n"


def _figure(value: float) -> str:
    """One decimal for ordinary numbers, three significant digits for small ones (a folded CNN's MFLOP)."""
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
