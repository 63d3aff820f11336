"""`distill explain`: which tokens pushed a teacher's or student's prediction, alone or side by side."""

from __future__ import annotations

import sys

from distill.app.cli import tasks
from distill.app.cli.types import positive_int
from distill.errors import DistillError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="token attributions of a teacher or student run (integrated gradients or occlusion)",
        description="Show how much each word piece pushed a run towards its predicted label. "
        "`distill explain RUN TEXT...` explains one run; `distill explain --compare TEACHER_RUN STUDENT_RUN "
        "TEXT...` shows two runs side by side with the rank correlation of their token scores and the overlap "
        "of their top-3 tokens; both then score the first run's predicted label. Integrated gradients (default) integrates the gradient of the predicted "
        "label's logit along the straight path from a baseline (every word piece's vector replaced by the "
        "[PAD] token's; [CLS]/[SEP] kept) to the text's word vectors; its scores sum to the logit's change "
        "along that path. Occlusion replaces one piece at a time by [MASK] and reports the logit's drop.")
    p.add_argument("args", nargs="*", metavar="RUN TEXT",
                   help="a run folder, then texts to explain (with --compare: texts only)")
    p.add_argument("--compare", nargs=2, metavar=("TEACHER_RUN", "STUDENT_RUN"),
                   help="a teacher run and a student run (e.g. one distilled from it), in that order, explained "
                   "side by side")
    p.add_argument("--file", help="one text per line, UTF-8 (blank lines are skipped)")
    p.add_argument("--method", default="ig", choices=("ig", "occlusion"),
                   help="ig: integrated gradients; occlusion: mask one piece at a time (default ig)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="integrated-gradients intervals (default 50; more: a smaller completeness gap)")
    p.add_argument("--html", metavar="OUT", help="also write the attributions as an HTML page")
    p.add_argument("--sample", type=positive_int, metavar="N",
                   help="with --compare and no texts: compare on a fixed sample of N texts of the runs' task "
                   "(--splits, default test) and write explain.json and a PNG of the most and least agreeing "
                   "texts to --out (what the report shows)")
    tasks.add_splits_option(p, "test", "the one split the --sample texts come from, by name (default test)",
                            one=True)
    p.add_argument("--out", metavar="DIR", help="folder for --sample's explain.json and PNG "
                   "(default runs/explain/<teacher>--<student>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (--sample)")
    p.add_argument("--colour", choices=("auto", "always", "never"), default="auto",
                   help="colour the tokens in the terminal (default auto: when stdout is a terminal and "
                   "NO_COLOR is unset)")
    p.set_defaults(handler=explain, check=check)


def _texts(args, positional):
    texts = list(positional)
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                texts += [line.rstrip("\r\n") for line in handle if line.strip()]
        except UnicodeDecodeError as exc:
            raise DistillError(f"{args.file}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    for n, text in enumerate(texts, 1):
        if not text.strip():
            raise DistillError(f"explain: text {n} is empty; give a text to explain")
    if not texts:
        raise DistillError("explain: give texts to explain (arguments or --file FILE)")
    return texts


def explain(args) -> None:
    import os
    from pathlib import Path

    from distill import api
    from distill.app import explain as explaining

    if args.sample:
        if not args.compare or args.args or args.file:
            raise DistillError("explain: --sample needs --compare TEACHER_RUN STUDENT_RUN and no texts")
        teacher_dir, student_dir = (Path(r) for r in args.compare)
        out = Path(args.out) if args.out else Path("runs") / "explain" / f"{teacher_dir.name}--{student_dir.name}"
        split = tasks.split_names(args, "explain", one=True)[0]
        api.explain(teacher_dir, student_dir, out, split=split, n=args.sample, method=args.method,
                    progress=not args.no_progress)
        return
    runs = list(args.compare) if args.compare else args.args[:1]
    if not runs:
        raise DistillError("explain: give a run folder (or --compare TEACHER_RUN STUDENT_RUN) and texts")
    texts = _texts(args, args.args if args.compare else args.args[1:])
    explained = api.explain_texts(runs, texts, method=args.method, steps=args.steps)
    explainers, results = explained["explainers"], explained["attributions"]
    colour = args.colour == "always" or (args.colour == "auto" and sys.stdout.isatty()
                                          and not os.environ.get("NO_COLOR"))
    names = [f"{e.kind} {e.run_dir.name}" for e in explainers]
    for i, text in enumerate(texts):
        if i:
            print()
        print(text)
        for name, attributions in zip(names, results):
            print(explaining.render_terminal(attributions[i], colour=colour, title=name))
    if (summary := explained["comparison"]) is not None:
        print()
        for i, row in enumerate(summary["per_text"], 1):
            rho = "-" if row["rank_correlation"] is None else f"{row['rank_correlation']:+.3f}"
            print(f"text {i}: rank correlation {rho}, top-{summary['k']} overlap {row['top_k_overlap']:.2f}, "
                  f"labels {row['teacher_label']} / {row['student_label']}")
        if summary["mean_rank_correlation"] is not None:
            print(f"mean over {summary['texts']} texts: rank correlation {summary['mean_rank_correlation']:+.3f}, "
                  f"top-{summary['k']} overlap {summary['mean_top_k_overlap']:.2f}")
    if args.html:
        rows = [(text, [(name, r[i]) for name, r in zip(names, results)]) for i, text in enumerate(texts)]
        print(f"html: {explaining.write_html(args.html, rows)}")


def check(args) -> None:
    """Before TensorFlow: --html is a file that can be written (an existing folder there is refused now,
    not after the attributions are computed), the run folders are runs (an export, or a materials file
    or folder, is named as such), --compare's first a teacher run and its second a student run: swapped,
    they are one line saying so."""
    from pathlib import Path

    from distill.app.cli import checks
    from distill.app.explain import check_html_path
    from students.exported import is_export_dir

    tasks.split_names(args, "explain", one=True)
    if args.html:
        check_html_path(args.html)
    runs = list(args.compare) if args.compare else args.args[:1]
    kinds = []
    for run in runs:
        if is_export_dir(run):   # what `load_explainer` says, said before TensorFlow
            raise DistillError(f"{run}: an exported student cannot be explained (no gradients); give the student "
                               "run folder it was exported from")
        kinds.append(checks.run_folder(run, command="explain --compare" if args.compare else "explain").kind)
    if args.compare:
        check_compare_order(args.compare, kinds)
    if args.html:
        checks.writable(Path(args.html).parent, "--html")


def check_compare_order(runs, kinds) -> None:
    """--compare TEACHER_RUN STUDENT_RUN: a teacher run first, a student run second (`kinds`: their
    run.json kinds); swapped, or two of a kind, is one line."""
    first, second = runs
    if list(kinds) == ["teacher", "student"]:
        return
    if list(kinds) == ["student", "teacher"]:
        raise DistillError(f"explain --compare: swapped: {first} is a student run and {second} a teacher run; "
                           f"give the teacher first: --compare {second} {first}")
    raise DistillError(f"explain --compare: the first must be a teacher run and the second a student run; {first} "
                       f"is a {kinds[0]} run and {second} a {kinds[1]} run")
