"""The analyzer's coordinator: notebook in, :class:`~nbpipe.model.Graph` out.

Responsibilities, in order: read the notebook (only unreadable files raise), get
each cell's def/use (cached by source), decide roles, build stages, edges and the
topological order, run every check, drop the codes a cell silences with
``# nbpipe: ignore[CODE]``, and sort the diagnostics by cell and line.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from nbpipe.analysis import (
    checks_extension,
    checks_locals,
    checks_order,
    checks_stage,
    checks_state,
    facts,
    graph,
    incremental,
)
from nbpipe.analysis.defuse import IGNORE_COMMENT, cell_info
from nbpipe.model import Diagnostic, Graph
from nbpipe.notebook import Cell, Notebook, read


def analyze(notebook: Notebook | str | os.PathLike[str], content: dict[str, Any] | str | None = None) -> Graph:
    """Analyse a notebook statically (nothing is executed).

    Args:
        notebook: a read Notebook, or the path of an ``.ipynb`` file.
        content: the notebook's unsaved content (JSON text or dict), read instead of the file.

    Returns:
        The stage graph with roles, order and diagnostics (sorted by cell, line).

    Raises:
        NotebookReadError: the file cannot be read or is not a Python notebook.
    """
    nb = notebook if isinstance(notebook, Notebook) else read(notebook, content)
    with _LOCK:  # the server analyses in threads; the caches and the gc switch are shared
        enabled = gc.isenabled()
        gc.disable()  # the analysis allocates many small objects and frees none of them in cycles
        try:
            graph = incremental.reuse(nb)
            if graph is None:
                graph = _analyze(nb)
            if graph.source_lines != nb.source_lines:  # a percent script's cells moved in the file
                graph = replace(graph, source_lines=nb.source_lines)
            incremental.remember(nb, graph)
            return graph
        finally:
            if enabled:
                gc.enable()


_LOCK = threading.Lock()  # pure Python and CPU-bound: one analysis at a time costs no throughput


def clear_caches() -> None:
    """Forget every memoised result: per-cell def/use, stages, edges, orders, last graphs (the next analysis is cold).

    The caches only ever hold values computed from their keys, so clearing them
    changes timings, never results.
    """
    with _LOCK:
        cell_info.cache_clear()
        graph.clear_caches()
        incremental.clear()


def _analyze(nb: Notebook) -> Graph:
    nbf = facts.build(nb)
    stages = graph.build_stages(nbf)
    edges = graph.build_edges(nbf)
    order, cycle = graph.order(stages, edges)
    found = [
        *checks_state.check_syntax(nbf),
        *checks_stage.check_headers(nbf),
        *checks_stage.check_inputs(nbf),
        *checks_stage.check_outputs(nbf),
        *checks_stage.check_unprovided(nbf),
        *checks_stage.check_duplicates(nbf),
        *checks_stage.check_order(nbf, stages, edges, cycle),
        *checks_state.check_mutations(nbf),
        *checks_state.check_data_cells(nbf),
        *checks_state.check_execution_order(nbf),
        *checks_state.check_stale(nbf, stages),
        *checks_state.check_dynamic(nbf),
        *checks_state.check_files(nbf),
        *checks_state.check_hidden_globals(nbf),
        *checks_order.check_top_to_bottom(nbf),
        *checks_locals.check_stage_locals(nbf),
        *checks_extension.check_extension(nbf),
    ]
    return Graph(
        notebook=nb.path,
        stages=tuple(stages),
        edges=tuple(edges),
        order=tuple(order),
        parameters=nb.parameters,
        diagnostics=tuple(sorted(_unsilenced(nb, found), key=_position)),
        roles={f.index: f.role for f in nbf.cells},
        static=frozenset(nbf.static),
    )


def _position(d: Diagnostic) -> tuple[int, int, int, str]:
    return (d.cell if d.cell is not None else -1, d.line or 0, d.col or 0, d.code)


def ignored_codes(source: str) -> set[str] | None:
    """Codes a cell silences with ``# nbpipe: ignore[NBP206, …]``; ``{"*"}`` for a bare ``ignore``."""
    if "nbpipe" not in source:
        return None
    codes: set[str] = set()
    for match in IGNORE_COMMENT.finditer(source):
        if match.group(1) is None:
            codes.add("*")
        else:
            codes.update(c.strip().upper() for c in match.group(1).split(",") if c.strip())
    return codes or None


def _unsilenced(nb: Notebook, found: Iterable[Diagnostic]) -> list[Diagnostic]:
    kept = []
    for d in found:
        cell = _cell_at(nb, d.cell) if d.cell is not None else None
        codes = ignored_codes(cell.source) if cell is not None and cell.is_code else None
        if codes and ("*" in codes or d.code in codes):
            continue
        kept.append(d)
    return kept


def _cell_at(nb: Notebook, index: int) -> Cell | None:
    """The cell with ``index``: usually at that position (``read`` numbers cells in order)."""
    if 0 <= index < len(nb.cells) and nb.cells[index].index == index:
        return nb.cells[index]
    return next((c for c in nb.cells if c.index == index), None)
