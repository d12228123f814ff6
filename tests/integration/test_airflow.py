"""The exported Airflow DAG runs with ``dag.test()`` (Airflow 3, SQLite, no scheduler) and fills the store.

A session fixture makes a temporary ``AIRFLOW_HOME`` and sets it in ``os.environ``
before airflow is first imported, then migrates the SQLite database once per test
process (STACK P10): airflow reads its home once, so every module must share it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cache.store import Store
from nbpipe.export import export_notebook
from nbpipe.runtime.runner import run_notebook
from tests.stores import latest_fingerprints

pytestmark = pytest.mark.slow


def run_dag(path: Path, params: dict[str, Any] | None = None) -> Any:
    """Import the DAG file and run it in-process; returns the DagRun."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag.test(run_conf=params) if params else module.dag.test()


def test_iris_dag_runs_every_stage_and_matches_nbpipe_run(
    examples: Path, airflow_dags: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = examples / "iris_classifier.ipynb"
    store = tmp_path / "airflow_store"
    dag_file = airflow_dags / "test_airflow_iris.py"
    export_notebook(notebook, "airflow", dag_file, store=str(store), retries=1, dag_id="nbpipe_test_airflow_iris")
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    text = dag_file.read_text()
    try:
        dagrun = run_dag(dag_file)
    finally:
        dag_file.unlink()  # one DAG file per test in the shared dags folder: ids never collide

    assert str(dagrun.state) in ("success", "DagRunState.SUCCESS")
    stages = ["load", "split", "scale", "train", "evaluate"]
    got = latest_fingerprints(Store(str(store), scope="iris_classifier.ipynb"), stages)
    local = run_notebook(notebook, store=str(tmp_path / "local_store"))
    want = {name: info["fingerprint"] for r in local.stages for name, info in r.outputs.items()}
    assert got == want
    records = Store(str(store)).records()
    assert {r["target"] for r in records} == {"airflow"}
    assert "retries=RETRIES" in text and "RETRIES = 1" in text
