"""NBP211: ``%%stage`` cells need ``%load_ext nbpipe`` in a cell above the first of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.analysis import analyze
from nbpipe.analysis.annotate import propose
from nbpipe.analysis.checks_extension import loads_extension
from nbpipe.errors import CODES
from nbpipe.notebook import load
from tests.analysis_notebooks.build import notebook
from tests.analysis_notebooks.cases import LOAD, SETUP

STAGE = "%%stage load --out raw\nraw = [1, 2]"
USE = "%%stage use --in raw --out n\nn = len(raw)"
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "example_notebooks").glob("*.ipynb"))


def nbp211(*cells: object) -> list[tuple[int | None, int | None, str, str]]:
    graph = analyze("t.ipynb", notebook(*cells))  # type: ignore[arg-type]
    return [(d.cell, d.line, d.severity, d.message) for d in graph.diagnostics if d.code == "NBP211"]


def test_a_notebook_that_never_loads_the_extension_is_warned_at_its_first_stage() -> None:
    (found,) = nbp211(("md", "# Title"), SETUP, STAGE, USE)
    assert found[:3] == (2, 1, "warning") and CODES["NBP211"][0] == "warning"
    assert "never loaded" in found[3] and "Cell magic `%%stage` not found" in found[3]
    graph = analyze("t.ipynb", notebook(SETUP, STAGE, USE))
    assert graph.diagnostics[0].hint.startswith("add a cell with `%load_ext nbpipe` above cell 2")
    assert graph.order == ("load", "use")  # the pipeline itself is unaffected: nbpipe run needs no magic


def test_loading_it_below_the_first_stage_is_too_late() -> None:
    (found,) = nbp211(SETUP, STAGE, LOAD, USE)
    assert found[0] == 1 and "loaded only in cell 3, below it" in found[3]


@pytest.mark.parametrize(
    "loader",
    [
        LOAD,
        "%reload_ext nbpipe",
        "load_ext nbpipe",  # automagic
        "import numpy as np\n%load_ext nbpipe\n%matplotlib inline",
        "get_ipython().run_line_magic('load_ext', 'nbpipe')",
        'get_ipython().extension_manager.load_extension("nbpipe")',
        "import nbpipe\nnbpipe.load_ipython_extension(get_ipython())",
    ],
)
def test_every_way_of_loading_it_above_the_first_stage_counts(loader: str) -> None:
    assert loads_extension(loader)
    assert nbp211(loader, STAGE, USE) == []


@pytest.mark.parametrize(
    "cells",
    [
        ["import nbpipe", STAGE],  # importing registers no magic
        ["%load_ext nbpipe_extra", STAGE],
        ["# %load_ext nbpipe", STAGE],
        [("md", "%load_ext nbpipe"), STAGE],  # not code
        ["%%stage first --out a\n%load_ext nbpipe\na = 1", USE.replace("--in raw ", "")],  # too late for itself
    ],
)
def test_what_does_not_load_it(cells: list[object]) -> None:
    assert len(nbp211(*cells)) == 1


def test_no_stage_no_warning_and_the_warning_can_be_silenced() -> None:
    assert nbp211(SETUP, "x = 1") == []
    silenced = "%%stage load --out raw\n# nbpipe: ignore[NBP211]  (the profile loads the extension)\nraw = [1]"
    assert nbp211(SETUP, silenced) == []


def test_a_bad_header_is_still_a_stage_cell_that_needs_the_magic() -> None:
    (found,) = nbp211(SETUP, "%%stage 1load --out raw\nraw = 1")
    assert found[0] == 1


def test_annotate_loads_the_extension_above_the_stages_it_proposes() -> None:
    plain = notebook("import json", "data = json.loads('[1, 2]')", "total = sum(data)", "print(total)")
    result = propose(plain)
    assert result.stages and "".join(result.notebook["cells"][0]["source"]) == LOAD
    assert nbp211(*result.notebook["cells"]) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_example_notebooks_load_it(path: Path) -> None:
    assert nbp211(*load(path)["cells"]) == []


@pytest.mark.parametrize(
    ("cells", "added"),
    [
        (
            ["%reload_ext nbpipe", "import json", "data = json.loads('[1, 2]')", "total = sum(data)", "print(total)"],
            False,
        ),
        (["import json", "data = json.loads('[1, 2]')", "total = sum(data)", "%load_ext nbpipe", "print(total)"], True),
        ([("md", "%load_ext nbpipe"), "import json", "data = json.loads('[1]')", "total = sum(data)", "total"], True),
    ],
)
def test_annotate_adds_the_cell_only_when_nothing_above_the_first_stage_loads_it(cells: list, added: bool) -> None:
    result = propose(notebook(*cells))
    assert result.stages
    first = "".join(result.notebook["cells"][0]["source"])
    assert (first == LOAD) is added
    assert nbp211(*result.notebook["cells"]) == []
