"""Debugging a batch failure with its real inputs (the stored inputs of a stage in a run)."""

from __future__ import annotations

import json
import os
from typing import Any

from nbpipe.cache.store import Store
from nbpipe.errors import PipelineError
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import plan_notebook


def find_record(store: Store, run_id: str | None, notebook: str | None = None) -> dict[str, Any]:
    """The run record ``run_id`` (or the only one its prefix matches), or the latest one (of ``notebook``, when given).

    Raises:
        CacheError: no record, or several, match ``run_id``.
        PipelineError: there is no run record at all.
    """
    if run_id is not None:
        return store.record(run_id)  # the one lookup by id: a prefix matching several runs is refused
    records = store.records()
    if notebook is not None:
        name = os.path.basename(notebook)
        records = [r for r in records if os.path.basename(str(r.get("notebook", ""))) == name]
    if not records:
        where = f" of {notebook}" if notebook else ""
        raise PipelineError(
            f"no run records{where} in the store {store.url}", hint="run the pipeline first: nbpipe run NB"
        )
    return records[-1]


def stage_inputs(
    nb: Notebook, stage: str, run_id: str | None, store_url: str | None = None
) -> tuple[dict[str, Any], str]:
    """Load the inputs ``stage`` saw in a run: producers' outputs plus the run's parameters.

    An input read from another notebook (``--in NAME@NOTEBOOK``) is loaded from the entry that
    notebook's run left for it (:func:`imported_input`).

    Returns:
        (values by name, run id).
    """
    plan = plan_notebook(nb, imports=True)
    plan.check_names([stage], "inputs")
    store = Store.for_notebook(plan.notebook, store_url, base_dir=plan.base_dir)
    record = find_record(store, run_id, nb.path)
    keys = {s["name"]: s["key"] for s in record["stages"]}
    values: dict[str, Any] = dict(record.get("params", {}))
    for name in plan.stages[stage].header.inputs:
        producer = plan.producers.get(name)
        if producer is None:
            if name in plan.imported:
                values[name] = imported_input(
                    store, record, stage, name, os.path.join(plan.base_dir, plan.imported[name])
                )
            continue
        manifest = store.lookup(keys.get(producer, ""))
        if manifest is None:
            raise PipelineError(
                f"input {name!r} of stage {stage!r}: the output of stage {producer!r} from run "
                f"{record['run_id']} is not in the store",
                hint="re-run the pipeline; cache entries may have been garbage-collected",
            )
        values[name] = store.load(manifest, name)
    return values, str(record["run_id"])


def imported_input(store: Store, record: dict[str, Any], stage: str, name: str, producer: str) -> Any:
    """The value of ``name`` that ``stage`` read from the notebook ``producer`` in the run ``record``.

    The reading stage's entry holds the fingerprint it read (Merkle keys); the producing
    notebook's run records (``nbpipe run`` writes one per notebook it runs, producers first)
    name the entry holding it. Without the reader's entry (the stage failed) the producing
    notebook's latest run that started before the reading run is the one it read.

    Raises:
        PipelineError: no run of ``producer`` left the output in the store.
    """
    keys = {s["name"]: s.get("key", "") for s in record["stages"]}
    entry = store.lookup(keys.get(stage, "")) if keys.get(stage) else None
    seen = entry.key_inputs.inputs.get(name, "") if entry is not None else ""
    notebook = os.path.basename(producer)
    for run in reversed(store.records()):
        if os.path.basename(str(run.get("notebook", ""))) != notebook or run.get("started", "") > record.get(
            "started", ""
        ):
            continue
        for ran in run.get("stages", []):
            info = ran.get("outputs", {}).get(name)
            if info is None or ran.get("status") not in ("ran", "cached"):
                continue
            if seen and info.get("fingerprint") != seen:
                continue
            manifest = store.lookup(str(ran.get("key", "")))
            if manifest is not None:
                return store.load(manifest, name)
    raise PipelineError(
        f"input {name!r} of stage {stage!r}: no run of {notebook} before run {record['run_id']} left "
        f"{name!r} in the store {store.url}",
        hint=f"re-run the pipeline (nbpipe run runs {notebook} first); cache entries may have been garbage-collected",
    )


def record_json(record: dict[str, Any]) -> str:
    """A run record, pretty-printed."""
    return json.dumps(record, indent=2, sort_keys=False)


def rerun_stage(nb: Notebook, stage: str, run_id: str | None, store_url: str | None = None) -> dict[str, Any]:
    """Re-run one stage in this process from the inputs it saw in a run.

    Returns:
        The stage's outputs.

    Raises:
        Exception: whatever the stage raised (so a debugger can take over).
    """
    from nbpipe.runtime.execute import run_body, setup_namespace

    plan = plan_notebook(nb, imports=True)
    values, _ = stage_inputs(nb, stage, run_id, store_url)
    params = {k: v for k, v in values.items() if k in plan.defaults}
    setup = setup_namespace(plan, params)
    header = plan.stages[stage].header
    inputs = {name: values.get(name, setup.get(name)) for name in header.inputs}
    os.chdir(plan.base_dir)
    outputs, _ = run_body(plan, plan.stages[stage], {k: v for k, v in setup.items() if k not in inputs}, inputs)
    return outputs
