"""Generated notebooks for the sidebar's browser tests and benchmarks: chains and fan-out/fan-in graphs."""

from __future__ import annotations

from pathlib import Path

import nbformat


def _write(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3 (ipykernel)"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext nbpipe"), *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, str(path))


def chain(path: Path, stages: int) -> None:
    """``s0 -> s1 -> … -> s{stages-1}``."""
    cells = ["%%stage s0 --out v0\nv0 = 0"]
    cells += [f"%%stage s{i} --in v{i - 1} --out v{i}\nv{i} = v{i - 1} + 1" for i in range(1, stages)]
    _write(path, cells)


def fan(path: Path, stages: int) -> None:
    """One source, ``stages - 2`` parallel stages reading it in groups, and one stage reading them all."""
    width = stages - 2
    cells = ["%%stage source --out base\nbase = 1"]
    cells += [f"%%stage part{i} --in base --out p{i}\np{i} = base + {i}" for i in range(width)]
    names = " ".join(f"p{i}" for i in range(width))
    cells.append(f"%%stage combine --in {names} --out total\ntotal = {' + '.join(f'p{i}' for i in range(width))}")
    _write(path, cells)
