"""One file for a whole experiment: `distill run --config exp.toml`, `--print-config`, `experiment.toml`.

Owns `OPTIONS`, the one table of every `distill run` option: its
`PipelineConfig` field, its TOML table and key, its command-line flag (None
when it has none) and its constraint, the argparse `type=` function of
`distill.app.cli.types` that its flag uses. The parser of `distill run` is
built from this table, the config file is checked with the same functions
(called on `str(value)` once the TOML type is right) and
`PipelineConfig.__post_init__` checks its fields with them too, so the three
cannot disagree on what a good value is.

The file (TOML, read with `tomllib`) groups the keys by stage; every key is
optional and a key left out keeps its default (`--quick`'s reduced one when
`[run] quick = true`):

    [task]       name, data_dir, split, split_seed, group_column, text_column, text_b_column, label_column
    [teacher]    name, checkpoint, label_order, pooling, epochs, lr, batch_size, max_seq_len
    [materials]  augment
    [students]   archs, embeddings, losses, seeds, epochs, transfer_epochs, patience, temperature,
                 no_augment_baseline, no_augment_seeds
    [bench]      presets, examples, batch_sizes, modes, repeats
    [explain]    sample
    [run]        runs_dir, quick, force, strategy

The task options (`split`, ... `label_column`) are folded into the task's
name as their flags are (`distill.app.cli.tasks`), so a printed config has
them inside `name`. Paths are relative to the working folder, as on the
command line. Options typed on the command line override the file, key by key.

`dumps` writes a config back in the same layout, every field included (a
field that is None as a comment, `# key = ...  (not set)`: TOML has no null;
floats by `repr`, so they read back exactly): reading it gives an equal
`PipelineConfig`, hence the same stage hashes. `distill run` keeps that text
as `experiment.toml` in its runs root and in every stage folder it builds.
`configure` makes the config of a `distill run` command line (file, then
options); `read_config` that of a file alone (`distill.api.run`).

A bad file is one line naming the file, the line and the key
(`exp.toml:7: key 'students.seeds' must be a positive integer, got 0`); it is
found before anything is written. tomllib gives no line numbers for keys, so
`line_of` finds `key =` inside its `[table]` in the text itself.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from distill.app.cli.types import (arch_specs, non_negative_int, one_of, positive_float, positive_int, positive_ints,
                                   random_seed, seq_len, words)
from distill.app.pipeline import STAGES
from distill.errors import DistillError

EXPERIMENT_FILE = "experiment.toml"

LOSSES = ("mse", "kl", "ce", "mix", "mix-mse")                               # students.losses.LOSSES
EMBEDDING_MODES = ("static", "non-static", "multichannel", "delta", "rand")  # students.kim_cnn.EMBEDDING_MODES
POOLINGS = ("cls", "mean")                                                   # teachers.classifier.POOLINGS
BENCH_MODES = ("text", "ids")                                                # distill.app.bench.MODES
STRATEGIES = ("auto", "one", "mirrored")                                     # one host: no multi-worker
"""Names restated here because their modules import TensorFlow (tests hold them equal to the originals)."""

KINDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
         "strings": "a list of strings", "integers": "a list of integers"}
"""TOML type of a key -> how a message names it."""


def teacher_names(text: str) -> list:
    """A comma-separated list of teachers to time with random weights (bench presets); may be empty."""
    from teachers.registry import check_teacher   # names only, no TensorFlow

    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        try:
            check_teacher(item, random_init=True)
        except DistillError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return items


@dataclass(frozen=True)
class Option:
    """One `distill run` option: where it lives in PipelineConfig, in the file and on the command line,
    and the one function that says which values are good."""

    field: str | None            # PipelineConfig field; None: a task option, folded into the task's name
    table: str
    key: str
    kind: str                    # a key of KINDS
    check: Callable | None = None   # the argparse type= of its flag; None: any value of its kind
    flag: str | None = None
    help: str = ""
    dest: str | None = None      # argparse dest when it is not the field (task options)
    optional: bool = False       # None is a value (not set)
    each: bool = False           # the flag is repeated, one item a time (--force)
    metavar: str | None = None
    note: str = ""               # after the default in --help

    @property
    def name(self) -> str:
        return f"{self.table}.{self.key}"

    @property
    def argdest(self) -> str:
        return self.dest or self.field


def _o(field, table, key, kind, check=None, flag=None, help="", **more) -> Option:
    return Option(field, table, key, kind, check, flag, help, **more)


OPTIONS = (
    _o("task", "task", "name", "string", None, "--task", "task"),
    _o("data_dir", "task", "data_dir", "string", None, "--data-dir",
       "local files of the task (as for `distill data prepare`)", optional=True),
    _o(None, "task", "split", "string", None, "--split", dest="task_split", optional=True),
    _o(None, "task", "split_seed", "integer", random_seed, "--split-seed", dest="split_seed", optional=True),
    _o(None, "task", "group_column", "string", None, "--group-column", dest="group_column", optional=True),
    _o(None, "task", "text_column", "string", None, "--text-column", dest="text_column", optional=True),
    _o(None, "task", "text_b_column", "string", None, "--text-b-column", dest="text_b_column", optional=True),
    _o(None, "task", "label_column", "string", None, "--label-column", dest="label_column", optional=True),
    _o("teacher", "teacher", "name", "string", None, "--teacher",
       "teacher to fine-tune: a name, or a folder (Hugging Face BERT, Google checkpoint); a folder with a "
       "fine-tuned classifier head is used as it is, without fine-tuning"),
    _o("checkpoint", "teacher", "checkpoint", "string", None, "--checkpoint",
       "Google BERT checkpoint directory (bert-base, bert-large)", optional=True),
    _o("label_order", "teacher", "label_order", "string", None, "--label-order",
       "a fine-tuned folder teacher: its classifier's label names in output order, comma-separated (when the "
       "folder does not name them)", optional=True, metavar="NAMES"),
    _o("teacher_pooling", "teacher", "pooling", "string", one_of(POOLINGS), "--teacher-pooling",
       "what the teacher's classifier head reads (see `distill teacher finetune --help`)"),
    _o("teacher_epochs", "teacher", "epochs", "integer", positive_int),
    _o("teacher_lr", "teacher", "lr", "number", positive_float),
    _o("teacher_batch_size", "teacher", "batch_size", "integer", positive_int),
    _o("max_seq_len", "teacher", "max_seq_len", "integer", seq_len),
    _o("augment", "materials", "augment", "integer", non_negative_int, "--augment",
       "variants per training sentence", note="fewer with --quick"),
    _o("student_archs", "students", "archs", "strings", arch_specs, "--student-archs",
       "student architectures, comma-separated: built-in names (kim-cnn, bilstm) or module:function, a Keras "
       "builder of your own; every one is trained with every embedding, loss and seed", metavar="ARCHS"),
    _o("student_embedding", "students", "embeddings", "strings", words(EMBEDDING_MODES), "--student-embedding",
       "the students' embedding modes, comma-separated (see `distill student train --help`)", metavar="MODES"),
    _o("losses", "students", "losses", "strings", words(LOSSES), "--losses",
       "student losses, comma-separated; ce is the no-distillation baseline"),
    _o("seeds", "students", "seeds", "integer", positive_int, "--seeds", "seeds per student loss",
       note="fewer with --quick"),
    _o("student_epochs", "students", "epochs", "integer", positive_int),
    _o("transfer_epochs", "students", "transfer_epochs", "integer", positive_int, "--transfer-epochs",
       "passes over train + transfer split of each distilled student"),
    _o("student_patience", "students", "patience", "integer", positive_int),
    _o("temperature", "students", "temperature", "number", positive_float),
    _o("no_augment_baseline", "students", "no_augment_baseline", "boolean"),
    _o("no_augment_seeds", "students", "no_augment_seeds", "integer", positive_int, "--no-augment-seeds",
       "seeds of the mse student trained without the transfer split"),
    _o("presets", "bench", "presets", "strings", teacher_names),
    _o("bench_examples", "bench", "examples", "integer", positive_int),
    _o("bench_batch_sizes", "bench", "batch_sizes", "integers", positive_ints),
    _o("bench_modes", "bench", "modes", "strings", words(BENCH_MODES)),
    _o("bench_repeats", "bench", "repeats", "integer", positive_int),
    _o("explain_sample", "explain", "sample", "integer", positive_int),
    _o("runs_dir", "run", "runs_dir", "string", None, "--runs-dir", "where stage folders and report.md go"),
    _o("quick", "run", "quick", "boolean", None, "--quick", "a reduced smoke run (minutes), under RUNS_DIR/quick"),
    _o("force", "run", "force", "strings", one_of(STAGES), "--force",
       f"redo this stage even if finished (repeatable): {', '.join(STAGES)}", each=True, metavar="STAGE"),
    _o("strategy", "run", "strategy", "string", one_of(STRATEGIES), "--strategy",
       "where the teacher and students train: one device, mirrored (this host's GPUs), auto (mirrored when more "
       "than one GPU is visible, else one); several hosts train with `distill teacher finetune` / `distill "
       "student train --strategy multi-worker`"),
)
"""Every `distill run` option, in the file's order."""

