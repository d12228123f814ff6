"""The runtime entry points of generated code: exported scripts, Airflow tasks, papermill stage notebooks.

Exported artifacts embed the notebook's plan as JSON-able data (see :func:`plan_to_data`)
and call the functions here, which compute stage keys exactly like
:class:`nbpipe.runtime.runner.Runner` (same :func:`nbpipe.runtime.keys.key_inputs`, same
Merkle-style input fingerprints), so a stage computed in the notebook is a cache hit
for every export and the other way round. Nothing here imports nbformat or a kernel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, PipelineError, StageError
from nbpipe.header import parse_header
from nbpipe.runtime.checks import check_unchanged, run_checks, watch
from nbpipe.runtime.keys import key_inputs, mutable_prints
from nbpipe.runtime.params import add_parameter_option, validate
from nbpipe.runtime.plan import Plan, StagePlan, make_plan
from nbpipe.runtime.records import StageRecord, carry_summaries, gate_outputs, new_run_id, now, run_record
from nbpipe.runtime.stage_cache import Probe, StageCache

DATA_VERSION = 1
#: MLflow settings of the exported script's ``--mlflow`` while :func:`script_main` runs it.
_TRACKING: ContextVar[Any] = ContextVar("nbpipe_tracking", default=None)


def plan_to_data(plan: Plan, base_dir: str | None = None, imports: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The plan as JSON-able data for generated code.

    Args:
        plan: the notebook's plan.
        base_dir: the notebook folder as generated code should find it (e.g. relative to the
            generated file); defaults to ``plan.base_dir``.
        imports: ``--in NAME@NOTEBOOK`` input -> the exported script of that notebook, relative
            to the generated file (the script target: one file per notebook).
    """
    data: dict[str, Any] = {
        "version": DATA_VERSION,
        "notebook": os.path.basename(plan.notebook),
        "base_dir": plan.base_dir if base_dir is None else base_dir,
        "setup": [[index, source] for index, source in plan.setup],
        "parameters_source": plan.parameters_source,
        "defaults": dict(plan.defaults),
        "stages": [
            {"name": name, "header": s.header.canonical(), "body": s.body, "cell": s.cell}
            for name, s in plan.stages.items()
        ],
        "order": list(plan.order),
        "static": sorted(plan.static),
    }
    if imports:  # --in NAME@NOTEBOOK: NAME -> the exported script of NOTEBOOK (relative to this file)
        data["imports"] = dict(imports)
    return data


def plan_from_data(data: Mapping[str, Any], base_dir: str | None = None) -> Plan:
    """Rebuild a :class:`Plan` from :func:`plan_to_data` output.

    Args:
        data: the embedded plan data.
        base_dir: the notebook folder, overriding ``data["base_dir"]`` (e.g. resolved from ``__file__``).
    """
    if data.get("version") != DATA_VERSION:
        raise PipelineError(
            f"generated pipeline data has version {data.get('version')!r}; this nbpipe reads {DATA_VERSION}",
            hint="re-export the notebook with this version of nbpipe",
        )
    stages = {s["name"]: StagePlan(parse_header(s["header"]), s["body"], int(s["cell"])) for s in data["stages"]}
    producers = {out: name for name, s in stages.items() for out in s.header.outputs}
    folder = os.path.abspath(base_dir if base_dir is not None else data["base_dir"])
    return make_plan(
        notebook=os.path.join(folder, data["notebook"]),
        base_dir=folder,
        setup=tuple((int(i), str(src)) for i, src in data["setup"]),
        parameters_source=data["parameters_source"],
        defaults=dict(data["defaults"]),
        stages=stages,
        producers=producers,
        static=frozenset(data.get("static", ())),
        imported={n: p for s in stages.values() for n, p in s.header.notebook_inputs},
    )


@dataclass
class ScriptRun:
    """State of one run of an exported script."""

    plan: Plan
    cache: StageCache
    namespace: dict[str, Any]  # setup names and parameter values, as the Runner sees them
    values: dict[str, Any] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    records: list[StageRecord] = field(default_factory=list)


