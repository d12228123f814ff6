"""The execution plan of a notebook: setup cells, parameters and stages in order.

Cell roles come from the analyzer and the graph from :mod:`nbpipe.dag`, the one
graph every view uses; the analyzer's diagnostics decide whether the notebook may
run at all (see :func:`refuse_errors`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbpipe.dag import Dag, build_dag, declared_edges
from nbpipe.errors import PipelineError
from nbpipe.model import Graph, StageHeader, cell_label
from nbpipe.source import normalize

if TYPE_CHECKING:  # exported scripts and workers use plans, never read notebooks: no reader imported
    from nbpipe.notebook import Notebook


@dataclass(frozen=True)
class StagePlan:
    """One stage to run."""

    header: StageHeader
    body: str
    cell: int
    #: the normalised body when already known (the analysis memo remembers it), else computed on use
    known_code: str | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The stage name."""
        return self.header.name

    @functools.cached_property
    def code(self) -> str:
        """The normalised body (:func:`nbpipe.source.normalize`, the key's code), computed once per plan."""
        return self.known_code if self.known_code is not None else normalize(self.body)

    @functools.cached_property
    def canonical(self) -> str:
        """The header's canonical form (the key's header), computed once per plan."""
        return self.header.canonical()


@dataclass(frozen=True)
class Plan:
    """Everything a runner needs, independent of where stages execute."""

    notebook: str  # path of the notebook
    base_dir: str  # the notebook's folder: the working directory of every stage
    setup: tuple[tuple[int, str], ...]  # (cell index, source) of setup cells
    parameters_source: str  # source of the parameters cell ("" if none)
    defaults: dict[str, Any]  # literal parameter defaults
    stages: dict[str, StagePlan]  # in notebook order
    dag: Dag  # the one stage graph (nbpipe.dag): parents, children, order
    producers: dict[str, str] = field(default_factory=dict)  # output name -> stage
    static: frozenset[str] = frozenset()  # setup/parameter names bound only to literals
    #: --in NAME@NOTEBOOK: input name -> the producing notebook as written (relative to base_dir);
    #: its fingerprint comes from that notebook's stage (runtime/project_run.py), never from setup
    imported: dict[str, str] = field(default_factory=dict)

    @property
    def order(self) -> tuple[str, ...]:
        """The one topological order (the analyzer's)."""
        return self.dag.order

    def parents(self, name: str) -> tuple[str, ...]:
        """Stages whose outputs ``name`` reads, in notebook order."""
        return self.dag.parents[name]

    def upstream(self, names: list[str]) -> list[str]:
        """``names`` and all their ancestors, in order."""
        return self.dag.upstream(names)

    def downstream(self, name: str) -> list[str]:
        """Every stage that depends on ``name``, transitively, in order."""
        return self.dag.downstream(name)

    def check_names(self, names: list[str], flag: str) -> None:
        """Refuse unknown stage names with the list of known ones."""
        unknown = [n for n in names if n not in self.stages]
        if unknown:
            raise PipelineError(
                f"{flag}: no stage named {', '.join(repr(n) for n in unknown)} in {self.notebook}",
                hint="stages: " + ", ".join(self.order),
            )


def plan_notebook(nb: Notebook, graph: Graph | None = None, imports: bool = False) -> Plan:
    """Build the plan of a notebook from the analyzer's graph (one graph, one order).

    Args:
        nb: the read notebook.
        graph: its analysis, if already computed.
        imports: accept ``--in NAME@NOTEBOOK`` (callers that resolve it: the runner, the status
            function, the kernel); targets that cannot run across notebooks refuse it.

    Raises:
        PipelineError: duplicate stage names or outputs, or a dependency cycle.
    """
    from nbpipe.analysis import analyze

    graph = graph if graph is not None else analyze(nb)
    setup = {i for i, role in graph.roles.items() if role == "setup"}
    return plan_with_roles(nb, setup, graph.static, graph.dag, imports)  # the analyzer's graph: the same edges