TABLES = tuple(dict.fromkeys(option.table for option in OPTIONS))
BY_FIELD = {option.field: option for option in OPTIONS if option.field}
BY_KEY = {(option.table, option.key): option for option in OPTIONS}


def flag_of(field: str) -> str:
    """How a message names a PipelineConfig field: its flag, else its name (Python API)."""
    option = BY_FIELD.get(field)
    return option.flag if option and option.flag else field


# ------------------------------------------------------------------ checking
class BadValue(Exception):
    """A value its option refuses; the text says why ("must be a positive integer, got 0")."""


def checked(option: Option, value, shown: Callable = repr, python: bool = False):
    """`value` as PipelineConfig holds it (lists as tuples, integers given for numbers as floats), after its
    kind and its option's check; BadValue otherwise. `python`: a value from Python (PipelineConfig's own
    fields), where a tuple is a list too and a single string a one-item list."""
    if value is None and option.optional:
        return None
    given, value = value, _of_kind(option, value, shown, python)
    if option.check is None:
        return value
    if option.each:   # one item a time, as its repeated flag is
        for item in value:
            _check(option, str(item), shown(item) + (f" in {shown(given)}" if len(value) > 1 else ""))
    elif option.kind in ("strings", "integers"):
        _check(option, ",".join(str(item) for item in value), shown(given))
    else:
        _check(option, str(value), shown(given))
    return value


