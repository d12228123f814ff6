"""``nbpipe run``: the pipeline coordinator (DESIGN §6–7).

Responsibilities, in order: read and plan the notebook; run setup and parameter
cells once; walk the stages in dependency order computing each stage key from its
inputs' recorded fingerprints (Merkle style, no re-hashing of stored data);
restore hits without loading their payloads; execute misses in-process or on an
executor (process pool, Dask); stop a failed stage's descendants but not its
siblings; write the run record.
"""

from __future__ import annotations

import gc
import heapq
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, PipelineError
from nbpipe.notebook import read
from nbpipe.runtime import analysis_memo
from nbpipe.runtime.execute import forget_setup
from nbpipe.runtime.keys import key_inputs
from nbpipe.runtime.params import validate
from nbpipe.runtime.plan import Plan, plan_notebook, plan_with_roles, refuse_errors
from nbpipe.runtime.progress import Progress, choose_progress
from nbpipe.runtime.records import StageRecord, carry_summaries, git_commit, new_run_id, now, run_record, run_status
from nbpipe.runtime.setup_memo import SetupMemo
from nbpipe.runtime.stage_cache import Probe, StageCache
from nbpipe.runtime.worker import InputRef, StageJob, StageOutcome, run_job


@dataclass
class RunOptions:
    """How to run a pipeline (the ``nbpipe run`` flags)."""

    params: dict[str, Any] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)
    upto: list[str] = field(default_factory=list)  # run these and their upstream only (an upstream notebook)
    force: list[str] = field(default_factory=list)
    from_stage: str | None = None
    explain: bool = False
    jobs: int = 1
    executor: str = "local"  # local | dask
    address: str | None = None
    store: str | None = None
    retries: int | None = None
    check: bool = True
    target: str = "run"
    group: str = ""  # ties the records of one orchestrated run together (an Airflow DAG run's tasks)


@dataclass
class RunResult:
    """The outcome of a run."""

    run_id: str
    status: str  # ok | failed
    stages: list[StageRecord]
    record_path: str | None
    store: Store
    values: dict[str, Any] = field(default_factory=dict)  # outputs computed in-process
    refs: dict[str, InputRef] = field(default_factory=dict)  # where every output lives

    def outputs(self, names: list[str] | None = None) -> dict[str, Any]:
        """Output values by name, loaded from memory or the store on demand."""
        wanted = names if names is not None else sorted(self.refs)
        found: dict[str, Any] = {}
        for name in wanted:
            if name in self.values:
                found[name] = self.values[name]
            elif name in self.refs:
                ref = self.refs[name]
                manifest = self.store.lookup(ref.key)
                if manifest is not None:
                    found[name] = self.store.load(manifest, ref.output)
        return found

    @property
    def failed(self) -> list[StageRecord]:
        """The stages that failed."""
        return [s for s in self.stages if s.status == "failed"]

    def summary(self) -> str:
        """One line: run id, status and how many stages ran, were cached, failed, skipped."""
        counts = {s: sum(1 for r in self.stages if r.status == s) for s in ("ran", "cached", "failed", "skipped")}
        done = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        return f"run {self.run_id}: {self.status} ({done})"

    def failures(self) -> str:
        """Each failed stage with its error and the traceback from its own cell."""
        parts = []
        for record in self.failed:
            parts.append(f"\nstage {record.name!r} failed: {record.error}")
            if record.traceback:
                parts.append(record.traceback.rstrip())
        return "\n".join(parts)


