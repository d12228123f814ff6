"""Writing small test notebooks (shared by the integration tests)."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_nb(path: Path, *cells: tuple[str, str] | str) -> Path:
    """Write a Python notebook of code cells; a ``(source, tag)`` pair tags its cell."""
    made = []
    for cell in cells:
        source, tag = (cell, None) if isinstance(cell, str) else cell
        made.append(nbformat.v4.new_code_cell(source, metadata={"tags": [tag]} if tag else {}))
    nb = nbformat.v4.new_notebook(cells=made)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path
