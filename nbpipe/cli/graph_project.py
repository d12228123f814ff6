"""``nbpipe graph`` of several notebooks joined by ``--in NAME@NOTEBOOK``: JSON, Mermaid, dot.

The JSON document holds one graph JSON v1 per notebook (``notebooks``, each with its
stages' status from the one status function) and the cross-notebook edges
(``links``) with the project's one topological order (``order``, of
``[notebook, stage]`` pairs). Mermaid and dot draw each notebook as a subgraph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from nbpipe.analysis.project import Project, analyze_project, split_node
from nbpipe.cli.graph import quote
from nbpipe.model import Graph


def project_for(paths: Sequence[str]) -> Project:
    """The project of ``paths`` with each notebook's stage statuses.

    Raises:
        NotebookReadError: a path given cannot be read (the first such error).
    """
    from dataclasses import replace

    from nbpipe.runtime.status import analyze_with_status

    project, unreadable = analyze_project(paths)
    if unreadable:
        raise unreadable[0]
    graphs = tuple(_with_status(g, analyze_with_status(g.notebook)) for g in project.graphs)
    return replace(project, graphs=graphs)


def _with_status(graph: Graph, status: Graph) -> Graph:
    from dataclasses import replace

    found = {s.name: s for s in status.stages}
    stages = tuple(replace(s, status=found[s.name].status, reason=found[s.name].reason) if s.name in found else s
                   for s in graph.stages)  # fmt: skip
    return replace(graph, stages=stages)


def reads_other_notebooks(graph: Graph) -> bool:
    """Whether a stage of ``graph`` has an ``--in NAME@NOTEBOOK``."""
    return any(s.header is not None and s.header.notebook_inputs for s in graph.stages)


def to_json(project: Project) -> str:
    """The project document (see the module docstring)."""
    data: dict[str, Any] = {
        "version": 1,
        "notebooks": [g.to_dict() for g in project.graphs],
        "links": [
            {"producer": k.producer, "source": k.source, "reader": k.reader, "target": k.target, "names": [k.name]}
            for k in project.links
        ],
        "order": [list(split_node(n)) for n in project.dag.order],
    }
    return json.dumps(data, indent=2) + "\n"


def to_mermaid(project: Project) -> str:
    """A Mermaid flowchart with one subgraph per notebook."""
    lines = ["flowchart LR"]
    for i, graph in enumerate(project.graphs):
        lines.append(f'    subgraph nb{i}["{graph.notebook}"]')
        lines.extend(f'        {_id(project, graph.notebook, s.name)}["{s.name}"]' for s in graph.stages)
        lines.append("    end")
        for e in graph.edges:
            src, dst = _id(project, graph.notebook, e.source), _id(project, graph.notebook, e.target)
            lines.append(f'    {src} -->|"{", ".join(e.names)}"| {dst}')
    for k in project.links:
        lines.append(f'    {_id(project, k.producer, k.source)} -.->|"{k.name}"| {_id(project, k.reader, k.target)}')
    return "\n".join(lines) + "\n"


def to_dot(project: Project) -> str:
    """A Graphviz digraph with one cluster per notebook."""
    lines = ["digraph pipeline {", "    rankdir=LR;", '    node [shape=box, style="rounded"];']
    for i, graph in enumerate(project.graphs):
        lines.append(f"    subgraph cluster_{i} {{ label={quote(graph.notebook)};")
        lines.extend(f"        {_id(project, graph.notebook, s.name)} [label={quote(s.name)}];" for s in graph.stages)
        lines.append("    }")
        for e in graph.edges:
            src, dst = _id(project, graph.notebook, e.source), _id(project, graph.notebook, e.target)
            lines.append(f"    {src} -> {dst} [label={quote(', '.join(e.names))}];")
    for k in project.links:
        src, dst = _id(project, k.producer, k.source), _id(project, k.reader, k.target)
        lines.append(f"    {src} -> {dst} [label={quote(k.name)}, style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _id(project: Project, notebook: str, stage: str) -> str:
    """A node id safe in Mermaid and dot: notebook number and stage name."""
    number = next(i for i, g in enumerate(project.graphs) if g.notebook == notebook)
    return f"n{number}_" + re.sub(r"\W", "_", stage)


RENDERERS = {"json": to_json, "mermaid": to_mermaid, "dot": to_dot}
