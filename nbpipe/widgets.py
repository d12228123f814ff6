"""In-notebook views for front ends without the sidebar (Notebook 7, VS Code).

:func:`show_graph` returns an object that renders as an SVG of the stage graph,
laid out left to right in layers, and as text where HTML is not shown.
:class:`StageProgress` shows per-stage progress of ``%nbpipe run`` as an
ipywidgets table, or as plain lines when ipywidgets is not installed.
"""

from __future__ import annotations

import html
from typing import Any

from nbpipe.model import Graph

COLOURS = {
    "fresh": "#2e7d32",
    "ran": "#2e7d32",
    "cached": "#00838f",
    "stale": "#ef6c00",
    "never-run": "#757575",
    "pending": "#757575",
    "running": "#1565c0",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "unknown": "#757575",
}
NODE_W, NODE_H, GAP_X, GAP_Y = 150, 44, 90, 26


def layers(graph: Graph) -> dict[str, int]:
    """Layer of each stage: 0 for sources, else one more than its deepest parent."""
    parents: dict[str, set[str]] = {s.name: set() for s in graph.stages}
    for edge in graph.edges:
        parents.setdefault(edge.target, set()).add(edge.source)
    order = list(graph.order) or [s.name for s in graph.stages]
    depth: dict[str, int] = {}
    for name in order:
        depth[name] = 1 + max((depth.get(p, 0) for p in parents.get(name, ())), default=-1)
    return depth


def positions(graph: Graph) -> dict[str, tuple[int, int]]:
    """Top-left corner of each node: columns by layer, rows by notebook order."""
    depth = layers(graph)
    rows: dict[int, int] = {}
    placed: dict[str, tuple[int, int]] = {}
    for stage in sorted(graph.stages, key=lambda s: s.cell):
        layer = depth.get(stage.name, 0)
        row = rows.get(layer, 0)
        rows[layer] = row + 1
        placed[stage.name] = (20 + layer * (NODE_W + GAP_X), 20 + row * (NODE_H + GAP_Y))
    return placed


def graph_svg(graph: Graph) -> str:
    """The stage graph as a standalone SVG document (all text escaped)."""
    place = positions(graph)
    width = max((x for x, _ in place.values()), default=0) + NODE_W + 40
    height = max((y for _, y in place.values()), default=0) + NODE_H + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12" role="img" aria-label="nbpipe stage graph">'
    ]
    for edge in graph.edges:
        if edge.source in place and edge.target in place:
            parts.append(_edge_svg(place[edge.source], place[edge.target], ", ".join(edge.names)))
    flagged = {d.stage for d in graph.diagnostics if d.stage}
    for stage in graph.stages:
        parts.append(_node_svg(place[stage.name], stage.name, stage.status, stage.name in flagged, stage.reason or ""))
    parts.append("</svg>")
    return "".join(parts)


def _edge_svg(src: tuple[int, int], dst: tuple[int, int], label: str) -> str:
    x1, y1 = src[0] + NODE_W, src[1] + NODE_H // 2
    x2, y2 = dst[0], dst[1] + NODE_H // 2
    mx, my = (x1 + x2) // 2, (y1 + y2) // 2 - 4
    return (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#888" stroke-width="1.5"/>'
        f'<polygon points="{x2},{y2} {x2 - 7},{y2 - 4} {x2 - 7},{y2 + 4}" fill="#888"/>'
        f'<text x="{mx}" y="{my}" text-anchor="middle" fill="#555">{html.escape(label)}</text>'
    )


def _node_svg(at: tuple[int, int], name: str, status: str, flagged: bool, reason: str = "") -> str:
    x, y = at
    why = f" ({html.escape(reason)})" if reason else ""
    colour = COLOURS.get(status, COLOURS["unknown"])
    border = ' stroke="#c62828" stroke-width="3"' if flagged else f' stroke="{colour}" stroke-width="1.5"'
    return (
        f"<g><title>{html.escape(name)}: {html.escape(status)}{why}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="white"{border}/>'
        f'<rect x="{x}" y="{y}" width="8" height="{NODE_H}" rx="4" fill="{colour}"/>'
        f'<text x="{x + 16}" y="{y + 19}" font-weight="bold" fill="#222">{html.escape(name)}</text>'
        f'<text x="{x + 16}" y="{y + 35}" fill="{colour}">{html.escape(status)}</text></g>'
    )


def graph_text(graph: Graph) -> str:
    """A plain-text rendering: stages in order with their status and edges."""
    lines = [f"{len(graph.stages)} stages, {len(graph.edges)} edges"]
    status = {s.name: s.status for s in graph.stages}
    reason = {s.name: s.reason for s in graph.stages if s.reason}
    for name in graph.order or [s.name for s in graph.stages]:
        why = f": {reason[name]}" if name in reason else ""
        lines.append(f"  {name} [{status.get(name, '?')}]{why}")
    lines += [f"  {e.source} -> {e.target} ({', '.join(e.names)})" for e in graph.edges]
    lines += [f"  {d.code} {d.severity}: {d.message}" for d in graph.diagnostics]
    return "\n".join(lines)


class GraphView:
    """Displays as an SVG in HTML front ends and as text elsewhere."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li><b>{html.escape(d.code)}</b> {html.escape(d.severity)}: {html.escape(d.message)}</li>"
            for d in self.graph.diagnostics
        )
        return graph_svg(self.graph) + (f"<ul>{items}</ul>" if items else "")

    def __repr__(self) -> str:
        return graph_text(self.graph)


def show_graph(graph: Graph) -> GraphView:
    """The graph as a displayable object (the last expression of ``%nbpipe graph``)."""
    return GraphView(graph)


class StageProgress:
    """Per-stage progress of a kernel run: an ipywidgets table, or plain lines."""

    def __init__(self, names: list[str]) -> None:
        self.status = dict.fromkeys(names, "pending")
        self.seconds: dict[str, float] = {}
        self.widget: Any = None
        try:
            import ipywidgets
            from IPython.display import display
        except ImportError:
            return
        self.widget = ipywidgets.HTML(self._html())
        display(self.widget)

    def update(self, name: str, status: str, seconds: float = 0.0) -> None:
        """Record a stage's new status and refresh the view."""
        self.status[name] = status
        self.seconds[name] = seconds
        if self.widget is not None:
            self.widget.value = self._html()
        elif status not in ("running", "pending"):
            print(f"  {status:<7} {name} {seconds:.2f}s")

    def _html(self) -> str:
        rows = "".join(
            f'<tr><td>{html.escape(n)}</td><td style="color:{COLOURS.get(s, "#757575")}">{html.escape(s)}</td>'
            f"<td>{self.seconds.get(n, 0):.2f}s</td></tr>"
            for n, s in self.status.items()
        )
        return f"<table><tr><th>stage</th><th>status</th><th>seconds</th></tr>{rows}</table>"
