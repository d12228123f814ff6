"""``nbpipe run`` costs O(1) per stage: what each stage hands over, what a run starts and imports.

Structural properties only (no timings: those are in bench/scale.py).
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nbpipe.errors import PipelineError
from nbpipe.runtime import runner
from nbpipe.runtime.executors import ProcessPool, _Packer
from nbpipe.runtime.runner import RunOptions, run_notebook
from nbpipe.runtime.worker import StageJob
from tests.notebooks import write_nb

pytestmark = pytest.mark.usefixtures("kernel_env")


def chain(path: Path, n: int, fail_at: int | None = None) -> Path:
    cells = ["%%stage s0 --out x0\nx0 = 0"]
    for i in range(1, n):
        body = f"x{i} = x{i - 1} + 1" if i != fail_at else f"x{i} = 1 / 0"
        cells.append(f"%%stage s{i} --in x{i - 1} --out x{i}\n{body}")
    return write_nb(path, "%load_ext nbpipe", *cells)


def fan(path: Path, n: int) -> Path:
    """``x0``, then ``n - 1`` stages reading only ``x0`` (independent of each other); each records its process."""
    cells = ["%%stage s0 --out x0\nx0 = 0"]
    cells += [f"%%stage s{i} --in x0 --out x{i} p{i}\nx{i} = x0 + {i}\np{i} = os.getpid()" for i in range(1, n)]
    return write_nb(path, "%load_ext nbpipe", "import os", *cells)


def test_jobs_1_imports_neither_multiprocessing_nor_concurrent_futures(tmp_path: Path) -> None:
    nb = chain(tmp_path / "c.ipynb", 3)
    code = (
        "import sys\nfrom nbpipe.runtime.runner import run_notebook\n"
        f"assert run_notebook({str(nb)!r}).status == 'ok'\n"
        "print(sorted(m for m in ('multiprocessing', 'concurrent.futures') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_fully_cached_run_starts_no_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = fan(tmp_path / "f.ipynb", 4)
    made: list[int] = []
    make = runner._executor

    def counted(options: RunOptions) -> Any:
        made.append(options.jobs)
        return make(options)

    monkeypatch.setattr(runner, "_executor", counted)
    assert run_notebook(nb, RunOptions(jobs=2)).status == "ok"
    assert made == [2]
    result = run_notebook(nb, RunOptions(jobs=2))
    assert {s.status for s in result.stages} == {"cached"} and made == [2]  # no worker pool for hits


def test_a_pool_job_carries_its_plan_by_reference(tmp_path: Path) -> None:
    """Each job sent to a worker is small at any size; the plan goes once to a file the workers read."""
    sizes = {}
    original = ProcessPool.submit
    for n in (10, 400):
        nb = fan(tmp_path / f"f{n}.ipynb", n)
        captured: list[tuple[int, int, int]] = []

        def submit(self: ProcessPool, job: StageJob, captured: list[tuple[int, int, int]] = captured) -> Any:
            buffer = io.BytesIO()
            self._ship(job.plan)
            _Packer(buffer, self.plans).dump(job)
            captured.append((len(buffer.getvalue()), len(pickle.dumps(job)), len(self.plans)))
            return original(self, job)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ProcessPool, "submit", submit)
            result = run_notebook(nb, RunOptions(jobs=2, store=str(tmp_path / f"store{n}")))
        assert result.status == "ok" and result.outputs([f"x{n - 1}"]) == {f"x{n - 1}": n - 1}
        assert captured  # the independent stages went to the workers
        assert {plans for _, _, plans in captured} == {1}  # one plan file per run
        sizes[n] = max(packed for packed, _, _ in captured), max(whole for _, whole, _ in captured)
    assert sizes[400][0] < 1.5 * sizes[10][0]  # by reference: the same size at any pipeline size
    assert sizes[400][1] > 10 * sizes[10][1]  # by value, it grew with the pipeline


def test_jobs_2_runs_a_lone_ready_stage_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain gains nothing from workers: no pool is started; independent stages still go to the workers."""
    made: list[int] = []
    make = runner._executor

    def counted(options: RunOptions) -> Any:
        made.append(options.jobs)
        return make(options)

    monkeypatch.setattr(runner, "_executor", counted)
    result = run_notebook(chain(tmp_path / "c.ipynb", 5), RunOptions(jobs=2))
    assert result.status == "ok" and result.outputs(["x4"]) == {"x4": 4} and made == []
    result = run_notebook(fan(tmp_path / "f.ipynb", 6), RunOptions(jobs=2))
    pids = result.outputs([f"p{i}" for i in range(1, 6)])
    assert result.status == "ok" and made == [2] and set(pids.values()) - {os.getpid()}


def test_stages_below_a_failure_name_it(tmp_path: Path) -> None:
    nb = chain(tmp_path / "c.ipynb", 6, fail_at=2)
    result = run_notebook(nb, RunOptions(store=str(tmp_path / "s")))
    by_name = {s.name: s for s in result.stages}
    assert by_name["s2"].status == "failed"
    assert [(by_name[f"s{i}"].status, by_name[f"s{i}"].reason) for i in (3, 4, 5)] == [
        ("skipped", "upstream stage 's2' failed")
    ] * 3