def _check(option: Option, text: str, shown: str) -> None:
    """The option's argparse type on `text`; its message ends with `got 'TEXT'`, said here as `shown`."""
    try:
        option.check(text)
    except argparse.ArgumentTypeError as exc:
        message = str(exc)
        raise BadValue(message[:-len(repr(text))] + shown if message.endswith(repr(text)) else message) from None


def _of_kind(option: Option, value, shown: Callable, python: bool):
    def wrong():
        return BadValue(f"must be {KINDS[option.kind]}, got {shown(value)}")

    if option.kind == "string":
        if not isinstance(value, str):
            raise wrong()
    elif option.kind == "integer":
        if not _is_int(value):
            raise wrong()
    elif option.kind == "number":
        if not (_is_int(value) or isinstance(value, float)):
            raise wrong()
        value = float(value)   # 2 and 2.0 are one experiment: one stage hash
    elif option.kind == "boolean":
        if not isinstance(value, bool):
            raise wrong()
    else:
        if python and isinstance(value, str):
            value = (value,)
        if not isinstance(value, (list, tuple) if python else list):
            raise wrong()
        if option.kind == "integers" and not all(_is_int(item) for item in value):
            raise wrong()
        if option.kind == "strings" and not all(_is_name(item) for item in value):
            raise BadValue(f"must be a list of names (no commas, no blanks), got {shown(value)}")
        value = tuple(value)
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_name(value) -> bool:
    return isinstance(value, str) and value.strip() == value and value != "" and "," not in value


def check_config(config) -> None:
    """Every field of a PipelineConfig against its option: normalised in place (tuples), or one DistillError
    naming its flag (`--seeds must be a positive integer, got 0`)."""
    for field, option in BY_FIELD.items():
        try:
            setattr(config, field, checked(option, getattr(config, field), python=True))
        except BadValue as exc:
            reason = str(exc)
            raise DistillError(f"{flag_of(field)}{' ' if reason.startswith('must') else ': '}{reason}") from None


