"""Benchmark of ``%%stage`` in a real IPython shell as the namespace grows (issue 16, item 5).

Measures, in one run, medians of many cells run round-robin (so the load of other
processes on a shared machine falls on every contender alike), with 10 and 10,000
names in ``user_ns``:

- a plain cell (``x0 = 1``): the baseline every ``%%stage`` cell is compared with;
- a ``%%stage`` hit (restored from the cache: key, lookup, load, replay, publish);
- a ``%%stage`` miss that saves (a setup value it reads changes before each run, untimed,
  so every run is a new key: key, lookup, miss reason, run, fingerprint, save);
- a ``%%stage --no-cache`` miss (runs, nothing saved);
- the file-system floor of a save: the same file operations a saved entry needs, in plain
  Python (what the miss cannot go below on this machine's disk).

Rounds interleave the two namespace sizes as well as the contenders.

Usage: ``PYTHONPATH=. .venv/bin/python bench/kernel.py`` (``NBPIPE_BENCH_CELLS`` cells per
contender, default 300; ``NBPIPE_BENCH_DIR`` where the store goes, e.g. ``/dev/shm`` to take
the disk out). Prints a Markdown table and JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CELLS = int(os.environ.get("NBPIPE_BENCH_CELLS", "300"))
SIZES = (10, 10_000)
PLAIN = "x0 = 1"
HIT = "%%stage hit --out y\ny = 1"
MISS = "%%stage miss --out z\nz = counter + 1"
NO_CACHE = "%%stage nocache --no-cache --out w\nw = 1"


def shell() -> Any:
    """A real in-process IPython shell with nbpipe loaded."""
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "nbpipe")
    return ip


#: The user names of each namespace size, made once: filling allocates nothing, so no garbage
#: collection triggered by the benchmark's own churn lands in a timed cell.
NAMES = {size: {f"setup_{i}": i if i % 3 else (f"s{i}" if i % 2 else [i]) for i in range(size)} for size in SIZES}


def fill(ip: Any, names: int) -> None:
    """Give the user namespace ``names`` user names (a mix of ints, strings and lists)."""
    for key in NAMES[max(SIZES)]:
        ip.user_ns.pop(key, None)
    ip.user_ns.update(NAMES[names])


def run(ip: Any, source: str) -> None:
    result = ip.run_cell(source, store_history=False)
    if not result.success:
        raise RuntimeError(f"cell failed: {source!r}: {result.error_in_exec or result.error_before_exec!r}")


def io_floor(root: Path, serial: Iterator[int]) -> Callable[[], None]:
    """The file-system operations of one saved entry, without nbpipe: two folders, a payload
    and a manifest written under temporary names and published (rename, link), the ``used``
    mark, and the stage pointer replaced. What a miss that saves cannot go below here."""

    def save() -> None:
        entry = root / f"{next(serial):032x}"
        entry.mkdir(parents=True)
        (entry / "payload.tmp").write_bytes(b"x" * 69)
        os.replace(entry / "payload.tmp", entry / "payload")
        (entry / "manifest.tmp").write_bytes(b"m" * 685)
        os.link(entry / "manifest.tmp", entry / "manifest.json")
        os.unlink(entry / "manifest.tmp")
        (entry / "used").touch()
        (root / "pointer.tmp").write_bytes(b"p" * 376)
        os.replace(root / "pointer.tmp", root / "pointer.json")

    return save


def contenders(ip: Any) -> dict[str, tuple[Callable[[], None], Callable[[], None] | None]]:
    counter = iter(range(10**9))

    def next_counter() -> None:
        ip.user_ns["counter"] = next(counter)

    return {
        "plain": (lambda: run(ip, PLAIN), None),
        "hit": (lambda: run(ip, HIT), None),
        "miss_save": (lambda: run(ip, MISS), next_counter),
        "no_cache": (lambda: run(ip, NO_CACHE), None),
        "io_floor": (io_floor(Path("floor"), iter(range(10**9))), None),
    }


def medians_ms(ip: Any, cells: int) -> dict[int, dict[str, float]]:
    """Median milliseconds per cell of each contender and namespace size.

    Rounds interleave the sizes and the contenders (setups untimed), so the store's growth
    and the load of other processes fall on every one alike.
    """
    jobs = contenders(ip)
    times: dict[tuple[int, str], list[float]] = {(size, name): [] for size in SIZES for name in jobs}
    ip.user_ns["counter"] = -1
    for source in (PLAIN, HIT, MISS, NO_CACHE):  # warm: the hit's entry exists, caches are filled
        run(ip, source)
    for _ in range(cells):
        for size in SIZES:
            fill(ip, size)
            for name, (func, setup) in jobs.items():
                if setup is not None:
                    setup()
                started = time.perf_counter()
                func()
                times[size, name].append(time.perf_counter() - started)
    return {size: {name: statistics.median(times[size, name]) * 1000 for name in jobs} for size in SIZES}


def table(results: dict[int, dict[str, float]]) -> str:
    lines = [
        "| names in `user_ns` | plain cell | `%%stage` hit | hit − plain | miss that saves | miss − plain "
        "| `--no-cache` | `--no-cache` − plain | file-system floor of a save |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for names, r in results.items():
        lines.append(
            f"| {names:,} | {r['plain']:.3f} | {r['hit']:.3f} | **{r['hit'] - r['plain']:.3f}** "
            f"| {r['miss_save']:.3f} | **{r['miss_save'] - r['plain']:.3f}** | {r['no_cache']:.3f} "
            f"| {r['no_cache'] - r['plain']:.3f} | {r['io_floor']:.3f} |"
        )
    return "\n".join(lines)


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="nbpipe-bench-kernel-", dir=os.environ.get("NBPIPE_BENCH_DIR"))
    here = os.getcwd()
    os.chdir(workdir)  # the kernel's store is .nbpipe/ in its working directory
    try:
        ip = shell()
        with contextlib.redirect_stdout(io.StringIO()):  # the stage bundles print as text here
            results = medians_ms(ip, CELLS)
    finally:
        os.chdir(here)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"## Kernel (median ms per cell of {CELLS}; {os.cpu_count()} cores; Python {sys.version.split()[0]})\n")
    print(table(results))
    print()
    print(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
