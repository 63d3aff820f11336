"""GLUE tasks SST-2, CoLA and MRPC, read with each task's real file layout.

Layouts (as in the official GLUE archive, one `train.tsv`, `dev.tsv`,
`test.tsv` per task, read with `csv.QUOTE_NONE` because sentences contain
unbalanced quotes):

- SST-2: header `sentence<TAB>label`; test.tsv is `index<TAB>sentence`, no labels.
- CoLA: no header; `source, label, original-label mark, sentence`; test.tsv
  has a header `index<TAB>sentence` and no labels.
- MRPC: header `Quality, #1 ID, #2 ID, #1 String, #2 String` (a sentence-pair
  task); in test.tsv `Quality` may be absent (GLUE's has `index` instead).

Unlabeled rows get label -1. An empty or blank sentence or label, and a
train split with fewer than two distinct labels, are errors naming the file
(and line and column). With `data_dir` the files are read from that
folder (or from its `SST-2/`, `CoLA/`, `MRPC/` subfolder, as the archive
unpacks); without it the official GLUE files are downloaded once into the
cache, pinned by sha256. MRPC is not a zip in GLUE: its train/dev split is
rebuilt from Microsoft's two files and GLUE's list of dev pair ids, exactly as
GLUE's own download script does; the test split keeps its public labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distill.data.dataset import UNKNOWN_LABEL, Dataset, Task
from distill.data.delimited import Table, check_field_counts, read_bytes, read_table, require_two_labels
from distill.data.delimited import parse_label as _parse_label
from distill.errors import DistillError

GLUE_URL = "https://dl.fbaipublicfiles.com/glue/data"
SENTEVAL_URL = "https://dl.fbaipublicfiles.com/senteval/senteval_data"
# sha256 pins of the official files (the same bytes TensorFlow Datasets and HF datasets pin).
ARCHIVES = {
    "SST-2": ("SST-2.zip", "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa"),
    "CoLA": ("CoLA.zip", "f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff"),
}
MRPC_FILES = {
    "train": (f"{SENTEVAL_URL}/msr_paraphrase_train.txt",
              "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89"),
    "test": (f"{SENTEVAL_URL}/msr_paraphrase_test.txt",
             "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784"),
    "dev_ids": (f"{GLUE_URL}/mrpc_dev_ids.tsv",
                "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7"),
}
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
BINARY = range(2)


@dataclass(frozen=True)
class Split:
    """What a layout parser returns for one file."""

    texts: list[str]
    labels: list[int]
    texts_b: list[str] | None = None


def parse_sst2(data: bytes, name: str, split: str) -> Split:
    table = read_table(data, name).require_rows()
    i_text = table.column("sentence")
    i_label = table.column("label", required=split != "test")
    return Split(table.texts(i_text), _labels(table, i_label))


def parse_cola(data: bytes, name: str, split: str) -> Split:
    rows = read_table(data, name, header=False).rows
    if [f.strip() for f in rows[0].fields] == ["index", "sentence"]:  # the unlabeled test layout
        table = Table(name, ["index", "sentence"], rows[1:]).require_rows()
        check_field_counts(table, 2)
        return Split(table.texts(1), [UNKNOWN_LABEL] * len(table.rows))
    table = Table(name, None, rows).require_rows()
    check_field_counts(table, 4)
    return Split(table.texts(3, "sentence"),
                 [_parse_label(r.fields[1], name, r.line, BINARY) for r in table.rows])


def parse_mrpc(data: bytes, name: str, split: str) -> Split:
    table = read_table(data, name).require_rows()
    i_a, i_b = table.column("#1 String"), table.column("#2 String")
    i_label = table.column("Quality", required=split != "test")
    return Split(table.texts(i_a), _labels(table, i_label), table.texts(i_b))


def _labels(table: Table, column: int | None) -> list[int]:
    if column is None:
        return [UNKNOWN_LABEL] * len(table.rows)
    label_name = table.header[column]
    return [_parse_label(r.fields[column], table.name, r.line, BINARY, column=label_name) for r in table.rows]


@dataclass(frozen=True)
class GlueSpec:
    name: str
    folder: str
    label_names: tuple[str, ...]
    parse: Callable[[bytes, str, str], Split]
    is_pair: bool = False


TASKS = {
    "glue/sst2": GlueSpec("glue/sst2", "SST-2", ("negative", "positive"), parse_sst2),
    "glue/cola": GlueSpec("glue/cola", "CoLA", ("unacceptable", "acceptable"), parse_cola),
    "glue/mrpc": GlueSpec("glue/mrpc", "MRPC", ("not_equivalent", "equivalent"), parse_mrpc, is_pair=True),
}


def load_glue(name: str, data_dir: str | os.PathLike | None = None) -> Task:
    """A GLUE task from local TSV files (`data_dir`) or from the official download.

    train and dev are required; test is optional in a local folder.
    """
    if name not in TASKS:
        raise DistillError(f"unknown GLUE task {name!r}; known: {', '.join(TASKS)}")
    spec = TASKS[name]
    if data_dir is not None:
        files, source_id = _local_files(spec, Path(data_dir)), f"{name}@{Path(data_dir)}"
    else:
        files, source_id = _downloaded_files(spec), f"{name}@{GLUE_URL}"
    splits = {}
    for split, (data, display) in files.items():
        parsed = spec.parse(data, display, split)
        if split == "train":
            require_two_labels(parsed.labels, display, spec.label_names)
        splits[split] = Dataset(parsed.texts, parsed.labels, list(spec.label_names), split, source_id,
                                texts_b=parsed.texts_b)
    from distill.metrics import primary_metric

    return Task(name, splits, list(spec.label_names), is_pair=spec.is_pair, primary_metric=primary_metric(name))


def _local_files(spec: GlueSpec, data_dir: Path) -> dict[str, tuple[bytes, str]]:
    if not data_dir.is_dir():
        raise DistillError(f"{data_dir}: no such directory (--data-dir for {spec.name})")
    folder = data_dir / spec.folder if (data_dir / spec.folder / "train.tsv").is_file() else data_dir
    files = {}
    for split, filename in SPLIT_FILES.items():
        path = folder / filename
        if split == "test" and not path.exists():
            continue
        if not path.is_file():
            raise DistillError(f"{path}: no such file (a GLUE {spec.folder} folder has train.tsv, dev.tsv, test.tsv)")
        files[split] = (read_bytes(path), str(path))
    return files


def _downloaded_files(spec: GlueSpec) -> dict[str, tuple[bytes, str]]:
    from distill.sources import SourceError, UrlSource

    try:
        if spec.folder == "MRPC":
            return _mrpc_from_microsoft_files()
        filename, sha256 = ARCHIVES[spec.folder]
        archive = UrlSource(f"{GLUE_URL}/{filename}", sha256, filename=filename)
        return {split: (archive.read(f"{spec.folder}/{name}"), f"{filename}:{spec.folder}/{name}")
                for split, name in SPLIT_FILES.items()}
    except SourceError as exc:
        raise SourceError(f"{spec.name}: could not get the official GLUE files; "
                          f"pass --data-dir DIR with train.tsv, dev.tsv, test.tsv ({exc})") from None


def _mrpc_from_microsoft_files() -> dict[str, tuple[bytes, str]]:
    """GLUE's MRPC train/dev/test rebuilt from the source files (as GLUE's download script does)."""
    from distill.sources import UrlSource

    raw = {key: UrlSource(url, sha256).read() for key, (url, sha256) in MRPC_FILES.items()}
    names = {key: url.rsplit("/", 1)[-1] for key, (url, _) in MRPC_FILES.items()}
    dev_ids = {tuple(r.fields[:2]) for r in read_table(raw["dev_ids"], names["dev_ids"], header=False, n_fields=2).rows}
    lines = raw["train"].replace(b"\r\n", b"\n").split(b"\n")
    header, body = lines[0], [line for line in lines[1:] if line.strip()]
    in_dev = [tuple(line.decode("utf-8", "replace").split("\t")[1:3]) in dev_ids for line in body]
    train = b"\n".join([header] + [line for line, dev in zip(body, in_dev) if not dev]) + b"\n"
    dev = b"\n".join([header] + [line for line, dev in zip(body, in_dev) if dev]) + b"\n"
    return {"train": (train, f"{names['train']} (GLUE train rows)"),
            "dev": (dev, f"{names['train']} (GLUE dev rows)"),
            "test": (raw["test"], names["test"])}
