"""DESIGN §1, the promise: every target computes the same stage outputs as the notebook.

For each example notebook, each target runs on its own copy of ``example_notebooks/``
with its own store (so each target really computes), then the fingerprint of every
stage output is compared with the kernel's: nbclient kernel (the ``%%stage`` bundles'
keys looked up in the store), ``nbpipe run``, the exported script, the papermill
folder, the Airflow DAG (``dag.test()``), the Kubeflow pipeline (compiled with kfp's compiler,
its YAML loaded back, run with kfp's local subprocess runner) and Dask (LocalCluster, 2 worker
processes). The pipeline across notebooks (``example_notebooks/forecast/``) is compared the
same way in every target, its three notebooks in one store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kfp import components
from nbclient import NotebookClient

from nbpipe.cache.store import Store
from nbpipe.export import export_notebook
from nbpipe.export.papermill_run import run_papermill
from nbpipe.runtime.runner import RunResult, run_notebook
from tests.stores import latest_fingerprints

ROOT = Path(__file__).resolve().parents[2]
STAGE_MIME = "application/vnd.nbpipe.stage+json"
NOTEBOOKS = ["iris_classifier.ipynb", "sales_etl.ipynb"]

pytestmark = [pytest.mark.slow, pytest.mark.kernel]


def copy_examples(tmp_path: Path, target: str) -> Path:
    """A private copy of example_notebooks/ for one target."""
    folder = tmp_path / target / "example_notebooks"
    ignore = shutil.ignore_patterns("output", ".nbpipe", ".ipynb_checkpoints", "__pycache__")
    shutil.copytree(ROOT / "example_notebooks", folder, ignore=ignore)
    return folder


def record_prints(result: RunResult) -> dict[str, str]:
    """Output name -> fingerprint from a run's stage records (every stage must have run)."""
    assert result.status == "ok", [(r.name, r.error) for r in result.failed]
    assert {r.status for r in result.stages} == {"ran"}
    return {name: info["fingerprint"] for r in result.stages for name, info in r.outputs.items()}


