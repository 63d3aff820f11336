"""Datasets as one typed object, whatever file they came from.

A task name goes in (`rt-polarity`, `glue/sst2`, `glue/cola`, `glue/mrpc`,
`synthetic`, `synthetic-pair`, `tsv:DIR`, `csv:DIR`, `parquet:DIR`) and a
`Task` comes out: train/dev(/test) `Dataset`s of texts (and second texts for
pairs), int32 labels (-1 where unknown), label names, source id and content
sha256. Readers check their input and report bad files as `DistillError`s
naming the file and line, so nothing downstream ever parses a raw row.

Modules: `dataset` (the types), `registry` (`load_task`), `describe`
(`describe_task`, `show_task`), `delimited` (shared TSV/CSV parsing and
checks), and one module per source: `rt_polarity`, `glue`, `tsv_dir`,
`table`, `synthetic`.
"""

from distill.data.dataset import UNKNOWN_LABEL, Dataset, Task
from distill.data.describe import describe_task, show_task
from distill.data.registry import KNOWN_NAMES, load_task

__all__ = ["Dataset", "Task", "UNKNOWN_LABEL", "KNOWN_NAMES", "load_task", "describe_task", "show_task"]
