"""Student architectures: the built-in ones by name, and any Keras model a user brings.

Owns `StudentFacts` (what a materials file tells an architecture about itself),
the registry of built-in architectures, and the one way every student is
built, loaded and checked, whether it is ours or a user's.

An architecture is a *builder*: a function `build(facts: StudentFacts) ->
keras.Model`. The model it returns takes the materials' inputs, a dict
`{"token_ids": int32 [B, L], "length": int32 [B]}` (rows right-padded with 0),
and returns logits `[B, num_labels]`. It may use `facts.embedding`, the
teacher's word-vector table, or ignore it. Built-in builders are named
(`kim-cnn`, `bilstm`); a user's is named `module:function` (on the command line
`--arch mypkg.students:build_gru`), and is imported only when it is built.

A student is saved as Keras saves it (`model.keras`); a model whose classes
are the user's own is reloaded after importing its builder's module, where
such classes register themselves (`keras.saving.register_keras_serializable`).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from distill.errors import DistillError

BUILT_IN = {
    "kim-cnn": "students.kim_cnn:build_from_facts",
    "bilstm": "students.bilstm:build_bilstm",
}
"""Built-in architecture names -> their builders, written as a user's would be."""

EMBEDDINGS = {"bilstm": ("static", "non-static")}
"""Built-in architectures that take only some embedding modes (the Kim CNN takes them all; a user's
builder reads `config.embedding` as it likes)."""

_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
PYTHON_PREFIX = "python:"
"""Arch names of students handed in as Python objects (`distill.api.train_student(student=...)`):
recorded, never imported."""


@dataclass(frozen=True)
class StudentFacts:
    """What a builder may read to size a student: all of it comes from the materials file,
    except `config`, the run's `students.train.StudentConfig` (dropout, filters, seed, ...)."""

    embedding: np.ndarray = field(repr=False)   # the teacher's word vectors [vocab_size, embedding_dim]
    num_labels: int
    max_seq_len: int
    task: str
    label_names: tuple
    config: Any = None
    delta_ids: np.ndarray | None = field(default=None, repr=False)   # embedding "delta": rows the materials use

    @property
    def vocab_size(self) -> int:
        return int(self.embedding.shape[0])

    @property
    def embedding_dim(self) -> int:
        return int(self.embedding.shape[1])


def check_arch_spec(spec, option: str = "--arch") -> str:
    """`spec` if it names an architecture (a built-in name or `module:function`), else one clear error.
    Imports nothing: fit for argument and config-file checks."""
    if isinstance(spec, str) and (spec in BUILT_IN or _SPEC.match(spec) or spec.startswith(PYTHON_PREFIX)):
        return spec
    raise DistillError(f"{option} must be one of {', '.join(BUILT_IN)} or module:function (a builder of your "
                       f"own), got {spec!r}")


def check_arch_embedding(spec: str, embedding: str, option: str = "--embedding") -> None:
    """One line when architecture `spec` does not take embedding mode `embedding`."""
    allowed = EMBEDDINGS.get(spec)
    if allowed is not None and embedding not in allowed:
        raise DistillError(f"{option} {embedding} is not for the {spec} student; it takes {' or '.join(allowed)}")


def is_built_in(spec: str) -> bool:
    return spec in BUILT_IN


def resolve_builder(spec: str, option: str = "--arch") -> Callable:
    """The builder function that `spec` names, imported; one line naming what is missing otherwise."""
    check_arch_spec(spec, option)
    if spec.startswith(PYTHON_PREFIX):
        raise DistillError(f"{option} {spec}: this student was handed in as a Python object; pass the model "
                           "(or its builder) again to train it")
    module_name, _, attr = BUILT_IN.get(spec, spec).partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:   # ImportError, or the module's own SyntaxError, NameError...
        raise DistillError(f"{option} {spec}: cannot import module {module_name!r} ({exc}); is it on "
                           "PYTHONPATH?") from None
    target = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise DistillError(f"{option} {spec}: module {module_name!r} has no {attr!r}")
    if not callable(target):
        raise DistillError(f"{option} {spec}: {attr!r} is not a function")
    return target


