"""``nbpipe run`` of a notebook that reads other notebooks (``--in NAME@NOTEBOOK``, DESIGN §3).

Responsibilities, in order: join every notebook the run reaches into one graph
(:mod:`nbpipe.analysis.project`: NBP103 and NBP106 across notebooks refuse the run);
order the notebooks, producers first; run, in each upstream notebook, only the stages
the run needs (with their upstream in that notebook) through the same :class:`Runner`
and the same store; seed each reading notebook's runner with the fingerprints and
entries its producers recorded. Keys are Merkle style across notebooks: the reading
stage's key holds the producing output's fingerprint, so a changed upstream output
makes the reader stale ("input 'features' from prep.ipynb changed"), and an upstream
stage that fails skips its readers ("upstream stage 'build' of prep.ipynb failed").

One store for the whole run: the store of the notebook run (``Store.for_notebook``,
``--store``), each notebook's stage pointers scoped by its file name as always.
Notebooks in one folder share ``.nbpipe/`` beside them by default, so their kernels
and every target meet in it; notebooks in different folders share one when given
``--store``/``$NBPIPE_STORE``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from nbpipe.analysis.project import Link, Project, analyze_project, split_node
from nbpipe.analysis.project import node as node_id
from nbpipe.cache.store import Store
from nbpipe.errors import PipelineError
from nbpipe.model import cell_label
from nbpipe.runtime.params import validate
from nbpipe.runtime.plan import Plan
from nbpipe.runtime.progress import choose_progress
from nbpipe.runtime.records import StageRecord
from nbpipe.runtime.runner import Runner, RunOptions, RunResult, _checked_plan, _executor
from nbpipe.runtime.worker import InputRef


@dataclasses.dataclass
class ProducedOutput:
    """An output of an upstream notebook, as its run left it."""

    fingerprint: str = ""
    ref: InputRef | None = None
    value: Any = None
    in_memory: bool = False
    blocked: tuple[str, str] | None = None  # (status, reason) for readers when it is not available


def run_across(plan: Plan, options: RunOptions, store: Store) -> RunResult:
    """Run ``plan``'s notebook after the stages of other notebooks it reads.

    Args:
        plan: the plan of the notebook run (it has ``--in NAME@NOTEBOOK`` inputs).
        options: the run options; ``-p`` overrides apply to this notebook (upstream
            notebooks run with their defaults), the other options to every notebook.
        store: the store of the run, shared by every notebook.

    Raises:
        PipelineError: an analyzer error in a notebook reached (unless ``--no-check``), or an
            input whose notebook or output is missing.
    """
    cwd = os.getcwd()
    main = os.path.normpath(plan.notebook)
    project = _project(main, options.check)
    overrides = validate(options.params, plan.defaults, plan.notebook)
    shared = _SharedExecutor(options)
    outputs: dict[tuple[str, str], ProducedOutput] = {}
    upstream: list[StageRecord] = []
    refs: dict[str, InputRef] = {}
    try:
        for notebook, needed in _segments(project, main):
            os.chdir(cwd)
            own = notebook == main  # a stage of this notebook that another notebook reads back
            sub = store if own else Store.for_notebook(notebook, store.url)
            sub_plan = plan if own else _checked_plan(notebook, sub, options.check)
            params = options.params if own else {}
            sub_options = dataclasses.replace(options, params=params, only=[], force=[], from_stage=None, upto=needed)
            result = _run(sub_plan, sub_options, overrides if own else {}, sub, project, notebook, outputs, shared)
            label = os.path.relpath(notebook, os.path.dirname(main))  # as the reader would write it
            collect_outputs(result, sub_plan, label, outputs)
            upstream.extend(dataclasses.replace(r, name=f"{label}:{r.name}") for r in result.stages)
            refs.update(result.refs)
        os.chdir(cwd)
        result = _run(plan, options, overrides, store, project, main, outputs, shared)
    finally:
        shared.close()
        os.chdir(cwd)
    stages = upstream + result.stages
    status = "failed" if any(s.status == "failed" for s in stages) else "ok"
    return dataclasses.replace(result, status=status, stages=stages, refs={**refs, **result.refs})


def _project(main: str, check: bool) -> Project:
    """The project of ``main``; its errors across notebooks (all of them with ``check``) refuse the run."""
    project, unreadable = analyze_project([main])
    if unreadable:
        raise unreadable[0]
    found = []
    for graph in project.graphs:
        for d in graph.errors:
            if check or (d.code in ("NBP103", "NBP106") and "notebook" in d.message):
                cell = f" {cell_label(d.cell)}" if d.cell is not None else ""  # 1-based, as Jupyter numbers cells
                found.append(f"  {graph.notebook}{cell}: {d.code} {d.message}" + (f"; {d.hint}" if d.hint else ""))
    if found:
        raise PipelineError(
            f"the pipeline across notebooks from {main} has {len(found)} analyzer error(s):\n" + "\n".join(found[:20]),
            hint=f"fix them (nbpipe check {main}); --no-check does not skip errors that join notebooks",
        )
    return project


def _segments(project: Project, main: str) -> list[tuple[str, list[str]]]:
    """The runs before ``main``'s own: each a notebook and the stages of it to run, in the one order."""
    wanted = project.dag.upstream([node_id(main, s.name) for s in project.graph(main).stages])
    return segments([split_node(node) for node in wanted], main)