def kernel_prints(path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Run the notebook in a real kernel; fingerprints of the entries its stage bundles name."""
    monkeypatch.setenv("NBPIPE_STORE", str(store))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    monkeypatch.delenv("NBPIPE_STORE")
    found: dict[str, str] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            bundle = output.get("data", {}).get(STAGE_MIME)
            if bundle:
                assert bundle["status"] == "ran", bundle
                manifest = Store(str(store)).lookup(bundle["key"])
                assert manifest is not None, f"stage {bundle['stage']!r}: key {bundle['key']} not in the store"
                found.update({n: i.fingerprint for n, i in manifest.outputs.items()})
    return found


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    """One LocalCluster (2 worker processes) for the module."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield str(cluster.scheduler_address)
    cluster.close()


def load_dag(path: Path) -> Any:
    """Import a DAG file; returns its ``dag``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_target_computes_the_notebooks_outputs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_dags: Path, dask_address: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    prints: dict[str, dict[str, str]] = {}

    folder = copy_examples(tmp_path, "kernel")
    prints["kernel"] = kernel_prints(folder / name, tmp_path / "kernel_store", monkeypatch)

    folder = copy_examples(tmp_path, "run")
    run = run_notebook(folder / name, store=str(tmp_path / "run_store"))
    prints["run"] = record_prints(run)
    stages = [r.name for r in run.stages]

    folder = copy_examples(tmp_path, "script")
    script = export_notebook(folder / name, "script", tmp_path / "script" / "pipeline.py")
    subprocess.run(
        [sys.executable, script, "--store", str(tmp_path / "script_store")],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=300,
    )  # fmt: skip
    prints["script"] = latest_fingerprints(Store(str(tmp_path / "script_store"), scope=name), stages)

    folder = copy_examples(tmp_path, "papermill")
    pm = export_notebook(folder / name, "papermill", tmp_path / "papermill" / "pipeline")
    prints["papermill"] = record_prints(run_papermill(pm, {}, jobs=2, store=str(tmp_path / "papermill_store")))

    folder = copy_examples(tmp_path, "airflow")
    dag_file = airflow_dags / f"equivalence_{Path(name).stem}.py"
    store = str(tmp_path / "airflow_store")
    export_notebook(folder / name, "airflow", dag_file, store=store, dag_id=f"nbpipe_equivalence_{Path(name).stem}")
    try:
        assert "success" in str(load_dag(dag_file).test().state).lower()
    finally:
        dag_file.unlink()  # one DAG file per test in the shared dags folder: ids never collide
    prints["airflow"] = latest_fingerprints(Store(str(tmp_path / "airflow_store"), scope=name), stages)

    folder = copy_examples(tmp_path, "kubeflow")
    pipeline = tmp_path / "kubeflow" / "pipeline.py"
    compiled = tmp_path / "kubeflow" / "pipeline.yaml"
    export_notebook(folder / name, "kubeflow", pipeline, compile_to=str(compiled))
    assert components.load_component_from_file(str(compiled)).name.startswith("nbpipe-")
    subprocess.run(
        [sys.executable, pipeline, "--local", "--store", str(tmp_path / "kubeflow_store")],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=600,
    )  # fmt: skip
    prints["kubeflow"] = latest_fingerprints(Store(str(tmp_path / "kubeflow_store"), scope=name), stages)

    folder = copy_examples(tmp_path, "dask")
    prints["dask"] = record_prints(
        run_notebook(folder / name, store=str(tmp_path / "dask_store"), executor="dask", address=dask_address)
    )

    reference = prints["kernel"]
    assert len(reference) >= 5
    for target, found in prints.items():
        assert found == reference, f"{target} disagrees with the kernel for {name}"


#: The pipeline across notebooks (example_notebooks/forecast/): notebook -> its stages, producers first.
PROJECT = {"ingest.ipynb": ["ingest"], "features.py": ["daily", "features"], "train.ipynb": ["train", "report"]}


def project_kernel_prints(folder: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Each notebook of the project in its own real kernel, producers first, one store."""
    import jupytext

    found: dict[str, str] = {}
    for name in PROJECT:
        path = folder / name
        if path.suffix == ".py":  # a percent notebook: the kernel runs the notebook jupytext reads from it
            path = path.with_suffix(".ipynb")
            nbformat.write(jupytext.read(str(folder / name)), str(path))
        monkeypatch.setenv("JPY_SESSION_NAME", str(folder / name))  # as Jupyter tells a kernel its notebook
        found.update(kernel_prints(path, store, monkeypatch))
    monkeypatch.delenv("JPY_SESSION_NAME")
    return found


def project_store_prints(store: Path) -> dict[str, str]:
    """Output name -> fingerprint of every stage of the project in one store (scoped per notebook)."""
    found: dict[str, str] = {}
    for notebook, stages in PROJECT.items():
        found.update(latest_fingerprints(Store(str(store), scope=notebook), stages))
    return found


def test_every_target_computes_the_outputs_of_a_pipeline_across_notebooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_dags: Path, dask_address: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    prints: dict[str, dict[str, str]] = {}

    folder = copy_examples(tmp_path, "kernel") / "forecast"
    prints["kernel"] = project_kernel_prints(folder, tmp_path / "kernel_store", monkeypatch)

    folder = copy_examples(tmp_path, "run") / "forecast"
    prints["run"] = record_prints(run_notebook(folder / "train.ipynb", store=str(tmp_path / "run_store")))
    assert project_store_prints(tmp_path / "run_store") == prints["run"]  # one store for the three notebooks

    folder = copy_examples(tmp_path, "script") / "forecast"
    script = export_notebook(folder / "train.ipynb", "script", tmp_path / "script" / "train_pipeline.py")
    subprocess.run(
        [sys.executable, script, "--store", str(tmp_path / "script_store")],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=300,
    )  # fmt: skip
    prints["script"] = project_store_prints(tmp_path / "script_store")

    folder = copy_examples(tmp_path, "papermill") / "forecast"
    pm = export_notebook(folder / "train.ipynb", "papermill", tmp_path / "papermill" / "pipeline")
    prints["papermill"] = record_prints(run_papermill(pm, {}, jobs=2, store=str(tmp_path / "papermill_store")))

    folder = copy_examples(tmp_path, "airflow") / "forecast"
    dag_file = airflow_dags / "equivalence_forecast.py"
    export_notebook(folder / "train.ipynb", "airflow", dag_file, store=str(tmp_path / "airflow_store"))
    try:
        assert "success" in str(load_dag(dag_file).test().state).lower()  # one DAG for the three notebooks
    finally:
        dag_file.unlink()
    prints["airflow"] = project_store_prints(tmp_path / "airflow_store")

    folder = copy_examples(tmp_path, "kubeflow") / "forecast"
    pipeline, compiled = tmp_path / "kubeflow" / "pipeline.py", tmp_path / "kubeflow" / "pipeline.yaml"
    export_notebook(folder / "train.ipynb", "kubeflow", pipeline, compile_to=str(compiled))
    assert components.load_component_from_file(str(compiled)).name.startswith("nbpipe-")
    subprocess.run(
        [sys.executable, pipeline, "--local", "--store", str(tmp_path / "kubeflow_store")],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=600,
    )  # fmt: skip
    prints["kubeflow"] = project_store_prints(tmp_path / "kubeflow_store")

    folder = copy_examples(tmp_path, "dask") / "forecast"
    prints["dask"] = record_prints(
        run_notebook(folder / "train.ipynb", store=str(tmp_path / "dask_store"), executor="dask", address=dask_address)
    )

    reference = prints["kernel"]
    assert set(reference) == {"orders", "daily", "table", "weights", "metrics"}
    for target, found in prints.items():
        assert found == reference, f"{target} disagrees with the kernel for the forecast pipeline"

    # One shared cache: every target finds the kernel's entries.
    folder = copy_examples(tmp_path, "shared") / "forecast"
    shared = tmp_path / "kernel_store"
    assert {r.status for r in run_notebook(folder / "train.ipynb", store=str(shared)).stages} == {"cached"}
    script = export_notebook(folder / "train.ipynb", "script", tmp_path / "shared" / "train_pipeline.py")
    subprocess.run(
        [sys.executable, script, "--store", str(shared)],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=300,
    )  # fmt: skip
    assert project_store_prints(shared) == reference
