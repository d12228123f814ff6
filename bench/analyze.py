"""Benchmark the analyzer against pyflakes on generated data-science notebooks.

For notebooks of 500, 1,000 and 2,000 cells (~45 lines each) it times, in one run
(medians, contenders interleaved so machine load hits them alike):

- ``nbpipe.analyze`` on a read notebook, cold (every analysis cache cleared);
- pyflakes checking the same code (all cells as one module, as nbQA does);
- re-analysis after one cell changed (the sidebar's case; caches warm), for an edit
  no other cell can see (a new binding nothing reads: the early cut-off answers) and
  for one that reads a name other cells use (the notebook-level passes run again);
- ``nbpipe check`` and ``python -m pyflakes`` as processes (start-up included).

Usage: ``PYTHONPATH=. .venv/bin/python bench/analyze.py [--sizes 500 1000 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbpipe.analysis import analyze, clear_caches  # noqa: E402
from nbpipe.notebook import Notebook, read  # noqa: E402

SETUP = '''import numpy as np
import pandas as pd
from collections import defaultdict

SEED_{i} = 42
COLUMNS_{i} = ["region", "product", "units", "price"]


def summarise_{i}(frame, by="region"):
    """Totals and means of a sales frame by one column."""
    grouped = frame.groupby(by)
    totals = grouped["units"].sum()
    means = grouped["price"].mean()
    return pd.DataFrame({{"units": totals, "price": means}})


def zscore_{i}(values):
    mean = sum(values) / max(len(values), 1)
    spread = (sum((v - mean) ** 2 for v in values) / max(len(values), 1)) ** 0.5
    return [(v - mean) / spread if spread else 0.0 for v in values]


class Scaler_{i}:
    def __init__(self, factor=1.0):
        self.factor = factor

    def fit(self, xs):
        self.mean_ = sum(xs) / len(xs)
        return self

    def transform(self, xs):
        return [(x - self.mean_) * self.factor for x in xs]
'''

STAGE = """%%stage step_{i} --in {prev} --out frame_{i} stats_{i}
# Clean and enrich the frame of the previous step.
rng = np.random.default_rng(SEED_{s})
frame = {prev}.copy()
frame["units"] = frame["units"].fillna(0).astype(int)
frame["revenue"] = frame["units"] * frame["price"]
frame["noise"] = rng.normal(size=len(frame))
keep = [c for c in frame.columns if not c.startswith("_")]
frame = frame[keep]
by_region = defaultdict(list)
for row in frame.itertuples():
    by_region[row.region].append(row.revenue)
totals = {{region: sum(values) for region, values in by_region.items()}}
ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
top = [name for name, _ in ranked[:3]]
scores = zscore_{s}(list(totals.values()))
outliers = [name for name, z in zip(totals, scores) if abs(z) > 2]
scaler = Scaler_{s}(factor=0.5).fit(frame["revenue"].tolist())
scaled = scaler.transform(frame["revenue"].tolist())
frame["scaled"] = scaled
summary = summarise_{s}(frame)
summary = summary.sort_values("units", ascending=False)
if len(summary) > 10:
    summary = summary.head(10)
checks = {{
    "rows": len(frame),
    "regions": len(totals),
    "top": top,
    "outliers": outliers,
}}
try:
    ratio = summary["units"].iloc[0] / summary["units"].sum()
except (IndexError, ZeroDivisionError) as err:
    ratio = float("nan")
    checks["error"] = str(err)
%time frame_sorted = frame.sort_values("revenue")
with pd.option_context("display.width", 120):
    text = summary.to_string()
monthly = (
    frame.assign(month=frame.index % 12)
    .groupby("month")["revenue"]
    .agg(["sum", "mean", "count"])
)
weights = np.linspace(0, 1, num=len(monthly))
weighted = (monthly["sum"] * weights).sum()
lookup = {{m: row["sum"] for m, row in monthly.iterrows()}}
best_month = max(lookup, key=lookup.get) if lookup else None
stats_{i} = {{"ratio": ratio, "weighted": weighted, "best": best_month, **checks}}
frame_{i} = frame_sorted.reset_index(drop=True)
"""

EXPLORE = """frame_{prev_i}.head()
print(stats_{prev_i}["ratio"], len(frame_{prev_i}))
fig_rows = [(k, v) for k, v in stats_{prev_i}.items() if isinstance(v, (int, float))]
for key, value in fig_rows:
    print(f"{{key:>12}}: {{value:10.3f}}")
