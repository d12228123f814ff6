"""The stage graph: stages with what they use, edges from declared I/O, order, cycles, status.

Edges come from declarations only (``--in`` of one stage matching ``--out`` of
another): the graph is what every batch target will run; what the code does
beyond its declarations is the job of the checks.
"""

from __future__ import annotations

from typing import Any

from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.dag import build_dag, declared_edges
from nbpipe.model import Edge, Stage, StageHeader
from nbpipe.notebook import stage_bundle
from nbpipe.source import source_hash


def build_stages(nbf: NotebookFacts) -> list[Stage]:
    """A Stage per stage cell in the graph, with params, helpers, constants and status."""
    helpers_of = _Helpers(nbf.functions())
    stages = []
    for facts in nbf.stages:
        header = facts.header
        assert header is not None
        helpers, inner = helpers_of.reached(facts.reads)
        params = facts.reads.keys() & nbf.params
        constants = facts.reads.keys() & nbf.setup_constants
        if inner:
            params |= inner & nbf.params
            constants |= inner & nbf.setup_constants
        key = (header, facts.index, _sorted(params), helpers, _sorted(constants), status(facts))
        stage = _STAGES.get(key)
        if stage is None:
            stage = _STAGES[key] = Stage(key[0].name, key[1], header.inputs, header.outputs, header.file_inputs,
                                         header.file_outputs, key[2], key[3], key[4], key[5], header)  # fmt: skip
        stages.append(stage)
    if len(_STAGES) > _STAGES_KEPT:
        _STAGES.clear()
    return stages


# Stages are immutable and cost microseconds to build: re-analysis reuses the unchanged ones.
_STAGES: dict[tuple[StageHeader, int, tuple[str, ...], tuple[str, ...], tuple[str, ...], str], Stage] = {}
_STAGES_KEPT = 1 << 16


def clear_caches() -> None:
    """Forget the memoised stages, edges and orders."""
    _STAGES.clear()
    _EDGES.clear()
    _ORDERS.clear()


def _sorted(names: set[str]) -> tuple[str, ...]:
    return tuple(sorted(names)) if names else ()


class _Helpers:
    """Setup functions reached from a stage's reads, each set of called functions walked once."""

    def __init__(self, functions: dict[str, tuple[CellFacts, set[str]]]) -> None:
        self.functions = functions
        self._closure: dict[frozenset[str], tuple[tuple[str, ...], frozenset[str]]] = {}

    def reached(self, reads: dict[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
        """Setup functions reached from ``reads`` (transitively, sorted) and the names they read."""
        called = frozenset(reads.keys() & self.functions.keys())
        found = self._closure.get(called)
        if found is None:
            helpers, inner = _helpers(set(called), self.functions)
            found = self._closure[called] = (_sorted(set(helpers)), inner)
        return found


def _helpers(
    reads: set[str], functions: dict[str, tuple[CellFacts, set[str]]]
) -> tuple[frozenset[str], frozenset[str]]:
    """Setup functions reached from ``reads`` (transitively) and every name read on the way."""
    helpers: set[str] = set()
    todo = [n for n in reads if n in functions]
    seen_reads = set(reads)
    while todo:
        name = todo.pop()
        if name in helpers:
            continue
        helpers.add(name)
        inner = functions[name][1]
        seen_reads |= inner
        todo.extend(n for n in inner if n in functions and n not in helpers)
    return frozenset(helpers), frozenset(seen_reads)


def bundle(facts: CellFacts) -> dict[str, Any] | None:
    """The last stage bundle saved in the cell's outputs."""
    return stage_bundle(facts.cell)


def status(facts: CellFacts) -> str:
    """fresh / stale / failed / never-run, from the saved bundle against the current source."""
    saved = bundle(facts)
    if saved is None or facts.header is None:
        return "never-run"
    if saved.get("status") == "failed":
        return "failed"
    current = source_hash(facts.header.canonical(), facts.cell.body)
    return "fresh" if saved.get("source_hash") == current else "stale"


def build_edges(nbf: NotebookFacts) -> list[Edge]:
    """One edge per (producer, consumer) pair, labelled with the declared names it carries."""
    headers = [facts.header for facts in nbf.stages if facts.header is not None]
    edges = []
    for (src, dst), names in declared_edges(headers).items():
        key = (src, dst, tuple(names))
        edge = _EDGES.get(key)
        if edge is None:
            edge = _EDGES[key] = Edge(*key)
        edges.append(edge)
    if len(_EDGES) > _STAGES_KEPT:
        _EDGES.clear()
    return edges


_EDGES: dict[tuple[str, str, tuple[str, ...]], Edge] = {}  # immutable too: reused like the stages


def order(stages: list[Stage], edges: list[Edge]) -> tuple[list[str], list[str] | None]:
    """(topological order with ties broken by notebook order, a cycle or None).

    The order is empty when the graph has a cycle. Results are memoised by the
    stages' names and cells and the edges' ends: re-analysis after an edit inside a
    stage's body finds them unchanged.
    """
    key = (tuple([(s.name, s.cell) for s in stages]), tuple([(e.source, e.target) for e in edges]))
    found = _ORDERS.get(key)
    if found is None:
        if len(_ORDERS) >= _ORDERS_KEPT:
            _ORDERS.pop(next(iter(_ORDERS)))
        found = _ORDERS[key] = _order(stages, edges)
    result, cycle = found
    return list(result), None if cycle is None else list(cycle)


_ORDERS: dict[tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]], tuple[list[str], list[str] | None]] = {}
_ORDERS_KEPT = 8


def _order(stages: list[Stage], edges: list[Edge]) -> tuple[list[str], list[str] | None]:
    dag = build_dag([s.name for s in stages], [(e.source, e.target) for e in edges])
    return list(dag.order), None if dag.cycle is None else list(dag.cycle)
