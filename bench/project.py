"""Projects benchmark (issue 13): checking a folder of notebooks joined by ``--in NAME@NOTEBOOK``.

Run: ``.venv/bin/python bench/project.py`` (about ten seconds; ``--notebooks N --stages M --reps R``).

A folder of N notebooks (default 50) of M stages each (default 20), written with nbformat on a
tmpfs (``--tmp``, default /dev/shm): a setup cell, then a chain of stages; the first stage of
notebook i reads the last output of notebook i-1 (``--in nI_v19@nbI.ipynb``), so the project is
one chain of N x M stages across N notebooks. Timed with the in-process API
(:func:`nbpipe.analysis.project.analyze_project` of the folder, the analysis ``nbpipe check DIR``
prints), medians over the repetitions, an untimed ``gc.collect()`` before each:

- cold: every in-process cache of the analyzer cleared (as in a new process);
- unchanged: the same folder again;
- one cell edited: one statement appended to one stage of the middle notebook, then the check
  (what an editor or the sidebar does after each save);
- the baseline: ``nbformat.read`` of every notebook of the folder (the reference reader alone,
  no analysis); the ratios are nbpipe / that.

Results are checked outside the timings: N notebooks, no diagnostics, one order of N x M stages.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from nbpipe.analysis import core
from nbpipe.analysis import project as project_module
from nbpipe.analysis.project import analyze_project


def value(i: int, j: int) -> str:
    """The output of stage ``j`` of notebook ``i`` (names are unique across the project)."""
    return f"n{i}_v{j}"


def stage_cells(i: int, stages: int) -> list[str]:
    """The cells of notebook ``i``: the extension, a setup cell, a chain of stages."""
    cells = ["%load_ext nbpipe", "import math\n\nN = 10"]
    for j in range(stages):
        if j:
            ins, start = f" --in {value(i, j - 1)}", f"{value(i, j - 1)} + 1"
        elif i:
            ins, start = f" --in {value(i - 1, stages - 1)}@nb{i - 1:03d}.ipynb", f"{value(i - 1, stages - 1)} + N"
        else:
            ins, start = "", "N"
        out = value(i, j)
        cells.append(f"%%stage s{j}{ins} --out {out}\n{out} = {start}\nfor k in range(3):\n    {out} += math.sqrt(k)")
    return cells


def write_folder(root: Path, notebooks: int, stages: int) -> None:
    """The project folder: ``nb000.ipynb`` … one notebook per index."""
    for i in range(notebooks):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in stage_cells(i, stages)])
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        nbformat.write(nb, str(root / f"nb{i:03d}.ipynb"))


def edit_one_cell(path: Path, rep: int) -> None:
    """Append one statement to the third stage of ``path`` (outside the timings)."""
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[4].source += f"\nedited_{rep} = {rep}"
    nbformat.write(nb, str(path))


def forget() -> None:
    """Clear the analyzer's in-process caches, as in a new process."""
    project_module._ANALYSES.clear()
    core.clear_caches()


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def check(root: Path, notebooks: int, stages: int) -> None:
    """The project is what the benchmark says it is (outside the timings)."""
    found, unreadable = analyze_project([str(root)])
    assert not unreadable and len(found.graphs) == notebooks
    assert not [d for g in found.graphs for d in g.diagnostics], "the generated project has diagnostics"
    assert len(found.dag.order) == notebooks * stages and len(found.links) == notebooks - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=50)
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="nbpipe-project-", dir=args.tmp))
    try:
        write_folder(root, args.notebooks, args.stages)
        check(root, args.notebooks, args.stages)
        paths = sorted(root.glob("*.ipynb"))
        middle = paths[len(paths) // 2]
        samples: dict[str, list[float]] = {"cold": [], "unchanged": [], "one cell edited": [], "nbformat.read": []}
        for rep in range(args.reps):
            forget()
            samples["cold"].append(timed(lambda: analyze_project([str(root)])))
            samples["unchanged"].append(timed(lambda: analyze_project([str(root)])))
            edit_one_cell(middle, rep)
            samples["one cell edited"].append(timed(lambda: analyze_project([str(root)])))
            samples["nbformat.read"].append(timed(lambda: [nbformat.read(str(p), as_version=4) for p in paths]))
        check(root, args.notebooks, args.stages)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = statistics.median(samples["nbformat.read"])
    print(f"{args.notebooks} notebooks x {args.stages} stages, one chain across notebooks; medians of {args.reps}")
    print(f"{'':<18}{'ms':>9}{'/ nbformat.read':>18}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<18}{median * 1000:>9.1f}{median / base:>18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
