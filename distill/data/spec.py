"""Task names: the one grammar `load_task` reads, and its canonical spelling.

Every stage takes its task by name and calls `load_task(name)`, and run
folders, run.json files and materials files record that name. So everything
that decides which rows a model sees (the file, its columns, how one file is
split) is part of the name; otherwise a later stage would load other data
under the same name. The grammar:

    NAME    := BUILTIN | READER ":" PATH [ "?" OPTION ( "&" OPTION )* ]
    BUILTIN := rt-polarity | glue/sst2 | glue/cola | glue/mrpc | synthetic | synthetic-pair
    READER  := tsv | csv | parquet | jsonl
    OPTION  := KEY "=" VALUE
    KEY     := split | seed | group | text | text_b | label

for example `csv:books.csv?split=80/10/10&seed=0&group=author&text=blurb&label=genre`.

- `split=TRAIN/DEV[/TEST]`: whole percentages that sum to 100 (`80/10/10`;
  `80/20` for train and dev only). A single FILE only; default 80/10/10.
- `seed=N`: the split's random seed, 0 <= N < 2**32. A single FILE only; default 0.
- `group=COL`: no value of this column in two splits (as rt-polarity keeps a
  movie's reviews together). A single FILE only.
- `text=COL`, `text_b=COL` (sentence pairs), `label=COL`: the columns (JSONL:
  keys) of `csv:`, `parquet:` and `jsonl:` tasks, FILE or DIR; default `text`,
  none, `label`.

PATH is everything between the reader's colon and the first `?` (so a path
holding `?` cannot be named), and a FILE or a DIR (holding `train.EXT`,
`dev.EXT` and optionally `test.EXT`) by what is on disk. In a VALUE, `%`,
`&`, `=`, `?`, `#` and white space are percent-encoded as in a URL query
(`%20` a space, `%26` an `&`); everything else is written as it is.

The canonical spelling (`TaskSpec.name`, what `task_spec` and `load_task`
return) writes the options in the fixed order above, drops column options that
are their defaults, and for a single FILE always writes `split` and `seed`
(80/10/10 and 0 when not given). So equal options give equal names, and a name
read back from a run.json loads the same split. A DIR's split is its files, so
`split`, `seed` and `group` on a DIR are errors, as are options on a built-in
task or on `tsv:` (whose columns are fixed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, unquote

from distill.errors import DistillError

BUILTIN = ("rt-polarity", "glue/sst2", "glue/cola", "glue/mrpc", "synthetic", "synthetic-pair")
READERS = ("tsv", "csv", "parquet", "jsonl")
TABLE_READERS = ("csv", "parquet", "jsonl")
KNOWN_NAMES = BUILTIN + tuple(f"{r}:DIR" for r in READERS) + tuple(f"{r}:FILE" for r in TABLE_READERS)
OPTIONS = ("split", "seed", "group", "text", "text_b", "label")
"""Option keys in their canonical order."""
FILE_OPTIONS = ("split", "seed", "group")
"""Options that define how a single file is split: meaningless for a DIR, which is split already."""
COLUMN_DEFAULTS = {"text": "text", "label": "label"}
DEFAULT_SPLIT = "80/10/10"
DEFAULT_SEED = "0"
FLAGS = {"split": "--split", "seed": "--split-seed", "group": "--group-column", "text": "--text-column",
         "text_b": "--text-b-column", "label": "--label-column"}
"""The command-line option of each key, for messages."""
RESERVED = "%&=?#"
"""Characters percent-encoded in option values (with white space)."""


@dataclass(frozen=True)
class TaskSpec:
    """A parsed task name: a built-in task (`reader` None, `path` its name) or a reader, a path and options."""

    reader: str | None
    path: str
    options: dict = field(default_factory=dict)   # key -> canonical value text

    @property
    def name(self) -> str:
        """The canonical name (see the module docstring)."""
        if self.reader is None:
            return self.path
        query = "&".join(f"{k}={_encoded(self.options[k])}" for k in OPTIONS if k in self.options)
        return f"{self.reader}:{self.path}" + (f"?{query}" if query else "")

    @property
    def is_file(self) -> bool:
        """A single file to split here (after `resolved`)."""
        return "split" in self.options

    @property
    def shares(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.options["split"].split("/"))

    @property
    def seed(self) -> int:
        return int(self.options["seed"])

    def column(self, key: str) -> str | None:
        """The column of `text`, `text_b`, `label` or `group` (its default when not given)."""
        return self.options.get(key, COLUMN_DEFAULTS.get(key))

    def merged(self, given: dict) -> TaskSpec:
        """These options added to the name's own; one given both ways must agree."""
        options = dict(self.options)
        for key, value in given.items():
            if value is None:
                continue
            value = _value(key, str(value), f"{FLAGS[key]} {value}")
            if key in options and options[key] != value:
                raise DistillError(f"task {self.name}: {key}={options[key]} in the name, but {FLAGS[key]} {value}; "
                                   "give it once")
            options[key] = value
        return _applicable(replace(self, options=options))

    def resolved(self, data_dir=None) -> TaskSpec:
        """The path filled from `data_dir` when the name has none, and FILE or DIR decided by the disk: a FILE
        gets the default split and seed, a DIR (or a missing path) must have no split, seed or group. A reader
        with no path at all is an error."""
        if self.reader is None:
            return self
        path = self.path or (_path_text(data_dir) if data_dir is not None else "")
        if not path:
            what = "a directory" if self.reader == "tsv" else "a file or a directory"
            forms = f"{self.reader}:DIR" if self.reader == "tsv" else f"{self.reader}:FILE or {self.reader}:DIR"
            raise DistillError(f"{self.reader}: needs {what}: {forms} (or --data-dir)")
        spec = replace(self, path=path)
        local = Path(path).expanduser()
        if self.reader in TABLE_READERS and local.is_file():
            return replace(spec, options={"split": DEFAULT_SPLIT, "seed": DEFAULT_SEED, **spec.options})
        file_options = [k for k in FILE_OPTIONS if k in spec.options]
        if file_options:
            keys = _keys(file_options)
            if local.is_dir():
                raise DistillError(f"task {spec.name}: {path} is a folder of train/dev[/test] files, split "
                                   f"already; {keys} only to a single file")
            raise DistillError(f"{path}: no such file (task {spec.name})")
        return spec