def test_a_batch_name_error_still_names_the_stage_that_binds_it(tmp_path: Path) -> None:
    """Who binds what is worked out only for a NameError (O(stages)), and the message is the same."""
    nb = write_nb(tmp_path / "n.ipynb", "%load_ext nbpipe", "%%stage a --out x\nx = 1", "%%stage b --out y\ny = x + 1")
    result = run_notebook(nb, RunOptions(check=False, store=str(tmp_path / "s")))
    failed = {s.name: s.error for s in result.stages if s.status == "failed"}
    assert failed == {
        "b": "NameError: stage 'b' reads 'x', which stage 'a' binds; stages see only what they declare. "
        "declare it: %%stage b --in x --out y"
    }


def test_an_unchanged_notebook_is_not_analysed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbpipe.analysis

    analysed: list[str] = []
    analyze = nbpipe.analysis.analyze

    def counted(nb: Any, *args: Any) -> Any:
        analysed.append(nb.path)
        return analyze(nb, *args)

    monkeypatch.setattr(nbpipe.analysis, "analyze", counted)
    nb = chain(tmp_path / "c.ipynb", 3)
    assert run_notebook(nb).status == "ok" and len(analysed) == 1
    again = run_notebook(nb)
    assert {s.status for s in again.stages} == {"cached"} and len(analysed) == 1  # the clean verdict was kept
    text = nb.read_text().replace("x2 = x1 + 1", "x2 = x0 + x1")  # reads x0 without --in: NBP101
    nb.write_text(text)
    with pytest.raises(PipelineError, match="NBP101"):
        run_notebook(nb)
    with pytest.raises(PipelineError, match="NBP101"):
        run_notebook(nb)  # errors are never remembered: refused by the analyzer every time
    assert len(analysed) == 3


@pytest.mark.parametrize("name", ["iris_classifier.ipynb", "sales_etl.ipynb", "hidden_state.ipynb"])
def test_the_remembered_verdict_plans_what_the_analysis_plans(name: str) -> None:
    from nbpipe.analysis import analyze
    from nbpipe.notebook import read
    from nbpipe.runtime.plan import plan_notebook, plan_with_roles

    nb = read(Path(__file__).parents[2] / "example_notebooks" / name)
    graph = analyze(nb)
    setup = {i for i, role in graph.roles.items() if role == "setup"}
    analysed, remembered = plan_notebook(nb, graph), plan_with_roles(nb, setup, graph.static)
    assert remembered == replace(analysed, dag=remembered.dag)
    assert remembered.dag == analysed.dag


def test_a_cached_run_parses_no_stage_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbpipe.source as source

    nb = chain(tmp_path / "c.ipynb", 4)
    assert run_notebook(nb).status == "ok"
    bodies = {f"x{i} = x{i - 1} + 1" for i in range(1, 4)} | {"x0 = 0"}
    parsed: list[str] = []
    tree = source.python_tree.__wrapped__

    def counted(text: str) -> Any:
        parsed.append(text)
        return tree(text)

    source.normalize.cache_clear()  # as in a new process
    monkeypatch.setattr(source, "python_tree", counted)
    again = run_notebook(nb)
    assert {s.status for s in again.stages} == {"cached"}  # the remembered bodies give the same keys
    assert not bodies & {text.strip() for text in parsed}  # the analysis memo kept them normalised


def test_a_dask_task_carries_its_plan_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan goes to the cluster once (scattered to every worker); each task carries the job without it."""
    from distributed import Client

    from nbpipe.runtime import executors

    sizes: list[tuple[int, int]] = []
    scattered: list[object] = []
    pack, scatter = executors._pack, Client.scatter

    def packed(job: StageJob, plans: Any) -> bytes:
        data = pack(job, plans)
        sizes.append((len(data), len(pickle.dumps(job.plan))))
        return data

    def counted(self: Client, data: Any, **kwargs: Any) -> Any:
        scattered.append(data)
        return scatter(self, data, **kwargs)

    monkeypatch.setattr(executors, "_pack", packed)
    monkeypatch.setattr(Client, "scatter", counted)
    result = run_notebook(fan(tmp_path / "f.ipynb", 60), RunOptions(executor="dask", store=str(tmp_path / "s")))
    assert result.status == "ok" and result.outputs(["x59"]) == {"x59": 59}
    assert len(sizes) == 60 and len(scattered) == 1  # one plan for the whole run
    assert all(job * 10 < plan for job, plan in sizes)  # a task is a small fraction of the plan


def test_trivial_pool_jobs_share_trips_to_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs whose bodies take ~nothing go in batches (a trip costs more than them); each keeps its own outcome."""
    batches: list[int] = []
    done = ProcessPool._done

    def counted(self: ProcessPool, batch: list[Any], future: Any) -> None:
        batches.append(len(batch))
        done(self, batch, future)

    monkeypatch.setattr(ProcessPool, "_done", counted)
    nb = fan(tmp_path / "f.ipynb", 200)
    text = nb.read_text().replace("x150 = x0 + 150", "x150 = 1 / 0")
    nb.write_text(text)
    result = run_notebook(nb, RunOptions(jobs=2, store=str(tmp_path / "s")))
    by_name = {s.name: s for s in result.stages}
    assert by_name["s150"].status == "failed" and "ZeroDivisionError" in (by_name["s150"].error or "")
    assert [s for s in result.stages if s.status != "ran"] == [by_name["s150"]]  # its batch ran on
    assert result.outputs(["x149", "x151"]) == {"x149": 149, "x151": 151}
    assert sum(batches) == 199 and max(batches) > 1 and len(batches) < 100
