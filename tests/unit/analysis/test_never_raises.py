"""Property-based and robustness tests: the analyzer never raises on notebook content."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.analysis import analyze
from nbpipe.errors import NotebookReadError
from tests.analysis_notebooks.build import code, notebook

NAMES = st.sampled_from(["x", "y", "df", "raw", "model", "n", "f", "np", "out", "_", "eval", "globals"])
HEADERS = st.builds(
    lambda name, ins, outs: f"%%stage {name}" + (" --in " + " ".join(ins) if ins else "")
    + (" --out " + " ".join(outs) if outs else ""),
    st.sampled_from(["a", "b", "c", "load", "1bad", "fit"]),
    st.lists(NAMES, max_size=3),
    st.lists(NAMES, max_size=3),
)  # fmt: skip
STATEMENTS = st.one_of(
    st.builds("{} = {}".format, NAMES, NAMES),
    st.builds("{}.append({})".format, NAMES, NAMES),
    st.builds("{}[0] += {}".format, NAMES, NAMES),
    st.builds("def {}(a={}):\n    return a + {}".format, NAMES, NAMES, NAMES),
    st.builds("[{} for {} in {}]".format, NAMES, NAMES, NAMES),
    st.builds("%time {} = {}".format, NAMES, NAMES),
    st.builds("!ls {{{}}}".format, NAMES),
    st.builds("{} = pd.read_csv('{}.csv')".format, NAMES, NAMES),
    st.sampled_from(["global x", "from m import *", "exec('1')", "x = (", "%%time", "del x", "class C:\n    y = x",
                     "lambda: (", "if x:\n  y = 1", "match x:\n    case [a, *b]: pass", "%run other.py", "  indented"]),
)  # fmt: skip
CELL_SOURCES = st.one_of(
    st.text(max_size=60),
    st.lists(STATEMENTS, max_size=6).map("\n".join),
    st.builds(lambda h, body: h + "\n" + "\n".join(body), HEADERS, st.lists(STATEMENTS, max_size=5)),
)
CELLS = st.one_of(
    CELL_SOURCES,
    st.tuples(st.just("md"), st.text(max_size=20)),
    st.tuples(st.just("params"), CELL_SOURCES),
    st.builds(code, CELL_SOURCES, st.one_of(st.none(), st.integers(-3, 50))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CELLS, max_size=12))
def test_analyze_never_raises(cells: list) -> None:
    graph = analyze("random.ipynb", notebook(*cells))
    json.dumps(graph.to_dict())
    for d in graph.diagnostics:
        assert d.code.startswith("NBP") and d.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_cell(source: str) -> None:
    analyze("text.ipynb", notebook(source, "%%stage s --out o\n" + source))


def test_empty_and_markdown_only() -> None:
    assert analyze("e.ipynb", notebook()).diagnostics == ()
    assert analyze("m.ipynb", notebook(("md", "# Title"))).diagnostics == ()


def test_syntax_error_does_not_stop_the_rest() -> None:
    graph = analyze("s.ipynb", notebook("def broken(:\n    pass", "print(later)", "later = 1"))
    assert [d.code for d in graph.diagnostics] == ["NBP001", "NBP208"]


def test_nbformat_v3() -> None:
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
          "worksheets": [{"cells": [{"cell_type": "code", "input": "print(a)", "language": "python",
                                     "outputs": [], "prompt_number": 1},
                                    {"cell_type": "code", "input": "a = 1", "language": "python",
                                     "outputs": [], "prompt_number": 2}]}]}  # fmt: skip
    assert [d.code for d in analyze("v3.ipynb", v3).diagnostics] == ["NBP208"]


def test_non_python_kernel_is_a_read_error() -> None:
    with pytest.raises(NotebookReadError, match="Python notebooks only"):
        analyze("r.ipynb", notebook("x <- 1", language="R"))


def test_invalid_json_is_a_read_error() -> None:
    with pytest.raises(NotebookReadError, match="invalid JSON"):
        analyze("bad.ipynb", "{not json")


def test_deeply_nested_code() -> None:
    graph = analyze("deep.ipynb", notebook("x = " + "(" * 500 + "1" + ")" * 500, "y = " + "[" * 120 + "]" * 120))
    assert all(d.code == "NBP001" for d in graph.diagnostics)


def test_five_thousand_cells() -> None:
    cells = ["import math"] + [f"v{i} = math.sqrt({i}) + v{i - 1}" if i else "v0 = 0" for i in range(5000)]
    cells.append("print(w)")
    cells.append("w = 1")
    graph = analyze("big.ipynb", notebook(*cells))
    assert [d.code for d in graph.diagnostics] == ["NBP208"]