def run_notebook(notebook: str | os.PathLike[str], options: RunOptions | None = None, **kwargs: Any) -> RunResult:
    """Run a notebook's pipeline.

    Args:
        notebook: path of the ``.ipynb``.
        options: run options; keyword arguments are a shortcut for RunOptions fields.

    Returns:
        The run result; ``status`` is ``failed`` if any stage failed.

    Raises:
        NotebookReadError: the notebook cannot be read.
        ParameterError: a parameter override is unknown or mistyped.
        PipelineError: the notebook has analyzer errors (unless ``check=False``) or a cycle.
    """
    options = options or RunOptions(**kwargs)
    path = os.fspath(notebook)
    store = Store.for_notebook(path, options.store, base_dir=os.path.dirname(os.path.abspath(path)))
    plan, remember = _planned(path, store, options.check)
    if plan.imported:  # --in NAME@NOTEBOOK: the notebooks it reads run first
        from nbpipe.runtime.project_run import run_across

        remember()
        return run_across(plan, options, store)
    overrides = validate(options.params, plan.defaults, plan.notebook)
    cwd = os.getcwd()
    try:
        result = Runner(plan, options, overrides, store, choose_progress()).run()
    finally:
        os.chdir(cwd)
    remember()  # after the run, which normalised the bodies it keyed while their trees were fresh
    return result


def _checked_plan(path: str, store: Store, check: bool) -> Plan:
    """The plan of the notebook at ``path``, refused if the analyzer finds errors (``check``).

    The analysis of unchanged bytes is not repeated: its clean verdict is in the store, with
    the stages' normalised bodies (no body is parsed again for its key).
    """
    plan, remember = _planned(path, store, check)
    remember()
    return plan


def _planned(path: str, store: Store, check: bool) -> tuple[Plan, Callable[[], None]]:
    """:func:`_checked_plan` and the call that remembers a new clean verdict (made when convenient:
    the stages' normalised bodies are computed on first use, each parse shared with the key's
    other parts while the parsed tree is still cached)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        data = None  # read() says what is wrong with the path
    text = _decoded(data)
    nb = read(path, text)
    key = analysis_memo.notebook_key(data) if text is not None and data is not None else None
    verdict = analysis_memo.recall(store, path, key) if key is not None else None
    if verdict is not None:
        return plan_with_roles(nb, verdict.setup, verdict.static, imports=True, codes=verdict.codes), _nothing
    from nbpipe.analysis import analyze  # only when the notebook changed (loading it costs ~20 ms)

    graph = analyze(nb)
    if check:
        refuse_errors(nb, graph)
    plan = plan_notebook(nb, graph, imports=True)
    if key is None:
        return plan, _nothing

    def remember() -> None:
        analysis_memo.remember(store, path, key, graph, {name: s.code for name, s in plan.stages.items()})

    return plan, remember


def _nothing() -> None:
    """Nothing to remember."""


def _decoded(data: bytes | None) -> str | None:
    """The notebook's text as reading the file gives it: UTF-8, universal newlines (None: let read() report it)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        return None


