"""One stage of a pipeline across notebooks as an orchestrator task (the Airflow DAG of several notebooks).

An exported DAG embeds the plan of every notebook it runs, keyed by the notebook's path
relative to the reading notebook's folder (``ingest.ipynb``, ``../prep/prep.py``). A task
runs one stage through the same :class:`~nbpipe.runtime.runner.Runner` as ``nbpipe run
--only STAGE`` (its upstream in its notebook comes from the store), after seeding it with
what it reads from other notebooks: each producing stage is looked up the same way (a
cache-only run of that notebook's plan, itself seeded from its producers), so the key
holds the producing output's recorded fingerprint (Merkle style), as in ``nbpipe run``.
Every notebook uses one store: the reading notebook's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nbpipe.cache.store import Store
from nbpipe.errors import StageError
from nbpipe.runtime.params import validate
from nbpipe.runtime.plan import Plan
from nbpipe.runtime.runner import Runner, RunOptions, RunResult
from nbpipe.runtime.worker import InputRef


def run_project_stage_task(
    datas: Mapping[str, Mapping[str, Any]],
    notebook: str,
    stage: str,
    params: Mapping[str, Any],
    base_dir: str,
    store: str | None,
    target: str,
) -> dict[str, dict[str, Any]]:
    """Run stage ``stage`` of ``notebook`` (its upstream, in every notebook, already in the store).

    Args:
        datas: notebook (relative to the reading notebook's folder) -> its plan data (``plan_to_data``);
            the first one is the reading notebook, whose parameters ``params`` override.
        notebook: the notebook of the stage.
        stage: the stage.
        params: parameter values of the reading notebook.
        base_dir: the reading notebook's folder, resolved where the task runs.
        store: the store URL (None: ``.nbpipe/`` beside the reading notebook).
        target: the target named in run records (``airflow``).

    Returns:
        Output name -> ``{"key", "fingerprint"}`` (small and JSON-able, e.g. for XCom).

    Raises:
        StageError: the stage, or an upstream stage it needs, failed or is not in the store.
    """
    from nbpipe.runtime.script_api import plan_from_data

    plans = {key: plan_from_data(data, os.path.join(base_dir, os.path.dirname(key))) for key, data in datas.items()}
    reader = next(iter(datas))
    url = Store.for_notebook(plans[reader].notebook, store, base_dir=plans[reader].base_dir).url
    overrides = dict(params) if notebook == reader else {}
    result = _Tasks(plans, url, target).run(notebook, stage, overrides)
    record = next(r for r in result.stages if r.name == stage)
    if record.status not in ("ran", "cached"):
        failed = next((r for r in result.stages if r.status == "failed"), record)
        raise StageError(
            f"stage {failed.name!r} of {notebook} failed: {failed.error or failed.reason}\n"
            f"{failed.traceback or ''}".rstrip(),
            stage=failed.name,
            hint="fix the stage in the notebook and re-export",
        )
    return {out: {"key": record.key, "fingerprint": info["fingerprint"]} for out, info in record.outputs.items()}


class _Tasks:
    """Cache-only runs of the producing stages in other notebooks, then the task's own stage."""

    def __init__(self, plans: dict[str, Plan], store: str, target: str) -> None:
        self.plans, self.store, self.target = plans, store, target

    def run(self, notebook: str, stage: str, overrides: dict[str, Any]) -> RunResult:
        plan = self.plans[notebook]
        overrides = validate(overrides, plan.defaults, plan.notebook)
        options = RunOptions(params=dict(overrides), only=[stage], store=self.store, target=self.target)
        located = Store.for_notebook(plan.notebook, self.store, base_dir=plan.base_dir)
        from nbpipe.runtime.progress import Progress

        runner = Runner(plan, options, overrides, located, Progress())
        needed = {i for s in plan.upstream([stage]) for i in plan.stages[s].header.inputs}
        for name, written in plan.imported.items():
            if name in needed:
                self._seed(runner, notebook, name, written)
        cwd = os.getcwd()
        try:
            return runner.run()
        finally:
            os.chdir(cwd)

    def _seed(self, runner: Runner, notebook: str, name: str, written: str) -> None:
        """Hand ``runner`` the recorded fingerprint and entry of input ``name`` from notebook ``written``."""
        producer = os.path.normpath(os.path.join(os.path.dirname(notebook), written))
        plan = self.plans.get(producer)
        source = plan.producers.get(name) if plan is not None else None
        if plan is None or source is None:
            runner.blocked[name] = ("failed", f"the DAG holds no stage of {written} that outputs {name!r}")
            return
        result = self.run(producer, source, {})
        record = next(r for r in result.stages if r.name == source)
        info = record.outputs.get(name)
        if record.status not in ("ran", "cached") or info is None:
            runner.blocked[name] = ("failed", f"upstream stage {source!r} of {written} is not in the store")
            return
        runner.fingerprints[name] = str(info["fingerprint"])
        runner.refs[name] = InputRef(record.key, name)
