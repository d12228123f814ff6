"""Run records (DESIGN §7, contract ``"version": 1``, ``"minor": 2``): the lineage of every artifact.

Minor 1 (additive): each stage has ``cpu_seconds`` and ``peak_memory`` (see
:mod:`nbpipe.runtime.resources`), and each output ``summary`` (see :mod:`nbpipe.runtime.summaries`).
A stage restored from the cache carries the summaries of the run that computed it, found among
the notebook's recent records.

Minor 2 (additive): a stage that failed its ``--check`` gate records the outputs it computed
(fingerprint, summary; ``bytes`` 0: never saved); ``group`` names the orchestrated run a record is
part of (an Airflow DAG run: one record per task), and :func:`group_record` joins such records into
one, with ``runs`` (the tasks' run ids).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from nbpipe._version import __version__
from nbpipe.cache.keys import encode_param
from nbpipe.cache.store import Store
from nbpipe.errors import StageError
from nbpipe.runtime.checks import CheckFailed
from nbpipe.runtime.stage_cache import output_fingerprints

RECORD_VERSION = 1
RECORD_MINOR = 2
#: How many of a notebook's newest records are searched for the summaries of a cached stage.
SCAN = 20
#: How many of the newest records are searched for the tasks of one orchestrated run (a DAG run).
GROUP_SCAN = 500


def now() -> str:
    """The current time, ISO-8601 with timezone."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%f") + "-" + uuid.uuid4().hex[:8]


@dataclass
class StageRecord:
    """One stage of a run."""

    name: str
    key: str = ""
    status: str = "pending"  # ran | cached | failed | skipped
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    seconds: float = 0.0
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {fingerprint, bytes, summary}
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    cpu_seconds: float = 0.0
    peak_memory: int | None = None  # bytes; None when it cannot be attributed

    def add_details(self, cpu_seconds: float, peak_memory: int | None, summaries: dict[str, dict[str, Any]]) -> None:
        """What the stage cost and what its outputs were (the outputs must be recorded already)."""
        self.cpu_seconds, self.peak_memory = cpu_seconds, peak_memory
        for name, summary in summaries.items():
            if name in self.outputs:
                self.outputs[name]["summary"] = summary

    def to_dict(self) -> dict[str, Any]:
        """The contract form (extra fields are additive)."""
        data: dict[str, Any] = {
            "name": self.name,
            "key": self.key,
            "status": self.status,
            "reason": self.reason,
            "started": self.started,
            "finished": self.finished,
            "seconds": round(self.seconds, 6),
            "cpu_seconds": round(self.cpu_seconds, 6),
            "peak_memory": self.peak_memory,
            "outputs": self.outputs,
        }
        if self.error:
            data["error"] = self.error
        if self.traceback:
            data["traceback"] = self.traceback
        if self.attempts > 1:
            data["attempts"] = self.attempts
        return data


def gate_outputs(stage: str, exc: BaseException) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """What a stage that failed its ``--check`` gate computed: (fingerprints, summaries) of its outputs.

    The run record shows them (the value that failed the gate) though nothing is saved: a failed
    gate is never a cache hit. Any other failure computed nothing: two empty mappings.
    """
    if not isinstance(exc, CheckFailed):
        return {}, {}
    prints: dict[str, str] = {}
    for name, value in exc.outputs.items():
        try:
            prints.update(output_fingerprints(stage, {name: value}))
        except StageError:  # cannot be fingerprinted: the stage's own error says enough
            continue
    from nbpipe.runtime.summaries import summarize_outputs  # a failed gate only: not on a run's import path

    return prints, summarize_outputs({name: exc.outputs[name] for name in prints})


def versions() -> dict[str, str]:
    """Python, nbpipe and the versions of third-party top-level modules imported so far."""
    found = {"python": platform.python_version(), "nbpipe": __version__}
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    for name, module in sorted(sys.modules.items()):
        if "." in name or name.startswith("_") or name in stdlib or name == "nbpipe":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some packages deprecate __version__
            version = getattr(module, "__version__", None)
        if isinstance(version, str):
            found[name] = version
    return found


