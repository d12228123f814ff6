"""Notebook-level facts built from the per-cell def/use: roles and who binds what.

This is the one place that decides a cell's role (DESIGN §2):

- ``stage``: first line ``%%stage`` (a bad header included);
- ``parameters``: tagged ``parameters``;
- ``setup``: only imports, defs, classes and constants (not tagged ``raises-exception``);
- ``data``: any other cell that binds a name some stage reads;
- ``exploration``: every other code cell (it reads stage outputs, plots, prints).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from nbpipe.analysis.defuse import CellInfo, Location, cell_info
from nbpipe.model import StageHeader
from nbpipe.notebook import Cell, Notebook

#: The tag nbclient and nbval honour on a cell that raises on purpose: never run as setup in batch targets.
RAISES_TAG = "raises-exception"


@dataclass(slots=True)
class CellFacts:
    """One code cell with its def/use and role."""

    cell: Cell
    info: CellInfo
    role: str = "exploration"
    header: StageHeader | None = None  # set for stages in the graph (valid, unique name)
    reads: dict[str, Location] = field(default_factory=dict)  # outside names read (shared with the cache: read-only)
    index: int = field(kw_only=True)  # ``cell.index``, the 0-based cell index (a field: every check reads it often)


@dataclass
class NotebookFacts:
    """Who binds and reads what across the notebook."""

    notebook: Notebook
    cells: list[CellFacts]  # code cells, notebook order
    stages: list[CellFacts]  # stage cells in the graph (valid header, first of its name)
    duplicate_stages: list[CellFacts]  # stage cells whose name an earlier stage already uses
    setup_names: set[str]  # names bound by setup cells (imports, defs, constants)
    setup_constants: set[str]
    setup_defs: set[str]  # functions and classes of setup cells
    setup_imports: set[str]
    params: set[str]  # names bound by the parameters cell
    stage_reads: set[str]  # names some stage reads from outside
    outputs: dict[str, list[str]]  # declared output -> stages declaring it
    stage_binds: StageBinders  # name -> stages binding it at their top level
    data_binds: dict[str, list[int]]  # name -> data cells binding it
    _by_name: dict[str, CellFacts] = field(default_factory=dict)

    provided: set[str] = field(default_factory=set)  # setup names and parameters: readable without --in
    static: set[str] = field(default_factory=set)  # setup/parameter names bound only to literals

    def by_stage(self, name: str) -> CellFacts:
        """The facts of stage ``name``."""
        if len(self._by_name) != len(self.stages):
            self._by_name = {f.header.name: f for f in self.stages if f.header is not None}
        return self._by_name[name]

    def functions(self) -> dict[str, tuple[CellFacts, set[str]]]:
        """Setup functions/classes: name -> (defining cell, global names they read)."""
        found: dict[str, tuple[CellFacts, set[str]]] = {}
        for facts in self.cells:
            if facts.role == "setup":
                for name, fn in facts.info.functions.items():
                    found[name] = (facts, set(fn.reads))
        return found


class StageBinders(Mapping[str, list[str]]):
    """Name -> the stages binding it at their top level, in notebook order.

    Most analyses only ask about a few names, so the full index (one entry per name
    any stage binds) is built on first need: asking whether a name is bound scans
    the stages until that has happened for many names.
    """

    _SCANS = 32  # membership questions answered by scanning before the full index is built

    def __init__(self, stages: list[CellFacts]) -> None:
        self._stages = stages
        self._index: dict[str, list[str]] | None = None
        self._scanned: dict[str, bool] = {}

    def _full(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for facts in self._stages:
                stage = facts.header.name  # type: ignore[union-attr]
                for name in facts.info.binds:
                    index.setdefault(name, []).append(stage)
            self._index = index
        return self._index

    def __contains__(self, name: object) -> bool:
        if self._index is not None or len(self._scanned) >= self._SCANS:
            return name in self._full()
        found = self._scanned.get(name)  # type: ignore[call-overload]
        if found is None:
            found = self._scanned[name] = any(name in f.info.binds for f in self._stages)  # type: ignore[index]
        return found

    def __getitem__(self, name: str) -> list[str]:
        return self._full()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())


def build(notebook: Notebook) -> NotebookFacts:
    """Compute cell roles and the binder maps of a notebook."""
    cells = [_cell_facts(c) for c in notebook.cells if c.cell_type == "code"]
    stages, duplicates = _stages(cells)
    binders = StageBinders(stages)
    nbf = NotebookFacts(notebook, cells, stages, duplicates, set(), set(), set(), set(), set(), set(), {}, binders, {})
    for facts in cells:
        if facts.role == "setup":
            nbf.setup_names.update(facts.info.binds)
            nbf.setup_constants.update(facts.info.constants)
            nbf.setup_defs.update(facts.info.defs)
            nbf.setup_imports.update(facts.info.imports)
        elif facts.role == "parameters":
            nbf.params.update(facts.info.binds)
    for facts in stages:
        assert facts.header is not None
        nbf.stage_reads.update(facts.reads)
        for name in facts.header.outputs:
            nbf.outputs.setdefault(name, []).append(facts.header.name)
    nbf.provided = nbf.setup_names | nbf.params
    nbf.static = _static_names(cells)
    needed = nbf.stage_reads - nbf.provided
    for facts in cells:
        if facts.role == "exploration" and needed.intersection(facts.info.binds):
            facts.role = "data"
            for name in needed.intersection(facts.info.binds):
                nbf.data_binds.setdefault(name, []).append(facts.index)
    return nbf


def _static_names(cells: list[CellFacts]) -> set[str]:
    """Names that setup and parameters cells bind only to literals, nowhere to anything else."""
    literal: set[str] = set()
    other: set[str] = set()
    for facts in cells:
        if facts.role in ("setup", "parameters"):
            literal |= facts.info.literals
            other |= facts.info.binds.keys() - facts.info.literals
    return literal - other


def _cell_facts(cell: Cell) -> CellFacts:
    if cell.header is not None or cell.header_error is not None:  # cell.is_stage, inlined: it runs for every cell
        info = cell_info(cell.body)
        return CellFacts(cell, info, "stage", None, info.outside, index=cell.index)
    info = cell_info(cell.source)
    setup = info.setup and cell.source.strip() and RAISES_TAG not in cell.tags  # a cell that raises on purpose
    role = "parameters" if cell.is_parameters else "setup" if setup else "exploration"
    return CellFacts(cell, info, role, None, info.reads, index=cell.index)


def _stages(cells: list[CellFacts]) -> tuple[list[CellFacts], list[CellFacts]]:
    stages, duplicates, seen = [], [], set()
    for facts in cells:
        header = facts.cell.header
        if header is None:
            continue
        if header.name in seen:
            duplicates.append(facts)
            continue
        seen.add(header.name)
        facts.header = header
        stages.append(facts)
    return stages, duplicates
