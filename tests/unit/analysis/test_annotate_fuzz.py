"""The annotate contract, fuzzed: it never raises, never reorders code, and ``check`` never rejects its result.

The notebooks are plain (no stages) and clean under ``check`` themselves: an error
the original already has (a cell that does not parse, a name read before it is
bound) is not annotate's to fix.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nbpipe.analysis import analyze
from nbpipe.analysis.annotate import propose
from tests.analysis_notebooks.build import code, notebook

NAMES = st.sampled_from(["x", "x1", "y", "df", "model", "k", "_", "f", "np", "rng", "fig", "ax"])
HEADINGS = st.sampled_from(["# Load", "## Clean the data", "### 2. Train", "## x", "Some prose", "# !!!", "## 3"])
STATEMENTS = st.one_of(
    st.builds("{} = {} + 1".format, NAMES, NAMES),
    st.builds("{} = [1, 2, 3]".format, NAMES),
    st.builds("{}[0] = 3.14159".format, NAMES),
    st.builds("{}.append({})".format, NAMES, NAMES),
    st.builds("{} += 1".format, NAMES),
    st.builds("print({})".format, NAMES),
    st.builds("{}".format, NAMES),
    st.builds("{}.head()".format, NAMES),
    st.builds("def {}(a):\n    return a + {}".format, NAMES, NAMES),
    st.builds("{} = lambda v: v + {}".format, NAMES, NAMES),
    st.builds("{} = np.random.rand(3)".format, NAMES),
    st.builds("{} = rng.normal(size=3)".format, NAMES),
    st.builds("for i in range(3):\n    {} = i".format, NAMES),
    st.builds("{}, {} = plt.subplots()".format, NAMES, NAMES),
    st.builds("{} = pd.read_csv('data.csv')".format, NAMES),
    st.builds("{}.fit({})".format, NAMES, NAMES),
    st.builds("del {}".format, NAMES),
    st.sampled_from([
        "import numpy as np", "import pandas as pd", "import matplotlib.pyplot as plt", "np.random.seed(3)",
        "rng = np.random.default_rng(0)", "%matplotlib inline", "class C:\n    pass", "x = 1; y = 2",
        "with open('f.txt') as fh:\n    text = fh.read()", "import math\nr = math.sqrt(2)", "%time z = 1",
    ]),
)  # fmt: skip
CELLS = st.one_of(
    st.lists(STATEMENTS, min_size=1, max_size=4).map(lambda s: "\n".join(s)),
    HEADINGS.map(lambda h: ("md", h)),
)


def _error_output(cell: Any) -> Any:
    if isinstance(cell, str):
        lines = cell.split("\n")
        trace = [f"Cell In[1], line {len(lines)}"]
        return code(cell, 1, [{"output_type": "error", "ename": "ValueError", "evalue": "", "traceback": trace}])
    return cell


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CELLS, max_size=12), st.sets(st.integers(0, 11), max_size=2))
def test_annotate_output_always_passes_check(cells: list[Any], raising: set[int]) -> None:
    cells = [_error_output(c) if i in raising else c for i, c in enumerate(cells)]
    original = notebook(*cells)
    assume(not analyze("original.ipynb", original).errors)
    result = propose(original)
    graph = analyze("annotated.ipynb", result.notebook)
    assert [(d.code, d.message) for d in graph.errors] == []
    assert _code(result.notebook) == _code(original)
    for cell in result.notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def _code(nb: dict[str, Any]) -> str:
    """Every code line in order, stage headers and the added %load_ext left out, blank lines ignored."""
    lines: list[str] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or cell["source"] == "%load_ext nbpipe":
            continue
        source = cell["source"]
        lines.extend(source.split("\n")[1:] if source.startswith("%%stage") else source.split("\n"))
    return "\n".join(line for line in lines if line.strip())
