"""``nbpipe annotate`` on notebook JSON of any shape the reader accepts: a result, never a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings

from nbpipe.analysis.annotate import propose
from nbpipe.errors import NotebookReadError
from nbpipe.ipynb import dumps
from nbpipe.notebook import load, read
from tests.unit.test_notebook_fuzz import NOTEBOOK


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(NOTEBOOK)
def test_whatever_the_reader_accepts_annotate_proposes_and_writes(data: dict[str, object]) -> None:
    text = json.dumps(data)
    try:
        read("fuzz.ipynb", text)
    except NotebookReadError:
        return  # annotate refuses it with the reader's message (exit 2)
    result = propose(load("fuzz.ipynb", text))
    written = json.loads(dumps(result.notebook))
    assert read("fuzz.ipynb", written).cells is not None


def test_cells_that_are_not_objects_are_dropped_and_odd_fields_ignored() -> None:
    data = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            5,
            {"cell_type": "code", "source": "import json", "metadata": [], "outputs": 3},
            {"cell_type": "code", "source": "data = json.loads('[1]')", "metadata": {"tags": [1, "keep"]}},
            {"source": "total = sum(data)", "outputs": [None, {"output_type": "stream", "text": "x"}]},
            {"cell_type": "code", "source": "print(total)", "execution_count": "7"},
        ],
    }
    result = propose(load("odd.ipynb", json.dumps(data)))
    assert result.stages == ["total"]
    assert all(isinstance(c, dict) for c in result.notebook["cells"])