def builder_spec(builder: Callable) -> str:
    """How a run records a builder handed in from Python: `module:function` when it can be imported
    again by name (so `distill predict` and resumes can rebuild it), else `python:<name>`."""
    module, name = getattr(builder, "__module__", None), getattr(builder, "__qualname__", None)
    if module and name and module != "__main__" and "<" not in name and _importable(module):
        return f"{module}:{name}"
    return PYTHON_PREFIX + (getattr(builder, "__name__", None) or type(builder).__name__)


def _importable(module: str) -> bool:
    """Whether `module` can be found by name (not a notebook's or an exec'd namespace)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _first_line(exc: Exception) -> str:
    """`Type: first line of the message`, for one-line errors about a user's code."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def check_student(model, facts: StudentFacts, spec: str):
    """`model` if it is a Keras model that maps a batch of materials inputs to [B, num_labels] logits
    and, unless it is a built-in architecture, survives Keras's save and reload (`model.keras` is what
    predicts, exports and resumes); otherwise one line saying what is wrong. Runs it once on two
    short rows, before any training."""
    import keras

    if not isinstance(model, keras.Model):
        raise DistillError(f"student {spec}: the builder returned {type(model).__name__}, not a keras.Model")
    length = min(4, facts.max_seq_len)
    batch = {"token_ids": np.ones((2, length), np.int32), "length": np.array([length, 2], np.int32)}
    try:
        out = model(batch, training=False)
    except Exception as exc:   # any error of the user's model, one line
        raise DistillError(f"student {spec}: calling it on {{'token_ids': int32 [2, {length}], 'length': int32 "
                           f"[2]}} failed ({_first_line(exc)})") from None
    shape = tuple(getattr(out, "shape", ()))
    if len(shape) != 2 or shape[0] != 2 or shape[1] != facts.num_labels:
        raise DistillError(f"student {spec}: returned shape {shape} for 2 rows; it must return logits "
                           f"[batch, {facts.num_labels}] (one per label of {facts.task})")
    if not is_built_in(spec):
        try:
            keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
        except Exception as exc:   # whatever Keras raises, the fix is the same
            raise DistillError(f"student {spec}: Keras cannot save and reload it ({_first_line(exc)}); give custom "
                               "classes @keras.saving.register_keras_serializable() and a get_config") from None
    return model


def build_student(spec: str, facts: StudentFacts, builder: Callable | None = None):
    """The student `spec` names (or `builder` builds), checked; see `check_student`."""
    builder = builder or resolve_builder(spec)
    try:
        model = builder(facts)
    except DistillError:
        raise
    except Exception as exc:
        raise DistillError(f"student {spec}: the builder failed ({type(exc).__name__}: {exc})") from None
    return check_student(model, facts, spec)


def import_for_loading(spec: str | None) -> None:
    """Import what a saved student of architecture `spec` needs to deserialize: our own model
    classes, and a user's builder module (its classes register themselves when imported)."""
    import students.bilstm  # noqa: F401  (registers the built-in classes)
    import students.kim_cnn  # noqa: F401

    if spec and not is_built_in(spec) and not spec.startswith(PYTHON_PREFIX) and _SPEC.match(spec):
        module_name = spec.partition(":")[0]
        try:
            importlib.import_module(module_name)
        except Exception as exc:   # ImportError, or the module's own error
            raise DistillError(f"this student's architecture {spec} needs module {module_name!r}, which cannot "
                               f"be imported ({exc}); put it on PYTHONPATH") from None


def load_student_model(path, spec: str | None):
    """The Keras model saved at `path` by a student of architecture `spec`."""
    import keras

    import_for_loading(spec)
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # Keras raises many types for a bad file; all mean the same here
        raise DistillError(f"{path}: cannot load the student model ({_first_line(exc)})") from None
