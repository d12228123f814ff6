"""Notebook JSON of any shape: a clear NotebookReadError or a notebook the analyzer reads — never a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.analysis import analyze
from nbpipe.cli import main
from nbpipe.errors import NotebookReadError
from nbpipe.notebook import read

LEAF = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.text(max_size=8), st.floats(allow_nan=False))
ANY = st.recursive(
    LEAF, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3))
)
SOURCE = st.one_of(
    st.text(max_size=30), st.lists(st.text(max_size=10), max_size=3), ANY, st.just("%%stage a --out x\nx = 1")
)
CELL = st.fixed_dictionaries(
    {
        "cell_type": st.one_of(st.sampled_from(["code", "markdown", "raw"]), ANY),
        "source": SOURCE,
        "metadata": st.one_of(st.fixed_dictionaries({"tags": st.one_of(ANY, st.lists(st.text(max_size=5)))}), ANY),
        "outputs": st.one_of(st.lists(ANY, max_size=2), ANY),
        "execution_count": st.one_of(st.none(), st.integers(0, 9), ANY),
    }
)
NOTEBOOK = st.fixed_dictionaries(
    {
        "nbformat": st.one_of(st.just(4), st.sampled_from([1, 2, 3, "4", 5, None, 4.0, 4.5, True])),
        "nbformat_minor": st.one_of(st.just(5), ANY),
        "metadata": st.one_of(st.fixed_dictionaries({"kernelspec": ANY, "language_info": ANY}), ANY),
        "cells": st.one_of(st.lists(CELL, max_size=4), ANY),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(NOTEBOOK)
def test_any_notebook_json_reads_or_is_refused_clearly(data: dict[str, object]) -> None:
    try:
        nb = read("fuzz.ipynb", json.dumps(data))
    except NotebookReadError as exc:
        assert exc.message.startswith("fuzz.ipynb: ")
        return
    analyze(nb)


def test_json_nested_too_deeply_is_refused() -> None:
    deep = '{"nbformat": 4, "metadata": ' + "[" * 100_000 + "]" * 100_000 + ', "cells": []}'
    with pytest.raises(NotebookReadError, match="nested too deeply"):
        read("deep.ipynb", deep)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(NOTEBOOK)
def test_the_cli_answers_any_notebook_json_with_an_exit_code(data: dict[str, object]) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nb.ipynb"
        path.write_text(json.dumps(data))
        assert main(["check", str(path)]) in (0, 1, 2)
