"""distill.data.corpus: files, folders, task:NAME and corpus:NAME sources, and their one-line errors."""

import bz2
import csv
import hashlib
import io

import pytest

from distill.data import corpus as corpus_module
from distill.data.corpus import CORPORA, check_corpus_sources, read_corpus
from distill.data.rt_polarity import CORPUS_FILENAME, plot_summaries
from distill.errors import DistillError


def test_a_file_is_documents_of_stripped_lines(tmp_path):
    text = "  First line. \nSecond line.\n\n \t \nThird, new document.\n\n\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    corpus = read_corpus([str(tmp_path / "a.txt")])
    assert corpus.documents == [["First line.", "Second line."], ["Third, new document."]]
    assert list(corpus.lines()) == ["First line.", "Second line.", "Third, new document."]
    assert corpus.n_lines == 3 and corpus.n_documents == 2
    [source] = corpus.sources
    assert (source.spec, source.lines, source.documents) == (str(tmp_path / "a.txt"), 3, 2)
    assert corpus.provenance() == [{"spec": source.spec, "lines": 3, "documents": 2, "sha256": source.sha256}]


def test_line_endings_and_bom_do_not_change_the_text_or_its_hash(tmp_path):
    (tmp_path / "unix.txt").write_bytes(b"one\ntwo\n\nthree\n")
    (tmp_path / "dos.txt").write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n\r\nthree\r\n")
    unix, dos = (read_corpus([str(tmp_path / name)]) for name in ("unix.txt", "dos.txt"))
    assert unix.documents == dos.documents == [["one", "two"], ["three"]]
    assert unix.sources[0].sha256 == dos.sources[0].sha256 == hashlib.sha256(b"one\ntwo\n\nthree\n").hexdigest()