class Runner:
    """Coordinates one run of one plan."""

    def __init__(
        self, plan: Plan, options: RunOptions, overrides: dict[str, Any], store: Store, progress: Progress
    ) -> None:
        self.plan, self.options, self.overrides, self.store, self.progress = plan, options, overrides, store, progress
        self.cache = StageCache(store)
        self.records = {name: StageRecord(name=name) for name in plan.order}
        self.fingerprints: dict[str, str] = {}  # output name -> fingerprint
        self.refs: dict[str, InputRef] = {}  # output name -> stored entry
        self.values: dict[str, Any] = {}  # output name -> value computed in this process
        self.will_run: set[str] = set()  # explain mode: stages that would run
        self._jobs: dict[str, StageJob] = {}  # stage -> its job, while it runs
        self._requeue: dict[str, list[str]] = {}  # producer re-run to recover a lost input -> its waiting readers
        self.blocked: dict[str, tuple[str, str]] = {}  # imported input -> (status, reason) when its notebook failed
        self._selection()

    def _selection(self) -> None:
        plan, options = self.plan, self.options
        plan.check_names(options.only, "--only")
        plan.check_names(options.force, "--force")
        plan.check_names([options.from_stage] if options.from_stage else [], "--from")
        self.forced = set(options.force)
        if options.from_stage:
            self.forced |= {options.from_stage, *plan.downstream(options.from_stage)}
        self.cache_only: set[str] = set()
        self.stages = list(plan.order)
        if options.upto:
            self.stages = plan.upstream(options.upto)
        if options.only:
            self.stages = plan.upstream(options.only)
            self.cache_only = set(self.stages) - set(options.only)
            self.forced &= set(options.only)

    def run(self, make_executor: Callable[[str], Any] | None = None) -> RunResult:
        """Run (or, with ``explain``, only explain) the selected stages.

        Args:
            make_executor: run id -> the executor of the misses (default: from the options:
                in-process, ``--jobs``, Dask); called at the first miss, so never with ``explain``
                nor when every stage is a hit.
        """
        os.chdir(self.plan.base_dir)
        self.run_id, self.started = new_run_id(), now()
        forget_setup()
        self.memo = SetupMemo(self.plan, self.overrides, self.store)
        self.progress.begin(self.plan, self.stages, explain=self.options.explain)
        make = make_executor or (lambda _run_id: _executor(self.options))
        local = None if make_executor is not None else self.options.executor == "local"
        executor = _OnDemand(lambda: make(self.run_id), local)
        gc.freeze()  # the plan, the notebook and the imports live all run: no collection rescans them
        try:
            with self.store.pin() as self._lease:  # gc in any process keeps what this run reads and writes
                self._schedule(executor)
        finally:
            gc.unfreeze()
            executor.close()
            self.progress.end()
            self.memo.save(self.cache.unwritable)
        return self._result()

    def _schedule(self, executors: _OnDemand) -> None:
        """Start every stage once its parents are done, highest in the notebook first (the one order).

        O(1) amortised per stage and edge: a ready heap, a count of unfinished parents per
        stage, and at most the executor's ``slots`` jobs handed over at once. A job that is the
        only one ready while nothing runs gains nothing from a local pool: it runs here, as with
        ``--jobs 1`` (a chain with ``--jobs 2`` paid a round trip to a worker per stage).
        """
        selected = set(self.stages)
        self._position = self.plan.dag.position()
        self._waiting = {n: sum(1 for p in self.plan.parents(n) if p in selected) for n in self.stages}
        self._ready = [(self._position[n], n) for n in self.stages if not self._waiting[n]]
        heapq.heapify(self._ready)
        running: dict[Any, str] = {}
        while self._ready or running:
            while self._ready and len(running) < executors.slots:
                _pos, name = heapq.heappop(self._ready)
                job = None if self._skipped(name) else self._prepare(name)
                if job is None:
                    self._done(name)
                    continue
                lone = not running and not self._ready and executors.lone_in_process
                if lone or executors.get().in_process:
                    self._finish(job, *run_job(job, self._memory_inputs(name), self.store))
                else:
                    running[executors.get().submit(job)] = name
            if running:
                for handle, outcome in executors.get().wait_any(list(running)):
                    self._finish(self._jobs[running.pop(handle)], outcome, {})

    def _done(self, name: str) -> None:
        """``name`` is settled: readers waiting on a re-run go again, children whose parents are all done start."""
        waiting = self._requeue.pop(name, None)
        if waiting is not None:
            for reader in waiting:
                heapq.heappush(self._ready, (self._position[reader], reader))
            return
        for child in self.plan.dag.children[name]:
            if child in self._waiting:
                self._waiting[child] -= 1
                if not self._waiting[child]:
                    heapq.heappush(self._ready, (self._position[child], child))

    def _skipped(self, name: str) -> bool:
        """Skip ``name`` if a parent failed or was skipped (its siblings go on)."""
        blocked = [self.blocked[i] for i in self.plan.stages[name].header.inputs if i in self.blocked]
        if blocked:  # an input from another notebook that failed there (or would run, explained)
            record = self.records[name]
            record.status, record.reason = blocked[0]
            self.will_run.update([name] if record.status == "would-run" else [])
            self.progress.update(record)
            return True
        parents = [p for p in self.plan.parents(name) if self.records[p].status in ("failed", "skipped")]
        if not parents:
            return False
        record = self.records[name]
        failed = [p for p in parents if self.records[p].status == "failed"]
        record.status = "skipped"  # a skipped parent's reason names the failure upstream of it (no walk)
        record.reason = f"upstream stage {failed[0]!r} failed" if failed else self.records[parents[0]].reason
        self.progress.update(record)
        return True

    def _producer_fingerprints(self, name: str) -> dict[str, str] | None:
        """Recorded fingerprints of the inputs other stages produce (None: a producer would run)."""
        prints: dict[str, str] = {}
        for inp in self.plan.stages[name].header.inputs:
            if inp in self.plan.producers or inp in self.plan.imported:
                if inp not in self.fingerprints:
                    return None  # explain mode: the producer would run, so the key is unknown
                prints[inp] = self.fingerprints[inp]
        return prints

    def _stage_parts(self, name: str) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
        """Helpers, setup values and fingerprints of setup-provided inputs (NBP103 if missing)."""
        try:
            return self.memo.stage_parts(self.plan.stages[name])
        except KeyError as exc:
            inp = exc.args[0]
            raise PipelineError(
                f"stage {name!r} declares input {inp!r}, which no stage outputs and no setup or parameters cell binds",
                hint=f"add {inp!r} to the --out of the stage that computes it",
                stage=name,
                code="NBP103",
            ) from None

    def key_parts(self, name: str) -> KeyInputs | None:
        """The stage's key parts from its producers' recorded fingerprints (None while a producer is unknown)."""
        stage = self.plan.stages[name]
        prints = self._producer_fingerprints(name)
        if prints is None:
            return None
        helpers, values, external = self._stage_parts(name)
        texts = (stage.code, stage.canonical)
        return key_inputs(
            stage.header, stage.body, None, {**prints, **external}, self.plan.base_dir, (helpers, values), texts
        )

    def _prepare(self, name: str) -> StageJob | None:
        """Compute the key; restore a hit; return a job for a miss."""
        stage, record = self.plan.stages[name], self.records[name]
        parts = self.key_parts(name)
        if parts is None:
            self._would_run(name, "upstream " + self._running_parents(name) + " will run")
            return None
        forced = name in self.forced or stage.header.no_cache
        probe = self.cache.probe(parts, use=not forced)
        record.key = probe.key
        if probe.hit:
            self._hit(name, probe)
            return None
        if name in self.cache_only:
            record.status = "failed"
            record.error = f"stage {name!r} is not cached; it is needed by --only {' '.join(self.options.only)}"
            self.progress.update(record)
            return None
        record.reason = self._reason(name, probe)
        if self.options.explain:
            self._would_run(name, record.reason)
            return None
        job = StageJob(
            plan=self.plan,
            stage=name,
            overrides=self.overrides,
            store=str(self.store.url),
            key=probe.key,
            key_inputs=parts,
            input_refs={i: self.refs[i] for i in stage.header.inputs if i in self.refs},
            retries=self.options.retries if self.options.retries is not None else stage.header.retries,
            save=not stage.header.no_cache,
        )
        self._jobs[name] = job
        record.status, record.started = "running", now()
        self.progress.update(record)
        return job

    def _reason(self, name: str, probe: Probe) -> str:
        if name in self.forced:
            return "forced"
        return "--no-cache" if self.plan.stages[name].header.no_cache else self.cache.reason(probe)

    def _running_parents(self, name: str) -> str:
        return ", ".join(repr(p) for p in self.plan.parents(name) if p in self.will_run)

    def _would_run(self, name: str, reason: str) -> None:
        record = self.records[name]
        record.status, record.reason = "would-run", reason
        self.will_run.add(name)
        self.progress.update(record)

    def _hit(self, name: str, probe: Probe) -> None:
        record = self.records[name]
        self.cache.hit(probe)
        for out, fp in probe.fingerprints().items():
            self.fingerprints[out] = fp
            self.refs[out] = InputRef(probe.key, out)
            record.outputs[out] = {"fingerprint": fp, "bytes": probe.manifest.outputs[out].bytes}  # type: ignore[union-attr]
        record.status, record.reason, record.seconds = "cached", "cached", 0.0
        record.started = record.finished = now()
        self.progress.update(record)

    def _memory_inputs(self, name: str) -> dict[str, Any]:
        return {i: self.values[i] for i in self.plan.stages[name].header.inputs if i in self.values}

    def _finish(self, job: StageJob, outcome: StageOutcome, outputs: dict[str, Any]) -> None:
        record = self.records[job.stage]
        if outcome.warning:
            self.cache.warn(outcome.warning)
        if outcome.lost_input is not None and self._recover(job.stage, outcome.lost_input):
            return
        record.status, record.seconds, record.attempts = outcome.status, outcome.seconds, outcome.attempts
        record.finished = now()
        if outcome.started:
            record.started = _iso(outcome.started)
            record.finished = _iso(outcome.finished)
        record.error, record.traceback = outcome.error, outcome.traceback
        if outcome.saved:
            self._lease.add([job.key])  # saved by a worker: held from now on too
        if outcome.status == "ran":
            self.values.update(outputs)
            for out, fp in outcome.fingerprints.items():
                self.fingerprints[out] = fp
                if outcome.saved:
                    self.refs[out] = InputRef(job.key, out)
        for out, fp in outcome.fingerprints.items():  # a failed --check gate: what it computed, unsaved
            record.outputs[out] = {"fingerprint": fp, "bytes": outcome.sizes.get(out, 0)}
        record.add_details(outcome.cpu_seconds, outcome.peak_memory, outcome.summaries)
        self.progress.update(record)
        self._done(job.stage)

    def _recover(self, reader: str, lost: str) -> bool:
        """An input's entry vanished (corrupt, evicted): run its producer again, then the reader (once)."""
        producer = self.plan.producers.get(lost)
        if producer is None or producer in self.forced or producer in self.cache_only:
            return False
        self.cache.warn(f"the stored output {lost!r} of stage {producer!r} is gone; stage {producer!r} runs again")
        self.forced.add(producer)
        self.refs.pop(lost, None)
        self.fingerprints.pop(lost, None)
        self._requeue.setdefault(producer, []).append(reader)
        self.records[reader].status = "pending"
        heapq.heappush(self._ready, (self._position[producer], producer))
        return True

    def _result(self) -> RunResult:
        stages = [self.records[n] for n in self.stages]
        path = None
        if not self.options.explain:
            carry_summaries(self.store, self.plan.notebook, stages)
            record = run_record(
                self.run_id,
                self.plan.notebook,
                self.options.target,
                self.overrides_all(),
                self.started,
                stages,
                git_commit(self.plan.base_dir),
                group=self.options.group or None,
            )
            try:
                path = str(self.store.write_record(record))
            except CacheError as exc:
                self.cache.unwritable(exc)
        return RunResult(self.run_id, run_status(stages), stages, path, self.store, self.values, self.refs)

    def overrides_all(self) -> dict[str, Any]:
        """Every parameter's value in this run: defaults updated with overrides."""
        return {**self.plan.defaults, **self.overrides}


