"""Pipelines across notebooks: ``--in NAME@NOTEBOOK`` joins per-notebook graphs into one.

Responsibilities, in order: expand the paths given (folders hold their notebooks
and percent scripts), analyse every notebook reached through ``--in NAME@NOTEBOOK``
once (each with :func:`nbpipe.analysis.core.analyze`, so an unchanged notebook
re-uses its analysis), resolve each such input to the stage of that notebook that
outputs ``NAME``, build one graph over every stage of every notebook through
``dag.py``, and report what cannot be joined at the reading stage: NBP103 for a
notebook or an output that is not there (with the output it was probably renamed
to), NBP106 for a cycle that crosses notebooks, with its path.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nbpipe.analysis.core import analyze
from nbpipe.dag import Dag, build_dag
from nbpipe.errors import CODES, NotebookReadError
from nbpipe.model import Diagnostic, Graph, Stage

#: What a folder contributes: notebooks, and ``.py`` files that are percent scripts.
_SKIPPED_DIRS = (".ipynb_checkpoints", "__pycache__", "node_modules")
#: path -> (digest of the file's bytes, its graph): re-checking a folder analyses only the notebooks
#: whose bytes changed (the analysis of a file depends on nothing else within one process)
_ANALYSES: dict[str, tuple[str, Graph]] = {}
_ANALYSES_MAX = 4096


@dataclass(frozen=True)
class Link:
    """A cross-notebook edge: stage ``target`` of ``reader`` reads output ``name`` of ``source`` in ``producer``."""

    producer: str  # notebook path of the producing stage
    source: str  # producing stage
    reader: str  # notebook path of the reading stage
    target: str  # reading stage
    name: str  # the output carried


@dataclass(frozen=True)
class Project:
    """Every notebook reached from the paths given, joined into one stage graph."""

    graphs: tuple[Graph, ...]  # per notebook (cross-notebook diagnostics included), given ones first
    links: tuple[Link, ...]  # resolved --in NAME@NOTEBOOK edges
    dag: Dag  # over node ids "notebook::stage" (see node)

    def graph(self, notebook: str) -> Graph:
        """The graph of ``notebook`` (a path as the project names it); KeyError if not reached."""
        for graph in self.graphs:
            if graph.notebook == notebook:
                return graph
        raise KeyError(notebook)

    def upstream_notebooks(self, notebook: str) -> list[str]:
        """Notebooks whose stages ``notebook``'s stages read, directly or not (nearest last)."""
        stages = [node(notebook, s.name) for s in self.graph(notebook).stages]
        seen = {split_node(n)[0] for n in self.dag.upstream(stages)} - {notebook}
        return [g.notebook for g in self.graphs if g.notebook in seen]


def node(notebook: str, stage: str) -> str:
    """The id of a stage in the project's graph."""
    return f"{notebook}::{stage}"


def split_node(node_id: str) -> tuple[str, str]:
    """``(notebook, stage)`` of a node id."""
    notebook, _, stage = node_id.rpartition("::")
    return notebook, stage


