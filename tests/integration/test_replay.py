"""A restored stage shows what it showed when it ran: a warm Run All looks like a cold one (issue 10, item 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from nbpipe.cli import main
from nbpipe.model import STAGE_MIME
from tests.notebooks import write_nb

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_env")]

CELLS = (
    "%load_ext nbpipe",
    "import pandas as pd",
    "%%stage load --out df\ndf = pd.DataFrame({'a': [1, 2, 3]})\nprint('loaded', len(df), 'rows')\ndf.describe()",
    "%%stage plot --in df --out total\nimport sys\ntotal = int(df['a'].sum())\n"
    "print('warning: made up', file=sys.stderr)\ndisplay(df.head(2))\ntotal;",
    "print(total)",
)


def run_all(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def shown(cell: Any) -> list[tuple[str, str]]:
    """What a cell showed, without nbpipe's own status line."""
    found = []
    for out in cell.outputs:
        if out["output_type"] == "stream":
            found.append((out["name"], out["text"]))
        elif STAGE_MIME not in out.get("data", {}):
            data = out.get("data", {})
            found.append(("html" if "text/html" in data else "text", data.get("text/html") or data.get("text/plain")))
    return found


def test_a_warm_run_all_shows_what_the_cold_one_showed(tmp_path: Path) -> None:
    path = write_nb(tmp_path / "replay.ipynb", *CELLS)
    cold, warm = run_all(path), run_all(path)
    statuses = [
        o["data"][STAGE_MIME]["status"] for c in warm.cells for o in c.outputs if STAGE_MIME in o.get("data", {})
    ]
    assert statuses == ["cached", "cached"]
    for before, after in zip(cold.cells, warm.cells):
        assert shown(after) == shown(before), before.source
    load = shown(cold.cells[2])
    assert load[0] == ("stdout", "loaded 3 rows\n") and load[1][0] == "html"  # the describe() table
    plot = shown(cold.cells[3])
    assert ("stderr", "warning: made up\n") in plot and [k for k, _ in plot].count("html") == 1  # ';' hides total


def test_outputs_recorded_by_a_batch_run_are_replayed_in_the_kernel(tmp_path: Path) -> None:
    path = write_nb(tmp_path / "batch.ipynb", "%load_ext nbpipe", "%%stage s --out x\nprint('computed once')\nx = 1")
    assert main(["run", str(path)]) == 0
    nb = run_all(path)
    assert shown(nb.cells[1]) == [("stdout", "computed once\n")]
