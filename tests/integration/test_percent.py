"""Jupytext percent scripts are notebooks: read, checked (positions in ``.py`` lines), run, annotated back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from nbpipe.cli import main
from nbpipe.notebook import read
from nbpipe.percent import cell_starts

STAGED = """\
# %% [markdown]
# # Squares

# %% tags=["parameters"]
n = 4

# %%
import math

# %%
# %%stage load --out xs
xs = [math.sqrt(i) for i in range(n)]

# %%
# %%stage total --in xs --out total

total = sum(xs)
"""

PLAIN = """\
# %% tags=["parameters"]
n = 5

# %%
import math

# %%
xs = [math.sqrt(i) for i in range(n)]

# %%
total = sum(xs)

# %%
print(total)
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _ipynb_of(tmp_path: Path, text: str) -> nbformat.NotebookNode:
    return jupytext.reads(text, fmt="py:percent")


def test_read_gives_jupytexts_cells_and_the_stage_headers(tmp_path: Path) -> None:
    nb = read(_write(tmp_path / "squares.py", STAGED))
    expected = _ipynb_of(tmp_path, STAGED)
    assert [c.source for c in nb.cells] == [c.source for c in expected.cells]
    assert [c.header.name for c in nb.stage_cells if c.header] == ["load", "total"]
    assert nb.parameters == {"n": 4}
    assert nb.cells[3].source.startswith("%%stage load --out xs")  # the commented magic is the magic


def test_magic_round_trips_through_jupytext(tmp_path: Path) -> None:
    """A notebook written as percent (as jupytext writes magics) reads back with the same sources."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("n = 2", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("%%stage load --out xs\nxs = list(range(n))\n!echo hi"),
    ]
    path = tmp_path / "rt.py"
    jupytext.write(nb, str(path), fmt="py:percent")
    assert "# %%stage load --out xs" in path.read_text()
    assert [c.source for c in read(path).cells] == [c.source for c in nb.cells]


@pytest.mark.parametrize(
    "text",
    [
        STAGED,
        "x = 1\n\n# %%\n\n\ny = 2\n",  # a first cell without marker; blank lines opening a cell
        "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     name: python3\n# ---\n\n"
        '# %%\ns = """\n# %%\n"""\nq = 1\n',  # a header; a marker inside a string
        "# %% [markdown]\n# text\n\n# %% tags=['a']\nz = 3\n# %% [raw]\n# raw\n# %%\nw = 4\n",
    ],
)
def test_cell_starts_point_at_each_cells_first_line(text: str) -> None:
    cells = jupytext.reads(text, fmt="py:percent").cells
    starts = cell_starts(text)
    lines = text.splitlines()
    assert len(starts) == len(cells)
    for cell, start in zip(cells, starts):
        if cell.cell_type == "code" and cell.source:
            first = cell.source.splitlines()[0]
            assert lines[start] in (first, "# " + first)  # jupytext comments magics


def test_check_points_at_lines_of_the_py_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = STAGED.replace("total = sum(xs)", "total = sum(xs) + ys").replace(
        "xs = [math.sqrt(i) for i in range(n)]", "xs = [math.sqrt(i) for i in range(n)]\nys = 1"
    )
    path = _write(tmp_path / "squares.py", text)
    lines = text.splitlines()
    ys_bound = lines.index("ys = 1") + 1
    ys_read = lines.index("total = sum(xs) + ys") + 1
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{ys_bound}:1: NBP102 error" in out
    assert f"{path}:{ys_read}:19: NBP101 error" in out
    assert main(["check", "--format", "github", str(path)]) == 1
    github = capsys.readouterr().out
    assert f"::error file={path},line={ys_bound},col=1,title=NBP102" in github
    assert f"::error file={path},line={ys_read},col=19,title=NBP101" in github


def test_json_output_keeps_cell_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "squares.py", STAGED)
    assert main(["graph", str(path)]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["cell"]) for s in graph["stages"]] == [("load", 3), ("total", 4)]


def test_run_and_export_a_percent_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "squares.py", STAGED)
    assert main(["run", str(path)]) == 0
    assert main(["run", str(path)]) == 0
    assert "ok (2 cached)" in capsys.readouterr().out
    assert main(["export", str(path), "--to", "script"]) == 0
    script = tmp_path / "squares_pipeline.py"  # never the percent script itself
    assert script.exists() and path.read_text() == STAGED


def test_annotate_writes_a_percent_script_that_checks_clean_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "plain.py", PLAIN)
    assert main(["annotate", str(path)]) == 0
    staged = tmp_path / "plain.staged.py"
    text = staged.read_text()
    assert "# %%stage total --out total" in text and '# %% tags=["parameters"]' in text
    assert path.read_text() == PLAIN  # the input is untouched
    capsys.readouterr()
    assert main(["check", str(staged)]) == 0
    assert capsys.readouterr().out == f"{staged}: clean (1 stage)\n"
    assert main(["run", str(staged)]) == 0


def test_a_py_file_without_cells_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "script.py", "x = 1\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no '# %%' cell marker" in err and "jupytext --to py:percent" in err


def test_missing_jupytext_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "squares.py", STAGED)
    monkeypatch.setitem(sys.modules, "jupytext", None)  # what Python does when the package is absent
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "needs jupytext" in err and "pip install 'jupyter-nbpipe[jupytext]'" in err


def test_positions_fall_back_to_cell_numbers_when_jupytext_internals_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line positions walk jupytext's cell readers, which are not public API: if they change, output names cells."""
    import jupytext.formats

    def changed(*args: object, **kwargs: object) -> None:
        raise AttributeError("no such reader")

    monkeypatch.setattr(jupytext.formats, "get_format_implementation", changed)
    text = STAGED.replace("total = sum(xs)", "total = sum(xs) + ys").replace(
        "xs = [math.sqrt(i) for i in range(n)]", "xs = [math.sqrt(i) for i in range(n)]\nys = 1"
    )
    path = _write(tmp_path / "squares.py", text)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:cell " in out and "NBP101 error" in out and "Traceback" not in out
