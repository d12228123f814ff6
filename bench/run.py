"""Benchmark of the kernel magic and `nbpipe run` (issue 4): medians, as ratios.

Measures, in one run on this machine:
- ``%%stage`` overhead on a trivial cell vs the same cell without the magic (median of 100),
  for a cache miss (``--no-cache``) and a cache hit;
- ``%load_ext nbpipe`` in a running IPython (fresh process each time);
- ``nbpipe run`` on a 5-stage trivial notebook vs ``papermill`` on the same notebook
  (process wall time, first run: no cache);
- a fully cached re-run of the iris example vs its first run.

Usage: ``.venv/bin/python bench/run.py`` (set ``BENCH_REPEATS`` for fewer process runs).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
BIN = Path(sys.executable).parent


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def magic_overhead() -> tuple[float, float, float]:
    """Median seconds per cell: plain, stage (miss), stage (hit)."""
    from IPython.testing.globalipapp import get_ipython

    workdir = tempfile.mkdtemp()
    os.chdir(workdir)
    ip = get_ipython()
    ip.run_line_magic("load_ext", "nbpipe")

    def timed(source: str) -> float:
        samples = []
        for _ in range(100):
            started = time.perf_counter()
            ip.run_cell(source, silent=True)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    plain = timed("x = 1")
    miss = timed("%%stage s --no-cache --out x\nx = 1")
    hit = timed("%%stage t --out y\ny = 1")
    os.chdir(REPO)
    shutil.rmtree(workdir)
    return plain, miss, hit


def load_ext_time() -> float:
    code = (
        "import time\nfrom IPython.testing.globalipapp import get_ipython\nip = get_ipython()\n"
        "t = time.perf_counter(); ip.run_line_magic('load_ext', 'nbpipe'); print(time.perf_counter() - t)"
    )
    samples = []
    for _ in range(REPEATS):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def trivial_notebook(path: Path) -> None:
    cells = [nbformat.v4.new_code_cell("%load_ext nbpipe")]
    cells += [nbformat.v4.new_code_cell(f"%%stage s{i} --out v{i}\nv{i} = {i}") for i in range(5)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def wall(cmd: list[str], cwd: Path, before: object = None) -> float:
    samples = []
    for _ in range(REPEATS):
        if callable(before):
            before()
        started = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run_vs_papermill() -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp())
    trivial_notebook(folder / "t.ipynb")

    def clear() -> None:
        shutil.rmtree(folder / ".nbpipe", ignore_errors=True)

    ours = wall([str(BIN / "nbpipe"), "run", "t.ipynb"], folder, clear)
    theirs = wall([str(BIN / "papermill"), "t.ipynb", "out.ipynb", "--no-progress-bar"], folder, clear)
    shutil.rmtree(folder)
    return ours, theirs


def iris_first_vs_cached() -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp()) / "ex"
    shutil.copytree(REPO / "example_notebooks", folder, ignore=shutil.ignore_patterns(".nbpipe", "output"))
    cmd = [str(BIN / "nbpipe"), "run", "iris_classifier.ipynb"]

    def clear() -> None:
        shutil.rmtree(folder / ".nbpipe", ignore_errors=True)

    first = wall(cmd, folder, clear)
    cached = wall(cmd, folder)
    shutil.rmtree(folder.parent)
    return first, cached


def main() -> None:
    plain, miss, hit = magic_overhead()
    load = load_ext_time()
    ours, papermill = run_vs_papermill()
    first, cached = iris_first_vs_cached()
    rows = [
        ("`%%stage` overhead, trivial cell, miss (median of 100)", f"{(miss - plain) * 1000:.2f} ms", "≤ 1 ms"),
        ("`%%stage` overhead, trivial cell, cache hit", f"{(hit - plain) * 1000:.2f} ms", "≤ 1 ms"),
        ("`%load_ext nbpipe` in a running IPython", f"{load * 1000:.1f} ms", "≤ 30 ms"),
        (
            "`nbpipe run` vs `papermill`, 5 trivial stages",
            f"{ours:.2f} s vs {papermill:.2f} s = {papermill / ours:.1f}× faster",
            "≥ 5×",
        ),
        (
            "iris: cached re-run vs first run",
            f"{cached:.2f} s vs {first:.2f} s = {first / cached:.1f}× faster",
            "≥ 10×",
        ),
    ]
    print(f"plain cell {plain * 1000:.3f} ms; process medians of {REPEATS}\n")
    print("| measure | result | goal |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
