"""The exported Airflow DAG runs with ``dag.test()`` (Airflow 3, SQLite, no scheduler) and fills the store.

A session fixture makes a temporary ``AIRFLOW_HOME`` and sets it in ``os.environ``
before airflow is first imported, then migrates the SQLite database once per test
process (STACK P10): airflow reads its home once, so every module must share it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cache.store import Store
from nbpipe.export import export_notebook
from nbpipe.export.airflow import ExportWarning
from nbpipe.runtime.runner import run_notebook
from tests.notebooks import write_nb
from tests.stores import latest_fingerprints

pytestmark = pytest.mark.slow


def load_module(path: Path) -> Any:
    """Import a DAG file as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dag(path: Path, params: dict[str, Any] | None = None) -> Any:
    """Import the DAG file and run it in-process; returns the DagRun."""
    module = load_module(path)
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


def test_the_dag_is_portable_the_notebook_folder_moves_after_export(
    tmp_path: Path, airflow_dags: Path, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 §3: no path of the exporting machine in the DAG; the folder is found when a task runs."""
    dag_file = airflow_dags / "test_airflow_portable.py"
    export_notebook(examples / "sales_etl.ipynb", "airflow", dag_file, dag_id="nbpipe_test_airflow_portable")
    text = dag_file.read_text()
    assert str(examples) not in text and str(tmp_path) not in text
    assert "NBPIPE_BASE_DIR" in text.split('"""')[1]  # the docstring says how the folder is found
    moved = tmp_path / "elsewhere" / "notebooks"
    moved.parent.mkdir()
    shutil.move(str(examples), moved)  # relative --file-in data/sales.csv now exists only here
    monkeypatch.setenv("NBPIPE_BASE_DIR", str(moved))
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    try:
        dagrun = run_dag(dag_file)
    finally:
        dag_file.unlink()
    assert "success" in str(dagrun.state).lower()
    stages = ["load", "clean", "by_region", "by_month", "report"]
    got = latest_fingerprints(Store(str(moved / ".nbpipe"), scope="sales_etl.ipynb"), stages)
    assert set(got) == {"raw", "sales", "region_totals", "monthly", "summary"}
    assert (moved / "output" / "report.csv").exists()  # --file-out relative to the moved folder


def test_long_stage_names_get_bounded_unique_task_ids_and_cpu_becomes_pool_slots(
    tmp_path: Path, airflow_dags: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 §4: task ids stay within Airflow's 250 characters; issue 15 §2: what Airflow ignores is said."""
    first, second = "a" * 300 + "_one", "a" * 300 + "_two"
    notebook = write_nb(
        tmp_path / "long.ipynb",
        "%load_ext nbpipe",
        f"%%stage {first} --out x --resources cpu=2 memory=4Gi\nx = 21",
        f"%%stage {second} --in x --out y --resources gpu=1\ny = x * 2",
    )
    dag_file = airflow_dags / "test_airflow_long.py"
    with pytest.warns(ExportWarning, match=r"memory=4Gi.*gpu=1"):
        export_notebook(notebook, "airflow", dag_file, dag_id="nbpipe_test_airflow_long")
    text = dag_file.read_text()
    assert "ignored" in text.split('"""')[1] and "pool_slots" in text
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    try:
        module = load_module(dag_file)
        dagrun = module.dag.test()
    finally:
        dag_file.unlink()
    ids = [t.task_id for t in module.dag.tasks]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(len(i) <= 250 for i in ids)
    assert {t.task_id: t.pool_slots for t in module.dag.tasks}[module.TASK_IDS[first]] == 2
    assert "success" in str(dagrun.state).lower()
    done = {
        s["name"]: s for r in Store(str(tmp_path / ".nbpipe")).records() for s in r["stages"] if s["name"] == second
    }
    assert done[second]["status"] == "ran" and set(done[second]["outputs"]) == {"y"}


def test_nbpipe_export_says_what_airflow_ignores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nbpipe.cli import main

    notebook = write_nb(
        tmp_path / "res.ipynb", "%load_ext nbpipe", "%%stage fit --out m --resources cpu=0.5 memory=1Gi\nm = 1"
    )
    assert main(["export", str(notebook), "--to", "airflow", "-o", str(tmp_path / "dag.py")]) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "stage 'fit' memory=1Gi" in err and "cpu" not in err.split("ignored")[1]
    assert 'POOL_SLOTS: dict[str, int] = {"fit": 1}' in (tmp_path / "dag.py").read_text()
