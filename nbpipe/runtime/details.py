"""What the sidebar's details panel shows: the recorded variables of a notebook and one stage's runs.

Read from the notebook's store only (its run records and the stage's latest entry); no
code runs and nothing is written. The status and its reason are not repeated here: they
are the status function's, in the graph JSON (:mod:`nbpipe.runtime.status`).

* ``variables``: every output a run recorded, newest first wins — the stage that wrote it,
  its payload size and its summary (type, shape, dtype, columns…, see
  :mod:`nbpipe.runtime.summaries`): the details panel's inputs and outputs, and the edges'
  tooltips.
* ``stage``: the selected stage's last run (seconds, CPU, peak memory, when, ran or cached),
  its latest cache entry (size, when it was written) and its recent runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from nbpipe.cache.store import Store
from nbpipe.errors import CacheError
from nbpipe.runtime.records import recent_records

#: How many of a stage's recent runs are listed.
RUNS_SHOWN = 8


def notebook_details(path: str, stage: str | None = None, store: Store | None = None) -> dict[str, Any]:
    """The recorded variables of the notebook at ``path`` and, when named, one stage's runs and entry.

    Args:
        path: the notebook's file (its store is found by the one location rule, and its
            records matched by file name).
        stage: a stage name, or None for the variables only.
        store: the store to read; the notebook's by default.

    Returns:
        ``{"variables": {name: {stage, bytes, summary?, run_id}}, "stage": {...} | None}``.
    """
    store = store or Store.for_notebook(path)
    records = list(recent_records(store, os.path.basename(path)))
    variables = recorded_variables(records)
    if any("summary" not in v for v in variables.values()):
        summarise_from_others(variables, recent_records(store))
    details: dict[str, Any] = {"variables": variables, "stage": None}
    if stage is not None:
        details["stage"] = stage_runs(store, records, stage)
    return details


def recorded_variables(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Output name -> what the newest record that holds it says of it (records newest first)."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        for entry in _stages(record):
            outputs = entry.get("outputs")
            for name, info in outputs.items() if isinstance(outputs, dict) else ():
                if name in found or not isinstance(info, dict):
                    continue
                shown: dict[str, Any] = {"stage": entry.get("name"), "run_id": record.get("run_id")}
                if isinstance(info.get("fingerprint"), str):
                    shown["fingerprint"] = info["fingerprint"]
                if isinstance(info.get("bytes"), int):
                    shown["bytes"] = info["bytes"]
                if isinstance(info.get("summary"), dict):
                    shown["summary"] = info["summary"]
                found[name] = shown
    return found


def summarise_from_others(variables: dict[str, dict[str, Any]], records: Iterable[dict[str, Any]]) -> None:
    """Give variables without a summary the one any record (of any notebook) holds for the same fingerprint.

    A stage restored from an entry that another notebook sharing the store computed has no
    summary in this notebook's records; the value is the same, so is its summary.
    """
    wanted = {v["fingerprint"]: v for v in variables.values() if "summary" not in v and "fingerprint" in v}
    for record in records:
        for entry in _stages(record):
            outputs = entry.get("outputs")
            for info in outputs.values() if isinstance(outputs, dict) else ():
                found = wanted.get(info.get("fingerprint")) if isinstance(info, dict) else None
                if found is not None and isinstance(info.get("summary"), dict):
                    found["summary"] = info["summary"]
                    del wanted[info["fingerprint"]]
        if not wanted:
            return


def stage_runs(store: Store, records: Iterable[dict[str, Any]], stage: str) -> dict[str, Any]:
    """``{name, runs: [newest first], entry: {key, bytes, seconds, created} | None}`` of one stage."""
    runs = [_run(record, entry) for record in records for entry in _stages(record) if entry.get("name") == stage][
        :RUNS_SHOWN
    ]
    return {"name": stage, "runs": runs, "entry": _entry(store, stage)}


def _stages(record: dict[str, Any]) -> list[dict[str, Any]]:
    stages = record.get("stages")
    return [s for s in stages if isinstance(s, dict)] if isinstance(stages, list) else []


def _run(record: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """One run of a stage as the panel lists it."""
    fields = ("status", "reason", "started", "finished", "seconds", "cpu_seconds", "peak_memory", "error")
    run = {field: entry.get(field) for field in fields}
    run.update(run_id=record.get("run_id"), target=record.get("target"))
    if not run["finished"]:
        run["finished"] = record.get("finished")
    return run


def _entry(store: Store, stage: str) -> dict[str, Any] | None:
    """The stage's latest cache entry, if it is still in the store (a fault reads as none)."""
    try:
        manifest = store.latest(stage)
    except (CacheError, OSError, ValueError):
        return None
    if manifest is None:
        return None
    return {
        "key": manifest.key,
        "bytes": manifest.total_bytes,
        "seconds": manifest.seconds,
        "created": manifest.created,
    }
