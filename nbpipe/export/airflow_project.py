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

from nbpipe.errors import PipelineError
from nbpipe.export.airflow import location_doc, pool_slots, relative_base_dir
from nbpipe.export.codegen import docstring, lint_waiver, literal, ruff_format
from nbpipe.export.project import project_plans, task_id
from nbpipe.notebook import Notebook


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
