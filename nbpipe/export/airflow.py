"""``nbpipe export --to airflow``: an Airflow DAG file, one task per stage.

Each task runs its stage through :func:`nbpipe.runtime.script_api.run_stage_task`
(the batch Runner with ``--only STAGE``, so keys and cache hits are those of the
notebook), and artifacts travel through the shared store (``NBPIPE_STORE`` or the URL
given at export). Parameters are DAG params. Written for Airflow 3 (``airflow.sdk``),
falling back to the Airflow 2 imports.
"""

from __future__ import annotations

import os
import re

from nbpipe.errors import ExportError
from nbpipe.export.codegen import docstring, identifier, lint_waiver, literal, ruff_format
from nbpipe.export.files import check_writable, mark_python, write_text
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import Plan, plan_notebook


def export_airflow(
    nb: Notebook,
    output: str,
    standalone: bool = False,
    retries: int = 0,
    store: str | None = None,
    dag_id: str | None = None,
    overwrite: bool = False,
) -> str:
    """Write the DAG file for ``nb`` to ``output`` and return the path.

    Args:
        nb: the notebook.
        output: the DAG file (it must end up in Airflow's dags folder).
        standalone: not supported for Airflow.
        retries: Airflow retries of each task.
        store: the store URL tasks share (default: the notebook's ``.nbpipe/``; ``NBPIPE_STORE`` overrides).
        dag_id: the DAG id (default: ``nbpipe_`` plus the notebook's stem); must be unique in the dags folder.
        overwrite: replace ``output`` even if nbpipe did not write it.

    Raises:
        ExportError: ``--standalone``, or a DAG id Airflow would refuse.
        OutputExistsError: ``output`` is a file nbpipe did not write, and ``overwrite`` is false.
    """
    if standalone:
        raise ExportError("--standalone applies to --to script only", hint="drop --standalone")
    plan = plan_notebook(nb)
    if dag_id is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", dag_id):
        raise ExportError(
            f"--dag-id {dag_id!r}: Airflow DAG ids are letters, digits, '_', '.' and '-'", hint="rename it"
        )
    check_writable(output, overwrite)
    text = render(plan, retries, store or os.path.join(plan.base_dir, ".nbpipe"), dag_id or default_dag_id(plan))
    write_text(output, mark_python(text), overwrite)
    return output


def default_dag_id(plan: Plan) -> str:
    """``nbpipe_`` plus the notebook's file stem with non-identifier characters replaced."""
    stem = os.path.splitext(os.path.basename(plan.notebook))[0]
    return "nbpipe_" + re.sub(r"[^A-Za-z0-9_]", "_", stem)


def render(plan: Plan, retries: int, store: str, dag_id: str) -> str:
    """The formatted DAG file text."""
    from nbpipe.runtime.script_api import plan_to_data

    lines = [
        f"Airflow DAG exported by nbpipe from the notebook {os.path.basename(plan.notebook)!r}.",
        "",
        "One task per stage: " + ", ".join(plan.order) + ".",
        "Artifacts travel through the nbpipe store (NBPIPE_STORE overrides the exported URL);",
        "stages already computed by the notebook or another target are cache hits.",
    ]
    edges = [f"    tasks[{literal(p)}] >> tasks[{literal(name)}]" for name in plan.order for p in plan.parents(name)]
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

PIPELINE: dict[str, Any] = {literal(plan_to_data(plan))}
PARAMETERS: dict[str, Any] = {literal(dict(plan.defaults))}
STORE = os.environ.get("NBPIPE_STORE") or {literal(store)}
RETRIES = {int(retries)}


def stage_task(stage: str) -> Any:
    """The task running one stage (its upstream is in the store)."""

    @task(task_id=stage, retries=RETRIES)
    def run_stage(**context: Any) -> dict[str, Any]:
        params = {{name: context["params"][name] for name in PARAMETERS if name in context["params"]}}
        return _nbpipe.run_stage_task(PIPELINE, stage, params, STORE, "airflow", retries=0)

    return run_stage()


with DAG(
    dag_id={literal(dag_id)},
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params=PARAMETERS,
    tags=["nbpipe"],
) as dag:
    tasks = {{name: stage_task(name) for name in {literal([identifier(n) for n in plan.order])}}}
{chr(10).join(edges) if edges else "    pass"}
'''
    text = ruff_format(body)
    return lint_waiver(text) + text
