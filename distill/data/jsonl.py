"""JSON Lines files (`jsonl:FILE`, `jsonl:DIR`): one JSON object a line, columns are its keys.

The usual export of a labelled set from a notebook or a database:
`{"text": "...", "label": "mystery"}` a line. Texts must be JSON strings;
labels and groups may be strings or numbers (a whole float such as `1.0` is
the label "1", as for parquet; `true`/`false` are the labels "true" and
"false"). A null or NaN label, a missing key, a key given twice in one object
(JSON would keep the last without a word), an empty text, a line that is not
valid JSON or not an object are errors naming the file and the line;
blank lines are skipped. UTF-8 (a leading BOM is dropped), as every reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from distill.data.delimited import check_unique_columns, decode, read_bytes
from distill.data.table import Records, checked_records
from distill.errors import DistillError


class _Keys(dict):
    """A JSON object that remembers its keys in order, repeats included (json keeps the last of a repeated
    key without a word)."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self.keys_in_order = [key for key, _ in pairs]


_JSON_TYPES = {dict: "an object", _Keys: "an object", list: "a list", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}


def read_jsonl(path: Path, text_column: str = "text", text_b_column: str | None = None, label_column: str = "label",
               group_column: str | None = None) -> Records:
    name = str(path)
    text = decode(read_bytes(path), name)
    keys = {"text": text_column, "text_b": text_b_column, "label": label_column, "group": group_column}
    keys = {kind: key for kind, key in keys.items() if key}
    values: dict[str, list] = {kind: [] for kind in keys}
    where = []
    for number, line in enumerate(text.split("\n"), start=1):   # not splitlines(): U+2028 may sit inside a string
        if not line.strip():
            continue
        record = _object(line, name, number)
        for kind, key in keys.items():
            if key not in record:
                raise DistillError(f"{name}, line {number}: no key {key!r} (keys: {', '.join(record) or 'none'})")
            values[kind].append(_text(record[key], name, number, key) if kind.startswith("text")
                                else _scalar(record[key], name, number, key))
        where.append(f"line {number}")
    if not where:
        raise DistillError(f"{name}: empty file")
    return checked_records(name, where, values, text_column, text_b_column, label_column, group_column)


def _object(line: str, name: str, number: int) -> dict:
    try:
        record = json.loads(line, object_pairs_hook=_Keys)
    except json.JSONDecodeError as exc:
        raise DistillError(f"{name}, line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise DistillError(f"{name}, line {number}: {_JSON_TYPES.get(type(record), 'a value')}, not a JSON object "
                           "(each line holds one object, such as {\"text\": ..., \"label\": ...})")
    check_unique_columns(record.keys_in_order, f"{name}, line {number}", what="the object", kind="key")
    return dict(record)


def _text(value, name: str, number: int, key: str) -> str | None:
    """A text value as it is (None for null, refused later as empty); a number or a list is an error."""
    if value is None or isinstance(value, str):
        return value
    raise DistillError(f"{name}, line {number}: key {key!r} holds {_JSON_TYPES.get(type(value), 'a value')}, not text")


def _scalar(value, name: str, number: int, key: str) -> str | None:
    """A label or group as text: strings as they are, numbers in their usual spelling (1.0 -> "1"), NaN as "nan"
    (refused later as a missing value); a list or an object is an error."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value == int(value) else str(value)
    raise DistillError(f"{name}, line {number}: key {key!r} holds {_JSON_TYPES.get(type(value), 'a value')}, "
                       "not a label")
