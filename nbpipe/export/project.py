"""The notebooks an export across notebooks runs (``--in NAME@NOTEBOOK``): plans, tasks, edges.

Shared by the targets that run several notebooks as one pipeline (Airflow, Kubeflow,
papermill): every notebook the exported one reaches through the one graph across
notebooks (:mod:`nbpipe.analysis.project`), the stages of each that it needs, in the one
order, keyed by the notebook's path relative to the exported notebook's folder.
"""

from __future__ import annotations

import os
import re
from typing import Any

from nbpipe.analysis.project import analyze_project, split_node
from nbpipe.analysis.project import node as node_id
from nbpipe.errors import PipelineError
from nbpipe.export.codegen import bounded_name
from nbpipe.notebook import Notebook, read
from nbpipe.runtime.plan import Plan, plan_notebook

#: The longest task id: Airflow's limit (export.airflow.ID_LIMIT), the strictest of the targets.
TASK_ID_LIMIT = 250


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
    return bounded_name(f"{stem}__{stage}", TASK_ID_LIMIT)


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
