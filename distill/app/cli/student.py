"""`distill student train`."""

from __future__ import annotations

from distill.app.cli.defaults import STUDENT, given, with_default
from distill.errors import DistillError

STUDENT_OPTIONS = ("arch", "loss", "temperature", "alpha", "embedding", "filters", "dropout", "lr", "batch_size",
                   "epochs", "patience", "monitor", "seed")
"""Options of `student train` that are StudentConfig fields of the same name (plus --widths, --no-transfer)."""


def register(subparsers) -> None:
    student = subparsers.add_parser("student", help="CNN students distilled from a materials file").add_subparsers(
        dest="student_command", required=True
    )
    p = student.add_parser("train", help="train a student on a materials file; writes runs/student/<id>/")
    p.add_argument("--materials", required=True, metavar="FILE", help="materials file (runs/materials/<id>.h5)")
    p.add_argument("--arch", choices=("kim-cnn",), help=with_default("student architecture", STUDENT, "arch"))
    p.add_argument("--loss", choices=("mse", "kl", "ce", "mix", "mix-mse"), help=with_default(
        "mse: teacher logits (Tang 2019); kl: softened teacher distribution x T^2 (Hinton 2015); "
        "ce: gold labels only, the no-distillation baseline; mix / mix-mse: alpha*ce + (1-alpha)*kl / mse",
        STUDENT, "loss"))
    p.add_argument("--temperature", type=float,
                   help=with_default("softmax temperature of kl and mix", STUDENT, "temperature"))
    p.add_argument("--alpha", type=float,
                   help=with_default("weight of gold-label ce in mix and mix-mse", STUDENT, "alpha"))
    p.add_argument("--embedding", choices=("static", "non-static", "multichannel", "rand"), help=with_default(
        "teacher embedding frozen, fine-tuned, both channels, or random", STUDENT, "embedding"))
    p.add_argument("--filters", type=int, help=with_default("filters per window width", STUDENT, "filters"))
    p.add_argument("--widths", help=with_default("comma-separated window widths", STUDENT, "widths"))
    p.add_argument("--dropout", type=float, help=with_default("dropout before the output layer", STUDENT, "dropout"))
    p.add_argument("--lr", type=float, help=with_default("Adam learning rate", STUDENT, "lr"))
    p.add_argument("--batch-size", type=int, help=with_default("training batch size", STUDENT, "batch_size"))
    p.add_argument("--epochs", type=int, help=with_default("most epochs", STUDENT, "epochs"))
    p.add_argument("--patience", type=int,
                   help=with_default("early stop after this many epochs without gain", STUDENT, "patience"))
    p.add_argument("--monitor",
                   choices=("dev_loss", "dev_ce", "dev_agreement", "dev_primary", "dev_accuracy", "dev_f1",
                            "dev_f1_macro", "dev_f1_weighted", "dev_mcc"),
                   help=with_default("what picks the best epoch: dev_loss is the training objective on dev",
                                     STUDENT, "monitor"))
    p.add_argument("--no-transfer", action="store_true", help="ignore the file's transfer split (augmented rows)")
    p.add_argument("--seed", type=int, help=with_default("random seed", STUDENT, "seed"))
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--out", help="run folder (default RUNS_DIR/student/<materials>-<arch>-<loss>-<config hash>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the same folder, or restart an interrupted one (without it, "
                        "an interrupted run with the same options resumes from its last finished epoch)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=train)


def student_config(args):
    """A StudentConfig from the options the user gave; the dataclass supplies the rest."""
    from students.train import StudentConfig

    options = given(args, STUDENT_OPTIONS)
    if args.widths is not None:
        try:
            options["widths"] = tuple(int(w) for w in args.widths.split(",") if w.strip())
        except ValueError as exc:
            raise DistillError(f"--widths: {exc}") from None
    if args.no_transfer:
        options["transfer"] = False
    return StudentConfig(**options)


def train(args) -> None:
    from pathlib import Path

    from distill.metrics import format_metrics_table, primary_metric
    from distill.runfiles import read_run
    from students.train import StudentTrainer, finished_results, run_id

    config = student_config(args)
    run_dir = Path(args.out) if args.out else Path(args.runs_dir) / "student" / run_id(args.materials, config)
    results = finished_results(run_dir)
    if results is not None and not args.overwrite:
        print(f"reusing the finished run {run_dir} (--overwrite to train it again)")
    else:
        results = StudentTrainer(config, progress=not args.no_progress).fit(
            args.materials, run_dir, overwrite=args.overwrite).eval_results_
    print(format_metrics_table(results, primary_metric(read_run(run_dir, "student").task)))
    for split, m in results.items():
        teacher = m.get("teacher_accuracy")
        print(f"{split}: agreement with the teacher {m.get('agreement', float('nan')):.4f}"
              + (f", teacher accuracy {teacher:.4f}" if isinstance(teacher, float) else ""))
    print(f"student run: {run_dir}")
