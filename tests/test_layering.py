"""distill.layering: the real tree keeps the package layering, and the checker catches what it should."""

from pathlib import Path
from textwrap import dedent

import pytest

from distill.layering import ALLOWED, check, collect_imports, find_modules, layer_of, main

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the real tree

def test_the_real_tree_keeps_the_layering():
    violations = check(ROOT)
    assert not violations, "layering violations:\n" + "\n".join(str(v) for v in violations)


def test_the_real_tree_is_actually_read():
    """Guards against a vacuous pass: the checker sees the packages and their (lazy) imports."""
    modules = find_modules(ROOT)
    assert {"distill.app.cli", "distill.errors", "teachers.run", "materials.reader", "students.train"} <= set(modules)
    found = {(i.importer, i.imported) for i in collect_imports(ROOT)}
    assert ("students.train", "materials.reader") in found
    assert ("distill.app.cli.teacher", "teachers.finetune") in found     # a lazy import inside a function


def test_only_materials_opens_hdf5():
    """The HDF5 layout is known in one package: everything else asks `materials` (h5py imported nowhere else)."""
    import ast

    openers = []
    for package in ("distill", "teachers", "students", "materials"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.split(".")[0] == "h5py" for n in names):
                    openers.append(path.relative_to(ROOT).parts[0])
    assert openers and set(openers) == {"materials"}


# ---------------------------------------------------------------- the checker, on a fake tree

@pytest.fixture
def tree(tmp_path):
    """A tiny tree with the four packages and distill.app, every import in it allowed."""
    files = {
        "distill/__init__.py": "from distill.errors import Oops\n",
        "distill/errors.py": "class Oops(Exception):\n    pass\n",
        "distill/data/__init__.py": "from . import dataset\nfrom ..errors import Oops\n",
        "distill/data/dataset.py": "import numpy as np\nimport os\nfrom distill import errors\n",
        "distill/app/__init__.py": "",
        "distill/app/cli.py": dedent("""\
            import importlib
            from distill.app import report
            from . import report as again

            def main():
                from teachers.bert import Bert
                from materials.reader import Reader
                import students.train
                from distill.data import dataset
                return importlib.import_module("teachers.run")
            """),
        "distill/app/report.py": "",
        "teachers/__init__.py": "",
        "teachers/bert.py": "import keras\nfrom distill.errors import Oops\n\nclass Bert:\n    pass\n",
        "teachers/run.py": "from .bert import Bert\nfrom distill.data.dataset import np\n",
        "materials/__init__.py": "",
        "materials/reader.py": "import h5py\nfrom distill import errors\nfrom . import schema\n",
        "materials/schema.py": "",
        "students/__init__.py": "",
        "students/train.py": dedent("""\
            import numpy as np
            from materials.reader import Reader
            from students import losses

            def fit():
                from ..materials import schema
                from .losses import kd
            """),
        "students/losses.py": "",
        "students/sub/__init__.py": "",
        "students/sub/mod.py": "from ..losses import kd\nfrom .. import train\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _plant(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")


def test_allowed_imports_are_not_reported(tree):
    """students -> materials, app -> everything, foundation -> foundation, stdlib and third-party: all fine."""
    assert check(tree) == []
    found = {(i.importer, i.imported) for i in collect_imports(tree)}
    assert {("distill.app.cli", "teachers.bert"), ("distill.app.cli", "materials.reader"),
            ("distill.app.cli", "students.train"), ("distill.app.cli", "teachers.run"),
            ("distill.app.cli", "distill.app.report"), ("students.train", "materials.reader"),
            ("distill.data", "distill.errors"), ("distill.data", "distill.data.dataset")} <= found
    outside = {"numpy", "os", "keras", "h5py", "importlib"}
    assert not any(i.imported.split(".")[0] in outside for i in collect_imports(tree))


