"""The teacher contract of materials generation: what `materials.generate` may ask of a teacher.

Owns `MaterialsTeacher`, a `typing.Protocol`. `materials` may not import
`teachers` (docs/design.md, "The dependency rule"), so generation names here everything
it reads from a teacher and nothing more; `teachers.run.TeacherRun` satisfies
it structurally (it never imports this module), and so can a test's small
fake or any other model that tokenizes and scores text. The protocol is
runtime-checkable, and `missing_members` names what an object lacks, so
`generate` can refuse it with one line instead of an AttributeError deep in
a window.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from distill.wordpiece import Encoding


@runtime_checkable
class MaterialsTeacher(Protocol):
    """A fine-tuned teacher as generation sees it: tokenizer, batch logits, embedding, provenance."""

    @property
    def label_names(self) -> list[str]:
        """The class names, in logit order."""

    @property
    def max_seq_len(self) -> int:
        """The longest token row `encode` returns (the width of the file's `x`)."""

    @property
    def lowercase(self) -> bool:
        """Whether the tokenizer lowercases (uncased vocab)."""

    @property
    def is_pair(self) -> bool:
        """Whether the teacher was trained on sentence pairs."""

    @property
    def vocab(self) -> list[str]:
        """The tokenizer's tokens; the index is the token id (and the embedding row)."""

    @property
    def vocab_sha256(self) -> str:
        """The sha256 of the vocab file the tokenizer was built from."""

    def encode(self, texts: Sequence[str], texts_b: Sequence[str] | None = None) -> Encoding:
        """Unpadded token ids, segment ids and lengths of texts (pairs when `texts_b` is given)."""

    def logits_for_ids(self, token_ids: np.ndarray, segment_ids: np.ndarray,
                       padding_mask: np.ndarray) -> np.ndarray:
        """Logits [B, C] of one padded batch (int32 arrays [B, L], any L <= max_seq_len)."""

    def word_embeddings(self) -> np.ndarray:
        """The word-embedding matrix [len(vocab), hidden]."""

    def teacher_provenance(self) -> dict:
        """JSON-able description stored as the file's `teacher` attribute:
        {"name", "config" (dict), "weights_sha256", "run_dir"}; all but `run_dir`
        must stay the same for a resumed file."""


MEMBERS = tuple(name for name in vars(MaterialsTeacher) if not name.startswith("_"))
"""The names a `MaterialsTeacher` must have, in the order the protocol declares them."""


def missing_members(teacher) -> list[str]:
    """The protocol members `teacher` lacks (empty when `isinstance(teacher, MaterialsTeacher)`)."""
    return [name for name in MEMBERS if not hasattr(teacher, name)]
