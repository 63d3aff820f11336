"""`distill report`: what a runs folder says about accuracy against speed.

Owns nothing itself: it re-exports the report's public names from its parts.
The report is a read-only view over finished work: it collects teacher and
student run folders (`run.json` + `eval_results.json` + `tensorboard/`),
benchmark results (`bench.json` from `distill bench`) and materials files
under one runs folder, and writes, per task, a Markdown table (accuracy as
mean ± sd over seeds, it/s, speed-up and accuracy kept against every
teacher, and one sentence on what distillation bought over the same student
trained on gold labels only), a PNG of test accuracy against it/s with the
Pareto front, PNG training curves from the TensorBoard scalars, a section
per pretraining run (`distill teacher pretrain`: throughput, MLM loss,
fine-tuned accuracy against pretraining epochs, with its PNG), `report.md`
embedding them and `report.json` holding every number of the tables.

- `collect`: reading run folders (through `distill.runfiles.read_run`), pretraining runs, bench files,
  materials files;
- `tables`: grouping runs by seed, mean ± sd, the per-task tables, a pretraining run's numbers;
- `plots`: the accuracy-vs-speed plot and its label layout, a pretraining run's plot;
- `curves`: TensorBoard scalars and training curves;
- `markdown`: report.md, report.json and `write_report`.
"""

from distill.app.report.collect import (
    ROW_KINDS,
    RUN_KINDS,
    BenchRow,
    Collection,
    MaterialsRecord,
    PretrainRecord,
    RunRecord,
    collect,
    load_bench,
    load_materials,
    load_pretrain,
    load_run,
)
from distill.app.report.curves import EVENT_PREFIX, pick_curves, plot_training_curves, read_scalars
from distill.app.report.markdown import (SCHEMA, Report, distillation_sentence, pretraining_markdown,
                                        task_table_markdown, write_report)
from distill.app.report.plots import pareto_front, plot_accuracy_vs_speed, plot_pretraining
from distill.app.report.tables import (
    EVAL_MODE,
    NOT_CONFIG,
    PREFERRED_MODE,
    RunGroup,
    build_tables,
    distillation_gain,
    epoch_label,
    group_runs,
    mean_sd,
    pretraining_summary,
)

__all__ = [
    "BenchRow", "Collection", "EVAL_MODE", "EVENT_PREFIX", "MaterialsRecord", "NOT_CONFIG", "PREFERRED_MODE",
    "PretrainRecord", "ROW_KINDS", "RUN_KINDS", "Report", "RunGroup", "RunRecord", "SCHEMA", "build_tables",
    "collect", "distillation_gain", "distillation_sentence", "epoch_label", "group_runs", "load_bench",
    "load_materials", "load_pretrain", "load_run", "mean_sd", "pareto_front", "pick_curves",
    "plot_accuracy_vs_speed", "plot_pretraining", "plot_training_curves", "pretraining_markdown", "pretraining_summary",
    "read_scalars",
    "task_table_markdown", "write_report",
]
