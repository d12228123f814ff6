"""The notebook reader: cells, stage headers, parameters, setup cells, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from nbpipe.analysis.defuse import cell_info
from nbpipe.errors import NotebookReadError
from nbpipe.notebook import literal_assignments, read


def _write(path: Path, cells: list[nbformat.NotebookNode], **meta: object) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=cells,
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, **meta},
    )
    nbformat.write(nb, path)
    return path


def test_reads_cells_headers_parameters_and_setup(tmp_path: Path) -> None:
    params = nbformat.v4.new_code_cell("C = 1.0\nname = 'x'", metadata={"tags": ["parameters"]})
    path = _write(
        tmp_path / "a.ipynb",
        [
            nbformat.v4.new_markdown_cell("# title"),
            nbformat.v4.new_code_cell("import math\n%matplotlib inline\nN = 3\nHALF = N // 2"),
            params,
            nbformat.v4.new_code_cell("%%stage load --out xs\nxs = list(range(N))"),
            nbformat.v4.new_code_cell("%%stage 1bad\n"),
            nbformat.v4.new_code_cell("xs[:2]"),
        ],
    )
    nb = read(path)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code", "code", "code"]
    assert nb.parameters == {"C": 1.0, "name": "x"}
    from nbpipe.analysis import analyze

    assert [i for i, role in analyze(nb).roles.items() if role == "setup"] == [1]  # the one role classifier
    stage = nb.cells[3]
    assert stage.header is not None and stage.header.outputs == ("xs",)
    assert stage.body.splitlines()[1] == "xs = list(range(N))"  # line numbers preserved
    assert nb.cells[4].header is None and nb.cells[4].header_error is not None
    assert [c.header.name for c in nb.stage_cells if c.header] == ["load"]


def test_upgrades_v3(tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(
        worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell(input="%%stage a --out x\nx = 1")])]
    )
    v3.metadata["name"] = "old"
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    nb = read(path)
    assert nb.stage_cells[0].header is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"cells": []}', "no 'nbformat' field"),
        ("[]", "no 'nbformat' field"),
    ],
)
def test_unreadable_files_raise_one_error_type(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookReadError, match=message):
        read(path)


def test_missing_file_and_other_language(tmp_path: Path) -> None:
    with pytest.raises(NotebookReadError, match="no such file"):
        read(tmp_path / "nope.ipynb")
    path = _write(tmp_path / "r.ipynb", [], language_info={"name": "R"})
    with pytest.raises(NotebookReadError, match="kernel language is 'r'"):
        read(path)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import numpy as np", True),
        ("def f(x):\n    return x", True),
        ("class A:\n    pass", True),
        ("N = 10\nHALF = N // 2", True),
        ('"""doc"""\nimport os', True),
        ("%load_ext nbpipe\nimport os", True),
        ("df = load()", False),
        ("x = np.zeros(3)", False),
        ("print(1)", False),
        ("", False),
        ("%load_ext nbpipe", False),
        ("def f(:", False),
    ],
)
def test_is_setup(source: str, expected: bool) -> None:
    assert (cell_info(source).setup and bool(source.strip())) is expected


def test_literal_assignments_skip_non_literals() -> None:
    assert literal_assignments("a = 1\nb: float = 0.5\nc = f()\nd = [1, 'x']\n") == {"a": 1, "b": 0.5, "d": [1, "x"]}
    assert literal_assignments("def (") == {}


def test_json_dict_content_is_accepted(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%stage s --out a\na = 1")])
    graph_nb = read("unsaved.ipynb", json.loads(nbformat.writes(nb)))
    assert graph_nb.stage_cells[0].header is not None
