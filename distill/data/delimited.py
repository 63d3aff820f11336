"""Delimited text files (TSV, CSV) read with errors that point at the bad line.

Every file reader in `distill.data` goes through here, so every reader gives
the same kind of message for the same kind of problem: the file, the line as
an editor numbers it (1-based, the line where the record starts), and what is
wrong there. Checks done here: not UTF-8, empty file, a CSV quoting error, a
header naming a column twice, a row with the wrong number of fields, a missing
column, no data rows, an empty
(or whitespace-only) text or label, a label that is a missing-value marker
(`nan`, `None`, `NULL`, ...), a label that must be an integer but is not, and
a train split with fewer than two distinct labels (`require_two_labels`).

Fields have no length limit: the csv module's default of 131,072 characters
per field is raised (once, on first use) to the largest value the platform's
C long holds, so a long review is read like a short one.

TSV files are read with `csv.QUOTE_NONE`: GLUE-style TSVs contain unbalanced
`"` characters inside sentences, and treating them as quotes would silently
glue lines together.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from distill.errors import DistillError

MISSING_VALUES = frozenset({"nan", "NaN", "NAN", "-nan", "-NaN", "None", "null", "NULL", "<NA>", "#N/A", "N/A", "n/a"})
"""Labels that are a missing value as pandas and spreadsheets write it, not a class."""
FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)
"""csv's per-field limit while reading: as large as a C long holds everywhere (sys.maxsize overflows on Windows)."""


@dataclass(frozen=True)
class Row:
    """One record: the 1-based line where it starts and its fields."""

    line: int
    fields: list[str]


@dataclass(frozen=True)
class Table:
    """A parsed delimited file: its display name, header (if any) and rows."""

    name: str
    header: list[str] | None
    rows: list[Row]

    def column(self, column: str, required: bool = True) -> int | None:
        """Index of `column` in the header (exact name); a missing one is an error naming the file."""
        assert self.header is not None, "column lookup needs a header"
        if column in self.header:
            return self.header.index(column)
        if not required:
            return None
        raise DistillError(
            f"{self.name}, line 1: no column {column!r} in the header (columns: {', '.join(self.header)})"
        )

    def texts(self, index: int, column: str | None = None) -> list[str]:
        """Field `index` of every row as text; an empty or blank one is an error naming file, line and column."""
        column = column or (self.header[index] if self.header else f"column {index + 1}")
        return [require_text(r.fields[index], self.name, f"line {r.line}", column) for r in self.rows]

    def require_rows(self) -> Table:
        """An empty split is an error: every split a reader returns has rows."""
        if not self.rows:
            raise DistillError(f"{self.name}: no data rows{' after the header' if self.header else ''} (empty split)")
        return self


def read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise DistillError(f"{path}: no such file")
    return path.read_bytes()


def decode(data: bytes, name: str) -> str:
    """UTF-8 text (a leading BOM is dropped); bad bytes or an empty file are errors naming the line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DistillError(
            f"{name}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None
    if not text.strip():
        raise DistillError(f"{name}: empty file")
    return text


def parse_rows(text: str, name: str, delimiter: str = "\t", quoted: bool = False) -> list[Row]:
    """Records of `text` with their start lines; blank lines are skipped.

    `quoted=False` is TSV as GLUE writes it (quotes are ordinary characters);
    `quoted=True` is standard CSV quoting, checked strictly so that a broken
    quote is reported instead of swallowing the rest of the file.
    """
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    if quoted:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    rows: list[Row] = []
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DistillError(f"{name}, line {start}: malformed record ({exc})") from None
        if fields and not (len(fields) == 1 and not fields[0].strip()):
            rows.append(Row(start, fields))
        start = reader.line_num + 1
    return rows


def read_table(data: bytes, name: str, delimiter: str = "\t", quoted: bool = False,
               header: bool = True, n_fields: int | None = None) -> Table:
    """Decode and parse a whole file, checking that every row has as many fields as the header.

    Without a header, `n_fields` gives the expected field count (None: not checked).
    """
    rows = parse_rows(decode(data, name), name, delimiter=delimiter, quoted=quoted)
    columns = None
    if not rows:
        raise DistillError(f"{name}: empty file")
    if header:
        first = rows.pop(0)
        columns = [c.strip() for c in first.fields]
        check_unique_columns(columns, f"{name}, line {first.line}")
        n_fields = len(columns)
    table = Table(name, columns, rows)
    if n_fields is not None:
        check_field_counts(table, n_fields)
    return table


def check_unique_columns(columns: list, where: str, what: str = "the header", kind: str = "column") -> None:
    """No column name twice: a column is chosen by name, and which of two it would be is a guess. The
    first repeat is named with both of its 1-based positions. Unnamed (empty) columns may repeat: no
    name chooses them."""
    seen: dict[str, int] = {}
    for position, column in enumerate(columns, start=1):
        if column and column in seen:
            raise DistillError(f"{where}: {kind} {column!r} appears twice in {what}, as {kind}s {seen[column]} "
                               f"and {position}; rename or drop one")
        seen.setdefault(column, position)


def check_field_counts(table: Table, n_fields: int) -> None:
    """Every row must have `n_fields` fields; the first that does not is reported."""
    for row in table.rows:
        if len(row.fields) != n_fields:
            what = f" ({', '.join(table.header)})" if table.header else ""
            raise DistillError(
                f"{table.name}, line {row.line}: {len(row.fields)} field(s), expected {n_fields}{what}"
            )


def require_text(value: str | None, name: str, where: str, column: str) -> str:
    """`value` unchanged unless it is None, empty or blank: then an error naming file, `where` ("line 7") and column."""
    if value is None or not value.strip():
        raise DistillError(f"{name}, {where}: column {column!r} is empty (every row needs a text)")
    return value


def require_label(value: str | None, name: str, where: str, column: str, what: str = "label") -> str:
    """A label (or a group: `what`) stripped of surrounding space; empty, blank or a missing-value marker
    (`nan`, ...) is an error."""
    if value is None or not value.strip():
        raise DistillError(f"{name}, {where}: column {column!r} is empty (every row needs a {what})")
    if value.strip() in MISSING_VALUES:
        raise DistillError(f"{name}, {where}: column {column!r} holds {value.strip()!r}, a missing value "
                           f"(every row needs a {what})")
    return value.strip()


def require_two_labels(labels, name: str, names=None) -> None:
    """A train split needs at least two distinct labels to train a classifier; `name` is its file.

    `labels` are ids (with -1 for unknown) or strings; `names` maps ids to label names for the message.
    """
    distinct = sorted({label for label in labels if label != -1}, key=str)
    if len(distinct) >= 2:
        return
    if not distinct:
        raise DistillError(f"{name}: the train split has no labels; a classifier needs at least 2 distinct labels")
    found = distinct[0]
    if not isinstance(found, str):
        found = names[int(found)] if names is not None else int(found)
    raise DistillError(f"{name}: the train split has only one label ({found!r} on all {len(labels):,} rows); "
                       "a classifier needs at least 2 distinct labels")


def parse_label(value: str, name: str, line: int, allowed: range | None = None, column: str = "label") -> int:
    """An integer label; anything else (or one outside `allowed`) is an error naming file and line."""
    require_label(value, name, f"line {line}", column)
    try:
        label = int(value.strip())
    except ValueError:
        raise DistillError(f"{name}, line {line}: {column} {value!r} is not an integer") from None
    if allowed is not None and label not in allowed:
        raise DistillError(
            f"{name}, line {line}: {column} {label} is not one of {', '.join(map(str, allowed))}"
        )
    return label
