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

from nbpipe.cache.keys import encode_param
from nbpipe.errors import ExportError
from nbpipe.export.codegen import bounded_name, identifier, literal
from nbpipe.export.files import check_writable, is_generated, mark_manifest, mark_notebook, write_text
from nbpipe.model import cell_label
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import Plan, StagePlan, plan_notebook

MANIFEST = "pipeline.json"
MANIFEST_VERSION = 1
#: The longest stage-name part of a stage notebook's file name, in characters (4 bytes at most each).
_STEM_CHARS = 50


def export_papermill(
    nb: Notebook, output: str, standalone: bool = False, overwrite: bool = False, upstream: bool = True
) -> str:
    """Write the stage notebooks and ``pipeline.json`` into the folder ``output``; return it.

    The folder may exist and hold other files: they are left alone. Notebooks of an
    earlier export that the new one no longer has are removed (only files nbpipe wrote).
    A notebook that reads other notebooks (``--in NAME@NOTEBOOK``) gets each of them exported
    into ``output/upstream/STEM/``, listed producers first in ``pipeline.json`` with the
    stages this notebook needs; ``nbpipe run DIR`` runs them first, in one store. Stages of this
    notebook that another notebook it reads needs are listed too (folder ``.``): it runs in parts.

    Args:
        nb: the notebook.
        output: the folder.
        standalone: not supported for papermill.
        overwrite: replace files in ``output`` even if nbpipe did not write them.
        upstream: export the notebooks it reads too (False for those upstream folders themselves).

    Raises:
        ExportError: ``--standalone``, or ``output`` exists and is not a folder.
        OutputExistsError: a file the export writes exists, nbpipe did not write it, and ``overwrite`` is false.
    """
    if standalone:
        raise ExportError("--standalone applies to --to script only", hint="drop --standalone")
    if os.path.exists(output) and not os.path.isdir(output):
        raise ExportError(f"{output!r} exists and is not a folder", hint="choose another -o folder")
    plan = plan_notebook(nb, imports=True)
    from nbpipe.runtime.script_api import plan_to_data

    found = _export_upstream(nb, output, overwrite) if plan.imported and upstream else []

    names = {name: stage_file(number, name) for number, name in enumerate(plan.order, start=1)}
    for file in [*names.values(), MANIFEST]:  # refuse before writing anything
        check_writable(os.path.join(output, file), overwrite)
    os.makedirs(output, exist_ok=True)
    stale = _earlier_notebooks(output) - set(names.values())
    for name, file in names.items():
        _write_notebook(os.path.join(output, file), stage_notebook(plan, plan.stages[name]), overwrite)
    data = plan_to_data(plan, base_dir=os.path.relpath(plan.base_dir, os.path.abspath(output)))
    # Strict JSON: bytes, inf or a tuple as their repr; the runner reads the values from the parameters cell.
    data["defaults"] = {name: encode_param(name, value) for name, value in plan.defaults.items()}
    manifest = {"version": MANIFEST_VERSION, "notebooks": names, "plan": data}
    if found:  # read by nbpipe run DIR (papermill_run.py): notebook -> folder and the stages needed, producers first
        manifest["upstream"] = found
    text = json.dumps(mark_manifest(manifest), indent=1, allow_nan=False)
    write_text(os.path.join(output, MANIFEST), text + "\n", overwrite)
    for file in stale:
        os.remove(os.path.join(output, file))
    return output


def _export_upstream(nb: Notebook, output: str, overwrite: bool) -> list[dict[str, Any]]:
    """Export every notebook ``nb`` reads (transitively) into ``output/upstream/STEM``; producers first.

    Raises:
        ExportError: two upstream notebooks share a file stem (their folders would collide).
    """
    from nbpipe.export.project import project_plans
    from nbpipe.notebook import read
    from nbpipe.runtime.project_run import segments

    plans, tasks, _edges = project_plans(nb)
    main = next(iter(plans))
    runs = segments(tasks, main)  # a notebook read back by one it feeds runs in two parts (this one: folder '.')
    order = list(dict.fromkeys(n for n, _ in runs if n != main))
    folders = {key: os.path.join("upstream", identifier(os.path.splitext(os.path.basename(key))[0])) for key in order}
    if len(set(folders.values())) < len(folders):
        raise ExportError(
            "two notebooks this pipeline reads share a file stem: " + ", ".join(order),
            hint="rename one of them: each is exported into upstream/STEM of the papermill folder",
        )
    base = os.path.dirname(nb.path)
    for key in order:
        export_papermill(read(os.path.join(base, key)), os.path.join(output, folders[key]), False, overwrite, False)
    folders[main] = "."
    return [{"notebook": k, "folder": folders[k], "stages": stages} for k, stages in runs]


def stage_file(number: int, name: str) -> str:
    """The file name of a stage's notebook: ``NN_name.ipynb``, bounded for every file system.

    A long stage name is shortened by :func:`~nbpipe.export.codegen.bounded_name` (its first
    characters and a hash of the whole name: readable, stable and unique) to at most
    :data:`_STEM_CHARS` characters, which is at most 200 bytes of UTF-8: with the number, the
    suffix and a writer's temporary name around it, under the 255 bytes file systems take.
    """
    return f"{number:02d}_{bounded_name(identifier(name), _STEM_CHARS)}.ipynb"


def _earlier_notebooks(folder: str) -> set[str]:
    """The stage notebooks an earlier export wrote into ``folder`` (nbpipe's marker, numbered names)."""
    return {
        f
        for f in os.listdir(folder)
        if f.endswith(".ipynb") and f[:2].isdigit() and is_generated(os.path.join(folder, f))
    }


def stage_notebook(plan: Plan, stage: StagePlan) -> Any:
    """The nbformat notebook of one stage."""
    import nbformat

    v4 = nbformat.v4
    header = stage.header
    intro = (
        f"# Stage `{stage.name}` of `{os.path.basename(plan.notebook)}`\n\n"
        f"Exported by nbpipe ({cell_label(stage.cell)}). Run the whole pipeline with `nbpipe run FOLDER`: "
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


def _write_notebook(path: str, nb: Any, overwrite: bool) -> None:
    import nbformat

    text = nbformat.writes(mark_notebook(nb))
    write_text(path, text if text.endswith("\n") else text + "\n", overwrite)
