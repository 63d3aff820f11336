"""`distill student train`."""

from __future__ import annotations

from distill import distribute
from distill.app.cli.defaults import STUDENT, given, with_default
from distill.app.cli.types import (arch_spec, fraction_below_one, positive_float, positive_int, positive_ints, probability,
                                    random_seed)
from distill.errors import DistillError

STUDENT_OPTIONS = ("arch", "loss", "temperature", "alpha", "embedding", "filters", "dropout", "lr", "batch_size",
                   "epochs", "patience", "monitor", "seed")
"""Options of `student train` that are StudentConfig fields of the same name (plus --widths, --no-transfer)."""


def register(subparsers) -> None:
    student = subparsers.add_parser("student", help="CNN students distilled from a materials file").add_subparsers(
        dest="student_command", required=True
    )
    p = student.add_parser("train", help="train a student on a materials file; writes runs/student/<id>/")
    p.add_argument("--materials", required=True, metavar="FILE",
                   help="materials file (runs/materials/<id>.h5), or a `distill run` materials folder holding "
                   "materials.h5")
    p.add_argument("--arch", type=arch_spec, metavar="ARCH", help=with_default(
        "student architecture: kim-cnn, bilstm (Tang et al. 2019), or module:function, a builder of your own that "
        "takes students.archs.StudentFacts and returns a keras.Model from {'token_ids', 'length'} to logits "
        "(the module must be importable: on PYTHONPATH or installed)", STUDENT, "arch"))
    p.add_argument("--loss", choices=("mse", "kl", "ce", "mix", "mix-mse"), help=with_default(
        "mse: teacher logits (Tang 2019); kl: softened teacher distribution x T^2 (Hinton 2015); "
        "ce: gold labels only, the no-distillation baseline; mix / mix-mse: alpha*ce + (1-alpha)*kl / mse",
        STUDENT, "loss"))
    p.add_argument("--temperature", type=positive_float,
                   help=with_default("softmax temperature of kl and mix", STUDENT, "temperature"))
    p.add_argument("--alpha", type=probability,
                   help=with_default("weight of gold-label ce in mix and mix-mse", STUDENT, "alpha"))
    p.add_argument("--embedding", choices=("static", "non-static", "multichannel", "delta", "rand"), help=with_default(
        "teacher embedding frozen, fine-tuned, both channels, frozen plus a trainable zero-initialised correction "
        "of the rows the training materials use (delta), or random", STUDENT, "embedding"))
    p.add_argument("--filters", type=positive_int, help=with_default("filters per window width", STUDENT, "filters"))
    p.add_argument("--widths", type=positive_ints,
                   help=with_default("comma-separated window widths", STUDENT, "widths"))
    p.add_argument("--dropout", type=fraction_below_one,
                   help=with_default("dropout before the output layer", STUDENT, "dropout"))
    p.add_argument("--lr", type=positive_float, help=with_default("Adam learning rate", STUDENT, "lr"))
    p.add_argument("--batch-size", type=positive_int, help=with_default("training batch size", STUDENT, "batch_size"))
    p.add_argument("--epochs", type=positive_int, help=with_default("most epochs", STUDENT, "epochs"))
    p.add_argument("--patience", type=positive_int,
                   help=with_default("early stop after this many epochs without gain", STUDENT, "patience"))
    p.add_argument("--monitor",
                   choices=("dev_loss", "dev_ce", "dev_agreement", "dev_primary", "dev_accuracy", "dev_f1",
                            "dev_f1_macro", "dev_f1_weighted", "dev_mcc"),
                   help=with_default("what picks the best epoch: dev_loss is the training objective on dev",
                                     STUDENT, "monitor"))
    p.add_argument("--no-transfer", action="store_true", help="ignore the file's transfer split (augmented rows)")
    p.add_argument("--seed", type=random_seed, help=with_default("random seed", STUDENT, "seed"))
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--out", help="run folder (default RUNS_DIR/student/<materials>-<arch>-<loss>-<config hash>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the same folder, or restart an interrupted one (without it, "
                        "an interrupted run with the same options resumes from its last finished epoch)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--strategy", choices=distribute.STRATEGIES, default="auto", help=distribute.HELP)
    p.set_defaults(handler=train, check=check_train)

    e = student.add_parser(
        "export", help="write a student run as a self-contained SavedModel or TFLite folder (model, tokenizer.json, "
        "labels, README), verified on the materials file's test split",
        description="Export a trained student so it runs without this toolkit: the folder holds the model, the "
        "tokenizers-library tokenizer.json it was trained with, labels.json, export.json (provenance and the "
        "verification figures) and a README with a short Python example. `distill predict DIR` and "
        "`distill bench --student DIR` accept the folder.")
    e.add_argument("run", help="student run folder (runs/student/<id>)")
    e.add_argument("--format", default="savedmodel", choices=("savedmodel", "tflite"),
                   help="savedmodel: TensorFlow SavedModel (TF Serving, tf.saved_model.load); tflite: TensorFlow "
                   "Lite flatbuffer (default savedmodel)")
    e.add_argument("--quantize", default="none", choices=("none", "float16", "dynamic", "int8"),
                   help="TFLite only: float16 weights; dynamic: int8 weights; int8: int8 weights and activations, "
                   "calibrated on the materials file's train rows (default none: float32)")
    e.add_argument("--materials", metavar="FILE",
                   help="materials file to verify on and calibrate int8 with (default: the one the student was "
                   "trained from, as its run.json records)")
    e.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    e.add_argument("--out", metavar="DIR",
                   help="export folder (default RUNS_DIR/export/<run>-<format>[-<quantize>])")
    e.add_argument("--overwrite", action="store_true", help="replace an existing export folder")
    e.set_defaults(handler=export, check=check_export)


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

    from distill import api
    from distill.metrics import format_metrics_table, primary_metric
    from distill.runfiles import read_run
    from students.train import run_id

    placement = distribute.setup(args.strategy)   # first: multi-worker must exist before TensorFlow starts
    config = student_config(args)
    run_dir = Path(args.out) if args.out else Path(args.runs_dir) / "student" / run_id(args.materials, config)
    results = api.train_student(args.materials, config.arch, run_dir, config=config, overwrite=args.overwrite,
                                progress=not args.no_progress, strategy=args.strategy).eval_results
    if not placement.chief:
        print(f"worker {placement.rank}: done; the chief writes the student run {run_dir}")
        return
    print(format_metrics_table(results, primary_metric(read_run(run_dir, "student").task)))
    for split, m in results.items():
        teacher = m.get("teacher_accuracy")
        print(f"{split}: agreement with the teacher {m.get('agreement', float('nan')):.4f}"
              + (f", teacher accuracy {teacher:.4f}" if isinstance(teacher, float) else ""))
    print(f"student run: {run_dir}")


def export(args) -> None:
    from distill import api

    if args.format == "savedmodel" and args.quantize != "none":
        raise DistillError(f"--quantize {args.quantize} needs --format tflite (a SavedModel is exported in float32)")
    record = api.export_student(args.run, args.out, args.format, args.quantize, materials=args.materials,
                                overwrite=args.overwrite, runs_dir=args.runs_dir)
    out = record["out"]
    check = record["verification"]
    def number(value):
        return "-" if value is None else f"{value:.4f}"

    print(f"{check['split']} split, {check['rows']} rows: accuracy {number(check['accuracy'])} "
          f"(Keras student {number(check['keras_accuracy'])}), agreement with the Keras student "
          f"{check['agreement_with_keras']:.4f}, largest probability difference "
          f"{check['max_abs_probability_diff']:.2e}")
    print(f"model {record['model']}: {record['size_bytes'] / 2**20:.1f} MiB")
    print(f"exported student: {out}")


def check_train(args) -> None:
    """Before TensorFlow: the materials file is there and the run folder can be written."""
    from distill.app.cli import checks

    args.materials = checks.materials(args.materials)
    checks.output_folder(args.out, args.runs_dir, "student")
    checks.strategy(args.strategy)


def check_export(args) -> None:
    """Before TensorFlow: a student run, the materials file if named, and a writable output folder."""
    from pathlib import Path

    from distill.app.cli import checks

    if args.format == "savedmodel" and args.quantize != "none":
        raise DistillError(f"--quantize {args.quantize} needs --format tflite (a SavedModel is exported in float32)")
    checks.run_folder(args.run, "student", "student export")
    if args.materials:
        args.materials = checks.materials(args.materials)
    checks.writable(Path(args.out).parent if args.out else Path(args.runs_dir) / "export",
                    "--out" if args.out else "output folder")

