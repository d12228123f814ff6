"""``nbpipe export --to papermill``: a folder with one parameterised notebook per stage and ``pipeline.json``.

Each stage notebook holds the setup cells, a ``parameters`` cell (the notebook's parameters
plus ``nbpipe_job``, the JSON job the runner injects), a cell loading the inputs from the
store, the stage body verbatim, and a cell saving the outputs. ``nbpipe run DIR`` executes
them with papermill (see :mod:`nbpipe.export.papermill_run`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from nbpipe.errors import ExportError
from nbpipe.export.codegen import identifier, literal
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import Plan, StagePlan, plan_notebook

MANIFEST = "pipeline.json"
MANIFEST_VERSION = 1


def export_papermill(nb: Notebook, output: str, standalone: bool = False) -> str:
    """Write the stage notebooks and ``pipeline.json`` into the folder ``output``; return it.

    Raises:
        ExportError: ``output`` exists and holds files other than an earlier export.
    """
    if standalone:
        raise ExportError("--standalone applies to --to script only", hint="drop --standalone")
    plan = plan_notebook(nb)
    _prepare(output)
    from nbpipe.runtime.script_api import plan_to_data

    names: dict[str, str] = {}
    for number, name in enumerate(plan.order, start=1):
        names[name] = f"{number:02d}_{identifier(name)}.ipynb"
        _write_notebook(os.path.join(output, names[name]), stage_notebook(plan, plan.stages[name]))
    manifest = {
        "version": MANIFEST_VERSION,
        "notebooks": names,
        "plan": plan_to_data(plan, base_dir=os.path.relpath(plan.base_dir, os.path.abspath(output))),
    }
    with open(os.path.join(output, MANIFEST), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1)
        handle.write("\n")
    return output


def _prepare(output: str) -> None:
    if os.path.isdir(output):
        extra = [f for f in os.listdir(output) if not (f.endswith(".ipynb") or f in (MANIFEST, "runs"))]
        if extra:
            raise ExportError(
                f"{output} exists and holds other files ({', '.join(sorted(extra)[:3])})",
                hint="choose another -o folder",
            )
    elif os.path.exists(output):
        raise ExportError(f"{output} exists and is not a folder", hint="choose another -o folder")
    os.makedirs(output, exist_ok=True)


def stage_notebook(plan: Plan, stage: StagePlan) -> Any:
    """The nbformat notebook of one stage."""
    import nbformat

    v4 = nbformat.v4
    header = stage.header
    intro = (
        f"# Stage `{stage.name}` of `{os.path.basename(plan.notebook)}`\n\n"
        f"Exported by nbpipe (cell {stage.cell}). Run the whole pipeline with `nbpipe run FOLDER`: "
        "the runner fills `nbpipe_job` (store, cache key, where the inputs are)."
    )
    cells = [v4.new_markdown_cell(intro)]
    cells += [v4.new_code_cell(source) for _, source in plan.setup]
    params = (plan.parameters_source.rstrip() + "\n" if plan.parameters_source.strip() else "") + 'nbpipe_job = ""'
    cells.append(v4.new_code_cell(params, metadata={"tags": ["parameters"]}))
    load = "from nbpipe.runtime import script_api as _nbpipe\n"
    if header.inputs:
        names = ", ".join(identifier(i) for i in header.inputs)
        comma = "," if len(header.inputs) == 1 else ""
        load += f"{names}{comma} = _nbpipe.load_inputs(nbpipe_job, {literal(list(header.inputs))})"
    cells.append(v4.new_code_cell(load.rstrip(), metadata={"tags": ["nbpipe-inputs"]}))
    cells.append(v4.new_code_cell(stage.body.strip("\n"), metadata={"tags": ["nbpipe-stage"]}))
    pairs = ", ".join(f"{literal(o)}: {identifier(o)}" for o in header.outputs)
    cells.append(
        v4.new_code_cell(
            f"_nbpipe.save_outputs(nbpipe_job, {{{pairs}}}, globals())", metadata={"tags": ["nbpipe-outputs"]}
        )
    )
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["nbpipe"] = {"stage": stage.name, "notebook": os.path.basename(plan.notebook)}
    return nb


def _write_notebook(path: str, nb: Any) -> None:
    import nbformat

    nbformat.write(nb, path)
