"""`distill materials generate|info`."""

from __future__ import annotations

from distill.app.cli.defaults import AUGMENT, given, with_default
from distill.errors import DistillError

AUGMENT_OPTIONS = {"p_mask": "p_mask", "p_pos": "p_pos", "p_ng": "p_ng", "seed": "augment_seed"}
"""AugmentConfig field -> option dest; they only apply with --augment N."""


def register(subparsers) -> None:
    materials = subparsers.add_parser(
        "materials", help="teaching materials (HDF5) from a fine-tuned teacher").add_subparsers(
        dest="materials_command", required=True
    )
    p = materials.add_parser("generate", help="run a fine-tuned teacher over a task and write its materials file")
    p.add_argument("--teacher", required=True, metavar="RUN", help="fine-tuned teacher run folder (runs/teacher/<id>)")
    p.add_argument("--task", help="task to label (default: the task the teacher was fine-tuned on)")
    p.add_argument("--data-dir", help="local directory with the task's files (as for `distill data prepare`)")
    p.add_argument("--splits", default="train,dev,test", help="comma-separated splits (default train,dev,test)")
    p.add_argument("--out", help="materials file (default runs/materials/<teacher run>[-<task>].h5)")
    p.add_argument("--batch-size", type=int, default=32, help="teacher batch size (default 32)")
    p.add_argument("--no-bucket", action="store_true",
                   help="pad every batch to max_seq_len instead of length-bucketing (slower; for comparison)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a file (or .partial) made from a different teacher or data")
    p.add_argument("--augment", type=int, default=0, metavar="N",
                   help="add a `transfer` split: up to N augmented variants per training sentence, labelled by "
                   "the teacher (mask / same-kind replacement / n-gram sampling; default 0 = none)")
    p.add_argument("--p-mask", type=float, help=with_default("augment: chance a word becomes [MASK]", AUGMENT, "p_mask"))
    p.add_argument("--p-pos", type=float, help=with_default(
        "augment: chance an unmasked word is replaced by a word of the same kind", AUGMENT, "p_pos"))
    p.add_argument("--p-ng", type=float, help=with_default("augment: chance of keeping only an n-gram", AUGMENT, "p_ng"))
    p.add_argument("--augment-seed", type=int, help=with_default("augment: random seed", AUGMENT, "seed"))
    p.set_defaults(handler=generate)
    p = materials.add_parser("info", help="provenance, splits, rows, teacher accuracy and it/s of a materials file")
    p.add_argument("file", help="materials file (.h5, or a .partial one being written)")
    p.set_defaults(handler=info, needs_tensorflow=False)


def generate(args) -> None:
    from pathlib import Path

    from distill.data import load_task
    from materials.generate import generate as generate_materials
    from teachers.run import TeacherRun

    run = TeacherRun.load(args.teacher)
    task_name = args.task or run.task_name
    task = load_task(task_name, data_dir=args.data_dir)
    if args.out:
        out = Path(args.out)
    else:
        suffix = "" if task_name == run.task_name else "-" + "".join(c if c.isalnum() else "-" for c in task_name)
        out = Path("runs") / "materials" / f"{Path(run.run_dir).name}{suffix}.h5"
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    tuned = given(args, AUGMENT_OPTIONS)
    if tuned and not args.augment:
        options = ", ".join(f"--{AUGMENT_OPTIONS[k].replace('_', '-')}" for k in tuned)
        raise DistillError(f"{options} only apply with --augment N (N > 0)")
    augment = 0
    if args.augment:
        from materials.augment import AugmentConfig

        augment = AugmentConfig(n_per_example=args.augment, **tuned)
    generate_materials(run, task, out, splits=splits, batch_size=args.batch_size, bucket=not args.no_bucket,
                       overwrite=args.overwrite, augment=augment)
    print(f"materials: {out}")


def info(args) -> None:
    from materials.reader import MaterialsFile
    from materials.schema import PARTIAL_SUFFIX

    with MaterialsFile(args.file, allow_partial=args.file.endswith(PARTIAL_SUFFIX)) as m:
        print(m.describe())
