"""Unlabelled text for pretraining: reading a corpus from files, folders, tasks and built-in sources.

A vocab (distill/vocab_training.py) and a masked-language-model BERT are
trained on plain sentences, not on labelled rows, and a user's own text
usually sits in `.txt` files. This module turns a list of corpus sources
(SRC) into one `Corpus`: documents of stripped, non-empty lines, plus per
source what was read (lines, documents, sha256) for a run's provenance, so a
later stage can tell that its vocab or BERT saw the very same text.

A SRC is one of
- a text file: UTF-8, one sentence (or document) per line, a blank line ends
  a document; `\\r\\n` and `\\r` count as `\\n`, a leading BOM is dropped;
- a folder: every `*.txt` file under it, recursively, in sorted path order,
  each file ending its last document;
- `task:NAME`: the texts (and second texts) of the TRAIN split of a task
  (`distill.data.load_task`) as consecutive lines of one document, never dev
  or test, whose text a pretrained model must not have seen;
- `corpus:rt-polarity-plots`: the movie synopses of the rt-polarity source
  that the task drops, except those of its dev and test movies
  (`rt_polarity.plot_summaries`), each synopsis one document.

A text of a task or a synopsis with line breaks inside is one line (the
breaks become spaces). A source's sha256 is that of its text as read: its
lines joined by "\\n" (files of a folder separated by a blank line), so the
same text with other line endings hashes the same. Errors are one
`DistillError` naming the source (and for a bad byte, the file and line).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from distill.errors import DistillError

CORPORA = ("rt-polarity-plots",)
"""Built-in corpora, named `corpus:NAME`."""

TASK_PREFIX, CORPUS_PREFIX = "task:", "corpus:"
_KINDS = "a text file, a folder of .txt files, task:NAME or corpus:NAME"


@dataclass
class CorpusSource:
    """What one SRC gave: its spec as written, its non-empty lines, its documents, the sha256 of its text."""

    spec: str
    lines: int
    documents: int
    sha256: str


@dataclass
class Corpus:
    """Documents (each a list of stripped, non-empty lines) and the sources they came from, in order."""

    documents: list[list[str]] = field(default_factory=list)
    sources: list[CorpusSource] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        """Every sentence, in order."""
        for document in self.documents:
            yield from document

    @property
    def n_lines(self) -> int:
        return sum(len(document) for document in self.documents)

    @property
    def n_documents(self) -> int:
        return len(self.documents)

    def provenance(self) -> list[dict]:
        return [dataclasses.asdict(source) for source in self.sources]


# ------------------------------------------------------------------ checks
def check_corpus_sources(specs: Sequence[str], data_dir: str | os.PathLike | None = None) -> None:
    """Cheap checks of every SRC (nothing big is read, no TensorFlow): files and folders there, a folder
    holding a .txt file, task names valid, corpus names known."""
    if not specs:
        raise DistillError(f"corpus: no source given ({_KINDS})")
    for spec in specs:
        if spec.startswith(TASK_PREFIX):
            from distill.data.registry import check_task

            name = spec[len(TASK_PREFIX):]
            if not name:
                raise DistillError(f"{spec}: no task name after task: (e.g. task:rt-polarity)")
            try:
                check_task(name, data_dir)
            except DistillError as exc:
                raise DistillError(f"{spec}: {exc}") from None
        elif spec.startswith(CORPUS_PREFIX):
            if spec[len(CORPUS_PREFIX):] not in CORPORA:
                raise DistillError(f"{spec}: no such corpus (known: {', '.join(CORPUS_PREFIX + c for c in CORPORA)})")
            if data_dir is not None and not Path(data_dir).expanduser().is_dir():
                raise DistillError(f"{data_dir}: no such folder (--data-dir for {spec})")
        else:
            path = Path(spec).expanduser()
            if path.is_dir():
                if next(_txt_files(path), None) is None:
                    raise DistillError(f"{spec}: no .txt file in this folder (a corpus folder is read for *.txt)")
            elif not path.is_file():
                raise DistillError(f"{spec}: no such file or folder (a corpus source is {_KINDS})")


# ----------------------------------------------------------------- reading
def read_corpus(specs: Sequence[str], data_dir: str | os.PathLike | None = None) -> Corpus:
    """Read every SRC (module docstring) into one Corpus; an error when none of them holds any text."""
    check_corpus_sources(specs, data_dir)
    corpus = Corpus()
    for spec in specs:
        documents, text = _read_source(spec, data_dir)
        corpus.documents.extend(documents)
        corpus.sources.append(CorpusSource(spec, sum(len(d) for d in documents), len(documents),
                                           hashlib.sha256(text.encode("utf-8")).hexdigest()))
    if corpus.n_lines == 0:
        raise DistillError(f"corpus: no text in {', '.join(specs)}")
    return corpus


def _read_source(spec: str, data_dir) -> tuple[list[list[str]], str]:
    """(documents, the text as read) of one SRC."""
    if spec.startswith(TASK_PREFIX):
        from distill.data.registry import load_task

        train = load_task(spec[len(TASK_PREFIX):], data_dir=data_dir)["train"]
        texts = train.texts if train.texts_b is None else [t for pair in zip(train.texts, train.texts_b) for t in pair]
        lines = [line for line in map(_one_line, texts) if line]
        return ([lines] if lines else []), "\n".join(lines)
    if spec.startswith(CORPUS_PREFIX):   # the only one: rt-polarity-plots
        from distill.data.rt_polarity import plot_summaries

        lines = [line for line in map(_one_line, plot_summaries(data_dir, split="train")) if line]
        return [[line] for line in lines], "\n".join(lines)
    path = Path(spec).expanduser()
    files = list(_txt_files(path)) if path.is_dir() else [path]
    documents, texts = [], []
    for file in files:
        lines = _read_lines(file)
        documents.extend(_documents(lines))
        texts.append("\n".join(lines))
    return documents, "\n\n".join(texts)


def _txt_files(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob("*.txt")) if p.is_file())


def _read_lines(file: Path) -> list[str]:
    """The lines of a UTF-8 text file, line endings normalised; a bad byte is an error naming line and column."""
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[start:exc.start].decode("utf-8", errors="replace")) + 1
        raise DistillError(f"{file}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); "
                           "save the file as UTF-8") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _documents(lines: Sequence[str]) -> list[list[str]]:
    """Runs of non-blank lines, stripped; a blank (or whitespace-only) line ends a document."""
    documents, current = [], []
    for line in lines:
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    return documents


def _one_line(text: str) -> str:
    """A text as one stripped line: line breaks inside it become spaces."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