class _OnDemand:
    """The executor of the misses, made at the first miss: a fully cached run starts no workers."""

    def __init__(self, make: Callable[[], Any], local: bool | None = None) -> None:
        """``local``: whether ``make`` gives a local executor (None: unknown until it is made)."""
        self._make, self._executor, self._local = make, None, local

    @property
    def lone_in_process(self) -> bool:
        """Whether a lone job runs in this process: the executor is local (a pool on this machine).

        A pool of this machine is not made for it: a chain never starts workers.
        """
        if self._executor is None and self._local is not None:
            return self._local
        return bool(getattr(self.get(), "lone_in_process", False))

    def get(self) -> Any:
        """The executor (made now if this is the first miss)."""
        if self._executor is None:
            self._executor = self._make()
        return self._executor

    @property
    def slots(self) -> float:
        """Jobs the executor takes at once (``slots`` of a pool; unbounded otherwise or before it exists)."""
        found = getattr(self._executor, "slots", None)
        return float("inf") if found is None else found

    def close(self) -> None:
        """Release the executor, if one was made."""
        if self._executor is not None:
            self._executor.close()


def _iso(timestamp: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="milliseconds")


def _executor(options: RunOptions) -> Any:
    from nbpipe.runtime.executors import make_executor

    return make_executor(options.executor, options.jobs, options.address)
