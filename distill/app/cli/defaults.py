"""Option defaults read from the config dataclasses, never restated in the CLI.

`distill --help` must not import TensorFlow, and `teachers.finetune` and
`students.train` import it at module top. So a default is read from the
dataclass itself when its module is already imported, else from its source
with `ast` (the field's default must then be a literal, which every config
field the CLI shows is). Options keep `default=None` in argparse and the
handlers fill a config from only the options the user gave (`given`), so the
dataclass default is what applies; the value read here is only shown in --help.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import sys
from pathlib import Path

FINETUNE = "teachers.finetune:FinetuneConfig"
STUDENT = "students.train:StudentConfig"
AUGMENT = "materials.augment:AugmentConfig"
PIPELINE = "distill.app.pipeline:PipelineConfig"


def default_of(cls, name: str):
    """The default of field `name` of a config dataclass, given as the class or as "module:Class"."""
    if not isinstance(cls, str):
        return _field_default(cls, name)
    module, _, class_name = cls.partition(":")
    if module in sys.modules:
        return _field_default(getattr(sys.modules[module], class_name), name)
    defaults = _source_defaults(module, class_name)
    if name not in defaults:
        raise LookupError(f"{cls} has no field {name!r} with a literal default")
    return defaults[name]


def _field_default(cls, name: str):
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise LookupError(f"{cls.__name__}.{name} has no default")
    raise LookupError(f"{cls.__name__} has no field {name!r}")


@functools.lru_cache(maxsize=None)
def _source_defaults(module: str, class_name: str) -> dict:
    """{field: literal default} of a dataclass, read from its module's source without importing it."""
    spec = importlib.util.find_spec(module)   # imports the parent package only (docstring-only packages)
    if spec is None or not spec.origin:
        raise LookupError(f"cannot find module {module}")
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), spec.origin)
    imported = {alias.asname or alias.name: node.module for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            found = {}
            for base in node.bases:   # inherited fields first, as dataclasses order them
                if isinstance(base, ast.Name) and base.id in imported:
                    found.update(_source_defaults(imported[base.id], base.id))
                elif isinstance(base, ast.Name):
                    found.update(_source_defaults(module, base.id))
            for stmt in node.body:
                class_var = isinstance(stmt, ast.AnnAssign) and "ClassVar" in ast.unparse(stmt.annotation)
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None \
                        and not class_var:
                    try:
                        found[stmt.target.id] = ast.literal_eval(stmt.value)
                    except ValueError:   # field(default_factory=...) and the like: not shown
                        pass
            return found
    raise LookupError(f"{module} has no class {class_name}")


def shown(value) -> str:
    """A default as the user would type it (tuples comma-separated)."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def with_default(helptext: str, cls, name: str, note: str = "") -> str:
    """`helptext (default X[; note])` with X read from the dataclass field."""
    return f"{helptext} (default {shown(default_of(cls, name))}{'; ' + note if note else ''})"


def given(args, names) -> dict:
    """{field: value} of the options the user gave: `names` maps field -> argparse dest (or is a list of both)."""
    pairs = names.items() if isinstance(names, dict) else ((n, n) for n in names)
    return {field: getattr(args, dest) for field, dest in pairs if getattr(args, dest, None) is not None}
