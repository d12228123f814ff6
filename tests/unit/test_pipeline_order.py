"""One order (issue 9): the analyzer's ``Graph.order`` is the runner's plan order.

The order is the one topological order of the notebook: among the stages that are
ready, the one highest in the notebook comes first. So a notebook written in
dependency order runs top to bottom, as the kernel runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.analysis import analyze
from nbpipe.notebook import read
from nbpipe.runtime.plan import plan_notebook
from tests.notebooks import write_nb

CASES = {
    # a -> b plus an independent c: the example (the runner said a, c, b)
    "chain and sibling": (["a", "b --in x", "c"], ["a", "b", "c"]),
    "sibling first": (["c", "a", "b --in x"], ["c", "a", "b"]),
    "two interleaved chains": (["a", "p", "b --in x", "q --in xp"], ["a", "p", "b", "q"]),
    "diamond": (["a", "b --in x", "c --in x", "d --in xb xc"], ["a", "b", "c", "d"]),
    # b sits above the stage it reads (NBP107): a first, then b, the highest ready stage
    "consumer above producer": (["b --in x", "a", "c"], ["a", "b", "c"]),
}

#: the output each stage name produces in the cases above
OUTPUTS = {"a": "x", "b": "xb", "c": "xc", "d": "xd", "p": "xp", "q": "xq"}


def notebook(tmp_path: Path, stages: list[str]) -> Path:
    cells = ["%load_ext nbpipe"]
    for spec in stages:
        name, _, inputs = spec.partition(" ")
        reads = inputs.split()[1:] if inputs else []
        body = f"{OUTPUTS[name]} = " + " + ".join([*reads, repr(name)])  # strings: runnable, not only parsable
        cells.append(f"%%stage {name} {inputs} --out {OUTPUTS[name]}\n{body}".replace("  ", " "))
    return write_nb(tmp_path / "order.ipynb", *cells)


@pytest.mark.parametrize("case", sorted(CASES))
def test_analyzer_order_is_the_runners_plan_order(tmp_path: Path, case: str) -> None:
    stages, expected = CASES[case]
    path = notebook(tmp_path, stages)
    analyzed = list(analyze(str(path)).order)
    planned = list(plan_notebook(read(str(path))).order)
    assert analyzed == planned, f"{case}: analyzer {analyzed}, runner plan {planned}"
    assert analyzed == expected, f"{case}: order {analyzed}, expected {expected} (highest ready stage first)"