def segments(tasks: list[tuple[str, str]], main: str) -> list[tuple[str, list[str]]]:
    """The runs before ``main``'s own, from the (notebook, stage) tasks in the one order across notebooks.

    Consecutive stages of one notebook form one run, so a notebook that reads a later stage of
    the notebook it feeds (prep -> train -> prep) runs in two parts; the stages of ``main`` after
    the last stage of another notebook are its own run (not listed).
    """
    found: list[tuple[str, list[str]]] = []
    for notebook, stage in tasks:
        if found and found[-1][0] == notebook:
            found[-1][1].append(stage)
        else:
            found.append((notebook, [stage]))
    while found and found[-1][0] == main:
        found.pop()
    return found


def _run(
    plan: Plan,
    options: RunOptions,
    overrides: dict[str, Any],
    store: Store,
    project: Project,
    notebook: str,
    outputs: dict[tuple[str, str], ProducedOutput],
    shared: _SharedExecutor,
) -> RunResult:
    progress = choose_progress()
    print(f"{os.path.basename(plan.notebook)}:", file=progress.stream, flush=True)  # whose stages follow
    runner = Runner(plan, options, overrides, store, progress)
    seed_runner(runner, [link for link in project.links if link.reader == notebook], outputs)
    return runner.run(lambda _run_id: shared.get())


def seed_runner(runner: Runner, links: list[Link], outputs: dict[tuple[str, str], ProducedOutput]) -> None:
    """Hand the runner what its notebook reads from others: recorded fingerprints and entries."""
    linked = {link.name for link in links}
    for link in links:
        found = outputs.get((link.producer, link.name))
        if found is None or found.blocked is not None:
            why = f"upstream stage {link.source!r} of {os.path.basename(link.producer)} did not produce {link.name!r}"
            runner.blocked[link.name] = found.blocked if found is not None and found.blocked else ("skipped", why)
            continue
        runner.fingerprints[link.name] = found.fingerprint
        if found.ref is not None:
            runner.refs[link.name] = found.ref
        if found.in_memory:
            runner.values[link.name] = found.value
    for name, written in runner.plan.imported.items():  # only with --no-check: the analyzer could not link it
        if name not in linked:
            why = f"no stage of {written} outputs {name!r} (nbpipe check {runner.plan.notebook})"
            runner.blocked[name] = ("failed", why)


def collect_outputs(result: RunResult, plan: Plan, label: str, outputs: dict[tuple[str, str], ProducedOutput]) -> None:
    """What each stage of an upstream run left for readers in other notebooks (``label``: the notebook's name)."""
    notebook = os.path.normpath(plan.notebook)  # as the project (and its links) name it
    for record in result.stages:
        if record.status in ("ran", "cached"):
            for out, info in record.outputs.items():
                ref = result.refs.get(out)
                in_memory = out in result.values
                if ref is None and not in_memory:
                    why = f"upstream stage {record.name!r} of {label} keeps no result (--no-cache)"
                    outputs[(notebook, out)] = ProducedOutput(blocked=("failed", why))
                    continue
                outputs[(notebook, out)] = ProducedOutput(
                    str(info["fingerprint"]), ref, result.values.get(out), in_memory=in_memory
                )
        elif record.status in ("failed", "skipped", "would-run"):
            status, verb = ("would-run", "will run") if record.status == "would-run" else ("skipped", "failed")
            if record.status == "skipped":
                verb = "was skipped"
            why = f"upstream stage {record.name!r} of {label} {verb}"
            for out in plan.stages[record.name].header.outputs:
                outputs[(notebook, out)] = ProducedOutput(blocked=(status, why))


class _SharedExecutor:
    """One executor for every notebook of the run (one Dask cluster, one pool), made at the first miss."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self._executor: Any = None

    def get(self) -> Any:
        """The executor, seen by each runner through a proxy that it cannot close."""
        if self._executor is None:
            self._executor = _executor(self.options)
        return _Unclosed(self._executor)

    def close(self) -> None:
        """Release the executor, if one was made."""
        if self._executor is not None:
            self._executor.close()


class _Unclosed:
    """An executor a runner uses but does not close (the run closes it after the last notebook)."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._executor, name)

    def close(self) -> None:
        """Nothing: the run across notebooks closes the executor."""
