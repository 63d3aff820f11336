"""Delimited-file parsing: line numbers, quoting modes, and each bad-input error."""

import pytest

from distill.data.delimited import decode, parse_label, parse_rows, read_table
from distill.errors import DistillError


def test_tsv_keeps_quotes_literally_and_numbers_lines_like_an_editor():
    text = 'sentence\tlabel\n" an unbalanced quote\t1\n\nsays "hi" twice\t0\n'
    rows = parse_rows(text, "f.tsv")
    assert [(r.line, r.fields) for r in rows] == [
        (1, ["sentence", "label"]),
        (2, ['" an unbalanced quote', "1"]),
        (4, ['says "hi" twice', "0"]),  # the blank line 3 is skipped but still counted
    ]


def test_quoted_csv_record_spanning_lines_is_named_by_its_first_line():
    text = 'text,label\n"two\nlines, one record",a\nnext,b\n'
    rows = parse_rows(text, "f.csv", delimiter=",", quoted=True)
    assert [(r.line, r.fields) for r in rows] == [
        (1, ["text", "label"]), (2, ["two\nlines, one record", "a"]), (4, ["next", "b"])]


def test_broken_csv_quote_is_an_error_at_its_line():
    with pytest.raises(DistillError, match=r"^f\.csv, line 3: malformed record"):
        parse_rows('text,label\nok,a\n"bad"x,b\n', "f.csv", delimiter=",", quoted=True)


def test_non_utf8_names_line_and_byte():
    data = "a\tb\nfine\t1\n".encode() + b"caf\xe9\t0\n"
    with pytest.raises(DistillError, match=r"^f\.tsv, line 3: not UTF-8 \(byte 0xe9 at column 4\)"):
        decode(data, "f.tsv")


def test_bom_is_dropped():
    assert decode(b"\xef\xbb\xbfQuality\tx\n", "f") == "Quality\tx\n"


@pytest.mark.parametrize("data", [b"", b"  \n\n"])
def test_empty_file(data):
    with pytest.raises(DistillError, match=r"^f\.tsv: empty file$"):
        read_table(data, "f.tsv")


def test_wrong_field_count_names_line_and_columns():
    with pytest.raises(DistillError, match=r"^f\.tsv, line 3: 3 field\(s\), expected 2 \(sentence, label\)$"):
        read_table(b"sentence\tlabel\na\t1\nb\tc\t1\n", "f.tsv")


def test_field_count_without_header():
    with pytest.raises(DistillError, match=r"line 2: 3 field\(s\), expected 4"):
        read_table(b"a\tb\tc\td\na\tb\tc\n", "f.tsv", header=False, n_fields=4)


def test_missing_column_and_empty_split():
    table = read_table(b"sentence\tlabel\n", "f.tsv")
    with pytest.raises(DistillError, match=r"^f\.tsv, line 1: no column 'text' in the header \(columns: sentence, label\)$"):
        table.column("text")
    assert table.column("text", required=False) is None
    with pytest.raises(DistillError, match=r"^f\.tsv: no data rows after the header \(empty split\)$"):
        table.require_rows()


def test_parse_label():
    assert parse_label(" 1 ", "f", 2, range(2)) == 1
    with pytest.raises(DistillError, match=r"^f, line 7: label 'pos' is not an integer$"):
        parse_label("pos", "f", 7)
    with pytest.raises(DistillError, match=r"^f, line 7: Quality 2 is not one of 0, 1$"):
        parse_label("2", "f", 7, range(2), column="Quality")
