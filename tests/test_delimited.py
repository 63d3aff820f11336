"""Delimited-file parsing: line numbers, quoting modes, and each bad-input error."""

import pytest

from distill.data.delimited import (decode, parse_label, parse_rows, read_table, require_label, require_text,
                                    require_two_labels)
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
    with pytest.raises(DistillError, match=r"^f, line 7: column 'label' is empty \(every row needs a label\)$"):
        parse_label(" ", "f", 7)


def test_fields_longer_than_the_csv_default_limit_are_read():
    long = "x" * 300_000
    assert parse_rows(f"a\tb\n{long}\t1\n", "f.tsv")[1].fields == [long, "1"]
    assert parse_rows(f'a,b\n"{long}, quoted",1\n', "f.csv", delimiter=",", quoted=True)[1].fields == [
        long + ", quoted", "1"]


def test_blank_text_in_any_column_names_file_line_and_column():
    table = read_table(b"sentence\tlabel\nok\t1\n \t0\n", "f.tsv")
    with pytest.raises(DistillError, match=r"^f\.tsv, line 3: column 'sentence' is empty \(every row needs a text\)$"):
        table.texts(0)
    assert table.texts(1) == ["1", "0"]
    assert require_text(" padded ", "f", "row 1", "text") == " padded "   # texts are kept as written
    with pytest.raises(DistillError, match=r"^f, row 4: column 'text' is empty"):
        require_text(None, "f", "row 4", "text")


@pytest.mark.parametrize("value", ["nan", "NaN", "None", "NULL", "<NA>", " n/a "])
def test_missing_value_markers_are_not_labels(value):
    with pytest.raises(DistillError, match=rf"^f, row 2: column 'y' holds '{value.strip()}', a missing value"):
        require_label(value, "f", "row 2", "y")
    assert require_label(" none ", "f", "row 2", "y") == "none"   # a real word stays a label


def test_require_two_labels():
    require_two_labels([0, 1, -1], "f")
    require_two_labels(["a", "b"], "f")
    with pytest.raises(DistillError, match=r"^f: the train split has only one label \('yes' on all 3 rows\)"):
        require_two_labels([1, 1, -1], "f", ["no", "yes"])
    with pytest.raises(DistillError, match=r"^f: the train split has no labels"):
        require_two_labels([-1, -1], "f")


def test_a_header_naming_a_column_twice_is_refused_with_both_positions():
    with pytest.raises(DistillError, match=r"^f, line 2: column 'blurb' appears twice in the header, as columns 2 "
                                           r"and 4; rename or drop one$"):
        read_table(b"\nid,blurb,genre, blurb\n1,a,b,c\n", "f", delimiter=",", quoted=True)   # line as an editor's
    table = read_table(b"text,,label,\na,,x,\n", "f", delimiter=",", quoted=True)   # unnamed columns: no name picks one
    assert table.header == ["text", "", "label", ""]
    assert read_table(b"a\ta\n1\t2\n", "f", header=False).rows[0].fields == ["a", "a"]   # no header, nothing to name
