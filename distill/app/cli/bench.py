"""`distill bench`: examples/s of teacher runs, presets and student runs on the same texts."""

from __future__ import annotations

from distill.app.cli import tasks
from distill.app.cli.types import non_negative_int, positive_int, positive_ints, seq_len
from distill.errors import DistillError


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="examples/s of teacher runs, presets and student runs, one after another "
                              "on the same texts; writes bench.json and bench.md")
    p.add_argument("--teacher", action="append", default=[], metavar="RUN",
                   help="fine-tuned teacher run, or a model folder (HF or Google: its fine-tuned head if it has one, "
                   "else an untrained one); repeatable")
    p.add_argument("--student", action="append", default=[], metavar="RUN",
                   help="student run, or an exported student's folder (distill student export); repeatable")
    p.add_argument("--preset", action="append", default=[], metavar="NAME",
                   help="teacher by name: minilm-l6 (pretrained encoder, untrained head) or bert-base, bert-large, "
                   "mini, tiny (RANDOM weights: throughput only); repeatable")
    p.add_argument("--student-engine", default="folded",
                   help="student run inference engine(s), comma-separated: folded (what `distill predict` runs), "
                   "keras; 'folded,keras' times both side by side (default folded)")
    p.add_argument("--task", help="texts come from this task (default: the first run's task, else rt-polarity)")
    p.add_argument("--data-dir", help="local files of the task (as for `distill data prepare`)")
    tasks.add_splits_option(p, "test", "the one split the texts come from, by name (default test)", one=True)
    tasks.add_task_options(p)
    p.add_argument("--examples", type=positive_int, default=256, help="texts per timed pass (default 256)")
    p.add_argument("--batch-sizes", type=positive_ints, default="1,32",
                   help="comma-separated batch sizes (default 1,32)")
    p.add_argument("--modes", default="text,ids", help="text (tokenization included), ids (forward only); default both")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="timed passes per cell; the median is reported (default 5)")
    p.add_argument("--warmup", type=non_negative_int, default=1,
                   help="untimed passes per cell (tracing, caches; default 1)")
    p.add_argument("--max-seq-len", type=seq_len, default=128,
                   help="truncation for presets and model folders (default 128)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="teacher inference precision (teachers and presets): bf16 = Keras mixed bfloat16; the "
                   "model's name ends in /bf16 (default fp32)")
    p.add_argument("--out", help="bench.json to write (default runs/bench/<date-time>/bench.json); bench.md beside it")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=bench, check=check_bench)


def bench(args) -> None:
    import json
    import time
    from pathlib import Path

    from distill import api
    from distill.app import bench as benchmarks
    from distill.data import load_task
    from distill.runfiles import read_run
    from students.exported import is_export_dir

    if not (args.teacher or args.student or args.preset):
        raise DistillError("bench: name at least one --teacher RUN, --student RUN or --preset NAME")
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError as exc:
        raise DistillError(f"--batch-sizes: {exc}") from None
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in benchmarks.MODES:
            raise DistillError(f"--modes: unknown mode {mode!r}; known: {', '.join(benchmarks.MODES)}")
    if min(batch_sizes, default=0) < 1 or args.examples < 1 or args.repeats < 1 or args.warmup < 0:
        raise DistillError("bench: batch sizes, --examples and --repeats must be positive, --warmup >= 0")
    task_name = tasks.task_name(args, first_run_task(args.teacher + args.student) or "rt-polarity")
    task = load_task(task_name, data_dir=args.data_dir)
    engines = [e.strip() for e in args.student_engine.split(",") if e.strip()]
    for engine in engines:
        if engine not in benchmarks.STUDENT_ENGINES:
            raise DistillError(f"--student-engine: unknown engine {engine!r}; known: "
                               f"{', '.join(benchmarks.STUDENT_ENGINES)}")
    out = Path(args.out) if args.out else Path("runs") / "bench" / time.strftime("%Y%m%d-%H%M%S") / "bench.json"
    if out.suffix != ".json":
        raise DistillError(f"--out {out}: give a .json file (the Markdown table goes beside it as .md)")
    # api.bench tells runs apart by their run.json: a run given as the other kind is an error here
    from teachers.folder import RUN, source_kind

    for run in args.student:
        if not is_export_dir(run):
            read_run(run, "student")
    for run in args.teacher:
        if source_kind(run) == RUN:
            read_run(run, "teacher")
    summary = api.bench([*args.teacher, *args.student], task, presets=args.preset,
                        split=tasks.split_names(args, "bench", one=True)[0],
                        examples=args.examples, batch_sizes=batch_sizes, modes=modes, repeats=args.repeats,
                        warmup=args.warmup, max_seq_len=args.max_seq_len, precision=args.precision,
                        student_engines=engines, progress=not args.no_progress)
    table = benchmarks.markdown_table(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((out, json.dumps(summary, indent=2) + "\n"), (out.with_suffix(".md"), table)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    print(table)
    print(f"bench: {out}")


def first_run_task(run_dirs) -> str | None:
    """The task of the first run folder named, or None when none is; a folder that is no run is an error."""
    from distill.runfiles import read_run

    from students.exported import is_export_dir, read_export_info
    from teachers.folder import RUN, kind_of

    for run_dir in run_dirs:
        if kind_of(run_dir) not in (RUN, None):   # a model folder records no task
            continue
        return read_export_info(run_dir).get("task") if is_export_dir(run_dir) else read_run(run_dir).task
    return None


def check_bench(args) -> None:
    """Before TensorFlow and the timing: the runs exist, the presets are known, the output can be written."""
    from pathlib import Path

    from distill.app.cli import checks

    from teachers.folder import RUN, check_model_folder, source_kind

    tasks.check_split(args)
    tasks.split_names(args, "bench", one=True)
    for run in args.teacher:   # a run folder, or a model folder (a folder that is neither: the run's message)
        checks.not_misplaced(run, "bench --teacher", "teacher", model_folder=True)
        if source_kind(run) == RUN:
            checks.run_folder(run, "teacher")
        else:
            check_model_folder(run)
    for run in args.student:
        checks.not_misplaced(run, "bench --student", "student", export=True)
        checks.folder(run, "--student")
    for preset in args.preset:
        checks.teacher(preset, random_init=True)
    checks.writable(Path(args.out).expanduser().parent if args.out else Path("runs") / "bench", "--out")
    if args.out:   # a bench replaces its own files, never a user's file of the same name
        from distill.overwrite import check_regenerable, json_schema, starts_with

        out = Path(args.out).expanduser()
        check_regenerable(out, what="a bench.json", ours=json_schema("distill.app.bench/"), option="--out")
        check_regenerable(out.with_suffix(".md"), what="a bench table", ours=starts_with("| model | weights |"),
                          option="--out")
