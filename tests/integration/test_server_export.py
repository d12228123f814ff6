"""``POST /nbpipe/api/export`` never clobbers user files nor writes hidden paths (real server, ``jp_fetch``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from nbpipe.export.files import PY_MARKER

pytest_plugins = ["pytest_jupyter.jupyter_server"]

USER_SCRIPT = "# my hand-written pipeline\nprint('mine')\n"
STAGES = ("%%stage load --out raw\nraw = [1, 2, 3]", "%%stage clean --in raw --out xs\nxs = [r * C for r in raw]")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbpipe.server": True}}}


@pytest.fixture
def notebook(jp_root_dir: Path) -> str:
    from tests.notebooks import write_nb

    (jp_root_dir / "sub").mkdir()
    write_nb(jp_root_dir / "sub" / "nb.ipynb", ("C = 1.0", "parameters"), *STAGES)
    return "sub/nb.ipynb"


async def _export(jp_fetch: Any, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, str) else json.dumps(body)
    try:
        response = await jp_fetch("nbpipe", "api", "export", method="POST", body=data)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return response.code, json.loads(response.body)


async def test_sidebar_export_keeps_a_hand_written_script(jp_fetch: Any, jp_root_dir: Path, notebook: str) -> None:
    mine = jp_root_dir / "sub" / "nb.py"
    mine.write_text(USER_SCRIPT)
    code, body = await _export(jp_fetch, {"path": notebook, "to": "script"})  # the sidebar sends no output
    assert code == 409, body
    assert "exists and was not written by nbpipe" in body["message"] and "overwrite" in body["hint"]
    assert mine.read_text() == USER_SCRIPT
    code, body = await _export(jp_fetch, {"path": notebook, "to": "script", "overwrite": True})
    assert code == 200, body
    assert body["path"] == "sub/nb.py" and mine.read_text().startswith(PY_MARKER)
    code, body = await _export(jp_fetch, {"path": notebook, "to": "script"})  # its own file now
    assert code == 200, body


async def test_export_over_the_notebook_is_refused(jp_fetch: Any, jp_root_dir: Path, notebook: str) -> None:
    before = (jp_root_dir / notebook).read_text()
    for overwrite in (False, True):
        code, body = await _export(
            jp_fetch, {"path": notebook, "to": "script", "output": notebook, "overwrite": overwrite}
        )
        assert code == 400 and "is the notebook itself" in body["message"]
    assert (jp_root_dir / notebook).read_text() == before


async def test_airflow_export_does_not_overwrite_a_notebook(jp_fetch: Any, jp_root_dir: Path, notebook: str) -> None:
    other = jp_root_dir / "sub" / "other.ipynb"
    other.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    code, body = await _export(jp_fetch, {"path": notebook, "to": "airflow", "output": "sub/other.ipynb"})
    assert code == 409 and "other.ipynb" in body["message"]
    assert json.loads(other.read_text())["cells"] == []


@pytest.mark.parametrize(
    "output",
    [".jupyter/jupyter_server_config.py", ".ipython/profile_default/startup/00-nbpipe.py", "sub/.hidden.py"],
)
async def test_hidden_outputs_are_refused(jp_fetch: Any, jp_root_dir: Path, notebook: str, output: str) -> None:
    code, body = await _export(jp_fetch, {"path": notebook, "to": "script", "output": output})
    assert code == 400
    assert f"output {output!r} is hidden" in body["message"] and "allow_hidden" in body["hint"]
    assert not (jp_root_dir / output).exists()


async def test_hidden_outputs_are_written_when_the_contents_manager_allows_them(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, notebook: str
) -> None:
    jp_serverapp.contents_manager.allow_hidden = True
    code, body = await _export(jp_fetch, {"path": notebook, "to": "script", "output": ".scripts/nb.py"})
    assert code == 200, body
    assert (jp_root_dir / ".scripts" / "nb.py").read_text().startswith(PY_MARKER)


async def test_overwrite_must_be_a_boolean(jp_fetch: Any, notebook: str) -> None:
    code, body = await _export(jp_fetch, {"path": notebook, "to": "script", "overwrite": "yes"})
    assert code == 400 and "'overwrite' must be true or false" in body["message"]