def run_script(
    data: Mapping[str, Any],
    functions: Mapping[str, Callable[..., dict[str, Any]]],
    module_globals: dict[str, Any],
    params: Mapping[str, Any],
    *,
    generated: Sequence[str] = (),
    only: Sequence[str] = (),
    force: Sequence[str] = (),
    store: str | None = None,
    base_dir: str | None = None,
) -> dict[str, Any]:
    """Run an exported script's stage functions with the shared cache; return every output.

    Args:
        data: the plan data embedded in the script.
        functions: stage name -> the script's stage function (inputs positional, parameters by keyword).
        module_globals: the script's ``globals()``: its setup names and parameter defaults.
        params: parameter overrides (validated against the defaults).
        generated: names the generator added to the module (excluded from stage keys).
        only: run only these stages; their upstream must be cached.
        force: re-run these stages even if cached.
        store: the store URL (default: ``NBPIPE_STORE``, else ``.nbpipe/`` in the notebook folder).
        base_dir: the notebook folder (relative ``--file-in`` paths and the working directory).

    Raises:
        ParameterError: an unknown or mistyped parameter.
        PipelineError: a stage failed (its descendants do not run).
    """
    plan = plan_from_data(data, base_dir)
    overrides = validate(params, plan.defaults, plan.notebook)
    plan.check_names(list(only), "--only")
    plan.check_names(list(force), "--force")
    skip = set(generated)
    namespace = {k: v for k, v in module_globals.items() if k not in skip and k != "__builtins__"}
    namespace.update(overrides)
    saved = {name: module_globals[name] for name in overrides if name in module_globals}
    module_globals.update(overrides)  # setup helpers read parameters as globals, as in the notebook
    state = ScriptRun(plan, StageCache(Store.for_notebook(plan.notebook, store, base_dir=plan.base_dir)), namespace)
    cwd, run_id, started = os.getcwd(), new_run_id(), now()
    selected = plan.upstream(list(only)) if only else list(plan.order)
    state.values.update(_imported_values(data, module_globals, state.cache.store.url))
    os.chdir(plan.base_dir)
    try:
        for name in selected:
            cache_only = bool(only) and name not in only
            _script_stage(state, name, functions[name], force=name in force, cache_only=cache_only)
    finally:
        os.chdir(cwd)
        module_globals.update(saved)
        carry_summaries(state.cache.store, plan.notebook, state.records)
        record = run_record(
            run_id, plan.notebook, "script", {**plan.defaults, **overrides}, started, state.records, None
        )
        try:
            state.cache.store.write_record(record)
        except CacheError as exc:
            state.cache.unwritable(exc)
        _track(record, plan)
    return state.values


def _imported_values(data: Mapping[str, Any], module_globals: Mapping[str, Any], store: str) -> dict[str, Any]:
    """``--in NAME@NOTEBOOK`` inputs: the outputs of the other notebooks' exported scripts, run (or restored
    from the cache) first in the same store; each script's module runs its own setup in its own namespace.

    Raises:
        PipelineError: a script is missing next to this one (export the reading notebook again).
    """
    imports: Mapping[str, str] = data.get("imports") or {}
    if not imports:
        return {}
    import importlib.util

    here = os.path.dirname(os.path.abspath(str(module_globals.get("__file__", "."))))
    outputs: dict[str, dict[str, Any]] = {}
    for script in dict.fromkeys(imports.values()):
        path = os.path.join(here, script)
        spec = importlib.util.spec_from_file_location(f"nbpipe_upstream_{len(outputs)}", path)
        if spec is None or spec.loader is None or not os.path.isfile(path):
            raise PipelineError(
                f"the script {script!r} that produces inputs of {data['notebook']!r} is not beside it ({path})",
                hint="export the reading notebook again: nbpipe export NB --to script writes every upstream script",
            )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        outputs[script] = module._run({}, store=store)
    return {name: outputs[script][name] for name, script in imports.items()}


