"""``nbpipe export --to airflow`` of a notebook that reads other notebooks: one DAG for all of them.

The DAG holds a task for every stage of the exported notebook and for every stage of
another notebook that it needs (``--in NAME@NOTEBOOK``, transitively), with the edges of
the one graph across notebooks (:mod:`nbpipe.analysis.project`). It embeds each
notebook's plan keyed by its path relative to the exported notebook's folder; tasks call
:func:`nbpipe.runtime.project_tasks.run_project_stage_task`, so keys are those of
``nbpipe run`` and every notebook shares the exported notebook's store. Parameters are
the exported notebook's (upstream notebooks run with their defaults, as in ``nbpipe run``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from nbpipe.analysis.project import analyze_project, split_node
from nbpipe.analysis.project import node as node_id
from nbpipe.errors import PipelineError
from nbpipe.export.airflow import ID_LIMIT, location_doc, pool_slots, relative_base_dir
from nbpipe.export.codegen import bounded_name, docstring, lint_waiver, literal, ruff_format
from nbpipe.notebook import Notebook, read
from nbpipe.runtime.plan import Plan, plan_notebook


def project_plans(nb: Notebook) -> tuple[dict[str, Plan], list[tuple[str, str]], list[tuple[str, str, str, str]]]:
    """The plans of the notebooks a DAG of ``nb`` runs, its tasks and its edges.

    Returns:
        notebook (relative to ``nb``'s folder, ``nb`` first) -> plan; the tasks as (notebook, stage)
        in the one order across notebooks; the edges as (notebook, stage, notebook, stage).

    Raises:
        PipelineError: an analyzer error in a notebook reached (NBP103, NBP106 across notebooks...).
    """
    project, unreadable = analyze_project([nb.path])
    if unreadable:
        raise unreadable[0]
    errors = [f"  {g.notebook}: {d.code} {d.message}" for g in project.graphs for d in g.errors]
    if errors:
        raise PipelineError(
            f"the pipeline across notebooks from {nb.path} has analyzer errors:\n" + "\n".join(errors[:20]),
            hint=f"fix them (nbpipe check {nb.path})",
        )
    main = os.path.normpath(nb.path)
    folder = os.path.dirname(main)
    wanted = project.dag.upstream([node_id(main, s.name) for s in project.graph(main).stages])
    key = {g.notebook: os.path.relpath(g.notebook, folder or ".") for g in project.graphs}
    reached = [main, *dict.fromkeys(split_node(n)[0] for n in wanted if split_node(n)[0] != main)]
    plans = {key[path]: _plan(path, project.graph(path), nb) for path in reached}
    tasks = [(key[split_node(n)[0]], split_node(n)[1]) for n in wanted]
    chosen = set(wanted)
    edges = [
        (key[split_node(p)[0]], split_node(p)[1], key[split_node(n)[0]], split_node(n)[1])
        for n in wanted
        for p in project.dag.parents[n]
        if p in chosen
    ]
    return plans, tasks, edges


def _plan(path: str, graph: Any, given: Notebook) -> Plan:
    return plan_notebook(given if os.path.normpath(given.path) == path else read(path), graph, imports=True)


def task_id(notebook: str, stage: str) -> str:
    """``features__daily``: the notebook's stem and the stage (Airflow's characters, bounded)."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", os.path.splitext(os.path.basename(notebook))[0])
    return bounded_name(f"{stem}__{stage}", ID_LIMIT)


