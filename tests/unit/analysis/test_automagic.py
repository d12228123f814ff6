"""Automagic lines (``ls data``, ``cd ..``) run in Jupyter as ``%ls``/``%cd``: not NBP001 (found by the sweep)."""

from __future__ import annotations

import pytest

from nbpipe.analysis import analyze
from nbpipe.source import automagic, to_python
from tests.analysis_notebooks.build import notebook


def codes(*cells: str) -> list[tuple[str, int | None]]:
    return [(d.code, d.cell) for d in analyze("t.ipynb", notebook(*cells)).diagnostics]


@pytest.mark.parametrize(
    "cell",
    ["ls nbpackage", "cd ..", "pycat $profile/ipython_config.py", "cd images\nx = 1\nls -la ~/.ipython", "pwd"],
)
def test_an_automagic_line_is_ipython_syntax_not_a_parse_error(cell: str) -> None:
    assert codes(cell, "y = 2") == []


@pytest.mark.parametrize("cell", ['print "hi"', "collections.", "ls nbpackage\nprint 'x'", 'ls x\ns = """\nls y\n'])
def test_cells_that_still_do_not_parse_are_nbp001(cell: str) -> None:
    assert codes(cell) == [("NBP001", 0)]


def test_only_lines_ipython_would_run_as_magics_are_rewritten() -> None:
    assert (
        automagic("ls -la\n  cd ..\nls = 3\nls == 3\nlsx y\ntime x")
        == "%ls -la\n  %cd ..\nls = 3\nls == 3\nlsx y\ntime x"
    )
    assert automagic("x = 1") is None and automagic('ls x\n"""\nls y\n"""') is None


def test_a_parsing_cell_is_never_rewritten_and_batch_code_calls_the_magic() -> None:
    assert to_python("pwd = 1\npwd") == "pwd = 1\npwd"
    assert to_python("cd ..") == "get_ipython().run_line_magic('cd', '..')\n"
