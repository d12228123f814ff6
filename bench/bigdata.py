"""Big data through ``%%stage`` in a real IPython shell, against joblib.Memory (issue 16, item 6).

Measures, in one run, contenders interleaved round-robin, medians:

1. A stage that makes a ``ROWS`` × 8 float64 DataFrame (640 MB at 10M rows) from a seed:
   as a ``%%stage`` cell and as a ``joblib.Memory``-cached function called from a cell.
   Miss = compute + store (both stores emptied before each, untimed, then ``os.sync()``);
   the store alone is a stage (and a cached function) that returns a frame made beforehand;
   hit = restore. nbpipe's hit is measured twice: repeated in the session (what re-running
   a cell costs) and first in the process (the payload's checksum not verified yet).
2. A stage whose output is one ``ARRAY_MB`` float64 array (500 MB): the ``%%stage`` hit,
   repeated and first in the process.

Both also measure the hit as the kernel restored before memory-mapped restores and the
verification memo (issue 16): the payload read into memory and its checksum verified on
every hit (the same session with ``mmap_min = None`` and the memo forgotten before each).

Usage: ``PYTHONPATH=. .venv/bin/python bench/bigdata.py`` (~2 minutes, ~4 GB of RAM).
Environment: ``NBPIPE_BENCH_ROWS`` (10_000_000), ``NBPIPE_BENCH_ARRAY_MB`` (500),
``NBPIPE_BENCH_REPEATS`` (7).
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = int(os.environ.get("NBPIPE_BENCH_ROWS", "10000000"))
ARRAY_MB = int(os.environ.get("NBPIPE_BENCH_ARRAY_MB", "500"))
REPEATS = int(os.environ.get("NBPIPE_BENCH_REPEATS", "7"))

SETUP = f"""
import numpy as np, pandas as pd
from joblib import Memory
ROWS = {ROWS}
ITEMS = {ARRAY_MB * 1_000_000 // 8}
def make_frame(rows, seed):
    return pd.DataFrame(np.random.default_rng(seed).random((rows, 8)), columns=[f"c{{i}}" for i in range(8)])
def make_array(items):
    return np.random.default_rng(1).random(items)
joblib_make_frame = Memory("joblib", verbose=0).cache(make_frame)
import frames
frames.FRAME = make_frame(ROWS, 1)
joblib_frame = Memory("joblib", verbose=0).cache(frames.get)
"""
#: A library function (not a setup helper: no source in the key) handing out a frame made
#: beforehand, so that a stage calling it costs what storing its output costs and nothing else.
FRAMES_MODULE = "FRAME = None\n\n\ndef get(seed):\n    return FRAME\n"
COMPUTE = "df_plain = make_frame(ROWS, 0)"
STAGE_FRAME = "%%stage frame --out df\ndf = make_frame(ROWS, 0)"
JOBLIB_FRAME = "df_joblib = joblib_make_frame(ROWS, 0)"
STAGE_STORE = "%%stage store --out dfs\ndfs = frames.get(0)"
JOBLIB_STORE = "dfs_joblib = joblib_frame(0)"
STAGE_ARRAY = "%%stage arr --out big\nbig = make_array(ITEMS)"

Timed = tuple[Callable[[], object], Callable[[], object] | None]


def medians(contenders: dict[str, Timed]) -> dict[str, float]:
    """Median seconds of each contender, round-robin (setups untimed)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPEATS):
        for name, (func, setup) in contenders.items():
            if setup is not None:
                setup()
            gc.collect()
            started = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def forget_verified() -> None:
    """The next hit is the first in this process: nothing remembered as verified."""
    from nbpipe.cache import store

    store.forget_verified()


