"""``nbpipe export --to airflow``: an Airflow DAG file, one task per stage.

Each task runs its stage through :func:`nbpipe.runtime.script_api.run_stage_task`
(the batch Runner with ``--only STAGE``, so keys and cache hits are those of the
notebook), and artifacts travel through the shared store. Parameters are DAG params.
The DAG is portable: the notebook folder and the store are resolved when a task runs
(:func:`nbpipe.runtime.script_api.resolve_locations`: DAG params ``nbpipe_base_dir`` and
``nbpipe_store``, environment variables ``NBPIPE_BASE_DIR`` and ``NBPIPE_STORE``, defaults
relative to the DAG file). ``--resources``: ``cpu`` becomes the task's ``pool_slots``;
the others are reported as ignored. Written for Airflow 3 (``airflow.sdk``), falling back
to the Airflow 2 imports.

Each task's run record names its DAG run (the record's ``group``). With ``--mlflow [URI]``
a last task, run when every stage task is done (an Airflow teardown: it does not decide the
DAG run's state), gathers those records and logs the DAG run as one MLflow run
(:func:`nbpipe.runtime.tracking.log_group`); the URI and the experiment are DAG params
(``nbpipe_mlflow_uri``, ``nbpipe_mlflow_experiment``), else ``MLFLOW_TRACKING_URI`` and
``MLFLOW_EXPERIMENT_NAME``, else the exported values.
"""

from __future__ import annotations

import math
import os
import re
import warnings

from nbpipe.errors import ExportError
from nbpipe.export.codegen import bounded_name, docstring, identifier, lint_waiver, literal, ruff_format
from nbpipe.export.files import check_writable, mark_python, write_text
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import Plan, plan_notebook

#: Airflow's limit on task and DAG ids.
ID_LIMIT = 250
#: DAG params nbpipe adds beside the notebook's parameters (run-time locations).
LOCATION_PARAMS = ("nbpipe_base_dir", "nbpipe_store")
#: DAG params of ``--mlflow`` (where the DAG run is logged).
TRACKING_PARAMS = ("nbpipe_mlflow_uri", "nbpipe_mlflow_experiment")
#: The task id of the MLflow task (``_`` appended while a stage's task has it).
TRACKING_TASK = "nbpipe_mlflow"


class ExportWarning(UserWarning):
    """Raised (as a warning) when a target cannot honour part of the notebook, e.g. a resource."""


def export_airflow(
    nb: Notebook,
    output: str,
    standalone: bool = False,
    retries: int = 0,
    store: str | None = None,
    dag_id: str | None = None,
    overwrite: bool = False,
    mlflow: str | None = None,
    mlflow_experiment: str | None = None,
) -> str:
    """Write the DAG file for ``nb`` to ``output`` and return the path.

    Args:
        nb: the notebook.
        output: the DAG file (it must end up in Airflow's dags folder).
        standalone: not supported for Airflow.
        retries: Airflow retries of each task.
        store: the store URL tasks share (default: ``.nbpipe/`` in the notebook folder, found when a
            task runs; ``NBPIPE_STORE`` and the DAG param ``nbpipe_store`` override it). A relative
            path is taken relative to the notebook folder.
        dag_id: the DAG id (default: ``nbpipe_`` plus the notebook's stem); must be unique in the dags folder.
        overwrite: replace ``output`` even if nbpipe did not write it.
        mlflow: log each DAG run to MLflow from a last task: the tracking URI ("": the DAG param
            ``nbpipe_mlflow_uri`` or ``MLFLOW_TRACKING_URI`` where the task runs); None: no MLflow task.
        mlflow_experiment: the MLflow experiment (default: the notebook's name); needs ``mlflow``.

    Raises:
        ExportError: ``--standalone``, a DAG id Airflow would refuse, or ``--mlflow-experiment``
            without ``--mlflow``.
        OutputExistsError: ``output`` is a file nbpipe did not write, and ``overwrite`` is false.
    """
    if standalone:
        raise ExportError("--standalone applies to --to script only", hint="drop --standalone")
    plan = plan_notebook(nb, imports=True)
    if dag_id is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", dag_id):
        raise ExportError(
            f"--dag-id {dag_id!r}: Airflow DAG ids are letters, digits, '_', '.' and '-'", hint="rename it"
        )
    if dag_id is not None and len(dag_id) > ID_LIMIT:
        raise ExportError(f"--dag-id has {len(dag_id)} characters; Airflow allows {ID_LIMIT}", hint="shorten it")
    if mlflow is None and mlflow_experiment:
        raise ExportError("--mlflow-experiment needs --mlflow", hint="add --mlflow [TRACKING_URI]")
    refuse_reserved(plan, LOCATION_PARAMS + (TRACKING_PARAMS if mlflow is not None else ()))
    check_writable(output, overwrite)
    ignored = ignored_resources(plan)
    if ignored:
        warnings.warn(f"Airflow export of {os.path.basename(plan.notebook)!r}: {ignored}", ExportWarning, 2)
    tracking = None if mlflow is None else (mlflow or None, mlflow_experiment or None)
    if plan.imported:  # --in NAME@NOTEBOOK: one DAG for every notebook it reaches (airflow_project.py)
        from nbpipe.export.airflow_project import render_project

        text = render_project(nb, retries, store_default(plan, store), dag_id or default_dag_id(plan), output)
    else:
        text = render(plan, retries, store_default(plan, store), dag_id or default_dag_id(plan), output, tracking)
    write_text(output, mark_python(text), overwrite)
    return output


