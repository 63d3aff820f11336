"""Datasets as one typed object, whatever file they came from.

A task name goes in (`rt-polarity`, `glue/sst2`, `glue/cola`, `glue/mrpc`,
`synthetic`, `synthetic-pair`, `tsv:DIR`, `csv:DIR`, `parquet:DIR`,
`jsonl:DIR`, or one file split here: `csv:FILE?split=80/10/10&seed=0`, the
same for `parquet:` and `jsonl:`; `spec` has the grammar) and a
`Task` comes out: train/dev(/test) `Dataset`s of texts (and second texts for
pairs), int32 labels (-1 where unknown), label names, source id and content
sha256. Readers check their input and report bad files as `DistillError`s
naming the file and line, so nothing downstream ever parses a raw row. Every
reader refuses the same things (`delimited` holds the shared checks): an
empty or blank text, an empty or missing (`nan`, null) label, and a train
split with fewer than two distinct labels, which no classifier can learn.

Modules: `dataset` (the types), `spec` (task names: grammar, canonical
spelling), `registry` (`load_task`, `task_spec`), `describe`
(`describe_task`, `show_task`), `delimited` (shared TSV/CSV parsing and
checks), `splits` (seeded stratified, optionally grouped splits), and one
module per source: `rt_polarity`, `glue`, `tsv_dir`, `table` (csv, parquet
and jsonl folders), `jsonl`, `single_file`, `synthetic`.
"""

from distill.data.dataset import UNKNOWN_LABEL, Dataset, Task
from distill.data.describe import describe_task, show_task
from distill.data.registry import KNOWN_NAMES, load_task, task_spec

__all__ = ["Dataset", "Task", "UNKNOWN_LABEL", "KNOWN_NAMES", "load_task", "task_spec", "describe_task", "show_task"]