def _script_stage(state: ScriptRun, name: str, function: Callable[..., Any], force: bool, cache_only: bool) -> None:
    stage = state.plan.stages[name]
    header = stage.header
    record = StageRecord(name=name, started=now())
    state.records.append(record)
    inputs = {i: state.values[i] if i in state.values else state.namespace[i] for i in header.inputs}
    prints = {i: state.fingerprints.get(i) or fingerprint(inputs[i], i) for i in header.inputs}
    visible = {k: v for k, v in state.namespace.items() if k not in header.inputs}
    parts = key_inputs(header, stage.body, visible, prints, state.plan.base_dir)
    probe = state.cache.probe(parts, use=not (force or header.no_cache))
    record.key = probe.key
    outputs = state.cache.restore(probe) if probe.hit else None
    if outputs is not None:
        fps = probe.fingerprints()
        record.status = record.reason = "cached"
    elif cache_only:
        record.status = "failed"
        record.error = f"stage {name!r} is not cached; it is needed by --only"
        raise PipelineError(record.error, hint="run the script without --only first", stage=name)
    else:
        from nbpipe.runtime.resources import measure  # a miss only: a cached run does not import it
        from nbpipe.runtime.summaries import summarize_outputs

        record.reason = "forced" if force else "--no-cache" if header.no_cache else state.cache.reason(probe)
        with measure() as usage:
            outputs, seconds = _call_stage(state, stage, function, inputs, record, parts)
        fps = state.cache.save(probe, outputs, seconds, persist=not header.no_cache).fingerprints
    record.finished = now()
    record.outputs = {out: {"fingerprint": fp, "bytes": 0} for out, fp in fps.items()}
    if record.status == "ran":
        record.add_details(usage.cpu_seconds, usage.peak_memory, summarize_outputs(outputs))
    state.values.update(outputs)
    state.fingerprints.update(fps)


def _call_stage(
    state: ScriptRun,
    stage: StagePlan,
    function: Callable[..., Any],
    inputs: dict[str, Any],
    record: StageRecord,
    parts: KeyInputs,
) -> tuple[dict[str, Any], float]:
    header = stage.header
    params = {p: state.namespace[p] for p in _parameters_of(function) if p in state.namespace}
    before = watch(header, inputs, mutable_prints(parts.params, state.namespace))
    started = time.perf_counter()
    try:
        outputs = dict(function(*(inputs[i] for i in header.inputs), **params))
        missing = [o for o in header.outputs if o not in outputs]
        if missing:
            raise StageError(f"stage {stage.name!r} did not return output {missing[0]!r}", stage=stage.name)
        run_checks(header, {**state.namespace, **inputs, **outputs})
        check_unchanged(header, before, {**state.namespace, **inputs})
    except Exception as exc:
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"
        prints, summaries = gate_outputs(stage.name, exc)  # a failed --check gate: what it computed, unsaved
        record.outputs = {out: {"fingerprint": fp, "bytes": 0} for out, fp in prints.items()}
        record.add_details(0.0, None, summaries)
        raise
    record.seconds = time.perf_counter() - started
    record.status = "ran"
    return outputs, record.seconds


def _track(record: dict[str, Any], plan: Plan) -> None:
    """Log the run to MLflow when the script was started with ``--mlflow`` (a failure is one warning)."""
    tracking = _TRACKING.get()
    if tracking is not None:
        from nbpipe.runtime.tracking import log_run

        log_run(record, tracking, {name: list(s.header.checks) for name, s in plan.stages.items()})


def _parameters_of(function: Callable[..., Any]) -> list[str]:
    code = getattr(function, "__code__", None)
    if code is None:
        return []
    start = code.co_argcount
    return list(code.co_varnames[start : start + code.co_kwonlyargcount])


