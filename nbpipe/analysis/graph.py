"""The stage graph: stages with what they use, edges from declared I/O, order, cycles, status.

Edges come from declarations only (``--in`` of one stage matching ``--out`` of
another): the graph is what every batch target will run; what the code does
beyond its declarations is the job of the checks.
"""

from __future__ import annotations

import graphlib
import heapq
import json
from typing import Any

from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.model import STAGE_MIME, Edge, Stage
from nbpipe.source import source_hash


def build_stages(nbf: NotebookFacts) -> list[Stage]:
    """A Stage per stage cell in the graph, with params, helpers, constants and status."""
    helpers_of = _Helpers(nbf.functions())
    stages = []
    for facts in nbf.stages:
        header = facts.header
        assert header is not None
        helpers, reads = helpers_of.reached(facts.reads)
        stages.append(
            Stage(
                name=header.name,
                cell=facts.index,
                inputs=header.inputs,
                outputs=header.outputs,
                file_inputs=header.file_inputs,
                file_outputs=header.file_outputs,
                params=tuple(sorted(reads & nbf.params)),
                helpers=tuple(sorted(helpers)),
                constants=tuple(sorted(reads & nbf.setup_constants)),
                status=status(facts),
                header=header,
            )
        )
    return stages


class _Helpers:
    """Setup functions reached from a stage's reads, with each function's own closure computed once."""

    def __init__(self, functions: dict[str, tuple[CellFacts, set[str]]]) -> None:
        self.functions = functions
        self._closure: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def reached(self, reads: dict[str, Any]) -> tuple[set[str], set[str]]:
        """Setup functions reached from ``reads`` (transitively) and every name read on the way."""
        helpers: set[str] = set()
        seen_reads = set(reads)
        for name in reads.keys() & self.functions.keys():
            found = self._closure.get(name)
            if found is None:
                found = self._closure[name] = _helpers({name}, self.functions)
            helpers |= found[0]
            seen_reads |= found[1]
        return helpers, seen_reads


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
    """The last ``application/vnd.nbpipe.stage+json`` bundle saved in the cell's outputs."""
    found = None
    for output in facts.cell.outputs:
        data = output.get("data") if isinstance(output, dict) else None
        value = data.get(STAGE_MIME) if isinstance(data, dict) else None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if isinstance(value, dict):
            found = value
    return found


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
    labels: dict[tuple[str, str], list[str]] = {}
    for facts in nbf.stages:
        assert facts.header is not None
        for name in facts.header.inputs:
            for producer in nbf.outputs.get(name, []):
                if producer != facts.header.name:
                    labels.setdefault((producer, facts.header.name), []).append(name)
    return [Edge(src, dst, tuple(names)) for (src, dst), names in labels.items()]


def order(stages: list[Stage], edges: list[Edge]) -> tuple[list[str], list[str] | None]:
    """(topological order with ties broken by notebook order, a cycle or None).

    The order is empty when the graph has a cycle.
    """
    position = {s.name: s.cell for s in stages}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for stage in stages:
        sorter.add(stage.name)
    for edge in edges:
        sorter.add(edge.target, edge.source)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1]) if len(exc.args) > 1 else []
        return [], cycle
    result: list[str] = []
    ready: list[tuple[int, str]] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (position[name], name))
        _cell, name = heapq.heappop(ready)
        result.append(name)
        sorter.done(name)
    return result, None
