"""``nbpipe export --to papermill`` and ``nbpipe run DIR``: stage notebooks run in real kernels with the cache."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbpipe.cli import main
from nbpipe.runtime.runner import run_notebook
from tests.notebooks import write_nb

pytestmark = [pytest.mark.slow, pytest.mark.kernel, pytest.mark.usefixtures("kernel_env")]


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    return write_nb(
        tmp_path / "chain.ipynb",
        "%load_ext nbpipe",
        "def inc(v):\n    return v + 1",
        ("n = 3", "parameters"),
        "%%stage total --in doubled --out result\nresult = sum(doubled)",  # above its input: order is the graph's
        "%%stage load --out xs\nxs = [inc(x) for x in range(n)]",
        "%%stage double --in xs --out doubled\ndoubled = [2 * x for x in xs]\nprint('doubled', doubled)",
    )


def records(store: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((store / "runs").glob("*.json"))]


def test_export_writes_a_notebook_per_stage_and_a_manifest(chain: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pm"
    assert main(["export", str(chain), "--to", "papermill", "-o", str(folder)]) == 0
    manifest = json.loads((folder / "pipeline.json").read_text())
    assert manifest["notebooks"] == {"load": "01_load.ipynb", "double": "02_double.ipynb", "total": "03_total.ipynb"}
    cells = nbformat.read(folder / "02_double.ipynb", as_version=4).cells
    tags = [tuple(c.metadata.get("tags", [])) for c in cells]
    assert ("parameters",) in tags and ("nbpipe-inputs",) in tags and ("nbpipe-outputs",) in tags
    stage = next(c for c in cells if "nbpipe-stage" in c.metadata.get("tags", []))
    assert stage.source == "doubled = [2 * x for x in xs]\nprint('doubled', doubled)"
    assert any(c.source.startswith("def inc") for c in cells)  # setup cells come along


def test_run_folder_in_order_with_cache_and_kept_notebooks(chain: Path, tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "pm"
    assert main(["export", str(chain), "--to", "papermill", "-o", str(folder)]) == 0
    store = chain.parent / ".nbpipe"
    run_notebook(chain, only=["load"])  # `nbpipe run` computed one stage: a hit for the papermill run

    assert main(["run", str(folder)]) == 0
    first = records(store)[-1]
    assert first["target"] == "papermill"
    stages = {s["name"]: s for s in first["stages"]}
    assert {n: s["status"] for n, s in stages.items()} == {"load": "cached", "double": "ran", "total": "ran"}
    started = {n: dt.datetime.fromisoformat(s["started"]) for n, s in stages.items()}
    assert started["double"] < started["total"]
    executed = folder / "runs" / first["run_id"]
    assert sorted(p.name for p in executed.glob("*.ipynb")) == ["02_double.ipynb", "03_total.ipynb"]
    kept = nbformat.read(executed / "02_double.ipynb", as_version=4)
    assert any("doubled [2, 4, 6]" in o.get("text", "") for c in kept.cells for o in c.get("outputs", []))

    assert main(["run", str(folder)]) == 0
    second = records(store)[-1]
    assert {s["status"] for s in second["stages"]} == {"cached"}
    assert not list((folder / "runs" / second["run_id"]).glob("*.ipynb"))

    again = run_notebook(chain)  # and back: the notebook's batch run hits the papermill results
    assert {r.status for r in again.stages} == {"cached"}
    assert again.outputs(["result"]) == {"result": 12}


def test_run_folder_failure_names_the_stage(tmp_path: Path, capsys: Any) -> None:
    notebook = write_nb(
        tmp_path / "bad.ipynb",
        "%load_ext nbpipe",
        ("n = 3", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        "%%stage boom --in xs --out ys\nys = xs\nraise ValueError(f'no good: {len(ys)}')",
    )
    folder = tmp_path / "pm"
    assert main(["export", str(notebook), "--to", "papermill", "-o", str(folder)]) == 0
    assert main(["run", str(folder), "-p", "n=oops"]) == 2  # validated against the default's type
    assert main(["run", str(folder), "-p", "n=4"]) == 1
    err = capsys.readouterr().err
    assert "stage 'boom' failed: ValueError: no good: 4" in err
    last = records(tmp_path / ".nbpipe")[-1]
    assert {s["name"]: s["status"] for s in last["stages"]} == {"load": "ran", "boom": "failed"}
    assert last["params"] == {"n": 4}
    assert (folder / "runs" / last["run_id"] / "02_boom.ipynb").exists()  # the failed notebook is kept too
