"""Every bad request to the nbpipe API answers 400 with a short JSON message, never 500; large bodies
are parsed and analysed off the event loop (real Jupyter Server, pytest-jupyter's ``jp_fetch``)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from nbpipe.server.workers import LARGE_BODY

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NB = "sub/nb.ipynb"
#: As JupyterLab sends it (without it Tornado parses the body as a form, on the event loop); copied per
#: request because jp_fetch adds the server's token to the dict it is given.
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbpipe.server": True}}}


def _notebook(*sources: Any, outputs: int = 0) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    data: dict[str, Any] = json.loads(nbformat.writes(nb))
    stream = {"output_type": "stream", "name": "stdout", "text": [f"line {i}\n" for i in range(40)]}
    for cell in data["cells"]:
        cell["outputs"] = [dict(stream) for _ in range(outputs)]
    return data


@pytest.fixture
def notebook(jp_root_dir: Path) -> str:
    (jp_root_dir / "sub").mkdir()
    (jp_root_dir / "folder.py").mkdir()
    (jp_root_dir / NB).write_text(json.dumps(_notebook("%%stage load --out raw\nraw = [1]")), encoding="utf-8")
    return NB


async def _post(jp_fetch: Any, route: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    try:
        response = await jp_fetch("nbpipe", "api", route, method="POST", body=data, headers=dict(JSON))
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return response.code, json.loads(response.body)


def _with_content(metadata_json: str = "{}", cells: Any = ()) -> str:
    return json.dumps({"path": NB, "content": "CONTENT"}).replace(
        '"CONTENT"',
        f'{{"cells": {json.dumps(list(cells))}, "metadata": {metadata_json}, "nbformat": 4, "nbformat_minor": 5}}',
    )


_SOURCE_5 = [{"cell_type": "code", "source": 5, "metadata": {}, "outputs": [], "execution_count": None}]

BAD = [
    ("nested body", "analyze", "[" * 10_000 + "]" * 10_000, "nested too deeply"),
    ("nested content", "analyze", _with_content('{"a": ' * 10_000 + "1" + "}" * 10_000), "nested too deeply"),
    ("not UTF-8", "analyze", b'{"path": "\xff.ipynb"}', "not valid JSON"),
    ("huge integer", "analyze", '{"path": ' + "9" * 5_000 + "}", "not valid JSON"),
    ("lone surrogate in path", "analyze", '{"path": "sub/\\ud800.ipynb"}', "lone surrogate"),
    ("lone surrogate in output", "export", f'{{"path": "{NB}", "to": "script", "output": "x\\udc80.py"}}', "surrogate"),
    ("source 5", "analyze", _with_content(cells=_SOURCE_5), "'source' is a int"),
    ("export to a folder", "export", {"path": NB, "to": "script", "output": "folder.py"}, "is a folder"),
    (
        "… even with overwrite",
        "export",
        {"path": NB, "to": "script", "output": "folder.py", "overwrite": True},
        "folder",
    ),
    (
        "output under a file",
        "export",
        {"path": NB, "to": "papermill", "output": f"{NB}/out"},
        "is a file, not a folder",
    ),
    ("notebook is a folder", "analyze", {"path": "sub"}, "is a folder"),
    ("name too long", "export", {"path": NB, "to": "script", "output": "a" * 300 + ".py"}, "longer than 255 bytes"),
    ("missing path", "export", {"to": "script"}, "'path'"),
    ("path a list", "analyze", {"path": [NB]}, "'path'"),
    ("to a number", "export", {"path": NB, "to": 5}, "'to'"),
    ("unknown target", "export", {"path": NB, "to": "nope"}, "unknown export target"),
    ("overwrite a string", "export", {"path": NB, "to": "script", "overwrite": "yes"}, "'overwrite'"),
    ("content a list", "analyze", {"path": NB, "content": []}, "'content'"),
    ("NaN path", "analyze", '{"path": NaN}', "'path'"),
]


@pytest.mark.parametrize(("route", "body", "fragment"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
async def test_bad_request_is_400_with_a_short_message(
    jp_fetch: Any, notebook: str, route: str, body: Any, fragment: str
) -> None:
    code, reply = await _post(jp_fetch, route, body)
    assert code == 400, reply
    assert fragment in reply["message"]
    assert reply["hint"]
    assert len(reply["message"]) < 400  # a long path is quoted briefly, not echoed whole


async def test_a_large_body_is_analysed_in_a_worker_while_small_requests_complete(
    jp_fetch: Any, jp_web_app: Any, notebook: str
) -> None:
    workers = jp_web_app.settings["nbpipe_workers"]
    try:
        assert await workers.run(LARGE_BODY, os.getpid) != os.getpid()  # a large body leaves the server process
        assert await workers.run(1, os.getpid) == os.getpid()  # a small one is a thread's work
        stages = [f"%%stage s{i} --out v{i}\nv{i} = {i}" for i in range(40)]
        big = json.dumps({"path": NB, "content": _notebook(*stages, outputs=400)})
        assert len(big) > LARGE_BODY
        done: list[str] = []

        async def request(name: str, body: Any) -> tuple[int, dict[str, Any]]:
            reply = await _post(jp_fetch, "analyze", body)
            done.append(name)
            return reply

        large = asyncio.create_task(request("large", big))
        small = [await request(f"small{i}", {"path": NB}) for i in range(3)]
        code, graph = await large
        assert done == ["small0", "small1", "small2", "large"]
        assert all(reply[0] == 200 and reply[1]["order"] == ["load"] for reply in small)
        assert code == 200 and len(graph["order"]) == 40 and graph["notebook"] == NB
        code, reply = await _post(jp_fetch, "analyze", "[" * 100_000 + " " * LARGE_BODY + "]" * 100_000)
        assert code == 400 and "nested too deeply" in reply["message"]  # the worker's errors are replies too
    finally:
        workers.shutdown()
