"""Build test notebooks from compact Python tables (no .ipynb files to keep in sync).

A cell is a string (a code cell), ``("md", text)`` (markdown), ``("params", source)``
(a code cell tagged ``parameters``) or a full nbformat cell dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CellSpec = str | tuple[str, str] | dict[str, Any]


def cell(spec: CellSpec, count: int | None = None) -> dict[str, Any]:
    """An nbformat v4 cell dict from a compact spec."""
    if isinstance(spec, dict):
        return spec
    if isinstance(spec, tuple):
        kind, source = spec
        if kind == "md":
            return {"cell_type": "markdown", "metadata": {}, "source": source}
        return {**code(source, count), "metadata": {"tags": [kind if kind != "params" else "parameters"]}}
    return code(spec, count)


def code(source: str, count: int | None = None, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A code cell dict."""
    return {"cell_type": "code", "metadata": {}, "source": source, "execution_count": count, "outputs": outputs or []}


def notebook(*cells: CellSpec, language: str = "python") -> dict[str, Any]:
    """An nbformat v4.5 notebook dict."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "language": language, "display_name": "Python 3"},
            "language_info": {"name": language},
        },
        "cells": [dict(cell(c), id=f"c{i}") for i, c in enumerate(cells)],
    }


def write(path: Path, nb: dict[str, Any]) -> Path:
    """Write a notebook dict as an .ipynb file and return the path."""
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path