def notebook_paths(paths: Iterable[str]) -> list[str]:
    """The paths given, each folder replaced by its notebooks and percent scripts (recursively, sorted)."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found.extend(sorted(str(p) for p in Path(path).rglob("*") if _is_notebook_file(p, Path(path))))
        else:
            found.append(os.path.normpath(path))
    return list(dict.fromkeys(found))


def _is_notebook_file(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if any(p.startswith(".") or p in _SKIPPED_DIRS for p in parts) or not path.is_file():
        return False
    if path.suffix == ".ipynb":
        return True
    return path.suffix == ".py" and _has_cell_marker(path)


def _has_cell_marker(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith("# %%") and line[4:5] in ("", " ", "\t") for line in text.splitlines())


def analyze_project(paths: Sequence[str]) -> tuple[Project, list[NotebookReadError]]:
    """Analyse the notebooks at ``paths`` (files or folders) and every notebook they read from.

    Returns:
        The joined project, and the read errors of the paths given (a notebook reached
        through ``--in NAME@NOTEBOOK`` that cannot be read is NBP103 at the reading stage).
    """
    graphs: dict[str, Graph] = {}
    unreadable: list[NotebookReadError] = []
    missing: dict[str, NotebookReadError] = {}
    queue: list[str] = []
    for path in paths:
        found = notebook_paths([path])
        if not found:
            unreadable.append(
                NotebookReadError(
                    f"{path}: a folder with no notebooks in it",
                    hint="pass .ipynb files, percent .py scripts, or a folder that holds some",
                )
            )
        queue.extend(p for p in found if p not in queue)
    given = set(queue)
    while queue:
        path = queue.pop(0)
        if path in graphs or path in missing:
            continue
        try:
            graphs[path] = _analysis(path)
        except NotebookReadError as exc:
            if path in given:
                unreadable.append(exc)
            missing[path] = exc
            continue
        queue.extend(_referenced(graphs[path]))
    return _join(graphs, missing), unreadable


def _analysis(path: str) -> Graph:
    """The graph of the notebook at ``path``, analysed again only when its bytes changed.

    Raises:
        NotebookReadError: the file cannot be read or is not a notebook.
    """
    import xxhash

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError):
        return analyze(path)  # it says what is wrong with the file
    digest = xxhash.xxh3_128_hexdigest(data)
    found = _ANALYSES.get(path)
    if found is not None and found[0] == digest:
        return found[1]
    graph = analyze(path, text)
    if len(_ANALYSES) >= _ANALYSES_MAX:
        _ANALYSES.clear()
    _ANALYSES[path] = (digest, graph)
    return graph


def _referenced(graph: Graph) -> Iterator[str]:
    for stage in graph.stages:
        for _, path in stage.header.notebook_inputs if stage.header else ():
            yield resolve(graph.notebook, path)


def resolve(reader: str, path: str) -> str:
    """The path of notebook ``path`` as written in ``reader`` (relative to ``reader``'s folder)."""
    return os.path.normpath(os.path.join(os.path.dirname(reader), path))


def _join(graphs: dict[str, Graph], missing: dict[str, NotebookReadError]) -> Project:
    links: list[Link] = []
    found: dict[str, list[Diagnostic]] = {path: [] for path in graphs}
    for graph in graphs.values():
        for stage in graph.stages:
            for name, written in stage.header.notebook_inputs if stage.header else ():
                link, problem = _link(graph, stage, name, written, graphs, missing)
                if link is not None:
                    links.append(link)
                if problem is not None:
                    found[graph.notebook].append(problem)
    dag = _dag(graphs.values(), links)
    if dag.cycle and len({split_node(n)[0] for n in dag.cycle}) > 1:
        notebook, first = split_node(dag.cycle[0])
        found[notebook].append(_cycle(graphs[notebook].stage(first), dag.cycle))
    joined = tuple(_with(graph, found[graph.notebook]) for graph in graphs.values())
    return Project(graphs=joined, links=tuple(links), dag=dag)


def _link(
    graph: Graph, stage: Stage, name: str, written: str, graphs: dict[str, Graph], missing: dict[str, NotebookReadError]
) -> tuple[Link | None, Diagnostic | None]:
    path = resolve(graph.notebook, written)
    if path in missing:
        exc = missing[path]
        where = written if path == os.path.normpath(written) else f"{written} ({path})"
        message = f"stage {stage.name!r} reads {name!r} from notebook {where!r}, which cannot be read: {exc.message}"
        hint = f"the path after '@' is relative to the folder of {graph.notebook}: correct it, or create {path}"
        return None, _diagnostic("NBP103", message, hint, stage, name)
    producer = graphs[path]
    producers = [s for s in producer.stages if name in s.outputs]
    if not producers:
        return None, _unproduced(stage, name, written, producer)
    return Link(path, producers[0].name, graph.notebook, stage.name, name), None


def _unproduced(stage: Stage, name: str, written: str, producer: Graph) -> Diagnostic:
    """NBP103 at the reading stage: ``name`` is not an output of that notebook (renamed, or never declared)."""
    outputs = {out: s.name for s in producer.stages for out in s.outputs}
    message = f"stage {stage.name!r} reads {name!r} from notebook {written!r}, but no stage of {written!r} outputs it"
    close = difflib.get_close_matches(name, list(outputs), n=1, cutoff=0.6)
    if close:
        hint = (
            f"was it renamed? stage {outputs[close[0]]!r} of {written!r} outputs {close[0]!r}: "
            f"read it with --in {close[0]}@{written}"
        )
    elif outputs:
        hint = f"{written!r} outputs {', '.join(repr(o) for o in outputs)}; or add --out {name} to its producing stage"
    else:
        hint = f"{written!r} has no stage outputs: add --out {name} to the stage of {written!r} that binds it"
    return _diagnostic("NBP103", message, hint, stage, name)


def _dag(graphs: Iterable[Graph], links: Iterable[Link]) -> Dag:
    names = [node(g.notebook, s.name) for g in graphs for s in g.stages]
    edges = [(node(g.notebook, e.source), node(g.notebook, e.target)) for g in graphs for e in g.edges]
    edges += [(node(link.producer, link.source), node(link.reader, link.target)) for link in links]
    return build_dag(names, edges)


def _cycle(stage: Stage, cycle: Sequence[str]) -> Diagnostic:
    path = " -> ".join(f"{nb}:{name}" for nb, name in map(split_node, cycle))
    message = f"the stage graph across notebooks has a cycle: {path}"
    hint = "break the cycle: a notebook cannot (indirectly) read its own output; move one stage or rename an output"
    return _diagnostic("NBP106", message, hint, stage, *(split_node(n)[1] for n in dict.fromkeys(cycle)))


def _diagnostic(code: str, message: str, hint: str, stage: Stage, *names: str) -> Diagnostic:
    return Diagnostic(code, CODES[code][0], message, hint, stage.name, stage.cell, 1, 0, tuple(names))


def _with(graph: Graph, found: list[Diagnostic]) -> Graph:
    if not found:
        return graph
    diagnostics = sorted((*graph.diagnostics, *found), key=_position)
    return replace(graph, diagnostics=tuple(diagnostics))


def _position(d: Diagnostic) -> tuple[int, int, int, str]:
    return (d.cell if d.cell is not None else -1, d.line or 0, d.col or 0, d.code)
