"""The stages of other notebooks that a notebook reads (``--in NAME@NOTEBOOK``), for the sidebar.

One group per notebook read directly: the stages of that notebook that the reading
stages depend on (the producers of the outputs read, and their upstream there), each
with the status function's answer over that notebook as it is now, in the store the
reader uses (as :mod:`nbpipe.runtime.imports` looks them up), and the edges from the
producing stages to the reading stages with the names they carry. Never runs code.
Graph JSON 1.2 carries them as ``upstream`` (the server's analyze reply).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nbpipe.cache.store import Store
from nbpipe.errors import NbpipeError
from nbpipe.model import Graph


@dataclass(frozen=True)
class UpstreamStage:
    """A stage of an upstream notebook as the reader sees it."""

    name: str
    status: str
    reason: str
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpstreamGroup:
    """One notebook read through ``--in NAME@NOTEBOOK``: the stages read from it and the edges out of it."""

    notebook: str  # as written after '@'
    path: str  # its OS path
    stages: tuple[UpstreamStage, ...] = ()
    #: (stage of that notebook, reading stage of this one, names carried)
    edges: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    readable: bool = True  # False when the notebook cannot be read (NBP103 says why at the reading stage)

    def to_dict(self, path: str | None) -> dict[str, Any]:
        """Graph JSON 1.2 form, with ``path`` as the client may open it (None: not openable)."""
        return {
            "notebook": self.notebook,
            "path": path,
            "stages": [
                {"name": s.name, "status": s.status, "reason": s.reason, "outputs": list(s.outputs)}
                for s in self.stages
            ],
            "edges": [{"source": s, "target": t, "names": list(n)} for s, t, n in self.edges],
        }


def upstream_groups(reader: str, graph: Graph, store: Store | None = None) -> list[UpstreamGroup]:
    """The notebooks the stages of ``graph`` (the notebook at ``reader``) read from, in order of first read."""
    reads: dict[str, list[tuple[str, str]]] = {}  # notebook as written -> [(output, reading stage)]
    for stage in graph.stages:
        for name, written in stage.header.notebook_inputs if stage.header is not None else ():
            reads.setdefault(written, []).append((name, stage.name))
    if not reads:
        return []
    store = store or Store.for_notebook(reader)
    base = os.path.dirname(os.path.abspath(reader))
    return [_group(reader, base, written, pairs, store) for written, pairs in reads.items()]


def _group(reader: str, base: str, written: str, pairs: list[tuple[str, str]], store: Store) -> UpstreamGroup:
    from nbpipe.analysis import analyze
    from nbpipe.notebook import read
    from nbpipe.runtime.status import notebook_status

    path = os.path.normpath(os.path.join(base, written))
    try:
        nb = read(path)
    except NbpipeError:
        return UpstreamGroup(written, path, readable=False)
    graph = analyze(nb)
    producer = {out: s.name for s in graph.stages for out in s.outputs}
    carried: dict[tuple[str, str], list[str]] = {}
    for name, target in pairs:
        if name in producer:
            carried.setdefault((producer[name], target), []).append(name)
    sub = Store.for_notebook(path, store.url)
    statuses = notebook_status(nb, sub, graph, visiting=frozenset({os.path.abspath(reader), path}))
    wanted = set(graph.dag.upstream(sorted({source for source, _ in carried})))
    stages = tuple(_stage(nb, s.name, s.outputs, statuses.get(s.name), sub) for s in graph.stages if s.name in wanted)
    edges = tuple((source, target, tuple(names)) for (source, target), names in carried.items())
    return UpstreamGroup(written, path, stages, edges)


def _stage(nb: Any, name: str, outputs: tuple[str, ...], found: Any, store: Store) -> UpstreamStage:
    """One stage with its status; one that ran in a kernel only is judged as its reader judges it."""
    from nbpipe.runtime.imports import last_run

    if found is None:
        return UpstreamStage(name, "unknown", "its notebook cannot be planned", outputs)
    if found.status == "unknown":
        found = last_run(nb, name, store) or found
    return UpstreamStage(name, found.status, found.reason, outputs)