def refuse_reserved(plan: Plan, reserved: tuple[str, ...]) -> None:
    """Refuse notebook parameters that collide with the location parameters an export adds."""
    clash = [name for name in reserved if name in plan.defaults]
    if clash:
        raise ExportError(
            f"the notebook's parameter {clash[0]!r} collides with the parameter nbpipe adds to the export",
            hint="rename the parameter in the notebook's parameters cell",
        )


def store_default(plan: Plan, store: str | None) -> str | None:
    """The exported store: a URL or an absolute path as given, a relative path relative to the notebook folder."""
    if not store or "://" in store or os.path.isabs(store):
        return store or None
    return os.path.relpath(os.path.abspath(store), plan.base_dir)


def relative_base_dir(plan: Plan, output: str) -> str:
    """The notebook folder relative to the generated file's folder (resolved again when a task runs)."""
    return os.path.relpath(plan.base_dir, os.path.dirname(os.path.abspath(output)))


def default_dag_id(plan: Plan) -> str:
    """``nbpipe_`` plus the notebook's file stem with non-identifier characters replaced (at most 250 characters)."""
    stem = os.path.splitext(os.path.basename(plan.notebook))[0]
    return bounded_name("nbpipe_" + re.sub(r"[^A-Za-z0-9_]", "_", stem), ID_LIMIT)


def pool_slots(plan: Plan) -> dict[str, int]:
    """Stage -> Airflow pool slots: its ``--resources cpu``, in whole cores rounded up (stages with cpu only)."""
    from nbpipe.header import resource_amount

    found = {}
    for name in plan.order:
        cpu = dict(plan.stages[name].header.resources).get("cpu")
        if cpu:
            found[name] = max(1, math.ceil(resource_amount("cpu", cpu)))
    return found


def ignored_resources(plan: Plan) -> str:
    """What the Airflow export cannot honour of ``--resources`` ("" if nothing)."""
    parts = [
        f"stage {name!r} {key}={value}"
        for name in plan.order
        for key, value in plan.stages[name].header.resources
        if key != "cpu"
    ]
    if not parts:
        return ""
    return (
        "--resources ignored (Airflow tasks have no portable memory or accelerator setting; "
        "--to kubeflow and --executor dask honour them): " + ", ".join(parts)
    )


def location_doc(base_dir: str, store: str | None, params: str) -> list[str]:
    """Docstring lines saying how an export finds the notebook folder and the store at run time."""
    where = repr(store) if store else "'.nbpipe/' in the notebook folder"
    return [
        "Paths are resolved when a task runs; nothing of the exporting machine is baked in:",
        f"- the notebook folder: the {params} nbpipe_base_dir, else the environment variable",
        f"  NBPIPE_BASE_DIR, else {base_dir!r} relative to this file's folder;",
        f"- the store: the {params} nbpipe_store, else NBPIPE_STORE, else {where};",
        "  a relative store path is relative to the notebook folder.",
    ]


def tracking_doc(uri: str | None, experiment: str | None) -> list[str]:
    """Docstring lines saying how the DAG logs its runs to MLflow."""
    return [
        "Each DAG run is one MLflow run: a last task, run when every stage task is done, gathers",
        "their run records (parameters, metrics, check results, stage keys, the record artifact).",
        "- the tracking URI: the DAG param nbpipe_mlflow_uri, else MLFLOW_TRACKING_URI, else "
        + (repr(uri) if uri else "none (not logged, one warning)")
        + ";",
        "- the experiment: the DAG param nbpipe_mlflow_experiment, else MLFLOW_EXPERIMENT_NAME, else "
        + (repr(experiment) if experiment else "the notebook's name")
        + ".",
    ]


