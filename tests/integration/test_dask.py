"""``nbpipe run NB --executor dask`` on a real LocalCluster (2 worker processes).

Outputs equal the in-process run; a failing stage surfaces with its own traceback and
name; independent stages overlap in time (from the run record's timestamps); and
``--address`` sends the stages to an existing cluster.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from nbpipe.errors import PipelineError
from nbpipe.runtime.runner import RunOptions, run_notebook
from tests.notebooks import write_nb

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("kernel_env")]

BRANCH_SECONDS = 1.5


def branches(path: Path, fail: bool = False) -> Path:
    """load -> (left, right: ~1.5 s each, independent) -> join."""
    right = "b = [x * factor for x in xs]\nraise ValueError('right broke')" if fail else "b = [x * factor for x in xs]"
    return write_nb(
        path,
        "%load_ext nbpipe",
        "import time\n\n\ndef inc(v):\n    return v + 1",
        ("n = 4\nfactor = 2.0", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        f"%%stage left --in xs --out a\ntime.sleep({BRANCH_SECONDS})\na = [inc(x) for x in xs]",
        f"%%stage right --in xs --out b\ntime.sleep({BRANCH_SECONDS})\n{right}",
        "%%stage join --in a b --out total\ntotal = sum(a) + sum(b)",
    )


def latest_record(folder: Path) -> dict[str, Any]:
    runs = sorted((folder / ".nbpipe" / "runs").glob("*.json"))
    return json.loads(runs[-1].read_text())


def interval(stage: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.fromisoformat(stage["started"]), dt.datetime.fromisoformat(stage["finished"])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One LocalCluster for the module's ``--address`` test (STACK: dashboard off, processes)."""
    from distributed import LocalCluster

    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield local
    local.close()


def test_dask_outputs_equal_local_and_branches_overlap(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "dask").mkdir()
    notebook = branches(tmp_path / "dask" / "b.ipynb")
    assert main(["run", str(notebook), "--executor", "dask", "--jobs", "2"]) == 0
    record = latest_record(notebook.parent)
    stages = {s["name"]: s for s in record["stages"]}
    assert {s["status"] for s in stages.values()} == {"ran"}

    (tmp_path / "local").mkdir()
    local = run_notebook(branches(tmp_path / "local" / "b.ipynb"))
    want = {n: i["fingerprint"] for r in local.stages for n, i in r.outputs.items()}
    got = {n: i["fingerprint"] for s in stages.values() for n, i in s["outputs"].items()}
    assert got == want and set(got) == {"xs", "a", "b", "total"}
    assert local.outputs(["total"]) == {"total": 10 + 12.0}

    (left_start, left_end), (right_start, right_end) = interval(stages["left"]), interval(stages["right"])
    overlap = (min(left_end, right_end) - max(left_start, right_start)).total_seconds()
    assert overlap > BRANCH_SECONDS / 2, (stages["left"], stages["right"])
    assert left_end - left_start >= dt.timedelta(seconds=BRANCH_SECONDS)


def test_dask_failure_names_stage_and_line_and_keeps_siblings(tmp_path: Path, capsys: Any) -> None:
    notebook = branches(tmp_path / "b.ipynb", fail=True)
    assert main(["run", str(notebook), "--executor", "dask"]) == 1
    err = capsys.readouterr().err
    assert "stage 'right' failed: ValueError: right broke" in err
    assert 'cell 6>", line 4' in err, err  # the cell's own line number (line 1 is the %%stage header)
    assert "raise ValueError('right broke')" in err
    assert "nbpipe/runtime" not in err  # the user's frames only
    statuses = {s["name"]: s["status"] for s in latest_record(tmp_path)["stages"]}
    assert statuses == {"load": "ran", "left": "ran", "right": "failed", "join": "skipped"}


def test_dask_address_of_an_existing_cluster(tmp_path: Path, cluster: Any, capsys: Any) -> None:
    notebook = branches(tmp_path / "b.ipynb")
    assert main(["run", str(notebook), "--executor", "dask", "--address", cluster.scheduler_address]) == 0
    assert {s["status"] for s in latest_record(tmp_path)["stages"]} == {"ran"}
    assert cluster.scheduler_address  # the cluster outlived the run: nbpipe closed only its client
    from distributed import Client

    with Client(cluster.scheduler_address) as client:
        assert len(client.scheduler_info()["workers"]) == 2
    assert main(["run", str(notebook), "--executor", "dask", "--address", cluster.scheduler_address]) == 0
    assert {s["status"] for s in latest_record(tmp_path)["stages"]} == {"cached"}


def test_an_unreachable_scheduler_is_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbpipe.runtime import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1)
    path = write_nb(tmp_path / "d.ipynb", "%%stage a --out x\nx = 1")
    with pytest.raises(PipelineError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        run_notebook(path, RunOptions(executor="dask", address="tcp://127.0.0.1:9"))