def test_a_folder_is_its_txt_files_recursively_in_path_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("from b/2\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("from a\nstill a", encoding="utf-8")   # no final newline: the file ends the doc
    (tmp_path / "b" / "1.txt").write_text("from b/1\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not read\n", encoding="utf-8")
    corpus = read_corpus([str(tmp_path)])
    assert corpus.documents == [["from a", "still a"], ["from b/1"], ["from b/2"]]
    assert len(corpus.sources) == 1 and corpus.sources[0].lines == 4 and corpus.sources[0].documents == 3


def test_an_empty_file_beside_text_is_fine_but_no_text_at_all_is_an_error(tmp_path):
    (tmp_path / "a.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("", encoding="utf-8")
    (tmp_path / "c.txt").write_text("text\n", encoding="utf-8")
    a, b, c = (str(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt"))
    corpus = read_corpus([a, b, c])
    assert [s.lines for s in corpus.sources] == [0, 0, 1] and corpus.documents == [["text"]]
    with pytest.raises(DistillError) as error:
        read_corpus([a, b])
    assert str(error.value) == f"corpus: no text in {a}, {b}"


def test_a_byte_that_is_not_utf8_names_file_line_and_column(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("line one\nline two\ncaf\u00e9 ol\u00e9\n".encode("latin-1"))
    with pytest.raises(DistillError) as error:
        read_corpus([str(bad)])
    message = str(error.value)
    assert message == f"{bad}, line 3: not UTF-8 (byte 0xe9 at column 4); save the file as UTF-8"
    assert "\n" not in message


@pytest.mark.parametrize("spec, message", [
    ("missing.txt", r"missing\.txt: no such file or folder \(a corpus source is a text file, a folder"),
    ("corpus:wiki", r"corpus:wiki: no such corpus \(known: corpus:rt-polarity-plots\)"),
    ("task:", r"task:: no task name after task:"),
    ("task:no-such-task", r"task:no-such-task: unknown task 'no-such-task'"),
])
def test_bad_sources_are_one_line_errors(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DistillError, match=message) as error:
        check_corpus_sources([spec])
    assert "\n" not in str(error.value)
    with pytest.raises(DistillError, match=message):
        read_corpus([spec])


def test_a_folder_without_txt_files_is_an_error_naming_it(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DistillError, match=rf"{tmp_path}: no \.txt file in this folder"):
        check_corpus_sources([str(tmp_path)])
    with pytest.raises(DistillError, match="no source given"):
        check_corpus_sources([])


def test_task_source_reads_the_train_split_only():
    from distill.data import load_task

    task = load_task("synthetic")
    corpus = read_corpus(["task:synthetic"])
    lines = list(corpus.lines())
    assert lines == task["train"].texts and corpus.n_documents == 1
    held_out = (set(task["dev"].texts) | set(task["test"].texts)) - set(task["train"].texts)
    assert held_out and not held_out & set(lines)


def test_a_pair_task_gives_both_texts_of_each_row_in_turn():
    from distill.data import load_task

    train = load_task("synthetic-pair")["train"]
    lines = list(read_corpus(["task:synthetic-pair"]).lines())
    assert lines[:4] == [train.texts[0], train.texts_b[0], train.texts[1], train.texts_b[1]]
    assert len(lines) == 2 * len(train)


def test_sources_add_up_in_order(tmp_path):
    (tmp_path / "a.txt").write_text("mine\n", encoding="utf-8")
    corpus = read_corpus([str(tmp_path / "a.txt"), "task:synthetic"])
    assert [s.spec for s in corpus.sources] == [str(tmp_path / "a.txt"), "task:synthetic"]
    assert corpus.documents[0] == ["mine"] and corpus.n_lines == 1 + corpus.sources[1].lines


# ------------------------------------------------------------- rt-polarity plots
def fake_rt_corpus(folder):
    """20 movies with reviews and a synopsis each, plus synopses of movies with no review."""
    rows = []
    for m in range(20):
        rows.append(["plot", f"Plot of movie {m}.\nIts second paragraph.", f"movie_{m:02d}"])
        rows += [["fresh" if r < 6 else "rotten", f"Review {r} of movie {m}.", f"movie_{m:02d}"] for r in range(10)]
    rows += [["plot", "A synopsis of a movie with no review.", "unreviewed"], ["plot", "  ", "blank"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["category", "text", "movie_name"])
    writer.writerows(rows)
    (folder / CORPUS_FILENAME).write_bytes(bz2.compress(buffer.getvalue().encode("utf-8")))
    return folder


def test_rt_polarity_plots_leave_out_dev_and_test_movies(tmp_path):
    from distill.data.rt_polarity import load_rt_polarity

    folder = fake_rt_corpus(tmp_path)
    task = load_rt_polarity(folder)
    corpus = read_corpus(["corpus:rt-polarity-plots"], data_dir=folder)
    lines = list(corpus.lines())
    assert all(len(document) == 1 for document in corpus.documents)   # one synopsis, one document
    train_movies = {int(movie[-2:]) for movie in task["train"].groups}
    assert {f"Plot of movie {m}. Its second paragraph." for m in train_movies} | \
        {"A synopsis of a movie with no review."} == set(lines)
    held_out = plot_summaries(folder, split="dev") + plot_summaries(folder, split="test")
    assert len(held_out) == 4 and len(lines) == 20 - 4 + 1   # line breaks inside a synopsis became spaces
    with pytest.raises(DistillError, match="no split 'transfer'"):
        plot_summaries(folder, split="transfer")
    assert CORPORA == ("rt-polarity-plots",)


@pytest.mark.slow
def test_real_rt_polarity_plots_come_from_train_movies_only():
    corpus = read_corpus(["corpus:rt-polarity-plots"])
    lines = set(corpus.lines())
    assert corpus.n_documents == len(lines) > 1000 and all(lines)
    held_out = {corpus_module._one_line(t) for split in ("dev", "test") for t in plot_summaries(split=split)}
    assert held_out and not held_out & lines
    assert len(lines) + len(held_out) <= 1097