BAD = [
    pytest.param(
        "students/kd.py",
        """\
        import numpy as np


        def distill_from(teacher):
            from teachers.bert import Bert
            return Bert
        """,
        5, "students.kd", "teachers.bert", "students never import teachers",
        id="lazy-import-in-a-student-function"),
    pytest.param(
        "distill/data/glue.py",
        """\
        from distill.errors import Oops
        import materials
        """,
        2, "distill.data.glue", "materials", "foundation may import only foundation",
        id="foundation-imports-materials"),
    pytest.param(
        "students/kd.py",
        """\
        from .losses import kd
        from ..teachers import run
        """,
        2, "students.kd", "teachers.run", "students never import teachers",
        id="relative-import-above-students"),
    pytest.param(
        "students/sub/deep.py",
        """\
        from ..losses import kd
        from ...teachers import bert
        """,
        2, "students.sub.deep", "teachers.bert", "students never import teachers",
        id="relative-import-from-a-students-sub-package"),
    pytest.param(
        "students/export.py",
        """\
        import importlib


        def load(kind):
            return importlib.import_module("teachers.run")
        """,
        5, "students.export", "teachers.run", "students never import teachers",
        id="importlib-literal"),
    pytest.param(
        "materials/generate.py",
        """\
        def load():
            return __import__("teachers.run")
        """,
        2, "materials.generate", "teachers.run", "materials may import only foundation, materials",
        id="dunder-import-literal"),
    pytest.param(
        "students/predict.py",
        """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from teachers.run import TeacherRun
        """,
        4, "students.predict", "teachers.run", "students never import teachers",
        id="type-checking-block"),
    pytest.param(
        "materials/augment.py",
        """\
        try:
            import ujson as json
        except ImportError:
            from teachers import bert
        """,
        4, "materials.augment", "teachers.bert", "materials may import only foundation, materials",
        id="try-except"),
    pytest.param(
        "teachers/tune.py",
        """\
        from distill.errors import Oops


        class Tuner:
            def report(self):
                from distill.app.report import write_report
                return write_report
        """,
        6, "teachers.tune", "distill.app.report", "nothing outside the face (distill.app, distill.api) imports it",
        id="teachers-import-distill-app"),
    pytest.param(
        "distill/metrics.py",
        """\
        from distill import app
        """,
        1, "distill.metrics", "distill.app", "nothing outside the face (distill.app, distill.api) imports it",
        id="foundation-from-distill-import-app"),
]


@pytest.mark.parametrize("name, text, line, importer, imported, rule", BAD)
def test_each_bad_import_is_reported_with_file_and_line(tree, name, text, line, importer, imported, rule):
    _plant(tree, name, text)
    violations = check(tree)
    assert len(violations) == 1, "\n".join(map(str, violations))
    (v,) = violations
    assert (v.path, v.line, v.importer, v.imported, v.rule) == (Path(name), line, importer, imported, rule)
    assert str(v) == f"{name}:{line}: {importer} imports {imported} ({rule})"


def test_several_violations_come_back_in_file_and_line_order(tree, capsys):
    _plant(tree, "students/b.py", "import os\nimport teachers.bert\n")
    _plant(tree, "students/a.py", "def f():\n    import distill.app.cli\n")
    assert [(str(v.path), v.line) for v in check(tree)] == [("students/a.py", 2), ("students/b.py", 2)]
    assert main([str(tree)]) == 1
    assert capsys.readouterr().out.splitlines()[0].startswith("students/a.py:2: students.a imports distill.app.cli")


def test_the_rule_table_reads_like_the_rule():
    assert ALLOWED == {
        "app": {"app", "foundation", "teachers", "materials", "students"},
        "students": {"students", "materials", "foundation"},
        "teachers": {"teachers", "foundation"},
        "materials": {"materials", "foundation"},
        "foundation": {"foundation"},
    }
    assert [layer_of(m) for m in ("distill", "distill.data.glue", "distill.app", "distill.app.cli",
                                  "teachers.run", "materials", "students.kim_cnn", "numpy", "distiller")] == \
        ["foundation", "foundation", "app", "app", "teachers", "materials", "students", None, None]
