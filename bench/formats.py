"""Old notebook formats and annotate: ``nbpipe check`` / ``nbpipe annotate`` on v4 and v3 notebooks, as processes.

The notebook is ``example_notebooks/iris_classifier.ipynb`` and the same notebook
downgraded to nbformat 3 with nbformat's own converter. Each command runs as a
fresh process (start-up included: that is where importing nbformat's validator
cost a second), the contenders interleaved, ``--repeat`` times; the table gives
medians and each one's ratio to ``check`` of the v4 notebook by the same code.

``--before DIR`` adds the same rows for another checkout of nbpipe (for example
``git archive ae7f036 | tar -x -C DIR``), run with ``PYTHONPATH=DIR``.

Usage: ``PYTHONPATH=. .venv/bin/python bench/formats.py [--repeat 7] [--before DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "example_notebooks" / "iris_classifier.ipynb"


def notebooks(folder: Path) -> dict[str, Path]:
    """The v4 example and its v3 downgrade, in ``folder``."""
    import nbformat

    v4 = folder / "iris_v4.ipynb"
    shutil.copy(IRIS, v4)
    v3 = folder / "iris_v3.ipynb"
    v3.write_text(nbformat.writes(nbformat.convert(nbformat.read(IRIS, as_version=4), 3), version=3), encoding="utf-8")
    return {"v4": v4, "v3": v3}


def commands(paths: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """Label -> argv after ``python -m nbpipe.cli``."""
    found = {}
    for version, path in paths.items():
        found[f"check {version}"] = ["check", str(path)]
        found[f"annotate {version}"] = ["annotate", str(path), "-o", str(out / f"annotated_{version}.ipynb")]
    return found


def timed(code: Path, argv: list[str], cwd: Path) -> float:
    """Seconds of one ``nbpipe`` process run from the checkout ``code``; a failure stops the benchmark.

    ``cwd`` is outside every checkout: ``python -m`` puts the working directory first on ``sys.path``.
    """
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    argv = [sys.executable, "-m", "nbpipe.cli", *argv]
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} (from {code}) exited {done.returncode}:\n{done.stderr}")
    return seconds


def imported_from(code: Path, cwd: Path) -> Path:
    """Where ``nbpipe`` is imported from with ``PYTHONPATH=code`` (a benchmark of the wrong tree is worthless)."""
    argv = [sys.executable, "-c", "import nbpipe; print(nbpipe.__file__)"]
    env = {**os.environ, "PYTHONPATH": str(code)}
    return Path(subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip())


def main() -> int:
    """Run the table and print it as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another nbpipe checkout to compare with")
    args = parser.parse_args()
    trees = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    with tempfile.TemporaryDirectory(prefix="nbpipe-formats-") as tmp:
        work = Path(tmp)
        argvs = commands(notebooks(work), work)
        for code in trees.values():
            assert imported_from(code, work).is_relative_to(code), (code, imported_from(code, work))
        samples: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in argvs}
        for _ in range(args.repeat):
            for tree, code in trees.items():
                for label, argv in argvs.items():
                    samples[(tree, label)].append(timed(code, argv, work))
    print("| code | command | median | × check v4 (same code) |")
    print("|---|---|---:|---:|")
    for tree in trees:
        base = statistics.median(samples[(tree, "check v4")])
        for label in argvs:
            median = statistics.median(samples[(tree, label)])
            print(f"| {tree} | `nbpipe {label}` | {median * 1000:.0f} ms | {median / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
