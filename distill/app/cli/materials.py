"""`distill materials generate|merge|info`."""

from __future__ import annotations

import argparse

from distill.app.cli import tasks
from distill.app.cli.teacher import add_folder_options
from distill.app.cli.defaults import AUGMENT, given, with_default
from distill.app.cli.types import non_negative_int, positive_int, probability, random_seed
from distill.errors import DistillError

AUGMENT_OPTIONS = {"p_mask": "p_mask", "p_pos": "p_pos", "p_ng": "p_ng", "seed": "augment_seed"}
"""AugmentConfig field -> option dest; they only apply with --augment N."""


def register(subparsers) -> None:
    materials = subparsers.add_parser(
        "materials", help="teaching materials (HDF5) from a fine-tuned teacher").add_subparsers(
        dest="materials_command", required=True
    )
    p = materials.add_parser("generate", help="run a fine-tuned teacher over a task and write its materials file")
    p.add_argument("--teacher", required=True, metavar="RUN", help="fine-tuned teacher run folder (runs/teacher/<id>), "
                   "or a fine-tuned model folder used as it is (HF BertForSequenceClassification, Google "
                   "run_classifier.py checkpoint; needs --task)")
    p.add_argument("--task", help="task to label (default: the task the teacher was fine-tuned on)")
    p.add_argument("--data-dir", help="local directory with the task's files (as for `distill data prepare`)")
    tasks.add_splits_option(p, "train,dev,test", "the splits to label, by name, comma-separated "
                            "(default train,dev,test)")
    tasks.add_task_options(p)
    p.add_argument("--out", help="materials file (default runs/materials/<teacher run>[-<task>].h5)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="teacher batch size (default 32)")
    p.add_argument("--no-bucket", action="store_true",
                   help="pad every batch to max_seq_len instead of length-bucketing (slower; for comparison)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a file (or .partial) made from a different teacher or data")
    p.add_argument("--augment", type=non_negative_int, default=0, metavar="N",
                   help="add a `transfer` split: up to N augmented variants per training sentence, labelled by "
                   "the teacher (mask / same-kind replacement / n-gram sampling; default 0 = none)")
    p.add_argument("--p-mask", type=probability,
                   help=with_default("augment: chance a word becomes [MASK]", AUGMENT, "p_mask"))
    p.add_argument("--p-pos", type=probability, help=with_default(
        "augment: chance an unmasked word is replaced by a word of the same kind", AUGMENT, "p_pos"))
    p.add_argument("--p-ng", type=probability,
                   help=with_default("augment: chance of keeping only an n-gram", AUGMENT, "p_ng"))
    p.add_argument("--augment-seed", type=random_seed, help=with_default("augment: random seed", AUGMENT, "seed"))
    p.add_argument("--shard", type=shard_spec, metavar="I/N",
                   help="write only part I of N (1/N .. N/N) of every split, to NAME.shard-I-of-N.h5 beside --out; "
                   "`distill materials merge` joins the N parts into the file an unsharded run writes")
    p.add_argument("--window-rows", type=positive_int, metavar="ROWS",
                   help="rows labelled per window (default 8192): memory, the unit of resuming and of sharding; "
                   "shards and an unsharded run write the same bytes only with the same value")
    add_folder_options(p)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="teacher inference precision: bf16 runs the encoder in bfloat16 (Keras mixed precision; "
                   "logits stay float32, the file's teacher provenance says bf16); default fp32")
    p.set_defaults(handler=generate, check=check_generate)
    p = materials.add_parser("merge", help="join the shards of `generate --shard I/N` into one materials file")
    p.add_argument("shards", nargs="+", metavar="SHARD", help="the N shard files (NAME.shard-I-of-N.h5), any order")
    p.add_argument("--out", help="the merged file (default NAME.h5, the name the shards share)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (or its .partial)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=merge, check=check_merge, needs_tensorflow=False)
    p = materials.add_parser("info", help="provenance, splits, rows, teacher accuracy and it/s of a materials file")
    p.add_argument("file", help="materials file (.h5, a shard, or a .partial one being written), or the "
                   "`distill run` materials folder holding materials.h5")
    p.set_defaults(handler=info, check=check_info, needs_tensorflow=False)


def shard_spec(text: str):
    """`--shard I/N` as a `materials.shards.Shard`; a bad one is a usage error before anything runs."""
    from materials.shards import Shard

    try:
        return Shard.parse(text)
    except DistillError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_generate(args) -> None:
    """Before TensorFlow and the teacher: an --out that cannot be written (a folder, a file in the way,
    no permission) is one line at once, not after the work; so is a teacher folder that is no teacher."""
    from pathlib import Path

    from distill.app.cli import checks

    tasks.check_split(args)
    tasks.split_names(args, "materials generate")
    if args.out:
        from materials.generate import check_output_path

        check_output_path(args.shard.path(args.out) if args.shard else args.out)
    checks.not_misplaced(args.teacher, "materials generate --teacher", "teacher", model_folder=True)
    if Path(args.teacher).expanduser().is_dir():   # a missing one is the run loader's to name
        checks.teacher_source(args.teacher, tasks.task_name(args), args.label_order, args.max_seq_len)


def check_info(args) -> None:
    """FILE is no run or export folder (a materials folder is fine: its materials.h5 is read)."""
    from distill.app.cli import checks

    checks.materials_not_misplaced(args.file, "materials info")


def check_merge(args) -> None:
    """Where the merged file goes, and that it can be written there, before any shard is read."""
    from materials.generate import check_output_path
    from materials.shards import merged_path

    if not args.out:
        named = {merged_path(path) for path in args.shards}
        if None in named or len(named) != 1:
            odd = next((p for p in args.shards if merged_path(p) is None), args.shards[0])
            raise DistillError(f"--out is needed: {odd} is not named NAME.shard-I-of-N.h5 like the others"
                               if None in named else f"--out is needed: the shards' names differ ({odd}, ...)")
        args.out = str(named.pop())
    check_output_path(args.out)


def generate(args) -> None:
    from pathlib import Path

    from distill import api
    from teachers.labels import parse_label_order

    folder_task = tasks.task_name(args)
    task = api.load_task(folder_task, data_dir=args.data_dir) if folder_task else None   # None: the run's own
    run = api.open_teacher(args.teacher, task, parse_label_order(args.label_order), args.max_seq_len, args.precision)
    task_name = tasks.task_name(args, run.task_name)
    task = task or api.load_task(task_name, data_dir=args.data_dir)
    if args.out:
        out = Path(args.out)
    else:
        suffix = "" if task_name == run.task_name else "-" + "".join(c if c.isalnum() else "-" for c in task_name)
        out = Path("runs") / "materials" / f"{Path(run.run_dir).name}{suffix}.h5"
    splits = tasks.split_names(args, "materials generate")
    tuned = given(args, AUGMENT_OPTIONS)
    if tuned and not args.augment:
        options = ", ".join(f"--{AUGMENT_OPTIONS[k].replace('_', '-')}" for k in tuned)
        raise DistillError(f"{options} only apply with --augment N (N > 0)")
    augment = 0
    if args.augment:
        from materials.augment import AugmentConfig

        augment = AugmentConfig(n_per_example=args.augment, **tuned)
    windows = {"window_rows": args.window_rows} if args.window_rows else {}
    out = api.generate_materials(run, task, out, splits=splits, batch_size=args.batch_size, bucket=not args.no_bucket,
                                 overwrite=args.overwrite, augment=augment, progress=not args.no_progress,
                                 shard=args.shard, **windows)
    print(f"materials: {out}")


def merge(args) -> None:
    from distill import api

    out = api.merge_materials(args.shards, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"materials: {out}")


def info(args) -> None:
    from distill import api

    print(api.describe_materials(args.file))