# ------------------------------------------------------------------- writing
def toml_value(value) -> str:
    """A value in TOML: strings, ints, floats (repr: exact), bools, and lists of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                          ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return _toml_string(str(value))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    def escaped(ch: str) -> str:
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        return f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch

    return '"' + "".join(escaped(ch) for ch in text) + '"'


def dumps(config) -> str:
    """The config as a `--config` file: every field under its table, None ones as `# key = ...  (not set)`."""
    lines = ["# distill run: the whole configuration of an experiment. `distill run --config THIS-FILE` runs it",
             "# again (options given on the command line override it); see `distill run --help`."]
    for table in TABLES:
        lines += ["", f"[{table}]"]
        for option in OPTIONS:
            if option.table != table or option.field is None:
                continue
            value = getattr(config, option.field)
            lines.append(f"# {option.key} = ...  (not set)" if value is None else
                         f"{option.key} = {toml_value(value)}")
        if table == "task":
            lines.append("# split, split_seed, group_column, text_column, text_b_column, label_column: "
                         "given, they are part of name")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- reading
@dataclass
class Experiment:
    """A config file, checked key by key: its values by PipelineConfig field (task options by argparse dest)."""

    path: str
    text: str
    values: dict

    def line_of(self, table: str, key: str | None = None) -> int | None:
        return line_of(self.text, table, key)

    def where(self, table: str, key: str | None = None) -> str:
        """`exp.toml:LINE` of a key (or of a table's header), or the file alone when it is not found."""
        line = self.line_of(table, key)
        return f"{self.path}:{line}" if line else self.path

    def error(self, option: Option, reason: str) -> DistillError:
        joint = " " if reason.startswith("must") else ": "
        return DistillError(f"{self.where(option.table, option.key)}: key '{option.name}'{joint}{reason}")

    def blame(self, exc: DistillError, used) -> DistillError:
        """A check's error about keys that this file set (`used`: their fields/dests), with the file, line and
        key of the first one it names (by flag, else by value); unchanged when it names none."""
        message = str(exc)
        options = [o for o in OPTIONS if o.argdest in used]

        def names(word: str) -> bool:   # as a word of its own, not inside a longer name or path
            return bool(re.search(rf"(?<![\w/.-]){re.escape(word)}(?![\w/.-])", message))

        hit = next((o for o in options if o.flag and names(o.flag)), None) or \
            next((o for o in options if isinstance(used[o.argdest], str) and len(used[o.argdest]) > 2
                  and names(used[o.argdest])), None)
        return self.error(hit, message) if hit else exc


def read_experiment(path) -> Experiment:
    """The file at `path`, every key known, of its type and in range; one DistillError (file:line: key)
    otherwise. Reads only."""
    text = _read_text(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", str(exc))
        if not found:
            raise DistillError(f"{path}: invalid TOML: {exc}") from None
        raise DistillError(f"{path}:{found[1]}: invalid TOML: {str(exc)[:found.start()]} (column {found[2]})"
                           ) from None
    experiment = Experiment(str(path), text, {})
    for table, body in document.items():
        if not isinstance(body, dict):
            raise _not_a_table(experiment, table, body)
        if table not in TABLES:
            near = difflib.get_close_matches(table, TABLES, n=1)
            hint = f"did you mean [{near[0]}]?" if near else f"tables are {', '.join(f'[{t}]' for t in TABLES)}"
            raise DistillError(f"{experiment.where(table)}: unknown table [{table}]; {hint}")
        for key, value in body.items():
            option = BY_KEY.get((table, key)) or _unknown_key(experiment, table, key)
            try:
                experiment.values[option.argdest] = checked(option, value, shown=toml_value)
            except BadValue as exc:
                raise experiment.error(option, str(exc)) from None
    return experiment


def _read_text(path) -> str:
    try:
        data = Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise DistillError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise DistillError(f"--config {path}: a folder, not a file") from None
    except OSError as exc:
        raise DistillError(f"--config {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DistillError(f"{path}:{line}: not UTF-8 text (TOML is UTF-8)") from None


def _not_a_table(experiment: Experiment, name: str, value) -> DistillError:
    """A key outside any table: a table given a value, or a key that belongs in a table."""
    if name in TABLES:
        return DistillError(f"{experiment.where(name)}: key '{name}' must be a table ([{name}]), "
                            f"got {toml_value(value)}")
    homes = [o.name for o in OPTIONS if o.key == name] or difflib.get_close_matches(
        name, [o.name for o in OPTIONS], n=1)
    hint = f"; did you mean '{homes[0]}'?" if homes else f"; keys belong in the tables {', '.join(TABLES)}"
    return DistillError(f"{experiment.where(name)}: unknown key '{name}' outside any table{hint}")


def _unknown_key(experiment: Experiment, table: str, key: str):
    keys = [o.key for o in OPTIONS if o.table == table]
    near = [o.name for o in OPTIONS if o.key == key] or \
        [f"{table}.{k}" for k in difflib.get_close_matches(key, keys, n=1)]   # the same key elsewhere first
    hint = f"did you mean '{near[0]}'?" if near else f"[{table}] takes {', '.join(keys)}"
    raise DistillError(f"{experiment.where(table, key)}: unknown key '{table}.{key}'; {hint}")


_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def line_of(text: str, table: str, key: str | None = None) -> int | None:
    """The line (from 1) of `key =` inside `[table]` (also `table.key =` at the top), or of the table's header
    when `key` is None (or the first `table.x =` line); None when there is none."""
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        if header := _HEADER.match(line):
            current = _dotted(header[1])
            if current == (table if key is None else f"{table}.{key}"):   # a table, or a key made a table
                return number
            continue
        if found := _KEY.match(line):
            name = ".".join(filter(None, (current, _dotted(found[1]))))
            if name == (f"{table}.{key}" if key is not None else table) or \
                    (key is None and name.startswith(table + ".")):
                return number
    return None


def _dotted(name: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in name.split("."))


# ------------------------------------------------ file + command line -> config
def read_config(path):
    """The PipelineConfig a config file describes, as `distill run --config FILE` with no option typed."""
    return configure(argparse.Namespace(config=str(path)))[0]


def configure(args):
    """(PipelineConfig, the config file or None, {field or task-option dest: value} the file set and no option
    overrode) from `distill run`'s arguments: `args.config` read and checked, the options typed on the command
    line over it, key by key, the task options folded into the task's name, the dataclass (or its quick
    variant) for the rest. Reads only; an error about a key of the file names its line."""
    from distill.app.pipeline import PipelineConfig

    loaded = read_experiment(args.config) if getattr(args, "config", None) else None
    typed = typed_options(args)
    from_file = {k: v for k, v in (loaded.values if loaded else {}).items()
                 if k not in typed and (k in BY_FIELD or getattr(args, k, None) is None)}
    options = {**{k: v for k, v in from_file.items() if k in BY_FIELD}, **typed}
    with blamed(loaded, from_file):
        if name := _task_name(args, from_file):
            options["task"] = name
        make = PipelineConfig.quick_config if options.get("quick") else PipelineConfig
        return make(**options), loaded, from_file


def _task_name(args, from_file: dict) -> str | None:
    """The task's canonical name (`distill.app.cli.tasks.task_name`), the file's name, data_dir and task
    options standing where no option was typed."""
    from distill.app.cli import tasks

    merged = argparse.Namespace(**vars(args))
    for dest in ("task", "data_dir", *tasks.DESTS.values()):
        if getattr(merged, dest, None) is None and dest in from_file:
            setattr(merged, dest, from_file[dest])
    return tasks.task_name(merged)


@contextlib.contextmanager
def blamed(loaded: Experiment | None, from_file: dict):
    """Errors of the checks inside about a value the config file set name its file, line and key."""
    try:
        yield
    except DistillError as exc:
        if loaded is None:
            raise
        raise loaded.blame(exc, from_file) from None


# --------------------------------------------------------- the command line
def typed_options(args) -> dict:
    """{field: value} of the PipelineConfig options given on the command line (lists as tuples)."""
    options = {}
    for option in OPTIONS:
        value = getattr(args, option.argdest, None) if option.field and option.flag else None
        if value is None or value is False or value == []:   # not given (store_true, append: their defaults)
            continue
        options[option.field] = tuple(value) if isinstance(value, list) else value
    return options


def layout() -> str:
    """The file's tables and keys, each with its flag, for `distill run --help`."""
    import textwrap

    lines = []
    for table in TABLES:
        keys = [f"{o.key} ({o.flag})" if o.flag else o.key for o in OPTIONS if o.table == table]
        lines += textwrap.wrap(", ".join(keys), width=96, initial_indent=f"  {f'[{table}]':12}",
                               subsequent_indent=" " * 14, break_on_hyphens=False)
    return "\n".join(lines)
