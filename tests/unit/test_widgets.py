"""The in-notebook graph view: layered layout, escaping, text fallback."""

from __future__ import annotations

from xml.etree import ElementTree

from nbpipe.model import Diagnostic, Edge, Graph, Stage
from nbpipe.widgets import GraphView, graph_svg, layers, positions


def diamond() -> Graph:
    stages = tuple(
        Stage(name=n, cell=i, status=s)
        for i, (n, s) in enumerate([("load", "fresh"), ("left", "stale"), ("right", "never-run"), ("join", "failed")])
    )
    edges = (
        Edge("load", "left", ("xs",)),
        Edge("load", "right", ("xs",)),
        Edge("left", "join", ("a",)),
        Edge("right", "join", ("b",)),
    )
    return Graph("d.ipynb", stages, edges, ("load", "left", "right", "join"))


def test_layers_and_positions_go_left_to_right() -> None:
    graph = diamond()
    assert layers(graph) == {"load": 0, "left": 1, "right": 1, "join": 2}
    place = positions(graph)
    assert place["load"][0] < place["left"][0] == place["right"][0] < place["join"][0]
    assert place["left"][1] != place["right"][1]


def test_svg_is_well_formed_and_escapes_text() -> None:
    graph = diamond()
    hostile = Graph(
        "x",
        (Stage("s", 0, status="<script>"),),
        (),
        ("s",),
        diagnostics=(Diagnostic("NBP101", "error", "reads '<b>'", stage="s"),),
    )
    for g in (graph, hostile):
        root = ElementTree.fromstring(graph_svg(g))
        assert root.tag.endswith("svg")
    assert "<script>" not in graph_svg(hostile)
    assert "&lt;b&gt;" in GraphView(hostile)._repr_html_()


def test_text_fallback_lists_stages_and_edges() -> None:
    text = repr(GraphView(diamond()))
    assert "4 stages, 4 edges" in text and "load -> left (xs)" in text and "join [failed]" in text
