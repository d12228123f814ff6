"""``nbpipe run DIR``: execute an exported papermill folder in dependency order, with the cache.

The coordinator is the same :class:`~nbpipe.runtime.runner.Runner` as ``nbpipe run NB``
(same keys, same skipping of cached stages, same run record with target ``papermill``);
only the executor differs: each missed stage runs as its own notebook in a real kernel
through papermill, independent stages in parallel with ``--jobs``. Every executed
notebook is kept under ``DIR/runs/RUN_ID/`` as the readable record of the run.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.store import Store
from nbpipe.errors import NotebookReadError, ParameterError
from nbpipe.export.papermill import MANIFEST
from nbpipe.notebook import literal_assignments
from nbpipe.runtime.params import validate
from nbpipe.runtime.plan import Plan
from nbpipe.runtime.progress import choose_progress
from nbpipe.runtime.runner import Runner, RunOptions, RunResult
from nbpipe.runtime.worker import StageJob, StageOutcome


def run_folder(
    folder: str,
    params: dict[str, Any],
    jobs: int,
    store: str | None,
    *,
    only: Sequence[str] = (),
    force: Sequence[str] = (),
    from_stage: str | None = None,
    explain: bool = False,
    retries: int | None = None,
) -> int:
    """Run an exported papermill folder; print a summary; return the exit code (0 ok, 1 a stage failed).

    The keyword arguments mean what the ``nbpipe run`` flags of the same names mean
    (see :func:`run_papermill`); with ``explain`` nothing runs and no summary is printed.
    """
    result = run_papermill(
        folder, params, jobs, store, only=only, force=force, from_stage=from_stage, explain=explain, retries=retries
    )
    if explain:
        return 0
    print(f"{result.summary()}; notebooks: {os.path.join(folder, 'runs', result.run_id)}")
    if result.failed:
        print(result.failures(), file=sys.stderr)
    return 0 if result.status == "ok" else 1


def run_papermill(
    folder: str,
    params: dict[str, Any],
    jobs: int = 1,
    store: str | None = None,
    *,
    only: Sequence[str] = (),
    force: Sequence[str] = (),
    from_stage: str | None = None,
    explain: bool = False,
    retries: int | None = None,
) -> RunResult:
    """Run an exported papermill folder and return the run result.

    Args:
        folder: the folder written by ``nbpipe export --to papermill``.
        params: parameter overrides (validated against the exported defaults).
        jobs: how many stage notebooks run at once.
        store: the store URL (default ``$NBPIPE_STORE``, else ``.nbpipe/`` beside the notebook).
        only: run only these stages; their upstream must be in the cache.
        force: re-run these stages even if cached.
        from_stage: re-run this stage and everything downstream.
        explain: print each stage's hit or miss reason and run nothing (no kernel starts).
        retries: retries of a failing stage notebook (default: each stage header's).

    Raises:
        NotebookReadError: ``folder`` holds no readable ``pipeline.json``.
        ParameterError: an unknown or mistyped parameter.
        PipelineError: an unknown stage in ``only``, ``force`` or ``from_stage``.
    """
    manifest, plan = _folder_plan(folder)
    overrides = validate(params, plan.defaults, plan.notebook)
    for name, value in overrides.items():
        _check_passable(name, value)
    located = Store.for_notebook(plan.notebook, store, base_dir=plan.base_dir)
    options = RunOptions(
        params=params,
        only=list(only),
        force=list(force),
        from_stage=from_stage,
        explain=explain,
        jobs=max(1, jobs),
        store=str(located.url),
        retries=retries,
        target="papermill",
    )
    cwd = os.getcwd()
    try:
        if manifest.get("upstream"):
            return _run_with_upstream(folder, manifest, plan, options, overrides, located)
        runner = _PapermillRunner(plan, options, overrides, located, choose_progress())
        return runner.run_folder(os.path.abspath(folder), manifest["notebooks"])
    finally:
        os.chdir(cwd)


def _folder_plan(folder: str) -> tuple[dict[str, Any], Plan]:
    """The manifest of an exported folder and the plan it holds."""
    from nbpipe.runtime.script_api import plan_from_data

    manifest = _manifest(folder)
    # The parameter values as the notebook means them: pipeline.json holds them as JSON only.
    data = {**manifest["plan"], "defaults": literal_assignments(manifest["plan"]["parameters_source"])}
    return manifest, plan_from_data(data, base_dir=os.path.join(os.path.abspath(folder), data["base_dir"]))


def _run_with_upstream(
    folder: str, manifest: dict[str, Any], plan: Plan, options: RunOptions, overrides: dict[str, Any], store: Store
) -> RunResult:
    """Run the exported folders of the notebooks ``plan`` reads first (producers first), then its own.

    Each upstream folder runs only the stages listed for it, with its defaults, in the same store
    (an entry with folder ``.`` is this notebook's own stages that a notebook it reads needs first);
    each reader is seeded with the fingerprints and entries its producers recorded (as ``nbpipe run``).
    """
    from nbpipe.runtime.project_run import ProducedOutput, collect_outputs

    plans: dict[str, Plan] = {}
    outputs: dict[tuple[str, str], ProducedOutput] = {}
    records, refs = [], {}
    for entry in manifest["upstream"]:
        own = entry["folder"] == "."  # stages of this notebook another notebook reads back: it runs in parts
        sub = os.path.normpath(os.path.join(os.path.abspath(folder), str(entry["folder"])))
        sub_manifest, sub_plan = (manifest, plan) if own else _folder_plan(sub)
        key = str(entry["notebook"])
        plans[key] = sub_plan
        sub_options = dataclasses.replace(
            options,
            params=options.params if own else {},
            only=[],
            force=[],
            from_stage=None,
            upto=[str(s) for s in entry["stages"]],
        )
        sub_store = store if own else Store.for_notebook(sub_plan.notebook, store.url)
        sub_overrides = overrides if own else {}
        result = _seeded(sub, sub_manifest, sub_plan, sub_options, sub_overrides, sub_store, key, plans, outputs)
        collect_outputs(result, sub_plan, key, outputs)
        records += [dataclasses.replace(r, name=f"{key}:{r.name}") for r in result.stages]
        refs.update(result.refs)
    key = os.path.basename(plan.notebook)
    plans[key] = plan
    result = _seeded(os.path.abspath(folder), manifest, plan, options, overrides, store, key, plans, outputs)
    stages = records + result.stages
    status = "failed" if any(s.status == "failed" for s in stages) else "ok"
    return dataclasses.replace(result, status=status, stages=stages, refs={**refs, **result.refs})


def _seeded(
    folder: str,
    manifest: dict[str, Any],
    plan: Plan,
    options: RunOptions,
    overrides: dict[str, Any],
    store: Store,
    key: str,
    plans: dict[str, Plan],
    outputs: dict[tuple[str, str], Any],
) -> RunResult:
    """Run one exported folder with what it reads from the folders run before it."""
    from nbpipe.analysis.project import Link
    from nbpipe.runtime.project_run import seed_runner

    links = []
    for name, written in plan.imported.items():
        producer = plans.get(os.path.normpath(os.path.join(os.path.dirname(key), written)))
        if producer is not None and name in producer.producers:
            links.append(Link(producer.notebook, producer.producers[name], plan.notebook, "", name))
    runner = _PapermillRunner(plan, options, overrides, store, choose_progress())
    seed_runner(runner, links, outputs)
    return runner.run_folder(folder, manifest["notebooks"])


def _check_passable(name: str, value: Any) -> None:
    """Refuse an override that papermill's parameter cell would not write as the same value.

    Papermill writes str, int, float (inf and nan too), bool, None, and lists and str-keyed
    dicts of them faithfully; a tuple, bytes, a date or an int key would arrive as a string.

    Raises:
        ParameterError: naming the parameter, what papermill would make of it and the fix.
    """
    if _passable(value):
        return
    raise ParameterError(
        f"parameter {name!r}: papermill cannot pass {type(value).__name__} {_shown(value)} to a stage notebook "
        "as the same value (it writes only str, int, float, bool, None, and lists and str-keyed dicts of them)",
        hint=f"set {name!r} in the notebook's parameters cell and export again, or run it: nbpipe run NB.ipynb",
    )


def _passable(value: Any) -> bool:
    if value is None or type(value) in (str, bool, float):
        return True
    if type(value) is int:
        return abs(value) < 10**4000  # papermill writes str(value), which refuses longer ints
    if type(value) is list:
        return all(_passable(item) for item in value)
    if type(value) is dict:
        return all(type(key) is str and _passable(item) for key, item in value.items())
    return False


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _manifest(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise NotebookReadError(
            f"{folder} is not an exported papermill pipeline: cannot read {MANIFEST} ({exc})",
            hint="create it with: nbpipe export NB.ipynb --to papermill -o FOLDER",
        ) from exc
    plan = data.get("plan") if isinstance(data, dict) else None
    if data.get("version") != 1 or not isinstance(plan, dict) or not isinstance(plan.get("parameters_source"), str):
        raise NotebookReadError(f"{path}: unknown manifest version", hint="re-export with this nbpipe")
    return data


class _PapermillRunner(Runner):
    """The batch coordinator with stages executed as papermill notebooks."""

    def run_folder(self, folder: str, notebooks: dict[str, str]) -> RunResult:
        """Run (or, with ``explain``, only explain: no kernel, no run folder) the selected stages."""
        jobs, cwd = self.options.jobs, self.plan.base_dir
        return self.run(lambda run_id: PapermillExecutor(folder, notebooks, run_id, jobs, cwd))


class PapermillExecutor:
    """Runs stage jobs as papermill notebooks in threads (each notebook has its own kernel)."""

    in_process = False

    def __init__(self, folder: str, notebooks: dict[str, str], run_id: str, jobs: int, cwd: str) -> None:
        self.folder, self.notebooks, self.cwd = folder, notebooks, cwd
        self.run_dir = os.path.join(folder, "runs", run_id)
        os.makedirs(self.run_dir, exist_ok=True)
        self.tmp = tempfile.TemporaryDirectory(prefix="nbpipe-papermill-")
        self.pool = cf.ThreadPoolExecutor(max_workers=jobs)

    def submit(self, job: StageJob) -> cf.Future[StageOutcome]:
        """Start one stage notebook."""
        return self.pool.submit(self._execute, job)

    def wait_any(self, handles: list[Any]) -> list[tuple[Any, StageOutcome]]:
        """Block until at least one stage finished."""
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return [(h, h.result()) for h in done]

    def close(self) -> None:
        """Wait for running notebooks and remove the temporary outcome files."""
        self.pool.shutdown(wait=True)
        self.tmp.cleanup()

    def _execute(self, job: StageJob) -> StageOutcome:
        outcome = StageOutcome(stage=job.stage, status="failed", attempts=0)
        for attempt in range(job.retries + 1):
            outcome.attempts = attempt + 1
            try:
                self._attempt(job, outcome)
            except Exception as exc:  # a failing cell, a dead kernel, a store error
                outcome.error, outcome.traceback = _describe(exc)
                outcome.lost_input = _lost_input(exc)
                if outcome.lost_input is not None:
                    return outcome  # the coordinator re-runs its producer (the one fault policy)
                continue
            outcome.status, outcome.error, outcome.traceback = "ran", None, None
            break
        return outcome

    def _attempt(self, job: StageJob, outcome: StageOutcome) -> None:
        import papermill

        name = self.notebooks[job.stage]  # bounded and unique (papermill.stage_file); the stage name may not be
        result_path = os.path.join(self.tmp.name, os.path.splitext(name)[0] + ".json")
        outcome.started = time.time()
        payload = {
            "stage": job.stage,
            "store": job.store,
            "scope": os.path.basename(job.plan.notebook),
            "key": job.key,
            "key_inputs": KeyInputs.to_dict(job.key_inputs),
            "header": job.plan.stages[job.stage].header.canonical(),
            "inputs": {n: [ref.key, ref.output] for n, ref in job.input_refs.items()},
            "save": job.save,
            "started": outcome.started,
            "outcome": result_path,
        }
        with contextlib.suppress(FileNotFoundError):
            os.remove(result_path)  # an earlier attempt's
        try:
            papermill.execute_notebook(
                _literal_path(os.path.join(self.folder, name)),
                _literal_path(os.path.join(self.run_dir, name)),
                parameters={**job.overrides, "nbpipe_job": json.dumps(payload)},
                cwd=self.cwd,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
            )
        except Exception:
            outcome.fingerprints, outcome.summaries, outcome.sizes, outcome.saved = {}, {}, {}, False
            with contextlib.suppress(OSError, ValueError, KeyError):
                _read_outcome(result_path, outcome)  # a failed --check gate wrote what it computed, unsaved
            raise
        outcome.warning = _read_outcome(result_path, outcome).get("warning")


def _read_outcome(path: str, outcome: StageOutcome) -> dict[str, Any]:
    """Read the outcome file a stage notebook wrote into ``outcome``.

    Raises:
        OSError: the notebook wrote none (it failed before).
    """
    with open(path, encoding="utf-8") as handle:
        result: dict[str, Any] = json.load(handle)
    outcome.finished = float(result["finished"])
    outcome.seconds = outcome.finished - outcome.started
    outcome.fingerprints, outcome.sizes, outcome.saved = result["fingerprints"], result["sizes"], result["saved"]
    outcome.summaries = result.get("summaries") or {}
    return result


def _lost_input(exc: BaseException) -> str | None:
    """The input whose store entry vanished, when the stage notebook failed loading it (InputLost)."""
    import re

    if getattr(exc, "ename", None) != "InputLost":
        return None
    found = re.match(r"input '([^']+)'", str(getattr(exc, "evalue", "")))
    return found.group(1) if found else None


def _literal_path(path: str) -> str:
    """``path`` protected from papermill's ``str.format`` of paths with the parameters (braces doubled)."""
    return path.replace("{", "{{").replace("}", "}}")


def _describe(exc: BaseException) -> tuple[str, str | None]:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename is not None:
        lines = getattr(exc, "traceback", None) or []
        text = "\n".join(str(line) for line in lines)
        return f"{ename}: {evalue}", _strip_ansi(text) or None
    return f"{type(exc).__name__}: {exc}", None


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