class Bench:
    def __init__(self) -> None:
        from IPython.testing.globalipapp import get_ipython

        self.ip = get_ipython()
        self.ip.run_line_magic("load_ext", "nbpipe")
        self.cell(SETUP)

    def cell(self, source: str) -> None:
        result = self.ip.run_cell(source, store_history=False)
        if not result.success:
            raise RuntimeError(f"cell failed: {source[:60]!r}: {result.error_in_exec or result.error_before_exec!r}")

    def runner(self, source: str) -> Callable[[], None]:
        return lambda: self.cell(source)

    def clear(self, *folders: str) -> Callable[[], None]:
        def clear() -> None:
            for name in ("df", "df_joblib", "df_plain", "big", "dfs", "dfs_joblib"):
                self.ip.user_ns.pop(name, None)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            forget_verified()
            gc.collect()
            os.sync()  # one contender's write-back does not land on the next one's timing

        return clear

    def session(self) -> Any:
        return self.ip.magics_manager.registry["NbpipeMagics"].session

    def mode(self, mapped: bool, forget: bool) -> Callable[[], None]:
        """Untimed: map big payloads (today) or read them (before); forget what was verified."""

        def setup() -> None:
            from nbpipe.cache.store import mmap_threshold

            self.session().store.mmap_min = mmap_threshold() if mapped else None
            if forget:
                forget_verified()

        return setup

    def frame(self) -> dict[str, float]:
        results = medians(
            {
                "compute": (self.runner(COMPUTE), self.clear()),
                "nbpipe_miss": (self.runner(STAGE_FRAME), self.clear(".nbpipe")),
                "joblib_miss": (self.runner(JOBLIB_FRAME), self.clear("joblib")),
                "nbpipe_store": (self.runner(STAGE_STORE), self.clear(".nbpipe")),
                "joblib_store": (self.runner(JOBLIB_STORE), self.clear("joblib")),
            }
        )
        self.cell(STAGE_FRAME)
        self.cell(JOBLIB_FRAME)
        results |= medians(
            {
                "nbpipe_hit_before": (self.runner(STAGE_FRAME), self.mode(mapped=False, forget=True)),
                "nbpipe_hit_first": (self.runner(STAGE_FRAME), self.mode(mapped=True, forget=True)),
                "nbpipe_hit": (self.runner(STAGE_FRAME), self.mode(mapped=True, forget=False)),
                "joblib_hit": (self.runner(JOBLIB_FRAME), None),
            }
        )
        assert self.session().runs["frame"].status == "cached"
        assert self.ip.user_ns["df"].equals(self.ip.user_ns["df_joblib"])  # both give the real result
        self.clear(".nbpipe", "joblib")()
        return results

    def array(self) -> dict[str, float]:
        self.cell(STAGE_ARRAY)
        results = medians(
            {
                "hit_before": (self.runner(STAGE_ARRAY), self.mode(mapped=False, forget=True)),
                "hit_first": (self.runner(STAGE_ARRAY), self.mode(mapped=True, forget=True)),
                "hit": (self.runner(STAGE_ARRAY), self.mode(mapped=True, forget=False)),
            }
        )
        assert self.session().runs["arr"].status == "cached"
        self.clear(".nbpipe")()
        return results


def table(frame: dict[str, float], array: dict[str, float]) -> str:
    rows = [
        ("DataFrame: compute alone", frame["compute"], None),
        ("DataFrame: miss (compute + store)", frame["nbpipe_miss"], frame["joblib_miss"]),
        (
            "DataFrame: miss of a stage that only returns a ready frame (store alone)",
            frame["nbpipe_store"],
            frame["joblib_store"],
        ),
        ("DataFrame: hit, repeated in the session", frame["nbpipe_hit"], frame["joblib_hit"]),
        ("DataFrame: hit, first in the process", frame["nbpipe_hit_first"], frame["joblib_hit"]),
        ("DataFrame: hit as before (read, verified every time)", frame["nbpipe_hit_before"], frame["joblib_hit"]),
        (f"{ARRAY_MB} MB array: `%%stage` hit, repeated", array["hit"], array["hit_before"]),
        (f"{ARRAY_MB} MB array: `%%stage` hit, first in the process", array["hit_first"], array["hit_before"]),
        (f"{ARRAY_MB} MB array: `%%stage` hit as before (read, verified every time)", array["hit_before"], None),
    ]
    lines = [
        "| median seconds | nbpipe | joblib.Memory (array: as before) | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, ours, theirs in rows:
        ratio = f"**{ours / theirs:.2f}×**" if theirs else ""
        lines.append(f"| {label} | {ours:.3f} | {'' if theirs is None else f'{theirs:.3f}'} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="nbpipe-bench-bigdata-")
    here = os.getcwd()
    os.chdir(workdir)  # the kernel's store is .nbpipe/ here, joblib's is joblib/
    sys.path.insert(0, workdir)
    Path(workdir, "frames.py").write_text(FRAMES_MODULE)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the stage bundles print as text here
            bench = Bench()
            frame = bench.frame()
            array = bench.array()
    finally:
        os.chdir(here)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"## Big data (medians of {REPEATS}; {os.cpu_count()} cores; Python {sys.version.split()[0]})\n")
    print(f"DataFrame {ROWS:,} × 8 float64; array {ARRAY_MB} MB float64.\n")
    print(table(frame, array))
    print()
    print(json.dumps({"frame": frame, "array": array}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