"""


def cell_sources(count: int) -> list[str]:
    """Realistic cells: a setup cell every 25 cells, exploration every 7th, stages otherwise."""
    sources, prev, setup = [], None, 0
    for i in range(count):
        if i % 25 == 0:
            setup = i
            sources.append(SETUP.format(i=i))
        elif prev is not None and i % 7 == 0:
            sources.append(EXPLORE.format(prev_i=prev))
        else:
            source = STAGE.format(i=i, s=setup, prev=f"frame_{prev}" if prev is not None else "raw_data")
            if prev is None:
                source = source.replace(" --in raw_data", "").replace("raw_data.copy()", "pd.DataFrame()")
            sources.append(source)
            prev = i
    return sources


def shared_edit_times(nb: Notebook, middle: int, count: int) -> list[float]:
    """Times of re-analysing after a stage near ``middle`` starts reading a setup constant.

    The constant is bound by a setup cell, so the edit is visible to other cells and
    the notebook-level passes run again. The original is re-analysed (untimed) before
    each edit, so that every timed edit adds the read.
    """
    index = next(c.index for c in nb.cells[middle:] if c.is_stage)
    setup = re.search(r"SEED_(\d+)", nb.cells[index].source)
    assert setup is not None
    line = f"extra_{{serial}} = COLUMNS_{setup.group(1)}"
    times = []
    for serial in range(count):
        analyze(nb)
        times.append(timed(functools.partial(analyze, changed(nb, index, serial, line))))
    return times


def notebook_json(sources: list[str]) -> dict[str, Any]:
    blank: dict[str, Any] = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": []}
    cells: list[dict[str, Any]] = [{**blank, "source": s} for s in sources]
    metadata = {"kernelspec": {"name": "python3", "language": "python"}, "language_info": {"name": "python"}}
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": metadata}


def python_module(sources: list[str]) -> str:
    """The same code as one module, magics turned into Python (what pyflakes can read)."""
    from nbpipe.source import split_stage, to_python

    return "\n\n".join(to_python(split_stage(s)[1]) for s in sources)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median time of each function, run round-robin so that machine load hits each alike."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples):
            times.append(timed(fn))
    return [statistics.median(times) for times in samples]


def pyflakes_check(source: str) -> None:
    from pyflakes.api import check
    from pyflakes.reporter import Reporter

    check(source, "bench.py", Reporter(io.StringIO(), io.StringIO()))


def changed(nb: Notebook, index: int, serial: int, line: str = "extra_{serial} = {serial}") -> Notebook:
    """``nb`` with ``line`` appended to cell ``index`` (by default a binding no other cell uses)."""
    cells = list(nb.cells)
    cell = cells[index]
    text = "\n" + line.format(serial=serial)
    cells[index] = replace(cell, source=cell.source + text, body=cell.body + text)
    return replace(nb, cells=tuple(cells))


def run_process(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(args, capture_output=True, env=env, check=False)
    return time.perf_counter() - start


def measure(size: int, repeat: int, folder: Path) -> dict[str, float]:
    sources = cell_sources(size)
    path = folder / f"bench_{size}.ipynb"
    path.write_text(json.dumps(notebook_json(sources)), encoding="utf-8")
    module = python_module(sources)
    (folder / f"bench_{size}.py").write_text(module, encoding="utf-8")
    nb = read(path)

    def cold() -> None:
        clear_caches()
        analyze(nb)

    graph = analyze(nb)
    assert not graph.errors, graph.errors[:3]
    t_cold, t_flakes = interleaved([cold, lambda: pyflakes_check(module)], repeat)
    analyze(nb)  # warm the per-cell cache
    serial = iter(range(10**6))
    edits = [changed(nb, size // 2, next(serial)) for _ in range(max(repeat, 9))]
    t_warm = statistics.median(timed(functools.partial(analyze, edit)) for edit in edits)
    t_shared = statistics.median(shared_edit_times(nb, size // 2, max(repeat, 9)))
    t_check, t_flakes_proc = interleaved(
        [lambda: run_process([sys.executable, "-m", "nbpipe.cli", "check", str(path)]),
         lambda: run_process([sys.executable, "-m", "pyflakes", str(folder / f"bench_{size}.py")])],
        repeat,
    )  # fmt: skip
    return {"cells": size, "lines": module.count("\n"), "analyze": t_cold, "pyflakes": t_flakes, "reanalyze": t_warm,
            "reanalyze_shared": t_shared, "check_proc": t_check, "pyflakes_proc": t_flakes_proc}  # fmt: skip


def table(rows: list[dict[str, float]]) -> str:
    head = ("| cells | lines | `analyze` cold | pyflakes | ratio | re-analysis, edit no other cell sees "
            "| re-analysis, edit reads a shared name | `nbpipe check` process | `pyflakes` process |")  # fmt: skip
    lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['cells']:,} | {r['lines']:,} | {r['analyze'] * 1e3:.0f} ms | {r['pyflakes'] * 1e3:.0f} ms "
            f"| {r['analyze'] / r['pyflakes']:.2f}× | {r['reanalyze'] * 1e3:.2f} ms "
            f"| {r['reanalyze_shared'] * 1e3:.2f} ms "
            f"| {r['check_proc'] * 1e3:.0f} ms | {r['pyflakes_proc'] * 1e3:.0f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(size, args.repeat, Path(tmp)) for size in args.sizes]
    print(table(rows))


if __name__ == "__main__":
    main()
