"""Each code is triggered by its notebook and absent from every clean and near-miss notebook."""

from __future__ import annotations

import pytest

from nbpipe.analysis import analyze
from nbpipe.errors import CODES
from tests.analysis_notebooks.build import notebook
from tests.analysis_notebooks.cases import CLEAN, NEAR_MISSES, TRIGGERS


def codes_of(cells: list) -> list[str]:
    return [d.code for d in analyze("test.ipynb", notebook(*cells)).diagnostics]


def test_every_code_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(CODES)


@pytest.mark.parametrize("code", sorted(TRIGGERS))
def test_trigger(code: str) -> None:
    assert code in codes_of(TRIGGERS[code])


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean(name: str) -> None:
    graph = analyze("test.ipynb", notebook(*CLEAN[name]))
    assert [(d.code, d.cell, d.message) for d in graph.diagnostics] == []


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_near_miss(name: str) -> None:
    cells, absent = NEAR_MISSES[name]
    assert absent.isdisjoint(codes_of(cells))


@pytest.mark.parametrize("code", sorted(TRIGGERS))
def test_trigger_is_silenced_by_ignore_comment(code: str) -> None:
    graph = analyze("test.ipynb", notebook(*TRIGGERS[code]))
    cells = {d.cell for d in graph.diagnostics if d.code == code}
    specs = list(TRIGGERS[code])
    nb = notebook(*specs)
    for index in cells:
        source = nb["cells"][index]["source"]
        lines = source.split("\n")
        insert_at = 1 if source.startswith("%%") else 0  # a cell magic must stay on the first line
        lines.insert(insert_at, f"# nbpipe: ignore[{code}]")
        nb["cells"][index]["source"] = "\n".join(lines)
    assert code not in [d.code for d in analyze("test.ipynb", nb).diagnostics]


def test_drawing_from_a_setup_generator_is_nbp201_with_the_seed_hint() -> None:
    """A draw advances the generator: every target would see other numbers (issue 10, item 9)."""
    cells = ["import numpy as np\nrng = np.random.default_rng(0)", "%%stage s --out x\nx = rng.integers(10)"]
    (found,) = [d for d in analyze("test.ipynb", notebook(*cells)).diagnostics if d.code == "NBP201"]
    assert found.names == ("rng",) and "seed parameter" in found.hint


def test_a_cell_tagged_raises_exception_is_never_setup() -> None:
    """Batch targets run setup cells; one that raises on purpose (nbclient's tag) would fail them."""
    nb = notebook("import numpy as np", "%%stage s --out x\nx = np.zeros(2)")
    tagged = {"cell_type": "code", "metadata": {"tags": ["raises-exception"]}, "source": "import nonexistent"}
    nb["cells"].insert(1, {**tagged, "outputs": [], "execution_count": None})
    roles = analyze("test.ipynb", nb).roles
    assert roles[0] == "setup" and roles[1] == "exploration"