def git_commit(folder: str) -> str | None:
    """The commit of the git repository holding ``folder``, if any."""
    import subprocess  # only here: an exported script's run never starts a process

    try:
        out = subprocess.run(
            ["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_status(stages: list[StageRecord]) -> str:
    """A run's status: ``failed`` when a stage failed or was skipped (a stage is skipped only
    because a stage it reads, in this notebook or another, failed); else ``ok``."""
    return "failed" if any(s.status in ("failed", "skipped") for s in stages) else "ok"


def run_record(
    run_id: str,
    notebook: str,
    target: str,
    params: dict[str, Any],
    started: str,
    stages: list[StageRecord],
    git: str | None,
    group: str | None = None,
) -> dict[str, Any]:
    """Assemble the run record dict (``group``: the orchestrated run it is part of, e.g. an Airflow DAG run)."""
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "minor": RECORD_MINOR,
        "run_id": run_id,
        "notebook": notebook,
        "target": target,
        "params": {name: encode_param(name, value) for name, value in params.items()},  # bytes, inf: as JSON
        "started": started,
        "finished": now(),
        "status": run_status(stages),
        "stages": [s.to_dict() for s in stages],
        "versions": versions(),
    }
    if git:
        record["git_commit"] = git
    if group:
        record["group"] = group
    return record


def recent_records(store: Store, notebook: str | None = None, scan: int = SCAN) -> Iterator[dict[str, Any]]:
    """The newest readable run records (of ``notebook``, matched by file name), newest first.

    Run ids start with their time, so only the newest ``scan`` record files are read.
    """
    try:
        names = sorted((n for n in store.fs.listdir(store.fs.join("runs")) if n.endswith(".json")), reverse=True)
    except OSError:
        return
    wanted = os.path.basename(notebook) if notebook else None
    for name in names[:scan]:
        try:
            record = json.loads(store.fs.read_bytes(store.fs.join("runs", name)))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(record, dict) and (wanted is None or os.path.basename(str(record.get("notebook", ""))) == wanted):
            yield record


def carry_summaries(store: Store, notebook: str, stages: list[StageRecord]) -> None:
    """Give cached stages the summaries recorded by the run that computed them (same key and fingerprint)."""
    missing = {s.key: s for s in stages if s.status == "cached" and _unsummarised(s)}
    if not missing:
        return
    for record in recent_records(store, notebook):
        for stage in record.get("stages", []):
            target = missing.get(str(stage.get("key"))) if isinstance(stage, dict) else None
            if target is None or not isinstance(stage.get("outputs"), dict):
                continue
            for name, info in stage["outputs"].items():
                out = target.outputs.get(name)
                if out is not None and isinstance(info, dict) and info.get("fingerprint") == out["fingerprint"]:
                    if "summary" in info and "summary" not in out:
                        out["summary"] = info["summary"]
            if not _unsummarised(target):
                del missing[target.key]
        if not missing:
            return


def _unsummarised(stage: StageRecord) -> bool:
    return any("summary" not in out for out in stage.outputs.values())


def group_records(store: Store, notebook: str, group: str, scan: int = GROUP_SCAN) -> list[dict[str, Any]]:
    """The records of ``notebook`` written by the tasks of one orchestrated run (``group``), oldest first."""
    found = [r for r in recent_records(store, notebook, scan) if r.get("group") == group]
    return found[::-1]


def group_record(
    tasks: Sequence[dict[str, Any]], order: Sequence[str], parents: Callable[[str], Sequence[str]], group: str
) -> dict[str, Any]:
    """One record of an orchestrated run from the records its tasks wrote (each task: one stage, last).

    A task runs one stage with its ancestors as cache hits (``--only``), so each stage's entry
    is taken from the newest record whose last stage it is (a retried task wrote several); a
    stage with no task record did not run (upstream failed) and is ``skipped``, as in ``nbpipe run``.
    The run id is the group; ``runs`` lists the tasks' run ids.
    """
    own: dict[str, dict[str, Any]] = {}
    for record in tasks:
        stages = [s for s in record.get("stages") or [] if isinstance(s, dict)]
        if stages:
            own[str(stages[-1].get("name"))] = stages[-1]
    entries: dict[str, dict[str, Any]] = {}
    for name in order:
        entries[name] = own.get(name) or _skipped(name, parents(name), entries)
    newest = tasks[-1]
    merged: dict[str, Any] = {
        **{k: v for k, v in newest.items() if k in ("version", "minor", "notebook", "target", "params", "versions")},
        "run_id": group,
        "group": group,
        "runs": [str(r.get("run_id")) for r in tasks],
        "started": min(str(r.get("started")) for r in tasks),
        "finished": max(str(r.get("finished")) for r in tasks),
        "status": "failed" if any(e["status"] in ("failed", "skipped") for e in entries.values()) else "ok",
        "stages": list(entries.values()),
    }
    commit = next((r["git_commit"] for r in tasks if r.get("git_commit")), None)
    if commit:
        merged["git_commit"] = commit
    return merged


def _skipped(name: str, parents: Sequence[str], entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A stage whose task never ran: skipped, naming the failure upstream (as the runner does)."""
    blocked = [p for p in parents if entries.get(p, {}).get("status") in ("failed", "skipped")]
    failed = [p for p in blocked if entries[p]["status"] == "failed"]
    if failed:
        reason = f"upstream stage {failed[0]!r} failed"
    elif blocked:
        reason = str(entries[blocked[0]].get("reason", ""))
    else:
        reason = "its task did not run"
    return StageRecord(name=name, status="skipped", reason=reason).to_dict()
