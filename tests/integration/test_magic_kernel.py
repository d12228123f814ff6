"""``%%stage`` and ``%nbpipe`` in a real Jupyter kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from nbpipe.model import STAGE_MIME

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_env")]


def notebook(*sources: str) -> Any:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in ("%load_ext nbpipe", *sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(nb: Any, folder: Path, allow_errors: bool = False) -> Any:
    NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=allow_errors, resources={"metadata": {"path": str(folder)}}
    ).execute()
    return nb


def stage_bundles(nb: Any) -> list[dict[str, Any]]:
    return [o["data"][STAGE_MIME] for c in nb.cells for o in c.get("outputs", []) if STAGE_MIME in o.get("data", {})]


def test_isolation_error_and_bundles_in_a_kernel(tmp_path: Path) -> None:
    nb = notebook(
        "import statistics\nN = 4",
        "%%stage load --out xs\nxs = list(range(N))",
        "%%stage mean --in xs --out m\nm = statistics.mean(xs)",
        "%%stage bad --out total\ntotal = sum(xs)",
    )
    execute(nb, tmp_path, allow_errors=True)
    assert [b["status"] for b in stage_bundles(nb)] == ["ran", "ran", "failed"]
    error = nb.cells[-1].outputs[-1]
    assert error["ename"] == "NameError"
    assert "declare it: %%stage bad --in xs --out total" in error["evalue"]
    assert (tmp_path / ".nbpipe" / "entries").is_dir()


def test_failing_stage_stops_the_notebook_and_second_run_restores_from_cache(tmp_path: Path) -> None:
    cells = (
        "%%stage load --out xs\nimport time\ntime.sleep(0.3)\nxs = [1, 2, 3]",
        "%%stage s --in xs --out n\nn = len(xs)",
    )
    execute(notebook(*cells), tmp_path)
    again = execute(notebook(*cells, "print(n)"), tmp_path)
    assert [b["status"] for b in stage_bundles(again)] == ["cached", "cached"]
    assert again.cells[-1].outputs[0]["text"].strip() == "3"
    with pytest.raises(CellExecutionError, match="check failed"):
        execute(notebook('%%stage e --out a --check "a > 1"\na = 0'), tmp_path)


def test_nbpipe_run_and_status_in_a_kernel(tmp_path: Path) -> None:
    saved = notebook(
        "K = 2",
        "%%stage load --out xs\nxs = [1, 2]",
        "%%stage scale --in xs --out ys\nys = [K * x for x in xs]",
        "%%stage other --out z\nz = 0",
    )
    path = tmp_path / "pipe.ipynb"
    nbformat.write(saved, path)
    nb = notebook(f"%nbpipe config notebook={path}", "%nbpipe run scale", "print(ys, 'z' in dir())", "%nbpipe status")
    execute(nb, tmp_path)
    assert nb.cells[3].outputs[-1]["text"].strip() == "[2, 4] False"
    status = nb.cells[4].outputs[-1]["text"]
    assert "load" in status and "fresh" in status and "never-run" in status