def render(
    plan: Plan,
    retries: int,
    store: str | None,
    dag_id: str,
    output: str,
    tracking: tuple[str | None, str | None] | None = None,
) -> str:
    """The formatted DAG file text (``tracking``: the exported MLflow URI and experiment, or None: no MLflow task)."""
    from nbpipe.runtime.script_api import plan_to_data

    base_dir = relative_base_dir(plan, output)
    slots = pool_slots(plan)
    lines = [
        f"Airflow DAG exported by nbpipe from the notebook {os.path.basename(plan.notebook)!r}.",
        "",
        "One task per stage: " + ", ".join(plan.order) + ".",
        "Artifacts travel through the nbpipe store; stages already computed by the notebook",
        "or another target are cache hits.",
        "",
        *location_doc(base_dir, store, "DAG param"),
    ]
    if slots:
        lines += ["", "--resources cpu=N becomes the task's pool_slots (whole cores): " + _slots_text(slots) + "."]
    if ignored_resources(plan):
        lines += ["", ignored_resources(plan) + "."]
    if tracking is not None:
        lines += ["", *tracking_doc(*tracking)]
    task_ids = {name: bounded_name(identifier(name), ID_LIMIT) for name in plan.order}
    edges = [f"    tasks[{literal(p)}] >> tasks[{literal(name)}]" for name in plan.order for p in plan.parents(name)]
    if tracking is not None:
        edges.append("    list(tasks.values()) >> log_to_mlflow().as_teardown()  # all done; not the DAG run's state")
    tracker_id = TRACKING_TASK
    while tracker_id in task_ids.values():
        tracker_id += "_"
    extra_params = "".join(f', {literal(name)}: ""' for name in TRACKING_PARAMS) if tracking is not None else ""
    body = f'''{docstring(chr(10).join(lines) + chr(10))}

from __future__ import annotations

import datetime
import json as _json
import os
from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from nbpipe.runtime import script_api as _nbpipe

PIPELINE: dict[str, Any] = {literal(plan_to_data(plan, base_dir="."))}
PARAMETERS: dict[str, Any] = {literal(dict(plan.defaults))}
HERE = os.path.dirname(os.path.abspath(__file__))
BASE_DIR = {literal(base_dir)}  # the notebook folder, relative to HERE
STORE: str | None = {literal(store)}  # None: .nbpipe/ in the notebook folder
RETRIES = {int(retries)}
TASK_IDS: dict[str, str] = {literal(task_ids)}
POOL_SLOTS: dict[str, int] = {literal(slots)}
{_tracking_constants(tracking, tracker_id)}

def locations(given: dict[str, Any]) -> tuple[str, str | None]:
    """The notebook folder and the store URL, resolved when a task runs (DAG params, environment, defaults)."""
    return _nbpipe.resolve_locations(
        HERE,
        BASE_DIR,
        STORE,
        base_dir_param=given.get("nbpipe_base_dir") or "",
        store_param=given.get("nbpipe_store") or "",
    )


def run_group(context: dict[str, Any]) -> str:
    """The DAG run, written into each task's run record (they are gathered by it)."""
    return f"airflow:{{context['dag'].dag_id}}:{{context['run_id']}}"


def stage_task(stage: str) -> Any:
    """The task running one stage (its upstream is in the store)."""

    @task(task_id=TASK_IDS[stage], retries=RETRIES, pool_slots=POOL_SLOTS.get(stage, 1))
    def run_stage(**context: Any) -> dict[str, Any]:
        given = context["params"]
        params = {{name: given[name] for name in PARAMETERS if name in given}}
        folder, store = locations(given)
        data = {{**PIPELINE, "base_dir": folder}}
        return _nbpipe.run_stage_task(data, stage, params, store or "", "airflow", retries=0, group=run_group(context))

    return run_stage()
{_tracking_task() if tracking is not None else ""}


with DAG(
    dag_id={literal(dag_id)},
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params={{**PARAMETERS, "nbpipe_base_dir": "", "nbpipe_store": ""{extra_params}}},
    tags=["nbpipe"],
) as dag:
    tasks = {{name: stage_task(name) for name in {literal([identifier(n) for n in plan.order])}}}
{chr(10).join(edges) if edges else "    pass"}
'''
    text = ruff_format(body)
    return lint_waiver(text) + text


def _tracking_constants(tracking: tuple[str | None, str | None] | None, task_id: str) -> str:
    if tracking is None:
        return ""
    uri, experiment = tracking
    return (
        f"MLFLOW_URI: str | None = {literal(uri)}  # if neither nbpipe_mlflow_uri nor MLFLOW_TRACKING_URI is set\n"
        f"MLFLOW_EXPERIMENT: str | None = {literal(experiment)}  # None: the notebook's name\n"
        f"MLFLOW_TASK_ID = {literal(task_id)}\n"
    )


def _tracking_task() -> str:
    return '''

@task(task_id=MLFLOW_TASK_ID, retries=0)
def log_to_mlflow(**context: Any) -> str | None:
    """One MLflow run for this DAG run, from the run records its stage tasks wrote (a failure is a warning)."""
    from nbpipe.runtime import tracking as _tracking

    given = context["params"]
    folder, store = locations(given)
    settings = _tracking.task_tracking(
        given.get("nbpipe_mlflow_uri") or "", given.get("nbpipe_mlflow_experiment") or "", MLFLOW_URI, MLFLOW_EXPERIMENT
    )
    if settings is None:
        return None
    return _tracking.log_group({**PIPELINE, "base_dir": folder}, run_group(context), store, settings)
'''


def _slots_text(slots: dict[str, int]) -> str:
    return ", ".join(f"{name!r} {count}" for name, count in slots.items())