def render_project(nb: Notebook, retries: int, store: str | None, dag_id: str, output: str) -> str:
    """The formatted DAG file text of ``nb`` and the notebooks it reads."""
    from nbpipe.runtime.script_api import plan_to_data

    plans, tasks, edges = project_plans(nb)
    reader = plans[next(iter(plans))]
    ids = {f"{n}::{s}": task_id(n, s) for n, s in tasks}
    if len(set(ids.values())) < len(ids):
        raise PipelineError(
            "two notebooks of the DAG share a file stem and a stage name: their task ids would collide",
            hint="rename one of the notebooks or stages",
        )
    slots = {f"{n}::{s}": c for n, plan in plans.items() for s, c in pool_slots(plan).items() if f"{n}::{s}" in ids}
    base_dir = relative_base_dir(reader, output)
    lines = [
        f"Airflow DAG exported by nbpipe from the notebook {os.path.basename(reader.notebook)!r} and the notebooks",
        "it reads (--in NAME@NOTEBOOK): " + ", ".join(plans) + ".",
        "",
        "One task per stage: " + ", ".join(ids.values()) + ".",
        "Artifacts travel through one nbpipe store; stages already computed by a notebook",
        "or another target are cache hits.",
        "",
        *location_doc(base_dir, store, "DAG param"),
    ]
    pipelines = {name: plan_to_data(plan, base_dir=".") for name, plan in plans.items()}
    links = "\n".join(f"    tasks[{literal(f'{a}::{b}')}] >> tasks[{literal(f'{c}::{d}')}]" for a, b, c, d in edges)
    body = f'''{docstring(chr(10).join(lines) + chr(10))}

from __future__ import annotations

import datetime
import os
from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from nbpipe.runtime import script_api as _nbpipe
from nbpipe.runtime.project_tasks import run_project_stage_task

# Each notebook's plan, by its path relative to the exported notebook's folder (that one first).
PIPELINES: dict[str, Any] = {literal(pipelines)}
PARAMETERS: dict[str, Any] = {literal(dict(reader.defaults))}
HERE = os.path.dirname(os.path.abspath(__file__))
BASE_DIR = {literal(base_dir)}  # the exported notebook's folder, relative to HERE
STORE: str | None = {literal(store)}  # None: .nbpipe/ in that folder
RETRIES = {int(retries)}
TASK_IDS: dict[str, str] = {literal(ids)}
POOL_SLOTS: dict[str, int] = {literal(slots)}


def stage_task(node: str) -> Any:
    """The task running one stage of one notebook (its upstream is in the store)."""
    notebook, _, stage = node.rpartition("::")

    @task(task_id=TASK_IDS[node], retries=RETRIES, pool_slots=POOL_SLOTS.get(node, 1))
    def run_stage(**context: Any) -> dict[str, Any]:
        given = context["params"]
        params = {{name: given[name] for name in PARAMETERS if name in given}}
        folder, store = _nbpipe.resolve_locations(
            HERE,
            BASE_DIR,
            STORE,
            base_dir_param=given.get("nbpipe_base_dir") or "",
            store_param=given.get("nbpipe_store") or "",
        )
        return run_project_stage_task(PIPELINES, notebook, stage, params, folder, store, "airflow")

    return run_stage()


with DAG(
    dag_id={literal(dag_id)},
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params={{**PARAMETERS, "nbpipe_base_dir": "", "nbpipe_store": ""}},
    tags=["nbpipe"],
) as dag:
    tasks = {{node: stage_task(node) for node in TASK_IDS}}
{links if links else "    pass"}
'''
    text = ruff_format(body)
    return lint_waiver(text) + text


def project_tasks_plan(nb: Notebook) -> tuple[Plan, dict[str, Any], list[Plan]]:
    """One task per stage across notebooks, as a plan whose stages are the tasks (for ``--to kubeflow``).

    Returns:
        The plan of the tasks (stage names are :func:`task_id` values, headers carry only the
        resources, edges from the one graph across notebooks, the exported notebook's parameters),
        the data generated code embeds (each notebook's plan, and task -> (notebook, stage)), and
        the plans of every notebook.
    """
    import dataclasses

    from nbpipe.dag import build_dag
    from nbpipe.model import StageHeader
    from nbpipe.runtime.plan import StagePlan
    from nbpipe.runtime.script_api import DATA_VERSION, plan_to_data

    plans, tasks, edges = project_plans(nb)
    reader = plans[next(iter(plans))]
    ids = {(n, s): task_id(n, s) for n, s in tasks}
    stages = {
        ids[n, s]: StagePlan(StageHeader(ids[n, s], resources=plans[n].stages[s].header.resources), "", 0)
        for n, s in tasks
    }
    dag = build_dag(list(stages), [(ids[a, b], ids[c, d]) for a, b, c, d in edges])
    tasks_plan = dataclasses.replace(reader, stages=stages, dag=dag, producers={}, imported={}, setup=())
    data = {
        "version": DATA_VERSION,
        "notebook": os.path.basename(reader.notebook),
        "order": list(dag.order),
        "pipelines": {name: plan_to_data(plan, base_dir=".") for name, plan in plans.items()},
        "tasks": {ids[n, s]: [n, s] for n, s in tasks},
    }
    return tasks_plan, data, list(plans.values())
