"""Benchmark of nbpipe's cache against joblib and the machine's own limits (issue 4, "Performance").

Run: ``PYTHONPATH=. .venv/bin/python bench/cache.py`` (full sizes, ~1 minute, ~6 GB RAM).
Quick run: ``NBPIPE_BENCH_ARRAY_MB=64 NBPIPE_BENCH_ROWS=500000 NBPIPE_BENCH_STAGE_MB=50 …``.

Environment:
    NBPIPE_BENCH_ARRAY_MB   float64 array size for fingerprint throughput (default 1024 = 1 GiB)
    NBPIPE_BENCH_ROWS       rows of the 8-column float64 DataFrame (default 10_000_000)
    NBPIPE_BENCH_STAGE_MB   size of the stage's input and of its output (default 500)
    NBPIPE_BENCH_REPEATS    repeats per measurement; medians are quoted (default 5)
    NBPIPE_BENCH_DIR        where the stores go (default: a temporary directory)

Measured:
1. Fingerprint throughput (GB/s) of nbpipe.cache.fingerprint on the array and the frame,
   vs ``joblib.hash`` and a raw xxh3-128 pass over the same buffers, and a NumPy read sweep.
2. A stage that reads ``STAGE_MB`` and writes ``STAGE_MB`` (``y = exp(x) + x``), cached
   with joblib.Memory and with nbpipe (what the runner does: fingerprint the input, key,
   lookup, run, fingerprint the output, save; on a hit: fingerprint, key, lookup, load
   with checksum verification), plain and memory-mapped.
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
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbpipe.cache import KeyInputs, Store, fingerprint, stage_key
from nbpipe.cache.store import forget_verified

MB = 1_000_000


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


REPEATS = _env("NBPIPE_BENCH_REPEATS", 5)


Timed = tuple[Callable[[], object], Callable[[], object] | None]  # (function, untimed setup)


def medians(contenders: dict[str, Timed], repeats: int = REPEATS) -> dict[str, float]:
    """Median wall time of each contender, run round-robin so that load from other
    processes on a shared machine hits every contender alike (setups are untimed)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (func, setup) in contenders.items():
            if setup is not None:
                setup()
            started = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def raw_xxh3(buffers: list[np.ndarray]) -> str:
    """One xxh3-128 pass over contiguous buffers: the speed limit of any content hash here."""
    hasher = xxhash.xxh3_128()
    for buffer in buffers:
        hasher.update(buffer)  # type: ignore[arg-type]
    return hasher.hexdigest()


def bench_fingerprint(label: str, value: Any, buffers: list[np.ndarray]) -> dict[str, Any]:
    import joblib

    nbytes = sum(buffer.nbytes for buffer in buffers)
    fast = medians(
        {
            "ours": (lambda: fingerprint(value), None),
            "raw": (lambda: raw_xxh3(buffers), None),
            "sweep": (lambda: [buffer.max() for buffer in buffers], None),
        },
        repeats=5 * REPEATS,  # tens of milliseconds each: more repeats steady the medians on a shared machine
    )
    ours, raw, sweep = fast["ours"], fast["raw"], fast["sweep"]
    theirs = medians({"joblib": (lambda: joblib.hash(value), None)}, repeats=max(1, min(REPEATS, 3)))["joblib"]
    return {
        "value": label,
        "bytes": nbytes,
        "nbpipe_gbs": nbytes / ours / 1e9,
        "raw_xxh3_gbs": nbytes / raw / 1e9,
        "numpy_sweep_gbs": nbytes / sweep / 1e9,
        "joblib_hash_gbs": nbytes / theirs / 1e9,
        "vs_joblib": theirs / ours,
        "vs_raw_xxh3": raw / ours,
    }


def compute(x: np.ndarray) -> np.ndarray:
    """The benchmark stage (~0.25 s for 500 MB here, like the issue's): reads every input byte, writes as many."""
    return np.exp(x) + x


