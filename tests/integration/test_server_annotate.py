"""``POST /nbpipe/api/annotate`` against a real Jupyter Server: an annotated copy, never a replaced file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from nbpipe import analyze

pytest_plugins = ["pytest_jupyter.jupyter_server"]

PLAIN = (
    "import json",
    "raw = [3, 1, 2]",
    "ordered = sorted(raw)",
    "total = sum(ordered)",
    "print(total)",
)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbpipe.server": True}}}


@pytest.fixture
def plain(jp_root_dir: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in PLAIN]
    (jp_root_dir / "sub").mkdir()
    nbformat.write(nb, jp_root_dir / "sub" / "plain.ipynb")
    return "sub/plain.ipynb"


async def _post(jp_fetch: Any, body: Any) -> tuple[int, dict[str, Any]]:
    try:
        response = await jp_fetch("nbpipe", "api", "annotate", method="POST", body=json.dumps(body))
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return response.code, json.loads(response.body)


async def test_annotate_writes_a_staged_copy_beside_the_notebook(jp_fetch: Any, jp_root_dir: Path, plain: str) -> None:
    before = (jp_root_dir / plain).read_bytes()
    code, reply = await _post(jp_fetch, {"path": plain})
    assert code == 200, reply
    assert reply["path"] == "sub/plain.staged.ipynb"
    graph = analyze(jp_root_dir / reply["path"])
    assert [s.name for s in graph.stages] == reply["stages"] and reply["stages"]
    assert not graph.errors
    assert (jp_root_dir / plain).read_bytes() == before  # the notebook itself is untouched


async def test_annotate_never_replaces_a_file(jp_fetch: Any, jp_root_dir: Path, plain: str) -> None:
    mine = jp_root_dir / "sub" / "plain.staged.ipynb"
    mine.write_text("my own notes", encoding="utf-8")
    code, reply = await _post(jp_fetch, {"path": plain})
    assert code == 200 and reply["path"] == "sub/plain.staged-2.ipynb", reply
    code, reply = await _post(jp_fetch, {"path": plain})
    assert code == 200 and reply["path"] == "sub/plain.staged-3.ipynb", reply
    assert mine.read_text(encoding="utf-8") == "my own notes"


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("../x.ipynb", 403, "leaves the server root"),
        ("missing.ipynb", 404, "does not exist"),
        ("sub/notes.txt", 400, "not a .ipynb notebook"),
    ],
)
async def test_annotate_bad_requests(jp_fetch: Any, plain: str, path: str, status: int, fragment: str) -> None:
    code, reply = await _post(jp_fetch, {"path": path})
    assert code == status and fragment in reply["message"], reply
