"""The one stage graph: edges from declared I/O, parents, children, one order.

Every view of a pipeline goes through :class:`Dag`: the analyzer (``nbpipe check``,
graph JSON, the sidebar), the batch runner with every executor, the exporters and
the papermill runner. Its order is the one topological order of the notebook:
among the stages that are ready, the one highest in the notebook comes first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # model imports this module: the header type is only needed for checking
    from nbpipe.model import StageHeader

EdgeLabels = dict[tuple[str, str], list[str]]


def declared_edges(headers: Sequence[StageHeader]) -> EdgeLabels:
    """(producer, consumer) -> the names it carries: a consumer's ``--in`` matching a producer's ``--out``.

    A name two stages output (NBP105) gives an edge from each; a stage never depends on itself.
    """
    producers: dict[str, list[str]] = {}
    for header in headers:
        for name in header.outputs:
            producers.setdefault(name, []).append(header.name)
    labels: EdgeLabels = {}
    for header in headers:
        for name in header.inputs:
            for producer in producers.get(name, ()):
                if producer != header.name:
                    labels.setdefault((producer, header.name), []).append(name)
    return labels


@dataclass(frozen=True)
class Dag:
    """Stages (in notebook order) and their dependencies, with the one topological order."""

    names: tuple[str, ...]  # every stage, in notebook order
    parents: dict[str, tuple[str, ...]]  # stage -> the stages it reads from, in order
    children: dict[str, tuple[str, ...]]  # stage -> the stages reading from it, in order
    order: tuple[str, ...]  # topological order, ties broken by notebook order; () with a cycle
    cycle: tuple[str, ...] | None = None  # a cycle, each stage feeding the next (first repeated at the end)

    def upstream(self, names: Iterable[str]) -> list[str]:
        """``names`` and all their ancestors, in order."""
        return self._closure(names, self.parents, include=True)

    def downstream(self, name: str) -> list[str]:
        """Every stage that depends on ``name``, transitively (not ``name`` itself), in order."""
        return self._closure([name], self.children, include=False)

    def _closure(self, start: Iterable[str], links: dict[str, tuple[str, ...]], include: bool) -> list[str]:
        found: set[str] = set()
        todo = [n for s in start for n in ([s] if include else links.get(s, ()))]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(links.get(current, ()))
        return [s for s in self.order if s in found]

    def position(self) -> dict[str, int]:
        """Stage -> its index in :attr:`order` (the priority of ready stages in every scheduler)."""
        return {name: i for i, name in enumerate(self.order)}


def build_dag(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> Dag:
    """The graph of ``names`` (notebook order) with ``edges`` (source, target).

    Unknown names in edges are ignored; duplicate edges count once.
    """
    known = dict.fromkeys(names)
    position = {name: i for i, name in enumerate(known)}
    parents: dict[str, set[str]] = {name: set() for name in known}
    for source, target in edges:
        if source in known and target in known and source != target:
            parents[target].add(source)
    in_order = {n: tuple(sorted(ps, key=position.__getitem__)) for n, ps in parents.items()}
    children: dict[str, list[str]] = {name: [] for name in known}
    for name in known:  # notebook order, so every child list is in notebook order
        for parent in in_order[name]:
            children[parent].append(name)
    order, cycle = _order(known, in_order, position)
    return Dag(tuple(known), in_order, {n: tuple(c) for n, c in children.items()}, order, cycle)


def _order(
    names: Iterable[str], parents: dict[str, tuple[str, ...]], position: dict[str, int]
) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """Kahn's algorithm with the highest ready stage (notebook order) first; a cycle if some stage never gets ready."""
    waiting = {name: len(parents[name]) for name in names}
    children: dict[str, list[str]] = {name: [] for name in waiting}
    for name in waiting:
        for parent in parents[name]:
            children[parent].append(name)
    ready = [(position[name], name) for name, count in waiting.items() if not count]
    heapq.heapify(ready)
    result: list[str] = []
    while ready:
        _pos, name = heapq.heappop(ready)
        result.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if not waiting[child]:
                heapq.heappush(ready, (position[child], child))
    if len(result) < len(waiting):
        return (), _cycle({n: parents[n] for n in waiting if waiting[n]})
    return tuple(result), None


def _cycle(parents: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """A cycle among stages that never got ready (graphlib finds it, first node repeated at the end)."""
    import graphlib  # only for a cycle: a run and an exported script never load it

    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, ps in parents.items():
        sorter.add(name, *(p for p in ps if p in parents))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        return tuple(exc.args[1]) if len(exc.args) > 1 else ()
    return ()  # pragma: no cover - stages left waiting always contain a cycle