def run_stage_task(
    data: Mapping[str, Any],
    stage: str,
    params: Mapping[str, Any],
    store: str,
    target: str,
    retries: int | None = None,
    group: str = "",
) -> dict[str, dict[str, Any]]:
    """Run one stage (upstream already in ``store``) as an orchestrator task, e.g. an Airflow task.

    The stage goes through the same :class:`~nbpipe.runtime.runner.Runner` as ``nbpipe run --only STAGE``:
    its ancestors must be cached in the shared store, its key is computed from their recorded
    fingerprints, and on a miss it runs with :func:`nbpipe.runtime.worker.run_job`.

    ``group`` (e.g. the Airflow DAG run) is written into the task's run record, so that one
    MLflow run can gather the records of every task of that run (:func:`nbpipe.runtime.tracking.log_group`).

    Returns:
        Output name -> ``{"key", "fingerprint"}`` (small and JSON-able, e.g. for XCom).

    Raises:
        StageError: the stage failed; the message holds its traceback.
    """
    from nbpipe.runtime.progress import Progress
    from nbpipe.runtime.runner import Runner, RunOptions

    plan = plan_from_data(data)
    overrides = validate(params, plan.defaults, plan.notebook)
    options = RunOptions(params=dict(overrides), only=[stage], store=store, retries=retries, target=target, group=group)
    cwd = os.getcwd()
    try:
        located = Store.for_notebook(plan.notebook, store, base_dir=plan.base_dir)
        runner = Runner(plan, options, overrides, located, Progress())
        result = runner.run()
    finally:
        os.chdir(cwd)
    record = next(r for r in result.stages if r.name == stage)
    if record.status not in ("ran", "cached"):
        failed = next((r for r in result.stages if r.status == "failed"), record)
        raise StageError(
            f"stage {failed.name!r} failed: {failed.error}\n{failed.traceback or ''}".rstrip(),
            stage=failed.name,
            hint="fix the stage in the notebook and re-export",
        )
    return {out: {"key": record.key, "fingerprint": info["fingerprint"]} for out, info in record.outputs.items()}