def parse_task_name(name: str) -> TaskSpec:
    """The spec of `name`; an unknown task, an unknown or repeated option, or a bad value is an error."""
    base, _, query = name.partition("?")
    reader, sep, path = base.partition(":")
    if sep and reader in READERS:
        spec = TaskSpec(reader, _path_text(path) if path else "")
    elif base in BUILTIN:
        spec = TaskSpec(None, base)
    else:
        raise DistillError(f"unknown task {name!r}; known: {', '.join(KNOWN_NAMES)}")
    options: dict[str, str] = {}
    for part in (p for p in query.split("&") if p):
        key, eq, value = part.partition("=")
        if key not in OPTIONS or not eq:
            raise DistillError(f"task {name}: unknown option {key!r}; options are "
                               f"{', '.join(k + '=' for k in OPTIONS)}")
        if key in options:
            raise DistillError(f"task {name}: option {key}= given twice")
        options[key] = _value(key, unquote(value), f"{key}={value}", name)
    return _applicable(replace(spec, options=options))


def _applicable(spec: TaskSpec) -> TaskSpec:
    """Column options at their defaults dropped; options a task cannot take are errors."""
    options = {k: v for k, v in spec.options.items() if COLUMN_DEFAULTS.get(k) != v}
    spec = replace(spec, options=options)
    if options and (spec.reader is None or spec.reader == "tsv"):
        why = "its columns are sentence and Label" if spec.reader == "tsv" else "a built-in task"
        raise DistillError(f"task {spec.name.partition('?')[0]} takes no options ({why}); "
                           f"{_keys([k for k in OPTIONS if k in options])} only to csv:, parquet: and jsonl: tasks")
    return spec


def _keys(keys) -> str:
    """`split= (--split) applies` / `split= (--split), seed= (--split-seed) apply`, for messages."""
    return ", ".join(f"{k}= ({FLAGS[k]})" for k in keys) + (" applies" if len(keys) == 1 else " apply")


def _value(key: str, value: str, shown: str, name: str | None = None) -> str:
    """The canonical text of one option value; a bad one is an error saying what is expected."""
    where = f"task {name}: " if name else ""
    if key == "split":
        return split_text(value, where + shown)
    if key == "seed":
        if not value.isdigit() or int(value) >= 2**32:
            raise DistillError(f"{where}{shown}: the split seed must be an integer in [0, 4294967295]")
        return str(int(value))
    if not value.strip():
        raise DistillError(f"{where}{shown}: the {key} column needs a name")
    return value


def split_text(value: str, shown: str) -> str:
    """`80/10/10` from "80/10/10" (or " 80 / 20 "); anything but 2-3 positive whole percentages summing to 100
    is an error."""
    parts = [p.strip() for p in value.split("/")]
    if len(parts) in (2, 3) and all(p.isdigit() and int(p) > 0 for p in parts):
        total = sum(int(p) for p in parts)
        if total == 100:
            return "/".join(str(int(p)) for p in parts)
        why = f"they sum to {total}"
    else:
        why = "each a whole number above 0"
    raise DistillError(f"{shown}: the split must be 2 or 3 percentages that sum to 100, train/dev[/test] "
                       f"such as 80/10/10 or 80/20 ({why})")


def split_folds(shares: tuple[int, ...]) -> int:
    """How many equal folds make these percentages: 10 for 80/10/10, 5 for 80/20, 20 for 85/10/5."""
    return 100 // math.gcd(*shares)


def _encoded(value: str) -> str:
    return "".join(quote(c, safe="") if c in RESERVED or c.isspace() else c for c in value)


def _path_text(path) -> str:
    """A path as names spell it: `str(Path(path))` (so `./x/` and `x` are one name)."""
    return str(Path(path))
