"""One stage, executed anywhere: in-process, a worker process, a Dask worker, an Airflow task.

A :class:`StageJob` is small and picklable: it carries the plan, the parameter
overrides, the store URL and where each input lives. Inputs travel through the
store (or are handed over in memory in-process); outputs are saved to the store.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, NbpipeError
from nbpipe.runtime.execute import as_main, cached_setup, cell_filename, run_body
from nbpipe.runtime.plan import Plan


@dataclass(frozen=True)
class InputRef:
    """Where an input lives: an output of a stored entry."""

    key: str
    output: str


@dataclass
class StageJob:
    """Everything needed to run one stage away from the coordinator."""

    plan: Plan
    stage: str
    overrides: dict[str, Any]
    store: str
    key: str
    key_inputs: KeyInputs
    input_refs: dict[str, InputRef] = field(default_factory=dict)
    retries: int = 0
    save: bool = True


@dataclass
class StageOutcome:
    """What a job produced."""

    stage: str
    status: str  # "ran" | "failed"
    seconds: float = 0.0
    fingerprints: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    saved: bool = False
    error: str | None = None
    traceback: str | None = None
    attempts: int = 1
    warning: str | None = None
    started: float = 0.0  # wall-clock time.time() when the body started
    finished: float = 0.0


def run_job(job: StageJob, values: dict[str, Any] | None = None) -> tuple[StageOutcome, dict[str, Any]]:
    """Run one stage with retries; returns the outcome and the output values.

    Args:
        job: the stage job.
        values: inputs already in memory (in-process runs); others load from the store.
    """
    import os

    os.chdir(job.plan.base_dir)  # relative --file-in/--file-out paths are notebook-relative
    outcome = StageOutcome(stage=job.stage, status="failed", attempts=0)
    for attempt in range(job.retries + 1):
        outcome.attempts = attempt + 1
        try:
            setup = cached_setup(job.plan, job.overrides)
            with as_main(setup):  # setup classes pickle as __main__.X, as in the kernel
                outputs = _attempt(job, setup, values or {}, outcome)
                outcome.status, outcome.error, outcome.traceback = "ran", None, None
                _save(job, outputs, outcome)
        except Exception as exc:  # the user's code may raise anything
            outcome.status = "failed"
            outcome.error = _describe(exc)
            outcome.traceback = _user_traceback(exc, job)
            continue
        return outcome, outputs
    return outcome, {}


def _attempt(job: StageJob, setup: dict[str, Any], values: dict[str, Any], outcome: StageOutcome) -> dict[str, Any]:
    stage = job.plan.stages[job.stage]
    store = Store(job.store)
    inputs: dict[str, Any] = {}
    for name in stage.header.inputs:
        if name in values:
            inputs[name] = values[name]
        elif name in job.input_refs:
            ref = job.input_refs[name]
            manifest = store.lookup(ref.key)
            if manifest is None:
                raise CacheError(
                    f"input {name!r} of stage {job.stage!r} is missing from the store (entry {ref.key[:10]})"
                )
            inputs[name] = store.load(manifest, ref.output)
        else:
            inputs[name] = setup[name]
    visible = {k: v for k, v in setup.items() if k not in stage.header.inputs}
    outcome.started = time.time()
    outputs, seconds = run_body(job.plan, stage, visible, inputs)
    outcome.finished = time.time()
    outcome.seconds = seconds
    return outputs


def _save(job: StageJob, outputs: dict[str, Any], outcome: StageOutcome) -> None:
    try:
        outcome.fingerprints = {name: fingerprint(value, name) for name, value in outputs.items()}
    except CacheError as exc:
        outcome.status, outcome.error = "failed", f"stage {job.stage!r}: {exc.message}"
        return
    if not job.save:
        return
    try:
        manifest = Store(job.store, scope=os.path.basename(job.plan.notebook)).save(
            job.stage, job.key, job.key_inputs, outputs, outcome.fingerprints, outcome.seconds
        )
    except CacheError as exc:
        outcome.warning = f"results of stage {job.stage!r} not cached: {exc.message}"
        return
    outcome.saved = True
    outcome.sizes = {name: info.bytes for name, info in manifest.outputs.items()}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NbpipeError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _user_traceback(exc: BaseException, job: StageJob) -> str:
    """The traceback from the stage's own cell down, without nbpipe's frames."""
    marker = cell_filename(job.plan.notebook, job.plan.stages[job.stage].cell)
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if f.filename == marker), None)
    if start is None:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return (
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_list(frames[start:]))
        + "".join(traceback.format_exception_only(type(exc), exc))
    )
