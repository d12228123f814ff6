"""``nbpipe check NB…``: the analyzer's diagnostics like a compiler's, as JSON or as GitHub annotations.

Exit codes: 0 clean or warnings only, 1 errors (or warnings with ``--strict``),
2 a notebook could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from nbpipe.errors import NotebookReadError
from nbpipe.model import Diagnostic, Graph, cell_label
from nbpipe.percent import file_line

_COLORS = {"error": "\033[31m", "warning": "\033[33m", "bold": "\033[1m", "dim": "\033[2m", "reset": "\033[0m"}


def register(subparsers: Any) -> None:
    """Add the ``check`` sub-command."""
    parser = subparsers.add_parser(
        "check",
        help="report hidden state and undeclared data flow (NBP001-NBP211)",
        description="Analyse notebooks statically and report diagnostics; nothing is executed.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser, notebook_optional: bool = False) -> None:
    """The arguments of ``check``, shared by ``nbpipe check`` and ``%nbpipe check``.

    Args:
        parser: the sub-command's parser.
        notebook_optional: the notebooks may be omitted (the magic defaults to the kernel's notebook).
    """
    parser.add_argument(
        "notebooks", nargs="*" if notebook_optional else "+", metavar="NB", help=".ipynb, percent .py or folders"
    )
    parser.add_argument("--format", choices=("text", "json", "github"), default="text", help="output format")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    parser.add_argument("--select", default="", metavar="CODES", help="only these codes or prefixes, e.g. NBP1,NBP208")
    parser.add_argument("--ignore", default="", metavar="CODES", help="drop these codes or prefixes")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the text output")


def codes(text: str) -> tuple[str, ...]:
    """``"NBP101, NBP2"`` -> ``("NBP101", "NBP2")``."""
    return tuple(c.strip().upper() for c in text.replace(" ", ",").split(",") if c.strip())


def filtered(diagnostics: Iterable[Diagnostic], select: Sequence[str], ignore: Sequence[str]) -> list[Diagnostic]:
    """Diagnostics whose code starts with a selected prefix (all if none) and no ignored one."""
    return [
        d
        for d in diagnostics
        if (not select or d.code.startswith(tuple(select))) and not (ignore and d.code.startswith(tuple(ignore)))
    ]


def run(args: argparse.Namespace) -> int:
    """Check every notebook; print in the chosen format; return the exit code."""
    graphs, unreadable = checked(args)
    for exc in unreadable:
        print(f"nbpipe: error: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
    print_report(graphs, args, sys.stdout)
    if unreadable:
        return 2
    return 1 if failing(graphs, args.strict) else 0


def checked(args: argparse.Namespace) -> tuple[list[Graph], list[NotebookReadError]]:
    """The graph of every readable notebook in ``args.notebooks`` (diagnostics filtered) and the read errors."""
    from dataclasses import replace

    from nbpipe.analysis.project import analyze_project

    select, ignore = codes(args.select), codes(args.ignore)
    project, unreadable = analyze_project(args.notebooks)  # folders expanded; --in NAME@NB joins notebooks
    graphs = [replace(g, diagnostics=tuple(filtered(g.diagnostics, select, ignore))) for g in project.graphs]
    return graphs, unreadable


def failing(graphs: Sequence[Graph], strict: bool) -> int:
    """How many diagnostics fail the check: errors, and warnings too when ``strict``."""
    return sum(1 for g in graphs for d in g.diagnostics if d.severity == "error" or strict)


def print_report(graphs: list[Graph], args: argparse.Namespace, out: TextIO) -> None:
    """Print the graphs' diagnostics as ``args.format`` and ``args.color`` say."""
    _print(graphs, args.format, _use_color(args.color, out), out)


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and "NO_COLOR" not in os.environ


def _print(graphs: list[Graph], fmt: str, color: bool, out: TextIO) -> None:
    if fmt == "json":
        data = [g.to_dict() for g in graphs]
        out.write(json.dumps(data[0] if len(data) == 1 else data, indent=2) + "\n")
        return
    for graph in graphs:
        lines = github_lines(graph) if fmt == "github" else text_lines(graph, color)
        for line in lines:
            out.write(line + "\n")


def text_lines(graph: Graph, color: bool = False) -> list[str]:
    """Compiler-style lines: ``path:cell 6:2:8: NBP101 error message`` with the hint under it (cells 1-based)."""

    def paint(text: str, style: str) -> str:
        return f"{_COLORS[style]}{text}{_COLORS['reset']}" if color else text

    lines = []
    for d in graph.diagnostics:
        where = file_position(graph, d) or cell_position(graph, d)
        lines.append(f"{paint(where, 'bold')}: {paint(d.code, d.severity)} {paint(d.severity, d.severity)} {d.message}")
        if d.hint:
            lines.append(paint(f"    hint: {d.hint}", "dim"))
    lines.append(summary(graph))
    return lines


def summary(graph: Graph) -> str:
    """One line: counts of errors and warnings, or clean."""
    errors = sum(d.severity == "error" for d in graph.diagnostics)
    warnings = len(graph.diagnostics) - errors
    stages = f"{len(graph.stages)} stage{'s' if len(graph.stages) != 1 else ''}"
    if not graph.diagnostics:
        return f"{graph.notebook}: clean ({stages})"
    return f"{graph.notebook}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')} ({stages})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def github_lines(graph: Graph) -> list[str]:
    """GitHub Actions workflow commands (``::error file=…,title=…::message``)."""
    lines = []
    for d in graph.diagnostics:
        level = "error" if d.severity == "error" else "warning"
        title = f"{d.code} ({cell_label(d.cell)}, line {d.line or 1})"
        text = d.message + (f". Hint: {d.hint}" if d.hint else "")
        place = _escape(graph.notebook, True) + _github_line(graph, d)
        lines.append(f"::{level} file={place},title={_escape(title, True)}::{_escape(text)}")
    return lines


def cell_position(graph: Graph, d: Diagnostic) -> str:
    """``path:cell 10:3:4`` for a notebook: the cell numbered as JupyterLab numbers it (1-based), line, column."""
    if d.cell is None:
        return graph.notebook
    return f"{graph.notebook}:{cell_label(d.cell)}:{d.line or 1}:{d.col or 0}"


def file_position(graph: Graph, d: Diagnostic) -> str | None:
    """``path:line:col`` (1-based) in a percent script's own lines; None for an ``.ipynb``."""
    line = file_line(graph.source_lines, d.cell, d.line)
    return None if line is None else f"{graph.notebook}:{line}:{(d.col or 0) + 1}"


def _github_line(graph: Graph, d: Diagnostic) -> str:
    """``,line=N,col=C`` for a percent script, so the annotation sits on the right line of the ``.py``."""
    line = file_line(graph.source_lines, d.cell, d.line)
    return "" if line is None else f",line={line},col={(d.col or 0) + 1}"


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text