def script_parser(doc: str | None, data: Mapping[str, Any]) -> Any:
    """The argparse parser of an exported script; ``--help`` lists the parameters with types and defaults."""
    import argparse

    defaults = data["defaults"]
    listing = "\n".join(f"  {n}: {type(v).__name__} = {v!r}" for n, v in defaults.items()) or "  none"
    parser = argparse.ArgumentParser(
        description=(doc or "").strip().split("\n")[0],
        epilog="parameters:\n" + listing + "\n\nstages: " + " ".join(data["order"]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_parameter_option(parser)
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="STAGE", help="run only these stages (upstream cached)"
    )
    parser.add_argument("--force", nargs="+", default=[], metavar="STAGE", help="re-run these stages even if cached")
    parser.add_argument("--store", metavar="URL", help="artifact store (default: the notebook's .nbpipe/)")
    from nbpipe.runtime.tracking import add_options

    add_options(parser)
    return parser


def script_main(args: Any, run: Callable[..., dict[str, Any]]) -> int:
    """Run an exported script from parsed arguments; print a summary; return the exit code."""
    import sys

    from nbpipe.errors import NbpipeError, OptionError, ParameterError
    from nbpipe.runtime.params import parse_overrides
    from nbpipe.runtime.tracking import from_args

    try:
        params = parse_overrides(args.parameter)
        token = _TRACKING.set(from_args(args))
        try:
            outputs = run(params, args.only, args.force, args.store)
        finally:
            _TRACKING.reset(token)
    except (ParameterError, OptionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NbpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done: {len(outputs)} outputs ({', '.join(outputs)})")
    return 0


def load_inputs(job_json: str, names: Sequence[str]) -> Any:
    """Inside a papermill stage notebook: the declared inputs, loaded from the store (a tuple, in order).

    Raises:
        InputLost: an input's entry is missing or corrupt (the coordinator re-runs its producer).
    """
    import json

    job = json.loads(job_json)
    cache = StageCache(Store(job["store"]))
    return tuple(cache.load_input(name, *job["inputs"][name]) for name in names)


def save_outputs(job_json: str, outputs: Mapping[str, Any], namespace: Mapping[str, Any]) -> None:
    """Inside a papermill stage notebook: run the checks, store the outputs, write the outcome file."""
    import json

    from nbpipe.cache.keys import KeyInputs

    job = json.loads(job_json)
    header = parse_header(job["header"])
    try:
        run_checks(header, namespace)
    except Exception as exc:  # a failed --check gate: what it computed goes to the record, unsaved
        prints, summaries = gate_outputs(header.name, exc)
        gate = {"fingerprints": prints, "summaries": summaries, "sizes": {}, "saved": False, "finished": time.time()}
        with open(job["outcome"], "w", encoding="utf-8") as handle:
            json.dump(gate, handle)
        raise
    seconds = time.time() - float(job["started"])
    notes: list[str] = []
    cache = StageCache(Store(job["store"], scope=job.get("scope", "")), warn=notes.append)
    probe = Probe(job["key"], KeyInputs.from_dict(job["key_inputs"]), None)
    from nbpipe.runtime.summaries import summarize_outputs

    saved = cache.save(probe, outputs, seconds, persist=bool(job["save"]))
    outcome = {
        "fingerprints": saved.fingerprints,
        "sizes": saved.sizes,
        "saved": saved.saved,
        "finished": time.time(),
        "warning": notes[0] if notes else None,
        "summaries": summarize_outputs(outputs),
    }
    with open(job["outcome"], "w", encoding="utf-8") as handle:
        json.dump(outcome, handle)


#: The environment variable naming the notebook folder for exported DAGs and pipelines.
BASE_DIR_ENV = "NBPIPE_BASE_DIR"


def resolve_locations(
    anchor: str, base_dir: str, store: str | None, *, base_dir_param: str = "", store_param: str = ""
) -> tuple[str, str | None]:
    """Where the notebook folder and the store are, decided when a task runs (portable exports).

    Exported DAGs and pipelines carry no path of the exporting machine: the notebook folder is
    ``base_dir_param`` (a DAG or pipeline parameter), else ``$NBPIPE_BASE_DIR``, else ``base_dir``
    (relative to ``anchor``, the generated file's folder). The store is ``store_param``, else
    ``$NBPIPE_STORE``, else ``store`` as exported (a relative path is relative to the notebook
    folder), else None: ``.nbpipe/`` in the notebook folder.

    Returns:
        The absolute notebook folder and the store URL (None for the notebook's own store).
    """
    from nbpipe.cache.store import STORE_ENV

    folder = os.path.abspath(os.path.join(anchor, base_dir_param or os.environ.get(BASE_DIR_ENV) or base_dir))
    url = store_param or os.environ.get(STORE_ENV) or store or None
    if url and "://" not in url and not os.path.isabs(url):
        url = os.path.normpath(os.path.join(folder, url))
    return folder, url


def run_component(
    plan_json: str, stage: str, params: Mapping[str, Any], base_dir: tuple[str, str], store: tuple[str, str]
) -> str:
    """Run one stage as a Kubeflow component (upstream already in the store); its outputs' keys as JSON.

    Args:
        plan_json: the plan data (:func:`plan_to_data`) as JSON.
        stage: the stage to run.
        params: the pipeline's parameter values.
        base_dir: (the ``nbpipe_base_dir`` pipeline parameter, the exported default), see :func:`resolve_locations`;
            a relative default is relative to the component's working directory.
        store: (the ``nbpipe_store`` pipeline parameter, the exported default; "" for none).

    Raises:
        StageError: the stage failed; the message holds its traceback.
    """
    import json

    folder, url = resolve_locations(
        os.getcwd(), base_dir[1], store[1] or None, base_dir_param=base_dir[0], store_param=store[0]
    )
    data = {**json.loads(plan_json), "base_dir": folder}
    if "pipelines" in data:  # a pipeline across notebooks: the task names a stage of one of them
        from nbpipe.runtime.project_tasks import run_project_stage_task

        notebook, name = data["tasks"][stage]
        return json.dumps(run_project_stage_task(data["pipelines"], notebook, name, params, folder, url, "kubeflow"))
    return json.dumps(run_stage_task(data, stage, params, url or "", "kubeflow"))
