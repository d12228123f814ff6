"""``--resources`` with ``--executor dask`` (issue 15 §2): a real cluster where one worker lacks the resource.

The cluster is a LocalCluster with one plain worker plus a second worker process started
with ``dask worker --resources GPU=1``; stages that need ``gpu=1`` must all land on that worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbpipe.cache.store import Store
from nbpipe.errors import PipelineError
from nbpipe.runtime.runner import run_notebook
from tests.notebooks import write_nb

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GPU_STAGES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def mixed_cluster() -> Iterator[str]:
    """A scheduler with a worker without resources and a worker named 'gpu-worker' declaring GPU=1."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    address = str(cluster.scheduler_address)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
         "--name", "gpu-worker", "--resources", "GPU=1", "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        cluster.close()


def gpu_notebook(path: Path, need: str = "gpu=1") -> Path:
    """Four independent stages needing a GPU and one plain stage; each records the worker it ran on."""
    stages = [
        f"%%stage {name} --out where_{name} --resources {need}\nwhere_{name} = get_worker().name" for name in GPU_STAGES
    ]
    return write_nb(
        path,
        "%load_ext nbpipe",
        "from distributed import get_worker",
        *stages,
        "%%stage plain --out where_plain --resources cpu=1\nwhere_plain = get_worker().name",
    )


def test_stages_needing_a_gpu_run_on_the_worker_that_has_one(tmp_path: Path, mixed_cluster: str) -> None:
    notebook = gpu_notebook(tmp_path / "gpu.ipynb")
    store = tmp_path / "store"
    with pytest.warns(UserWarning, match="CPU=1, which no Dask worker declares"):
        result = run_notebook(notebook, store=str(store), executor="dask", address=mixed_cluster, jobs=2)
    assert result.status == "ok", [(r.name, r.error) for r in result.failed]
    opened = Store(str(store))
    where = {}
    for record in result.stages:
        manifest = opened.lookup(record.key)
        assert manifest is not None
        where.update({name: opened.load(manifest, name) for name in manifest.outputs})
    assert {where[f"where_{name}"] for name in GPU_STAGES} == {"gpu-worker"}
    assert where["where_plain"] is not None  # no declared CPU anywhere: it ran, on either worker


def test_a_need_no_worker_can_meet_is_refused_naming_the_stage(tmp_path: Path, mixed_cluster: str) -> None:
    notebook = gpu_notebook(tmp_path / "big.ipynb", need="gpu=2")
    with pytest.raises(PipelineError, match=r"stage 'a' needs GPU=2, but the largest Dask worker declares 1"):
        run_notebook(notebook, store=str(tmp_path / "store"), executor="dask", address=mixed_cluster)
