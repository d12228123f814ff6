"""``nbpipe graph NB [--format json|mermaid|dot] [-o FILE]``: the stage graph for people and tools."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from nbpipe.model import Graph

_STATUS_COLORS = {"fresh": "#c8e6c9", "stale": "#fff3c4", "failed": "#ffcdd2", "never-run": "#eeeeee"}


def register(subparsers: Any) -> None:
    """Add the ``graph`` sub-command."""
    parser = subparsers.add_parser(
        "graph", help="print the stage graph", description="Print a notebook's stage graph (graph JSON v1 by default)."
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser, notebook_optional: bool = False) -> None:
    """The arguments of ``graph``, shared by ``nbpipe graph`` and ``%nbpipe graph``.

    Args:
        parser: the sub-command's parser.
        notebook_optional: the notebook may be omitted (the magic defaults to the kernel's notebook).
    """
    parser.add_argument(
        "notebook",
        metavar="NB",
        nargs="?" if notebook_optional else "+",
        help="an .ipynb file or a percent .py script; several, or a folder, draw one graph across notebooks",
    )
    parser.add_argument("--format", choices=("json", "mermaid", "dot"), default="json", help="output format")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def run(args: argparse.Namespace) -> int:
    """Render the graph; returns 0 (an unreadable notebook raises, mapped to exit 2 by main)."""
    from nbpipe.cli import graph_project
    from nbpipe.runtime.status import analyze_with_status

    paths = args.notebook if isinstance(args.notebook, list) else [args.notebook]
    graph = analyze_with_status(paths[0]) if len(paths) == 1 and not os.path.isdir(paths[0]) else None
    if graph is not None and not graph_project.reads_other_notebooks(graph):
        text = RENDERERS[args.format](graph)
    else:  # several notebooks joined by --in NAME@NOTEBOOK
        text = graph_project.RENDERERS[args.format](graph_project.project_for(paths))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def to_json(graph: Graph) -> str:
    """Graph JSON v1."""
    return json.dumps(graph.to_dict(), indent=2) + "\n"


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart, left to right, nodes styled by status, edges labelled by variables."""
    lines = ["flowchart LR"]
    for stage in graph.stages:
        lines.append(f'    s_{stage.name}["{stage.name}"]:::{_css(stage.status)}')  # s_ avoids keywords (end)
    for edge in graph.edges:
        lines.append(f'    s_{edge.source} -->|"{", ".join(edge.names)}"| s_{edge.target}')
    for status, color in _STATUS_COLORS.items():
        lines.append(f"    classDef {_css(status)} fill:{color},stroke:#555")
    lines.append("    classDef unknown fill:#ffffff,stroke:#555")
    return "\n".join(lines) + "\n"


def _css(status: str) -> str:
    return status.replace("-", "_")


def to_dot(graph: Graph) -> str:
    """A Graphviz digraph, left to right."""
    lines = ["digraph pipeline {", "    rankdir=LR;", '    node [shape=box, style="rounded,filled"];']
    for stage in graph.stages:
        color = _STATUS_COLORS.get(stage.status, "#ffffff")
        lines.append(f'    {quote(stage.name)} [fillcolor="{color}", tooltip="{stage.status}"];')
    for edge in graph.edges:
        lines.append(f"    {quote(edge.source)} -> {quote(edge.target)} [label={quote(', '.join(edge.names))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def quote(text: str) -> str:
    """``text`` as a dot string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


RENDERERS = {"json": to_json, "mermaid": to_mermaid, "dot": to_dot}
