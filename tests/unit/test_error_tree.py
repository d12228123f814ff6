"""One exception tree: each class defined once, documented with "Raised when…"; export failures are ExportError."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

import nbpipe.errors
from nbpipe.notebook import read
from tests.notebooks import write_nb

PACKAGE = Path(__file__).resolve().parents[1].parent / "nbpipe"


def _exception_classes() -> list[tuple[str, ast.ClassDef]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if any(b.endswith(("Error", "Exception", "Lost", "Refused", "Entry", "Unavailable")) for b in bases):
                    found.append((str(path.relative_to(PACKAGE.parent)), node))
    return found


def test_each_exception_class_is_defined_once() -> None:
    names = Counter(node.name for _, node in _exception_classes())
    assert [name for name, count in names.items() if count > 1] == []


@pytest.mark.parametrize("where,node", _exception_classes(), ids=lambda v: getattr(v, "name", v))
def test_each_exception_class_says_when_it_is_raised(where: str, node: ast.ClassDef) -> None:
    doc = ast.get_docstring(node) or ""
    assert doc.startswith("Raised "), f"{where}: class {node.name} needs a 'Raised when…' docstring"


def test_export_failures_are_the_documented_export_error(tmp_path: Path) -> None:
    from nbpipe.export import ExportError, export_notebook
    from nbpipe.export.translate import ExportError as TranslateExportError

    assert ExportError is TranslateExportError is nbpipe.errors.ExportError
    nb = read(write_nb(tmp_path / "m.ipynb", "%%stage s --out x\n%timeit 1\nx = 1"))
    with pytest.raises(nbpipe.errors.ExportError, match="no plain-Python form"):
        export_notebook(nb, "script", str(tmp_path / "m.py"), force=True)
    with pytest.raises(nbpipe.errors.ExportError, match="unknown export target"):
        export_notebook(nb, "nowhere", str(tmp_path / "m.py"))