class NbpipeStage:
    """What nbpipe's runner does around one stage, on the store's public API."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store(root)

    def key(self, x: np.ndarray) -> tuple[KeyInputs, str]:
        inputs = KeyInputs(
            stage="big", code="y = exp(x) + x", header="big --in x --out y", inputs={"x": fingerprint(x)}
        )
        return inputs, stage_key(inputs)

    def run(self, x: np.ndarray, mmap: bool | None = None, verify: bool = True) -> np.ndarray:
        inputs, key = self.key(x)
        manifest = self.store.lookup(key)
        if manifest is not None:
            return self.store.load(manifest, "y", mmap=mmap, verify=verify)  # type: ignore[return-value]
        started = time.perf_counter()
        y = compute(x)
        seconds = time.perf_counter() - started
        self.store.save("big", key, inputs, {"y": y}, {"y": fingerprint(y, "y")}, seconds)
        return y

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def bench_stage(workdir: Path, stage_mb: int) -> dict[str, float]:
    from joblib import Memory

    x = np.random.default_rng(0).random(stage_mb * MB // 8)
    joblib_dir, joblib_mmap_dir = workdir / "joblib", workdir / "joblib_mmap"
    cached = Memory(joblib_dir, verbose=0).cache(compute)
    cached_mmap = Memory(joblib_mmap_dir, mmap_mode="r", verbose=0).cache(compute)
    ours = NbpipeStage(workdir / "nbpipe")

    def clear_joblib() -> None:
        shutil.rmtree(joblib_dir, ignore_errors=True)
        os.sync()  # untimed: no write-back of the previous contender's 500 MB runs into this one

    def clear_ours() -> None:
        ours.clear()
        os.sync()

    results: dict[str, float] = {"stage_mb": float(stage_mb)}
    results |= medians(
        {
            "compute": (lambda: compute(x), None),
            "joblib_miss": (lambda: cached(x), clear_joblib),
            "nbpipe_miss": (lambda: ours.run(x), clear_ours),
        }
    )
    cached(x)
    cached_mmap(x)
    ours.run(x)
    results |= medians(  # every nbpipe hit verifies its checksum (as the first hit of a process does)
        {
            "joblib_hit": (lambda: cached(x), None),
            "nbpipe_hit": (lambda: ours.run(x, mmap=False), forget_verified),
            "joblib_mmap_hit": (lambda: cached_mmap(x), None),
            "nbpipe_mmap_hit": (lambda: ours.run(x, mmap=True), forget_verified),
            "nbpipe_mmap_hit_unverified": (lambda: ours.run(x, mmap=True, verify=False), None),
            "fingerprint_input": (lambda: fingerprint(x), None),
        }
    )
    assert np.array_equal(ours.run(x), cached(x))  # both caches return the real result
    return results


def fingerprint_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| value | nbpipe GB/s | raw xxh3-128 GB/s | NumPy read sweep GB/s | joblib.hash GB/s "
        "| nbpipe / joblib.hash | nbpipe / raw xxh3 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['value']} | {row['nbpipe_gbs']:.1f} | {row['raw_xxh3_gbs']:.1f} | {row['numpy_sweep_gbs']:.1f} "
            f"| {row['joblib_hash_gbs']:.2f} | {row['vs_joblib']:.0f}× | {row['vs_raw_xxh3']:.2f}× |"
        )
    return "\n".join(lines)


def stage_table(r: dict[str, float]) -> str:
    miss_overhead_ours = r["nbpipe_miss"] - r["compute"]
    miss_overhead_theirs = r["joblib_miss"] - r["compute"]
    rows = [
        ("compute alone", r["compute"], None, ""),
        ("miss (compute + store)", r["nbpipe_miss"], r["joblib_miss"], ""),
        ("miss overhead (miss − compute)", miss_overhead_ours, miss_overhead_theirs, "≤ 0.25×"),
        ("hit", r["nbpipe_hit"], r["joblib_hit"], "≤ 0.15×, < compute"),
        ("hit, memory-mapped", r["nbpipe_mmap_hit"], r["joblib_mmap_hit"], "≤ 0.1×"),
        ("hit, memory-mapped, checksum not verified", r["nbpipe_mmap_hit_unverified"], r["joblib_mmap_hit"], ""),
    ]
    lines = [
        "| stage, median seconds | nbpipe | joblib.Memory | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for label, ours, theirs, target in rows:
        ratio = f"{ours / theirs:.3f}×" if theirs else ""
        theirs_text = f"{theirs:.3f}" if theirs is not None else ""
        lines.append(f"| {label} | {ours:.3f} | {theirs_text} | {ratio} | {target} |")
    return "\n".join(lines)


def main() -> int:
    array_mb = _env("NBPIPE_BENCH_ARRAY_MB", 1024)
    rows = _env("NBPIPE_BENCH_ROWS", 10_000_000)
    stage_mb = _env("NBPIPE_BENCH_STAGE_MB", 500)
    workdir = Path(os.environ.get("NBPIPE_BENCH_DIR") or tempfile.mkdtemp(prefix="nbpipe-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        array = np.random.default_rng(1).random(array_mb * (1 << 20) // 8)
        frame = pd.DataFrame(np.random.default_rng(2).random((rows, 8)), columns=[f"c{i}" for i in range(8)])
        columns = [frame[column].to_numpy(copy=False) for column in frame.columns]
        fingerprints = [
            bench_fingerprint(f"float64 array, {array.nbytes / (1 << 30):.2f} GiB", array, [array]),
            bench_fingerprint(f"DataFrame {rows:,} × 8 float64", frame, columns),
        ]
        del array, frame, columns
        stage = bench_stage(workdir, stage_mb)
    finally:
        if not os.environ.get("NBPIPE_BENCH_DIR"):
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"## Cache (medians of {REPEATS}; {os.cpu_count()} cores; Python {sys.version.split()[0]})\n")
    print(fingerprint_table(fingerprints))
    print()
    print(f"Stage: {stage_mb} MB in, {stage_mb} MB out (`y = exp(x) + x`).\n")
    print(stage_table(stage))
    print()
    print(json.dumps({"fingerprint": fingerprints, "stage": stage}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
