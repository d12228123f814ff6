"""Benchmark of the exported script and the parallel executors (issue 5, "Performance").

Run: ``PYTHONPATH=. .venv/bin/python bench/export.py`` (about 2 minutes on 2 cores).

Environment:
    NBPIPE_BENCH_REPEATS   repeats per contender; medians are quoted (default 5)
    NBPIPE_BENCH_BRANCH_S  seconds each branch of the two-branch notebook sleeps (default 2)

Measured, all as process wall time (a fresh interpreter per run, a fresh store per run, so
every stage really computes):
1. A trivial 5-stage notebook: the exported script (``python pipeline.py``, nbpipe's cache
   on) vs papermill running the original notebook (``python -m papermill``) vs a
   hand-written script of the same five stages without caching.
2. A two-branch notebook whose branches each sleep ``BRANCH_S``: ``nbpipe run`` sequential
   vs ``--jobs 2`` vs ``--executor dask`` (a LocalCluster started by the run itself).
Contenders are interleaved round-robin so machine load hits them alike.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPEATS = int(os.environ.get("NBPIPE_BENCH_REPEATS", "5"))
BRANCH_S = float(os.environ.get("NBPIPE_BENCH_BRANCH_S", "2"))
PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

TRIVIAL = [
    "%%stage a --out x\nx = list(range(10))",
    "%%stage b --in x --out y\ny = [v * 2 for v in x]",
    "%%stage c --in y --out z\nz = sum(y)",
    "%%stage d --in z --out w\nw = z + 1",
    "%%stage e --in w --out result\nresult = {'w': w}",
]

HANDWRITTEN = '''"""The trivial pipeline written by hand: five functions, no cache."""


def a():
    return list(range(10))


def b(x):
    return [v * 2 for v in x]


def c(y):
    return sum(y)


def d(z):
    return z + 1


def e(w):
    return {"w": w}


if __name__ == "__main__":
    print(e(d(c(b(a())))))
'''


def write_nb(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in ["%load_ext nbpipe", *cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def round_robin(contenders: dict[str, list[str]], cwd: Path, fresh: Path | None) -> dict[str, float]:
    """Median wall time of each command; ``fresh`` (a store folder) is removed before every run."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPEATS):
        for name, command in contenders.items():
            if fresh is not None:
                shutil.rmtree(fresh, ignore_errors=True)
            times[name].append(timed(command, cwd))
    return {name: statistics.median(values) for name, values in times.items()}


def bench_script(work: Path) -> dict[str, float]:
    from nbpipe.export import export_notebook

    notebook = write_nb(work / "trivial.ipynb", TRIVIAL)
    script = export_notebook(notebook, "script", work / "pipeline.py")
    (work / "handwritten.py").write_text(HANDWRITTEN)
    store = work / "store"
    contenders = {
        "exported script (cache on)": [PYTHON, script, "--store", str(store)],
        "papermill on the notebook": [PYTHON, "-m", "papermill", str(notebook), str(work / "out.ipynb")],
        "hand-written script": [PYTHON, str(work / "handwritten.py")],
    }
    return round_robin(contenders, work, store)


def bench_branches(work: Path, address: str) -> dict[str, float]:
    notebook = write_nb(
        work / "branches.ipynb",
        [
            "import time",
            "%%stage load --out xs\nxs = list(range(4))",
            f"%%stage left --in xs --out a\ntime.sleep({BRANCH_S})\na = sum(xs)",
            f"%%stage right --in xs --out b\ntime.sleep({BRANCH_S})\nb = max(xs)",
            "%%stage join --in a b --out total\ntotal = a + b",
        ],
    )
    store = work / "store"
    run = [PYTHON, "-m", "nbpipe.cli", "run", str(notebook), "--store", str(store)]
    contenders = {
        "nbpipe run (sequential)": run,
        "nbpipe run --jobs 2": [*run, "--jobs", "2"],
        "nbpipe run --executor dask": [*run, "--executor", "dask"],
        "dask --address (running cluster)": [*run, "--executor", "dask", "--address", address],
    }
    return round_robin(contenders, work, store)


def report(title: str, results: dict[str, float], base: str) -> None:
    print(f"\n{title}")
    for name, seconds in results.items():
        print(f"  {name:32s} {seconds:7.3f} s   {seconds / results[base]:6.2f}x of {base}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="nbpipe-bench-export-") as tmp:
        (Path(tmp) / "script").mkdir()
        (Path(tmp) / "branches").mkdir()
        script = bench_script(Path(tmp) / "script")
        report("Trivial 5-stage notebook (process wall time, median)", script, "exported script (cache on)")
        ratio = script["papermill on the notebook"] / script["exported script (cache on)"]
        overhead = script["exported script (cache on)"] / script["hand-written script"]
        print(f"  script vs papermill: {ratio:.1f}x faster (goal >= 10x)")
        print(f"  script vs hand-written: {overhead:.2f}x (goal <= 1.5x)")
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            branches = bench_branches(Path(tmp) / "branches", cluster.scheduler_address)
        report(f"Two branches of {BRANCH_S:g} s each", branches, "nbpipe run (sequential)")
        base = branches["nbpipe run (sequential)"]
        for name in ("nbpipe run --jobs 2", "nbpipe run --executor dask", "dask --address (running cluster)"):
            print(f"  {name}: {branches[name] / base:.2f}x of sequential (goal <= 0.6x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
