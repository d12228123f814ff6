"""Where stage jobs run: in-process, a pool of worker processes, or a Dask cluster.

Every executor runs the same :func:`nbpipe.runtime.worker.run_job`; only the
transport differs. Outside the in-process executor, inputs and outputs travel
through the store, so a worker on another machine needs a shared (fsspec) store.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import queue
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nbpipe.errors import PipelineError
from nbpipe.runtime.plan import Plan
from nbpipe.runtime.worker import StageJob, StageOutcome, run_job

if TYPE_CHECKING:  # multiprocessing and concurrent.futures load only with --jobs N (N > 1)
    import concurrent.futures as cf


class InProcess:
    """Runs each job in the coordinating process; outputs stay in memory."""

    in_process = True
    lone_in_process = True

    def close(self) -> None:
        """Nothing to release."""


def _warm() -> None:
    """Nothing: submitting it makes the pool start a worker (which imports this module)."""


def _run_remote(packed: bytes, plan: Plan) -> StageOutcome:
    """A job on a Dask worker: its plan is the one the cluster holds once (scattered), not a copy per task."""
    return run_job(_unpack(packed, plan))[0]


def _run_batch(packed: list[bytes], environ: dict[str, str]) -> list[StageOutcome]:
    """Jobs in a pool worker on this machine, one after the other, with the coordinator's environment.

    Workers fork from a server process started once per coordinating process, with the
    environment of that moment; setup cells that read the environment must see the
    coordinator's environment now, as its keys did.
    """
    from nbpipe.runtime.execute import forget_setup

    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)
        forget_setup()
    return [run_job(_unpack(job))[0] for job in packed]


class _Packer(pickle.Pickler):
    """Pickles a job with its plan by reference: the plan file the pool wrote once per plan.

    A plan holds every stage of the notebook; pickled into every job, it made each job
    cost O(stages) to send and to receive (a 10,000-stage plan is megabytes).
    """

    def __init__(self, file: io.BytesIO, plans: dict[int, tuple[Plan, str]]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.plans = plans

    def persistent_id(self, obj: Any) -> str | None:  # pickle's hook
        if type(obj) is Plan:
            found = self.plans.get(id(obj))
            return found[1] if found is not None and found[0] is obj else None
        return None


class _Unpacker(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, plan: Plan | None = None) -> None:
        super().__init__(file)
        self.plan = plan  # the job's plan, when it arrives beside the job (Dask)

    def persistent_load(self, pid: Any) -> Plan:  # pickle's hook
        if self.plan is not None:
            return self.plan
        plan = _PLANS.get(pid)
        if plan is None:
            with open(pid, "rb") as handle:
                plan = pickle.load(handle)  # written by this run's coordinator
            _PLANS.clear()  # a worker serves one coordinator: keep the current plan only
            _PLANS[pid] = plan
        return plan


_PLANS: dict[str, Plan] = {}  # plan file -> plan, in a pool worker


def _unpack(packed: bytes, plan: Plan | None = None) -> StageJob:
    return _Unpacker(io.BytesIO(packed), plan).load()  # type: ignore[no-any-return]


def _pack(job: StageJob, plans: dict[int, tuple[Plan, str]]) -> bytes:
    """The job pickled with its plan by reference (``plans``: id -> the plan and its reference)."""
    buffer = io.BytesIO()
    _Packer(buffer, plans).dump(job)
    return buffer.getvalue()


#: Jobs per trip to a worker by the recent mean body time of finished jobs (seconds): a trip
#: costs about a millisecond of pipes and the pool's threads, so trivial stages share one and
#: long ones go alone.
BATCHES = ((0.002, 16), (0.02, 4))


class _Job:
    """A job handed to the pool (the runner's handle): packed, then sent in a batch."""

    __slots__ = ("packed",)

    def __init__(self, packed: bytes) -> None:
        self.packed = packed


class ProcessPool:
    """Independent stages in parallel worker processes (``--jobs N``)."""

    in_process = False
    #: a job that is the only one ready while none runs is run by the coordinator (no round trip)
    lone_in_process = True

    def __init__(self, jobs: int) -> None:
        import concurrent.futures as cf
        import multiprocessing
        import tempfile

        # forkserver: workers fork from a clean server process that has nbpipe's runtime
        # imported (safe with threads in the parent, unlike fork; faster than spawn).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["nbpipe.runtime.worker"])
        self.pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        self.jobs = jobs
        self.batch = 1  # jobs per trip to a worker, learnt from the body times (BATCHES)
        self._seconds: float | None = None  # recent mean body time of finished jobs
        self._pending: list[_Job] = []  # submitted, not yet sent
        self.finished: queue.SimpleQueue[tuple[list[_Job], cf.Future[list[StageOutcome]]]] = queue.SimpleQueue()
        self.plans: dict[int, tuple[Plan, str]] = {}  # id -> (plan, the file the workers read it from)
        self.folder = tempfile.mkdtemp(prefix="nbpipe-plans-")
        # Start every worker now, in parallel, while the coordinator computes keys: a
        # worker spawned only when a second branch becomes ready delays that branch.
        for _ in range(jobs):
            self.pool.submit(_warm)

    @property
    def slots(self) -> int:
        """Jobs handed to the pool at once: every worker has its next batch queued."""
        return 2 * self.jobs * self.batch

    def submit(self, job: StageJob) -> _Job:
        """Take a job (its plan travels once per worker, not with every job); sent at the next wait."""
        self._ship(job.plan)
        handle = _Job(_pack(job, self.plans))
        self._pending.append(handle)
        return handle

    def _send(self) -> None:
        """Send the jobs taken since the last wait, in at most one batch per worker (a share each)."""
        size = min(self.batch, -(-len(self._pending) // self.jobs))
        for start in range(0, len(self._pending), size):
            batch = self._pending[start : start + size]
            future = self.pool.submit(_run_batch, [job.packed for job in batch], dict(os.environ))
            future.add_done_callback(functools.partial(self._done, batch))
        self._pending = []

    def _done(self, batch: list[_Job], future: cf.Future[list[StageOutcome]]) -> None:
        """A batch finished (called by the pool's thread): queue it for :meth:`wait_any`."""
        self.finished.put((batch, future))

    def _ship(self, plan: Plan) -> None:
        """Write ``plan`` once to a file every worker loads it from (atomically: temp name, rename)."""
        found = self.plans.get(id(plan))
        if found is not None and found[0] is plan:
            return
        path = os.path.join(self.folder, f"plan-{len(self.plans)}.pickle")
        with open(path + ".tmp", "wb") as handle:
            pickle.dump(plan, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(path + ".tmp", path)
        self.plans[id(plan)] = (plan, path)

    def wait_any(self, handles: list[Any]) -> list[tuple[Any, StageOutcome]]:
        """Send the jobs taken, block until a batch finished; return its jobs (O(1) per finished job)."""
        if self._pending:
            self._send()
        done = [self.finished.get()]
        while not self.finished.empty():
            done.append(self.finished.get())
        found: list[tuple[Any, StageOutcome]] = []
        for batch, future in done:
            outcomes = _result(future, future.result)
            if not isinstance(outcomes, list):  # the transport failed: every job of the batch with it
                outcomes = [replace(outcomes) for _ in batch]
            self._learn(outcomes)
            found += zip(batch, outcomes)
        return found

    def _learn(self, outcomes: list[StageOutcome]) -> None:
        """Batch size from the recent mean body time (long stages go alone, balanced over the workers)."""
        for outcome in outcomes:
            seconds = outcome.seconds
            self._seconds = seconds if self._seconds is None else 0.8 * self._seconds + 0.2 * seconds
        mean = self._seconds if self._seconds is not None else float("inf")
        self.batch = next((size for limit, size in BATCHES if mean < limit), 1)

    def close(self) -> None:
        """Shut the workers down and remove the plan files."""
        import shutil

        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)


#: Seconds to wait for a Dask scheduler before the run gives up with a clear message.
CONNECT_TIMEOUT = 10


class DaskExecutor:
    """Stages as Dask tasks; a LocalCluster is started when no address is given."""

    in_process = False

    def __init__(self, address: str | None, jobs: int) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise PipelineError(
                "--executor dask needs dask.distributed", hint="pip install 'jupyter-nbpipe[dask]'"
            ) from exc
        self.cluster = None
        if address is None:
            self.cluster = LocalCluster(
                n_workers=max(jobs, 2), threads_per_worker=1, processes=True, dashboard_address=None
            )
            address = self.cluster.scheduler_address
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:  # unreachable, refused, a malformed address
            raise PipelineError(
                f"cannot reach the Dask scheduler at {address}: {exc}",
                hint="start the scheduler (dask scheduler), check --address, or drop --address to use a LocalCluster",
            ) from None
        self.plans: dict[int, tuple[Plan, Any]] = {}  # id -> (plan, its future on the cluster)

    def submit(self, job: StageJob) -> Any:
        """Submit a job as a Dask task (never deduplicated: pure=False) needing its stage's ``--resources``.

        The plan goes to the workers once (scattered); each task carries the job without it.
        """
        key = f"nbpipe-{job.stage}-{job.key[:12]}"
        packed = _pack(job, {id(job.plan): (job.plan, "plan")})
        plan = self._scatter(job.plan)
        return self.client.submit(
            _run_remote, packed, plan, pure=False, key=key, resources=self._resources(job) or None
        )

    def _scatter(self, plan: Plan) -> Any:
        """The cluster's copy of ``plan`` (sent to every worker at its first job)."""
        found = self.plans.get(id(plan))
        if found is None or found[0] is not plan:
            found = self.plans[id(plan)] = (plan, self.client.scatter(plan, broadcast=True, hash=False))
        return found[1]

    def _resources(self, job: StageJob) -> dict[str, float]:
        """The stage's ``--resources`` as Dask worker resources that some worker of the cluster declares.

        Dask holds a task until a worker declares enough of each resource, forever if none does:
        a resource no worker declares is left out with a warning; a need larger than every
        worker's is refused naming the stage.
        """
        wanted = dask_resources(job.plan.stages[job.stage].header.resources)
        if not wanted:
            return {}
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {}).values()
        declared = [w.get("resources") or {} for w in workers]
        kept: dict[str, float] = {}
        for name, amount in wanted.items():
            have = [float(d[name]) for d in declared if name in d]
            if not have:
                import warnings

                warnings.warn(
                    f"nbpipe: stage {job.stage!r} needs {name}={amount:g}, which no Dask worker declares; "
                    f"it runs without that constraint (start workers with: dask worker ADDRESS --resources '{name}=N')",
                    stacklevel=2,
                )
            elif max(have) < amount:
                raise PipelineError(
                    f"stage {job.stage!r} needs {name}={amount:g}, but the largest Dask worker declares {max(have):g}",
                    hint="lower the stage's --resources, or start a worker with more: "
                    f"dask worker ADDRESS --resources '{name}={amount:g}'",
                    stage=job.stage,
                )
            else:
                kept[name] = amount
        return kept

    def wait_any(self, handles: list[Any]) -> list[tuple[Any, StageOutcome]]:
        """Block until at least one task finished."""
        from distributed import wait

        done, _ = wait(handles, return_when="FIRST_COMPLETED")
        return [(h, _result(h, h.result)) for h in done]

    def close(self) -> None:
        """Close the client and any cluster we started."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


#: ``--resources`` keys -> the Dask resource names workers declare (``dask worker --resources "GPU=1"``).
DASK_RESOURCES = {"cpu": "CPU", "memory": "MEMORY", "gpu": "GPU"}


def dask_resources(pairs: tuple[tuple[str, str], ...]) -> dict[str, float]:
    """A header's ``--resources`` as Dask resources: CPU in cores, MEMORY in bytes, GPU a count (accelerator: none)."""
    from nbpipe.header import resource_amount

    return {DASK_RESOURCES[key]: resource_amount(key, value) for key, value in pairs if key in DASK_RESOURCES}


def _result(handle: Any, get: Any) -> Any:
    """The task's value (an outcome, or a batch's outcomes), or a failed outcome when the transport failed."""
    try:
        return get()
    except Exception as exc:  # the transport failed (worker died), not the user's code
        return StageOutcome(stage="?", status="failed", error=f"worker failed: {type(exc).__name__}: {exc}")


def make_executor(kind: str, jobs: int, address: str | None) -> Any:
    """The executor for ``--executor`` and ``--jobs``."""
    if kind == "dask":
        return DaskExecutor(address, jobs)
    if kind != "local":
        raise PipelineError(f"unknown executor {kind!r}", hint="use --executor local or --executor dask")
    return ProcessPool(jobs) if jobs > 1 else InProcess()
