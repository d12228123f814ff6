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

from nbpipe.cache.keys import KeyInputs, param_display, param_token
from nbpipe.cache.store import Store
from nbpipe.errors import NbpipeError, StageError
from nbpipe.runtime import replay
from nbpipe.runtime.execute import as_main, cached_setup, cell_filename, run_body
from nbpipe.runtime.keys import mutable_prints, setup_values
from nbpipe.runtime.plan import Plan
from nbpipe.runtime.records import gate_outputs
from nbpipe.runtime.replay import Recording, recording_streams
from nbpipe.runtime.resources import measure
from nbpipe.runtime.stage_cache import InputLost, Probe, StageCache
from nbpipe.runtime.summaries import summarize_outputs


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
    lost_input: str | None = None  # an input whose entry vanished: its producer must run again
    cpu_seconds: float = 0.0  # of the body (run records, minor 1)
    peak_memory: int | None = None  # bytes: peak RSS of this process while the body ran (None: unknown)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # output -> summary


def run_job(
    job: StageJob, values: dict[str, Any] | None = None, store: Store | None = None
) -> tuple[StageOutcome, dict[str, Any]]:
    """Run one stage with retries through the stage-cache protocol; returns the outcome and the outputs.

    Args:
        job: the stage job.
        values: inputs already in memory (in-process runs); others load from the store.
        store: the coordinator's store (in-process runs); elsewhere the job's store URL is opened.
    """
    os.chdir(job.plan.base_dir)  # relative --file-in/--file-out paths are notebook-relative
    outcome = StageOutcome(stage=job.stage, status="failed", attempts=0)
    cache = StageCache(store or _store(job.store, os.path.basename(job.plan.notebook)), warn=_note(outcome))
    outputs: dict[str, Any] = {}
    for attempt in range(job.retries + 1):
        outcome.attempts = attempt + 1
        try:
            setup = cached_setup(job.plan, job.overrides)
            with as_main(setup):  # setup classes pickle as __main__.X, as in the kernel
                _same_setup_values(job, setup)
                recording = Recording()
                with recording_streams(recording):
                    outputs = _attempt(job, cache, setup, values or {}, outcome)
                saved = cache.save(Probe(job.key, job.key_inputs, None), outputs, outcome.seconds, job.save)
                if saved.saved:
                    replay.save(cache.store, job.key, recording)
        except InputLost as exc:
            outcome.status, outcome.error, outcome.lost_input = "failed", exc.message, exc.name
            return outcome, {}
        except Exception as exc:  # the user's code may raise anything
            outcome.status = "failed"
            outcome.error = _describe(exc)
            outcome.traceback = _user_traceback(exc, job)
            _gate_outputs(outcome, exc)
            continue
        outcome.status, outcome.error, outcome.traceback = "ran", None, None
        outcome.fingerprints, outcome.sizes, outcome.saved = saved.fingerprints, saved.sizes, saved.saved
        outcome.summaries = summarize_outputs(outputs)  # from the values in memory; never fails the stage
        return outcome, outputs
    return outcome, {}


def _store(url: str, scope: str) -> Store:
    """The store of a job in a worker process, opened once per process (and per key setting)."""
    from nbpipe.cache.trust import KEY_ENV

    token = (url, scope, os.environ.get(KEY_ENV, ""))
    found = _STORES.get(token)
    if found is None:
        _STORES.clear()
        found = _STORES[token] = Store(url, scope=scope)
    return found


_STORES: dict[tuple[str, str, str], Store] = {}


def _same_setup_values(job: StageJob, setup: dict[str, Any]) -> None:
    """Refuse to run where a setup value differs from the one in the stage key (another environment).

    Raises:
        StageError: naming the value, both versions and the fix.
    """
    keyed = job.key_inputs.params
    here = setup_values(set(keyed), setup)
    for name, value in keyed.items():
        if name in here and param_token(name, here[name]) != param_token(name, value):
            raise StageError(
                f"setup value {name!r} is {param_display(here[name])} where stage {job.stage!r} runs but "
                f"{param_display(value)} where the run computed its key",
                hint="workers must see the same setup values: the same environment variables, files and parameters",
                stage=job.stage,
            )


def _note(outcome: StageOutcome) -> Any:
    def note(message: str) -> None:
        outcome.warning = outcome.warning or message

    return note


def _attempt(
    job: StageJob, cache: StageCache, setup: dict[str, Any], values: dict[str, Any], outcome: StageOutcome
) -> dict[str, Any]:
    stage = job.plan.stages[job.stage]
    inputs: dict[str, Any] = {}
    for name in stage.header.inputs:
        if name in values:
            inputs[name] = values[name]
        elif name in job.input_refs:
            ref = job.input_refs[name]
            inputs[name] = cache.load_input(name, ref.key, ref.output)
        else:
            inputs[name] = setup[name]
    visible = {k: v for k, v in setup.items() if k not in stage.header.inputs}
    outcome.started = time.time()
    try:
        with measure() as usage:
            outputs, seconds = run_body(
                job.plan, stage, visible, inputs, mutable_prints(job.key_inputs.params, visible)
            )
    finally:  # a failed body or gate costs time too (the record shows it)
        outcome.finished = time.time()
        outcome.cpu_seconds, outcome.peak_memory = usage.cpu_seconds, usage.peak_memory
        outcome.seconds = outcome.finished - outcome.started
    outcome.seconds = seconds
    return outputs


def _gate_outputs(outcome: StageOutcome, exc: BaseException) -> None:
    """A failed attempt: what a failed ``--check`` gate computed (for the run record), unsaved."""
    outcome.fingerprints, outcome.summaries = gate_outputs(outcome.stage, exc)
    outcome.sizes, outcome.saved = {}, False


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
