"""What output summaries add to saving a stage's result (issue 14 §1: ≤ 5% on a 500 MB stage).

Run: ``PYTHONPATH=. .venv/bin/python bench/summaries.py`` (~1–2 minutes, ~2 GB of RAM).
Quick run: ``NBPIPE_BENCH_STAGE_MB=50 NBPIPE_BENCH_REPEATS=3 …``.

Environment:
    NBPIPE_BENCH_STAGE_MB   size of each data frame (default 500)
    NBPIPE_BENCH_REPEATS    repeats per measurement; medians are quoted (default 7)
    NBPIPE_BENCH_DIR        where the store goes (default: a temporary directory)

For each frame, round-robin (so the load of other processes falls on both alike):
- save: what the worker does after a stage ran (``StageCache.save``: fingerprint the output,
  write the entry: payload to a temporary name, rename, manifest last), into a fresh store;
- summary: ``summarize_outputs`` on the same value in memory (what the worker adds).
The ratio summary / save is the overhead of summaries on the save.
"""

from __future__ import annotations

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

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbpipe.cache import KeyInputs, Store, stage_key
from nbpipe.runtime.stage_cache import Probe, StageCache
from nbpipe.runtime.summaries import summarize_outputs

MB = 1_000_000
REPEATS = int(os.environ.get("NBPIPE_BENCH_REPEATS", 7))
STAGE_MB = int(os.environ.get("NBPIPE_BENCH_STAGE_MB", 500))


def frames(stage_mb: int) -> dict[str, Any]:
    """Three frames of ``stage_mb``: narrow float64, mixed (with nulls and strings), wide (300 columns)."""
    rng = np.random.default_rng(0)
    rows = stage_mb * MB // (8 * 8)
    narrow = pd.DataFrame(rng.standard_normal((rows, 8)), columns=[f"x{i}" for i in range(8)])
    mixed_rows = stage_mb * MB // 40
    mixed = pd.DataFrame(
        {
            "id": np.arange(mixed_rows),
            "price": np.where(rng.random(mixed_rows) < 0.01, np.nan, rng.gamma(2.0, 10.0, mixed_rows)),
            "qty": rng.integers(0, 100, mixed_rows).astype("int32"),
            "when": pd.date_range("2020-01-01", periods=mixed_rows, freq="s"),
            "store": pd.Categorical(rng.choice(["north", "south", "east", "west"], mixed_rows)),
            "score": rng.random(mixed_rows).astype("float32"),
        }
    )
    wide = pd.DataFrame(rng.standard_normal((stage_mb * MB // (8 * 300), 300)))
    wide.columns = [f"c{i}" for i in range(300)]
    return {
        "pandas 8 × float64": narrow,
        "pandas mixed (int, float with NaN, datetime, category, float32)": mixed,
        "pandas 300 × float64 (200 summarised)": wide,
        "pyarrow.Table 8 × float64": pa.Table.from_pandas(narrow, preserve_index=False),
    }


def medians(contenders: dict[str, tuple[Callable[[], object], Callable[[], object]]]) -> dict[str, float]:
    """Median wall time of each contender, run round-robin; the second callable is an untimed setup."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPEATS):
        for name, (func, setup) in contenders.items():
            setup()
            started = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bench(workdir: Path, label: str, value: Any) -> dict[str, Any]:
    parts = KeyInputs(stage="big", code="df = make()", header="big --out df")
    probe = Probe(stage_key(parts), parts, None)
    root = workdir / "store"

    def fresh() -> None:
        shutil.rmtree(root, ignore_errors=True)
        os.sync()  # one contender's write-back must not land on the next one's timing

    def save() -> None:
        assert StageCache(Store(root)).save(probe, {"df": value}, 1.0).saved

    timed = medians({"save": (save, fresh), "summary": (lambda: summarize_outputs({"df": value}), os.sync)})
    nbytes = value.nbytes if isinstance(value, pa.Table) else int(value.memory_usage(deep=False).sum())
    summary = summarize_outputs({"df": value})["df"]
    return {
        "frame": label,
        "mb": nbytes / MB,
        "rows": summary["rows"],
        "sampled_rows": summary.get("sampled_rows"),
        "save_s": timed["save"],
        "summary_s": timed["summary"],
        "overhead": timed["summary"] / timed["save"],
    }


def main() -> None:
    workdir = Path(os.environ.get("NBPIPE_BENCH_DIR") or tempfile.mkdtemp(prefix="nbpipe-bench-summaries-"))
    rows = []
    try:
        for label, value in frames(STAGE_MB).items():
            rows.append(bench(workdir, label, value))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n| frame | MB | rows | rows the statistics read | save (s) | summary (s) | summary / save | target |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['frame']} | {r['mb']:.0f} | {r['rows']:,} | {r['sampled_rows'] or r['rows']:,} | "
            f"{r['save_s']:.3f} | {r['summary_s']:.4f} | **{r['overhead']:.1%}** | ≤ 5% |"
        )


if __name__ == "__main__":
    main()
