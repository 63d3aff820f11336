"""Shared test set-up: quiet TensorFlow's C++ logging for the whole suite.

Tests that need a private download cache set `DISTILL_CACHE` themselves;
slow tests use the real cache so each pinned wheel is fetched once per machine.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---------------------------------------------------------------- materials
import pytest  # noqa: E402


def _finetuned_tiny_run(root, task):
    """The tiny BERT preset fine-tuned for one epoch, saved, and loaded as a TeacherRun (a few seconds)."""
    from teachers.finetune import FinetuneConfig, Finetuner
    from teachers.registry import load_teacher
    from teachers.run import TeacherRun

    config = FinetuneConfig(lr=1e-3, epochs=1, batch_size=16, max_seq_len=24, seed=0)
    Finetuner(config, progress=False, echo=None).fit(load_teacher("tiny", max_seq_len=24), task, root / "run")
    return TeacherRun.load(root / "run")


@pytest.fixture(scope="session")
def materials_teacher_run(tmp_path_factory):
    """A real fine-tuned tiny teacher run on the synthetic task (single sentences), shared by the session."""
    from distill.data.synthetic import marker_task

    return _finetuned_tiny_run(tmp_path_factory.mktemp("teacher"), marker_task(n_train=120, n_dev=40, n_test=30))


@pytest.fixture(scope="session")
def materials_pair_teacher_run(tmp_path_factory):
    """As `materials_teacher_run`, trained on the synthetic sentence-pair task."""
    from distill.data.synthetic import marker_task

    return _finetuned_tiny_run(tmp_path_factory.mktemp("pair-teacher"),
                               marker_task(n_train=60, n_dev=20, n_test=20, pair=True))


# ------------------------------------------------------------ nothing lost
def _tree_bytes(path) -> dict:
    """Every file under `path` (or `path` itself, a file) with its bytes: equal before and after means
    nothing of it was changed, added or removed."""
    from pathlib import Path

    path = Path(path)
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}


@pytest.fixture
def snapshot():
    """`snapshot(path)`: the files under `path` with their bytes, to assert a refused command kept them."""
    return _tree_bytes
