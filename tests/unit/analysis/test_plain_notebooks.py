"""Plain notebooks as found in public repositories: NBP208 and NBP203 are right and not noisy.

The notebooks here are synthetic; each reproduces a pattern seen in real notebooks
(cells reordered after the fact, a re-run cell in the middle, timing magics).
"""

from __future__ import annotations

from nbpipe.analysis import analyze
from nbpipe.model import Diagnostic
from tests.analysis_notebooks.build import code, notebook


def diagnostics(*cells: object, code_: str) -> list[Diagnostic]:
    return [d for d in analyze("plain.ipynb", notebook(*cells)).diagnostics if d.code == code_]  # type: ignore[arg-type]


def test_nbp208_reports_each_name_once_at_its_first_read() -> None:
    found = diagnostics("print(frame.shape)", "frame.head()", "frame.describe()", "import pandas as pd",
                        "frame = pd.DataFrame()", code_="NBP208")  # fmt: skip
    assert [(d.cell, d.names) for d in found] == [(0, ("frame",))]
    assert "only cell 5, further down, binds it" in found[0].message  # 1-based, as JupyterLab numbers cells
    assert "2 more cells read it before then" in found[0].message


def test_nbp208_through_a_function_is_reported_once() -> None:
    found = diagnostics("def total():\n    return sum(prices)", "total()", "total()", "prices = [1, 2]",
                        code_="NBP208")  # fmt: skip
    assert [(d.cell, d.names) for d in found] == [(1, ("prices",))]
    assert "through 'total'" in found[0].message


def test_timeit_does_not_bind_so_a_later_read_fails() -> None:
    found = diagnostics("%%timeit\nsquares = [i * i for i in range(9)]", "print(squares)", "squares = []",
                        code_="NBP208")  # fmt: skip
    assert [(d.cell, d.names) for d in found] == [(1, ("squares",))]


def test_nbp203_once_per_section() -> None:
    cells = [("md", "# Load"), code("a = 1", 1), code("b = 2", 6), code("c = 3", 5), code("d = 4", 4),
             ("md", "## Plot"), code("e = 5", 7), code("f = 6", 8),
             ("md", "## Model"), code("g = 7", 10), code("h = 8", 9)]  # fmt: skip
    found = diagnostics(*cells, code_="NBP203")
    assert [d.cell for d in found] == [3, 10]
    assert "cell 4 ran as [5], before cell 3 above it ran as [6] (2 cells in this section)" in found[0].message


def test_nbp203_a_rerun_cell_in_the_middle_is_one_report() -> None:
    cells = [code(f"v{i} = {i}", 30 if i == 2 else i) for i in range(1, 12)]
    assert len(diagnostics(*cells, code_="NBP203")) == 1
