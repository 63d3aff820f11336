"""Delimited text files (TSV, CSV) read with errors that point at the bad line.

Every file reader in `distill.data` goes through here, so every reader gives
the same kind of message for the same kind of problem: the file, the line as
an editor numbers it (1-based, the line where the record starts), and what is
wrong there. Checks done here: not UTF-8, empty file, a CSV quoting error, a
row with the wrong number of fields, a missing column, no data rows, and a
label that must be an integer but is not.

TSV files are read with `csv.QUOTE_NONE`: GLUE-style TSVs contain unbalanced
`"` characters inside sentences, and treating them as quotes would silently
glue lines together.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from distill.errors import DistillError


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
        n_fields = len(columns)
    table = Table(name, columns, rows)
    if n_fields is not None:
        check_field_counts(table, n_fields)
    return table


def check_field_counts(table: Table, n_fields: int) -> None:
    """Every row must have `n_fields` fields; the first that does not is reported."""
    for row in table.rows:
        if len(row.fields) != n_fields:
            what = f" ({', '.join(table.header)})" if table.header else ""
            raise DistillError(
                f"{table.name}, line {row.line}: {len(row.fields)} field(s), expected {n_fields}{what}"
            )


def parse_label(value: str, name: str, line: int, allowed: range | None = None, column: str = "label") -> int:
    """An integer label; anything else (or one outside `allowed`) is an error naming file and line."""
    try:
        label = int(value.strip())
    except ValueError:
        raise DistillError(f"{name}, line {line}: {column} {value!r} is not an integer") from None
    if allowed is not None and label not in allowed:
        raise DistillError(
            f"{name}, line {line}: {column} {label} is not one of {', '.join(map(str, allowed))}"
        )
    return label
