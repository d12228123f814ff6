"""The execution plan of a notebook: setup cells, parameters and stages in order.

Built from the declared stage I/O; the analyzer's diagnostics decide whether the
notebook may run at all (see :func:`refuse_errors`).
"""

from __future__ import annotations

import graphlib
import os
from dataclasses import dataclass, field
from typing import Any

from nbpipe.errors import PipelineError
from nbpipe.model import StageHeader
from nbpipe.notebook import Notebook


@dataclass(frozen=True)
class StagePlan:
    """One stage to run."""

    header: StageHeader
    body: str
    cell: int

    @property
    def name(self) -> str:
        """The stage name."""
        return self.header.name


@dataclass(frozen=True)
class Plan:
    """Everything a runner needs, independent of where stages execute."""

    notebook: str  # path of the notebook
    base_dir: str  # the notebook's folder: the working directory of every stage
    setup: tuple[tuple[int, str], ...]  # (cell index, source) of setup cells
    parameters_source: str  # source of the parameters cell ("" if none)
    defaults: dict[str, Any]  # literal parameter defaults
    stages: dict[str, StagePlan]
    order: tuple[str, ...]
    producers: dict[str, str] = field(default_factory=dict)  # output name -> stage

    def parents(self, name: str) -> list[str]:
        """Stages whose outputs ``name`` reads, in order."""
        wanted = {self.producers[i] for i in self.stages[name].header.inputs if i in self.producers}
        return [s for s in self.order if s in wanted]

    def upstream(self, names: list[str]) -> list[str]:
        """``names`` and all their ancestors, in order."""
        needed: set[str] = set()
        todo = list(names)
        while todo:
            current = todo.pop()
            if current not in needed:
                needed.add(current)
                todo.extend(self.parents(current))
        return [s for s in self.order if s in needed]

    def downstream(self, name: str) -> list[str]:
        """Every stage that depends on ``name``, transitively, in order."""
        found: set[str] = set()
        for stage in self.order:
            if any(p == name or p in found for p in self.parents(stage)):
                found.add(stage)
        return [s for s in self.order if s in found]

    def check_names(self, names: list[str], flag: str) -> None:
        """Refuse unknown stage names with the list of known ones."""
        unknown = [n for n in names if n not in self.stages]
        if unknown:
            raise PipelineError(
                f"{flag}: no stage named {', '.join(repr(n) for n in unknown)} in {self.notebook}",
                hint="stages: " + ", ".join(self.order),
            )


def plan_notebook(nb: Notebook) -> Plan:
    """Build the plan of a notebook.

    Raises:
        PipelineError: duplicate stage names or outputs, or a dependency cycle.
    """
    stages: dict[str, StagePlan] = {}
    producers: dict[str, str] = {}
    for cell in nb.stage_cells:
        assert cell.header is not None
        name = cell.header.name
        if name in stages:
            raise PipelineError(
                f"two stages are named {name!r} (cells {stages[name].cell} and {cell.index})",
                hint="rename one of them",
                stage=name,
                code="NBP002",
            )
        stages[name] = StagePlan(cell.header, cell.body, cell.index)
        for out in cell.header.outputs:
            if out in producers:
                raise PipelineError(
                    f"stages {producers[out]!r} and {name!r} both output {out!r}",
                    hint="give one of the outputs another name",
                    stage=name,
                    code="NBP105",
                )
            producers[out] = name
    order = _order(stages, producers)
    params_cell = nb.parameters_cell
    return Plan(
        notebook=nb.path,
        base_dir=os.path.dirname(os.path.abspath(nb.path)),
        setup=tuple((c.index, c.source) for c in nb.setup_cells),
        parameters_source=params_cell.source if params_cell else "",
        defaults=nb.parameters,
        stages=stages,
        order=order,
        producers=producers,
    )


def _order(stages: dict[str, StagePlan], producers: dict[str, str]) -> tuple[str, ...]:
    position = {name: plan.cell for name, plan in stages.items()}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, plan in stages.items():
        sorter.add(name, *(producers[i] for i in plan.header.inputs if i in producers and producers[i] != name))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise PipelineError(f"the stage graph has a cycle: {cycle}", hint="break the cycle", code="NBP106") from exc
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return tuple(order)


def refuse_errors(nb: Notebook) -> None:
    """Raise if the analyzer finds errors: a notebook with errors breaks the promise.

    Raises:
        PipelineError: listing each error with its cell and hint.
    """
    from nbpipe.analysis import analyze

    errors = analyze(nb).errors
    if errors:
        lines = [f"  cell {d.cell}: {d.code} {d.message}" for d in errors[:20]]
        raise PipelineError(
            f"{nb.path} has {len(errors)} analyzer error(s):\n" + "\n".join(lines),
            hint=f"fix them (nbpipe check {nb.path}), or pass --no-check to run anyway",
        )
