"""Frozen data types shared by every layer, and graph JSON v1 (DESIGN §5, contract)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from nbpipe.dag import Dag, build_dag

GRAPH_VERSION = 1
#: Additive changes within version 1: 1 added per-stage ``reason``; 2 the analyze reply's ``upstream``.
GRAPH_MINOR = 2

#: Stage status values of graph JSON v1.
STATUSES = ("fresh", "stale", "never-run", "failed", "unknown")

#: MIME type of the display bundle a stage publishes (DESIGN §4.6).
STAGE_MIME = "application/vnd.nbpipe.stage+json"


def cell_label(index: int | None) -> str:
    """A cell as a person reads it: ``cell 10`` for index 9, numbered as JupyterLab numbers cells.

    Messages, CLI text, the sidebar and the widgets say this; only the graph JSON's ``cell``
    fields keep the 0-based index (markdown cells are counted in both). No cell (a finding
    about the whole notebook) reads ``notebook``.
    """
    return "notebook" if index is None else f"cell {index + 1}"


@dataclass(frozen=True)
class StageHeader:
    """A parsed ``%%stage`` header line."""

    name: str  # stage name, a Python identifier
    inputs: tuple[str, ...] = ()  # --in
    outputs: tuple[str, ...] = ()  # --out
    file_inputs: tuple[str, ...] = ()  # --file-in, paths as written
    file_outputs: tuple[str, ...] = ()  # --file-out
    no_cache: bool = False  # --no-cache
    retries: int = 0  # --retries N
    checks: tuple[str, ...] = ()  # --check EXPR, evaluated over outputs
    resources: tuple[tuple[str, str], ...] = ()  # --resources KEY=VALUE, sorted by key
    #: --in NAME@NOTEBOOK: (NAME, NOTEBOOK as written, relative to this notebook); NAME is in inputs too
    notebook_inputs: tuple[tuple[str, str], ...] = ()

    def canonical(self) -> str:
        """The header as one normalised line: equal headers give equal text."""
        parts = [self.name]
        origin = dict(self.notebook_inputs)
        inputs = tuple(f"{n}@{origin[n]}" if n in origin else n for n in self.inputs)
        for flag, values in (
            ("--in", inputs),
            ("--out", self.outputs),
            ("--file-in", self.file_inputs),
            ("--file-out", self.file_outputs),
        ):
            if values:
                parts.append(flag + " " + " ".join(_quote(v) for v in values))
        if self.no_cache:
            parts.append("--no-cache")
        if self.retries:
            parts.append(f"--retries {self.retries}")
        parts.extend(f"--check {_quote(c)}" for c in self.checks)
        if self.resources:
            parts.append("--resources " + " ".join(_quote(f"{k}={v}") for k, v in self.resources))
        return " ".join(parts)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the analyzer (or of the runtime) with a stable code."""

    code: str  # NBPxxx
    severity: str  # "error" | "warning"
    message: str  # what is wrong, naming the thing
    hint: str = ""  # the fix, in the user's terms
    stage: str | None = None  # stage concerned, if any
    cell: int | None = None  # 0-based index into the notebook's cells
    line: int | None = None  # 1-based line within the cell source
    col: int | None = None  # 0-based column
    names: tuple[str, ...] = ()  # variables involved

    def to_dict(self) -> dict[str, Any]:
        """Graph JSON v1 form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "stage": self.stage,
            "cell": self.cell,
            "line": self.line,
            "col": self.col,
            "names": list(self.names),
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class Stage:
    """A stage of the graph: its header plus what the analyzer learned about it."""

    name: str
    cell: int  # 0-based cell index
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    file_inputs: tuple[str, ...] = ()
    file_outputs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()  # parameters the body reads
    helpers: tuple[str, ...] = ()  # setup functions/classes it calls, transitively
    constants: tuple[str, ...] = ()  # setup constants it reads
    status: str = "unknown"  # one of STATUSES
    header: StageHeader | None = None
    reason: str = ""  # why the status (graph JSON 1.1): "code changed (line 3)", "up to date (in the cache)"

    def to_dict(self) -> dict[str, Any]:
        """Graph JSON v1 form."""
        return {
            "name": self.name,
            "cell": self.cell,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "file_inputs": list(self.file_inputs),
            "file_outputs": list(self.file_outputs),
            "params": list(self.params),
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Edge:
    """A dependency: ``target`` reads ``names`` that ``source`` outputs."""

    source: str
    target: str
    names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Graph JSON v1 form."""
        return {"source": self.source, "target": self.target, "names": list(self.names)}


@dataclass(frozen=True)
class Graph:
    """The stage graph of one notebook with its diagnostics (graph JSON v1)."""

    notebook: str
    stages: tuple[Stage, ...] = ()
    edges: tuple[Edge, ...] = ()
    order: tuple[str, ...] = ()  # topological order; empty when there is a cycle
    parameters: dict[str, Any] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    #: role of each code cell by 0-based index: "stage", "parameters", "setup",
    #: "exploration" or "data" (not part of graph JSON v1)
    roles: dict[int, str] = field(default_factory=dict)
    #: setup and parameter names bound only to literals: their values follow from the
    #: source (not part of graph JSON v1)
    static: frozenset[str] = frozenset()
    #: for a percent script: per cell, the 0-based line of the file where its source starts
    #: (from Notebook.source_lines; not part of graph JSON v1)
    source_lines: tuple[int, ...] = ()

    def stage(self, name: str) -> Stage:
        """The stage called ``name``; KeyError if there is none."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    @functools.cached_property
    def dag(self) -> Dag:
        """The one stage graph (parents, children, upstream, downstream) of these stages and edges."""
        return build_dag([s.name for s in self.stages], [(e.source, e.target) for e in self.edges])

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The diagnostics of severity ``error``."""
        return tuple(d for d in self.diagnostics if d.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        """Graph JSON v1 (DESIGN §5, contract)."""
        return {
            "version": GRAPH_VERSION,
            "minor": GRAPH_MINOR,
            "notebook": self.notebook,
            "parameters": dict(self.parameters),
            "stages": [s.to_dict() for s in self.stages],
            "edges": [e.to_dict() for e in self.edges],
            "order": list(self.order),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }
