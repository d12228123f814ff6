"""The nbpipe server extension against a real Jupyter Server (pytest-jupyter's ``jp_fetch``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# The installed config enables "nbpipe"; from a checkout the subpackage is loaded directly.
EXTENSION = "nbpipe.server"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {EXTENSION: True}}}


def _notebook(*stages: str) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    params = nbformat.v4.new_code_cell("C = 1.0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in stages)]
    return dict(json.loads(nbformat.writes(nb)))


TWO_STAGES = ("%%stage load --out raw\nraw = [1, 2, 3]", "%%stage clean --in raw --out xs\nxs = [r * C for r in raw]")


@pytest.fixture
def notebook(jp_root_dir: Path) -> str:
    (jp_root_dir / "sub").mkdir()
    (jp_root_dir / "sub" / "nb.ipynb").write_text(json.dumps(_notebook(*TWO_STAGES)), encoding="utf-8")
    return "sub/nb.ipynb"


async def _post(jp_fetch: Any, route: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, str) else json.dumps(body)
    try:
        response = await jp_fetch("nbpipe", "api", route, method="POST", body=data)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return response.code, json.loads(response.body)


async def test_no_token_is_forbidden(jp_fetch: Any, jp_http_port: int, jp_base_url: str, notebook: str) -> None:
    url = f"http://localhost:{jp_http_port}{jp_base_url}nbpipe/api/analyze"
    for route in ("analyze", "export"):
        with pytest.raises(HTTPClientError) as info:
            await AsyncHTTPClient().fetch(
                url.replace("analyze", route), method="POST", body=json.dumps({"path": notebook, "to": "script"})
            )
        assert info.value.code == 403


@pytest.mark.parametrize("path", ["../../etc/passwd", "sub/../../outside.ipynb", "a\0b.ipynb"])
async def test_paths_outside_the_root_are_refused(jp_fetch: Any, path: str) -> None:
    code, body = await _post(jp_fetch, "analyze", {"path": path})
    assert code == 403
    assert "refused" in body["message"]


async def test_symlink_out_of_the_root_is_refused(jp_fetch: Any, jp_root_dir: Path, tmp_path_factory: Any) -> None:
    outside = tmp_path_factory.mktemp("outside") / "nb.ipynb"
    outside.write_text(json.dumps(_notebook(*TWO_STAGES)), encoding="utf-8")
    (jp_root_dir / "link.ipynb").symlink_to(outside)
    code, body = await _post(jp_fetch, "analyze", {"path": "link.ipynb"})
    assert code == 403
    assert "outside the server root" in body["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({}, "'path'"),
        ({"path": 3}, "'path'"),
        ({"path": "sub/nb.ipynb", "content": 5}, "'content'"),
    ],
)
async def test_bad_requests_get_400_with_a_message(jp_fetch: Any, notebook: str, body: Any, fragment: str) -> None:
    code, reply = await _post(jp_fetch, "analyze", body)
    assert code == 400
    assert fragment in reply["message"]
    assert reply["hint"]


async def test_missing_notebook_is_404(jp_fetch: Any) -> None:
    code, body = await _post(jp_fetch, "analyze", {"path": "nope.ipynb"})
    assert code == 404
    assert "'nope.ipynb' does not exist" in body["message"]


async def test_absolute_paths_are_relative_to_the_root(jp_fetch: Any) -> None:
    # Like the contents API, a leading "/" means the server root, never the file system root.
    code, body = await _post(jp_fetch, "analyze", {"path": "/etc/passwd"})
    assert code == 404
    assert "'/etc/passwd' does not exist" in body["message"]


async def test_analyze_saved_notebook(jp_fetch: Any, notebook: str) -> None:
    code, graph = await _post(jp_fetch, "analyze", {"path": notebook})
    assert code == 200, graph
    assert graph["version"] == 1
    assert graph["notebook"] == notebook
    assert [s["name"] for s in graph["stages"]] == ["load", "clean"]
    assert all(s["status"] in ("fresh", "stale", "never-run", "failed", "unknown") for s in graph["stages"])
    assert graph["edges"] == [{"source": "load", "target": "clean", "names": ["raw"]}]
    assert graph["order"] == ["load", "clean"]


async def test_analyze_unsaved_content_wins_over_the_file(jp_fetch: Any, notebook: str) -> None:
    content = _notebook(*TWO_STAGES, "%%stage report --out total\ntotal = sum(xs)")
    code, graph = await _post(jp_fetch, "analyze", {"path": notebook, "content": content})
    assert code == 200, graph
    assert [s["name"] for s in graph["stages"]] == ["load", "clean", "report"]
    undeclared = [d for d in graph["diagnostics"] if d["code"] == "NBP101"]
    assert undeclared and undeclared[0]["stage"] == "report" and "xs" in undeclared[0]["names"]


async def test_broken_notebook_content_is_400(jp_fetch: Any, notebook: str) -> None:
    code, body = await _post(jp_fetch, "analyze", {"path": notebook, "content": {"cells": []}})
    assert code == 400
    assert "not a notebook" in body["message"]


async def test_export_requires_a_target(jp_fetch: Any, notebook: str) -> None:
    code, body = await _post(jp_fetch, "export", {"path": notebook})
    assert code == 400
    assert "'to'" in body["message"]


async def test_export_output_outside_the_root_is_refused(jp_fetch: Any, notebook: str) -> None:
    code, body = await _post(jp_fetch, "export", {"path": notebook, "to": "script", "output": "../evil.py"})
    assert code == 403
    assert "leaves the server root" in body["message"]


async def test_export_writes_inside_the_root_or_says_it_is_unavailable(
    jp_fetch: Any, jp_root_dir: Path, notebook: str
) -> None:
    code, body = await _post(jp_fetch, "export", {"path": notebook, "to": "script"})
    try:
        from nbpipe.export import export_notebook  # noqa: F401
    except ImportError:
        assert code == 501
        assert "not available" in body["message"]
        return
    assert code == 200, body
    assert (jp_root_dir / body["path"]).is_file()


@pytest.mark.parametrize(
    ("route", "extra"),
    [("analyze", {}), ("analyze", {"content": _notebook(*TWO_STAGES)}), ("export", {"to": "script"})],
)
async def test_hidden_notebooks_are_refused_by_every_handler_unless_hidden_files_are_allowed(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, route: str, extra: dict[str, Any]
) -> None:
    """The contents API's hidden-file rule holds for a notebook nbpipe reads, as for what it writes."""
    (jp_root_dir / ".private").mkdir()
    (jp_root_dir / ".private" / "nb.ipynb").write_text(json.dumps(_notebook(*TWO_STAGES)), encoding="utf-8")
    code, reply = await _post(jp_fetch, route, {"path": ".private/nb.ipynb", **extra})
    assert code == 400 and "hidden" in reply["message"] and "allow_hidden" in reply["hint"], reply
    assert not (jp_root_dir / ".private" / "nb.py").exists()
    jp_serverapp.contents_manager.allow_hidden = True
    code, reply = await _post(jp_fetch, route, {"path": ".private/nb.ipynb", **extra})
    assert code == 200, reply
