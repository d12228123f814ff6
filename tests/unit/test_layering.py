"""The import direction of DESIGN §10: lower layers never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nbpipe"

# module prefix -> layer; the longest matching prefix wins.
LAYERS = {
    "nbpipe._version": 0,
    "nbpipe.errors": 0,
    "nbpipe.model": 0,
    "nbpipe.plugins": 0,
    "nbpipe.dag": 0,  # the one stage graph: model's Graph and the runtime's Plan both hold one
    "nbpipe.header": 1,
    "nbpipe.ipynb": 1,  # the .ipynb format: old versions upgraded, v4 written as Jupyter writes it
    "nbpipe.notebook": 1,
    "nbpipe.percent": 1,  # jupytext percent scripts as notebooks (jupytext imported lazily)
    "nbpipe.source": 1,
    "nbpipe.analysis": 2,
    "nbpipe.cache": 2,
    "nbpipe.runtime": 3,
    "nbpipe.export": 4,
    "nbpipe.widgets": 4,  # views the magics show (a deliberate change from DESIGN §10)
    "nbpipe.magics": 5,
    "nbpipe.magic_commands": 5,
    "nbpipe.cli": 5,
    "nbpipe.server": 5,
    "nbpipe": 6,  # the package __init__: public API over everything
}
# Layer-5 glue modules never import each other (magics ~ magic_commands are one unit), except that
# %nbpipe builds its parsers from the CLI's argument definitions: the command line is the one grammar.
GLUE = {"nbpipe.magics": "magics", "nbpipe.magic_commands": "magics", "nbpipe.cli": "cli", "nbpipe.server": "server"}
GLUE_ALLOWED = {("magics", "cli")}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str, table: dict[str, object]) -> object:
    best = max((p for p in table if module == p or module.startswith(p + ".")), key=len, default=None)
    return table[best] if best else None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nbpipe")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nbpipe") and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_imports_point_down(path: Path) -> None:
    module = _name(path)
    mine = _layer(module, LAYERS)
    for imported in _imports(path):
        theirs = _layer(imported, LAYERS)
        if imported == "nbpipe" or theirs is None or imported.startswith(module):
            continue
        assert theirs <= mine or module == "nbpipe", f"{module} (layer {mine}) imports {imported} (layer {theirs})"  # type: ignore[operator]
        if mine == 5 and theirs == 5:
            pair = (_layer(module, GLUE), _layer(imported, GLUE))
            assert pair[0] == pair[1] or pair in GLUE_ALLOWED, f"glue {module} imports glue {imported}"


def test_cache_never_imports_analysis() -> None:
    for path in (PACKAGE / "cache").rglob("*.py"):
        assert not any(i.startswith("nbpipe.analysis") for i in _imports(path)), path