def plan_with_roles(
    nb: Notebook,
    setup: Iterable[int],
    static: frozenset[str],
    dag: Dag | None = None,
    imports: bool = False,
    codes: Mapping[str, str] | None = None,
) -> Plan:
    """The plan of a notebook whose setup cells and literal setup names are known (the analyzer's roles).

    Args:
        setup: indices of the setup cells.
        static: setup and parameter names bound only to literals.
        dag: the stage graph, if already built (else built from the headers, as the analyzer builds it).
        imports: accept ``--in NAME@NOTEBOOK`` (see :func:`plan_notebook`).
        codes: stage name -> its normalised body, where already known (no body parsed again).

    Raises:
        PipelineError: duplicate stage names or outputs, or a dependency cycle.
    """
    stages = _stages(nb, imports, codes)
    producers = _producers(stages)
    cells = {c.index: c for c in nb.cells}
    params_cell = nb.parameters_cell
    return make_plan(
        notebook=nb.path,
        base_dir=os.path.dirname(os.path.abspath(nb.path)),
        setup=tuple((i, cells[i].source) for i in sorted(setup) if i in cells),
        parameters_source=params_cell.source if params_cell else "",
        defaults=nb.parameters,
        stages=stages,
        producers=producers,
        static=static,
        dag=dag,
        imported={n: p for s in stages.values() for n, p in s.header.notebook_inputs},
    )


def make_plan(dag: Dag | None = None, **fields: Any) -> Plan:
    """A :class:`Plan` whose graph is ``dag``, or built from its stages' headers (:func:`nbpipe.dag.declared_edges`).

    Raises:
        PipelineError: the stage graph has a cycle (NBP106).
    """
    stages: dict[str, StagePlan] = fields["stages"]
    if dag is None or dag.names != tuple(stages):
        dag = build_dag(list(stages), declared_edges([s.header for s in stages.values()]))
    if dag.cycle is not None:
        cycle = " -> ".join(dag.cycle)
        raise PipelineError(f"the stage graph has a cycle: {cycle}", hint="break the cycle", code="NBP106")
    return Plan(dag=dag, **fields)


def _stages(nb: Notebook, imports: bool = False, codes: Mapping[str, str] | None = None) -> dict[str, StagePlan]:
    codes = codes or {}
    stages: dict[str, StagePlan] = {}
    for cell in nb.stage_cells:
        assert cell.header is not None
        name = cell.header.name
        if name in stages:
            raise PipelineError(
                f"two stages are named {name!r} ({cell_label(stages[name].cell)} and {cell.index + 1})",
                hint="rename one of them",
                stage=name,
                code="NBP002",
            )
        if cell.header.notebook_inputs and not imports:  # a target that cannot run across notebooks
            read, path = cell.header.notebook_inputs[0]
            raise PipelineError(
                f"stage {name!r} reads {read!r} from notebook {path!r} (--in {read}@{path}): this target cannot "
                "run a pipeline across notebooks",
                hint=f"run it with nbpipe run {nb.path} (it runs {path} first, from the cache where possible), "
                "or export it --to script, papermill, airflow or kubeflow",
                stage=name,
            )
        stages[name] = StagePlan(cell.header, cell.body, cell.index, codes.get(name))
    return stages


def _producers(stages: dict[str, StagePlan]) -> dict[str, str]:
    producers: dict[str, str] = {}
    for name, stage in stages.items():
        for out in stage.header.outputs:
            if out in producers:
                raise PipelineError(
                    f"stages {producers[out]!r} and {name!r} both output {out!r}",
                    hint="give one of the outputs another name",
                    stage=name,
                    code="NBP105",
                )
            producers[out] = name
    return producers


def refuse_errors(nb: Notebook, graph: Graph | None = None) -> None:
    """Raise if the analyzer finds errors: a notebook with errors breaks the promise.

    Raises:
        PipelineError: listing each error with its cell and hint.
    """
    from nbpipe.analysis import analyze

    errors = (graph if graph is not None else analyze(nb)).errors
    if errors:
        lines = [f"  {cell_label(d.cell)}: {d.code} {d.message}" for d in errors[:20]]
        raise PipelineError(
            f"{nb.path} has {len(errors)} analyzer error(s):\n" + "\n".join(lines),
            hint=f"fix them (nbpipe check {nb.path}), or pass --no-check to run anyway",
        )
