"""``POST /nbpipe/api/details`` against a real Jupyter Server after a real ``nbpipe run`` (the CLI in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from nbpipe.cli import main

pytest_plugins = ["pytest_jupyter.jupyter_server"]

STAGES = (
    "import numpy as np",
    "%%stage load --out raw grid\nraw = [1, 2, 3]\ngrid = np.zeros((4, 3), dtype='float32')",
    "%%stage clean --in raw --out total\ntotal = sum(raw) * C",
)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbpipe.server": True}}}


@pytest.fixture
def notebook(jp_root_dir: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    params = nbformat.v4.new_code_cell("C = 2")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in STAGES)]
    (jp_root_dir / "sub").mkdir()
    nbformat.write(nb, jp_root_dir / "sub" / "nb.ipynb")
    return "sub/nb.ipynb"


async def _post(jp_fetch: Any, body: Any) -> tuple[int, dict[str, Any]]:
    try:
        response = await jp_fetch("nbpipe", "api", "details", method="POST", body=json.dumps(body))
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return response.code, json.loads(response.body)


async def test_details_after_a_cli_run(jp_fetch: Any, jp_root_dir: Path, notebook: str) -> None:
    assert main(["run", str(jp_root_dir / notebook)]) == 0
    assert main(["run", str(jp_root_dir / notebook), "-p", "C=3"]) == 0
    code, reply = await _post(jp_fetch, {"path": notebook, "stage": "clean"})
    assert code == 200, reply
    assert reply["notebook"] == notebook
    variables = reply["variables"]
    assert variables["grid"]["summary"] == {"type": "numpy.ndarray", "shape": [4, 3], "dtype": "float32"}
    assert variables["grid"]["stage"] == "load" and variables["grid"]["bytes"] > 0
    assert variables["raw"]["summary"] == {"type": "list", "length": 3}
    assert variables["total"]["summary"] == {"type": "int", "value": 18}  # the newest run: C=3
    stage = reply["stage"]
    assert stage["name"] == "clean"
    assert [r["status"] for r in stage["runs"]] == ["ran", "ran"]
    newest = stage["runs"][0]
    assert newest["seconds"] >= 0 and newest["finished"] and newest["run_id"] and newest["target"]
    assert stage["entry"]["bytes"] > 0 and len(stage["entry"]["key"]) == 32


async def test_details_without_runs_and_stage(jp_fetch: Any, notebook: str) -> None:
    code, reply = await _post(jp_fetch, {"path": notebook})
    assert code == 200, reply
    assert reply["variables"] == {} and reply["stage"] is None
    code, reply = await _post(jp_fetch, {"path": notebook, "stage": "load"})
    assert reply["stage"] == {"name": "load", "runs": [], "entry": None}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"path": "../outside.ipynb"}, 403, "leaves the server root"),
        ({"path": "nope.ipynb"}, 404, "does not exist"),
        ({"path": "sub/nb.ipynb", "stage": 3}, 400, "'stage' must be a non-empty string"),
        ({}, 400, "'path'"),
    ],
)
async def test_details_bad_requests(jp_fetch: Any, notebook: str, body: Any, status: int, fragment: str) -> None:
    code, reply = await _post(jp_fetch, body)
    assert code == status and fragment in reply["message"], reply


async def test_hidden_notebooks_are_refused(jp_fetch: Any, jp_root_dir: Path, notebook: str) -> None:
    (jp_root_dir / ".private").mkdir()
    (jp_root_dir / ".private" / "nb.ipynb").write_text((jp_root_dir / notebook).read_text())
    code, reply = await _post(jp_fetch, {"path": ".private/nb.ipynb"})
    assert code == 400 and "hidden" in reply["message"], reply


async def test_a_stage_another_notebook_computed_has_its_summary(
    jp_fetch: Any, jp_root_dir: Path, notebook: str
) -> None:
    """A copy sharing the store restores every stage from the original's entries: same values, same summaries."""
    assert main(["run", str(jp_root_dir / notebook)]) == 0
    copy = jp_root_dir / "sub" / "copy.ipynb"
    copy.write_bytes((jp_root_dir / notebook).read_bytes())
    assert main(["run", str(copy)]) == 0
    code, reply = await _post(jp_fetch, {"path": "sub/copy.ipynb", "stage": "load"})
    assert code == 200, reply
    assert reply["variables"]["grid"]["summary"] == {"type": "numpy.ndarray", "shape": [4, 3], "dtype": "float32"}
    assert [r["status"] for r in reply["stage"]["runs"]] == ["cached"]
