"""The package layering: who may import whom, and a checker that holds the code to it.

Owns the dependency rule between our top-level packages and the `ast`-based
checker that enforces it (tests/test_layering.py runs it on the real tree).
The rule exists so that `students/` stays deployable without `teachers/` (a
distilled CNN ships with no BERT code), `materials/` is readable by students
without pulling in teachers, and the foundation (`distill` minus the face)
stays reusable by all of them without dragging in the face (`distill.app`:
CLI, pipeline, bench, report; `distill.api`: the Python API), which alone may
tie everything together.

The checker reads every `.py` file of the four packages and collects every
import of our packages, lazy ones included: imports inside functions and
methods, under `if TYPE_CHECKING:`, in try/except, relative imports resolved to
absolute names, and `importlib.import_module("...")` / `__import__("...")`
calls whose module is a string literal. A module name held in a variable cannot
be read statically and is not checked. Stdlib only.

    python -m distill.layering [ROOT]    # prints the violations; exit 1 if any
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

APP = "app"                 # distill.app and its sub-modules: the face
FOUNDATION = "foundation"   # distill and its sub-modules, except distill.app
TEACHERS = "teachers"
MATERIALS = "materials"
STUDENTS = "students"

ALLOWED = {
    APP: {APP, FOUNDATION, TEACHERS, MATERIALS, STUDENTS},
    STUDENTS: {STUDENTS, MATERIALS, FOUNDATION},
    TEACHERS: {TEACHERS, FOUNDATION},
    MATERIALS: {MATERIALS, FOUNDATION},
    FOUNDATION: {FOUNDATION},
}
"""layer -> the layers its modules may import. Everything else is a violation."""

FACE_MODULES = ("app", "api")
"""distill.<these> are the face: distill.app (CLI, pipeline, bench, report) and distill.api (Python)."""

PACKAGES = ("distill", "teachers", "materials", "students")
"""Our top-level packages; imports of anything else (stdlib, numpy, keras...) are not checked."""

_ORDER = (APP, FOUNDATION, TEACHERS, MATERIALS, STUDENTS)


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, or None when it is not one of ours."""
    parts = module.split(".")
    if parts[0] == "distill":   # distill.api, the public Python API, is the face too
        return APP if len(parts) > 1 and parts[1] in FACE_MODULES else FOUNDATION
    if parts[0] in (TEACHERS, MATERIALS, STUDENTS):
        return parts[0]
    return None


def rule_broken(importer_layer: str, imported_layer: str) -> str | None:
    """The rule an import from one layer into another breaks, in words; None when allowed."""
    if imported_layer in ALLOWED[importer_layer]:
        return None
    if imported_layer == APP:
        return "nothing outside the face (distill.app, distill.api) imports it"
    if importer_layer == STUDENTS and imported_layer == TEACHERS:
        return "students never import teachers"
    allowed = ", ".join(layer for layer in _ORDER if layer in ALLOWED[importer_layer])
    return f"{importer_layer} may import only {allowed}"


@dataclass(frozen=True)
class Import:
    """One import of one of our modules, as found in a source file."""

    path: Path      # the file, relative to the root that was checked
    line: int
    importer: str   # the importing module, dotted
    imported: str   # the imported module, dotted and absolute


@dataclass(frozen=True)
class Violation:
    """An import the rule forbids."""

    path: Path
    line: int
    importer: str
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path.as_posix()}:{self.line}: {self.importer} imports {self.imported} ({self.rule})"


def find_modules(root) -> dict[str, Path]:
    """Dotted module name -> file (relative to root), for every .py file of our packages under root."""
    root = Path(root)
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = rel
    return modules


def _resolve(module: str, is_package: bool, name: str | None, level: int) -> str:
    """The absolute name of a relative import `from <level dots><name> import ...` made in `module`.

    Going above the top-level package (an ImportError at run time) resolves
    against the root, so `from ..teachers import x` in `students/kd.py` reads as
    `teachers`: such an import says plainly what it meant to reach.
    """
    if level == 0:
        return name or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: max(len(package) - (level - 1), 0)]
    return ".".join(base + ([name] if name else []))


def _literal_import(node: ast.Call) -> tuple[str, str | ast.expr | None] | None:
    """(module literal, package argument) of an `importlib.import_module`/`__import__` call, else None."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    package = node.args[1] if name == "import_module" and len(node.args) > 1 else None
    for keyword in node.keywords:
        if keyword.arg == "package":
            package = keyword.value
    return first.value, package


def imports_in(source: str, module: str, is_package: bool, known=(), filename="<unknown>") -> list[tuple[int, str]]:
    """(line, absolute module) for every import of our packages in one module's source.

    `known` is the set of our module names; `from pkg import name` counts as an
    import of `pkg.name` when that is a known module (or when it crosses into
    another layer, as `from distill import app` does), else of `pkg`.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.module, node.level)
            for alias in node.names:
                if alias.name == "*":
                    target = base
                elif not base:
                    target = alias.name
                else:
                    candidate = f"{base}.{alias.name}"
                    crosses = layer_of(candidate) != layer_of(base)
                    target = candidate if candidate in known or crosses else base
                found.append((node.lineno, target))
        elif isinstance(node, ast.Call) and (call := _literal_import(node)):
            name, package = call
            if name.startswith("."):
                level = len(name) - len(name.lstrip("."))
                if isinstance(package, ast.Constant) and isinstance(package.value, str):
                    name = _resolve(package.value, True, name[level:] or None, level)
                elif isinstance(package, ast.Name) and package.id in ("__package__", "__name__"):
                    name = _resolve(module, is_package, name[level:] or None, level)
                else:
                    continue
            found.append((node.lineno, name))
    return sorted({(line, target) for line, target in found if target and layer_of(target)})


def collect_imports(root) -> list[Import]:
    """Every import of our packages made by our packages under root."""
    modules = find_modules(root)
    found = []
    for module, rel in modules.items():
        source = (Path(root) / rel).read_text(encoding="utf-8")
        is_package = rel.name == "__init__.py"
        for line, imported in imports_in(source, module, is_package, modules, str(rel)):
            found.append(Import(rel, line, module, imported))
    return found


def check(root) -> list[Violation]:
    """The imports under root that break the rule, in file and line order."""
    violations = []
    for imp in collect_imports(root):
        rule = rule_broken(layer_of(imp.importer), layer_of(imp.imported))
        if rule:
            violations.append(Violation(imp.path, imp.line, imp.importer, imp.imported, rule))
    return sorted(violations, key=lambda v: (v.path.as_posix(), v.line, v.imported))


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    violations = check(root)
    for violation in violations:
        print(violation)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
