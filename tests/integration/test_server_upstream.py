"""Graph JSON 1.2 ``upstream``: the stages of other notebooks a notebook reads, from a real Jupyter Server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FORECAST = Path(__file__).resolve().parents[2] / "example_notebooks" / "forecast"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbpipe.server": True}}}


@pytest.fixture
def forecast(jp_root_dir: Path) -> Path:
    folder = jp_root_dir / "forecast"
    folder.mkdir()
    for name in ("ingest.ipynb", "features.py", "train.ipynb"):
        shutil.copy(FORECAST / name, folder / name)
    return folder


async def _analyze(jp_fetch: Any, path: str) -> dict[str, Any]:
    try:
        response = await jp_fetch("nbpipe", "api", "analyze", method="POST", body=json.dumps({"path": path}))
    except HTTPClientError as exc:  # the reply's message says what went wrong
        raise AssertionError(exc.response.body if exc.response is not None else exc) from exc
    return dict(json.loads(response.body))


async def test_upstream_group_of_train(jp_fetch: Any, forecast: Path) -> None:
    graph = await _analyze(jp_fetch, "forecast/train.ipynb")
    assert (graph["version"], graph["minor"]) == (1, 2)
    assert [s["name"] for s in graph["stages"]] == ["train", "report"]
    (group,) = graph["upstream"]
    assert (group["notebook"], group["path"]) == ("features.py", "forecast/features.py")
    # both stages of features.py: 'features' outputs the table read, 'daily' is upstream of it there
    assert [(s["name"], s["outputs"]) for s in group["stages"]] == [("daily", ["daily"]), ("features", ["table"])]
    assert {s["status"] for s in group["stages"]} <= {"fresh", "stale", "never-run", "failed", "unknown"}
    assert all(s["reason"] for s in group["stages"])
    assert group["edges"] == [
        {"source": "features", "target": "train", "names": ["table"]},
        {"source": "features", "target": "report", "names": ["table"]},
    ]


async def test_upstream_of_a_percent_script_and_none(jp_fetch: Any, forecast: Path) -> None:
    features = await _analyze(jp_fetch, "forecast/features.py")
    (group,) = features["upstream"]
    assert (group["notebook"], group["path"]) == ("ingest.ipynb", "forecast/ingest.ipynb")
    assert group["edges"] == [{"source": "ingest", "target": "daily", "names": ["orders"]}]
    assert (await _analyze(jp_fetch, "forecast/ingest.ipynb"))["upstream"] == []


async def test_upstream_outside_the_root_or_hidden_has_no_path(
    jp_fetch: Any, jp_root_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(FORECAST / "ingest.ipynb", outside / "ingest.ipynb")
    (jp_root_dir / ".hidden").mkdir()
    shutil.copy(FORECAST / "ingest.ipynb", jp_root_dir / ".hidden" / "ingest.ipynb")
    text = (FORECAST / "features.py").read_text(encoding="utf-8")
    for name, where in (("far.py", str(outside / "ingest.ipynb")), ("dot.py", ".hidden/ingest.ipynb")):
        (jp_root_dir / name).write_text(text.replace("orders@ingest.ipynb", f"orders@{where}"), encoding="utf-8")
        (group,) = (await _analyze(jp_fetch, name))["upstream"]
        assert group["notebook"] == where
        assert group["path"] is None
        assert [s["name"] for s in group["stages"]] == ["ingest"]
