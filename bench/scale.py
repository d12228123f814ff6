"""Scale benchmark (issue 9 "Scale", issue 16): orchestration overhead per stage, 10 to 10,000 stages.

Run: ``.venv/bin/python bench/scale.py`` (the full table, about 15 minutes on the shared 2-core
machine); a quick run: ``.venv/bin/python bench/scale.py --sizes 10 100`` (well under a minute).
Profile nbpipe at a size instead of timing the table: ``--profile 10000`` (cProfile, or
``--profiler pyinstrument``).

The peers are installed into the venv for the benchmark only, never in pyproject/constraints::

    .venv/bin/uv pip install --python .venv/bin/python kedro sf-hamilton joblib pyinstrument

A peer that is not installed is left out of the table.

Two DAGs of trivial stages per size N (N stages each):

- **chain**: ``x0 = 0``, then ``x_i = x_{i-1} + 1``;
- **fan** (fan-out/fan-in): ``x0 = 0``, N-2 stages ``x_i = x0 + i``, one stage summing all of them.

The same DAG for every contender:

- nbpipe: a notebook (``%load_ext nbpipe``, then one ``%%stage`` cell per stage), written with nbformat.
  ``check`` is ``nbpipe.analyze(path)`` with the analyzer's caches cleared (reads the notebook);
  ``run`` is ``nbpipe.runtime.runner.run_notebook(path, RunOptions(store=...))`` with its progress
  lines sent to /dev/null (standard output is redirected, so the plain line view is chosen) and
  every in-process memo of nbpipe cleared first, as in a new process. Cold = a new, empty store
  folder beside the notebook (see :func:`fresh_store`); cached = the run right after, everything a
  hit. As a process (``nbpipe check NB``, ``nbpipe run NB`` piped to /dev/null, the default store
  removed before the cold run; includes interpreter start-up) for sizes up to ``--process-max``.
- the peers: a generated module with one function per stage, named after its output
  (``def x1(x0: int) -> int: return x0 + 1``), imported once, outside the timings. Timed from there:
  Kedro builds ``Pipeline([node(...)])`` and runs it with ``SequentialRunner`` on an empty
  ``DataCatalog`` (every dataset a ``MemoryDataset``; the ``kedro`` logger at WARNING, so its
  per-node log lines cost nothing). Hamilton builds ``driver.Builder().with_modules(m)`` (with and
  without ``.with_cache(path=...)``) and executes the last node; cold = a fresh cache folder,
  warm = a new driver on the same folder. joblib wraps each function in ``Memory(dir).cache`` and
  calls them in order; cold = a fresh folder, warm = new ``Memory`` and wrappers on the same folder
  (its in-process memo of function hashes cleared first, as in a new process).
  The plain loop calls the functions in order, passing values in a dict.

Peers far too slow at a size are skipped there (``DEFAULT_MAX``; ``--max`` changes it). Everything
lives on a tmpfs (``--tmp``, default /dev/shm): this VM's disk takes about a millisecond per file
deleted, which would add noise unrelated to the tools.

Each repetition runs every contender once on every DAG, the contenders in a rotated order, with an
untimed ``gc.collect()`` before each measurement; the table gives medians over the repetitions, in
ms per stage, and nbpipe/peer ratios of the medians. Results are checked (the last value of each
DAG) outside the timings. ``--json FILE`` keeps every sample.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib.util
import io
import json
import logging
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

# Peers too slow at a size are skipped there (the original table did the same); override with --max.
# Measured once at 10,000 (2-core shared machine): Kedro chain 192 s; Hamilton fan 85 s without its
# cache and 267 s with it (cold + warm); Hamilton chain 0.6 s without and about 7-9 s with its cache.
DEFAULT_MAX = {
    "kedro": 1000,
    "hamilton": 1000,
    "hamilton-cache": 1000,
    "hamilton:chain": 10000,
    "hamilton-cache:chain": 10000,
}


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: tuple[str, ...]
    output: str
    expr: str


@dataclass
class Dag:
    shape: str
    n: int
    folder: Path
    stages: list[Stage]
    expected: int
    notebook: Path | None = None
    module: ModuleType | None = None
    stores: int = 0  # in-process stores used so far

    @property
    def label(self) -> str:
        return f"{self.n:,} ({'chain' if self.shape == 'chain' else 'fan-out/in'})"

    @property
    def final(self) -> str:
        return self.stages[-1].output


def make_stages(shape: str, n: int) -> tuple[list[Stage], int]:
    """The stages of a DAG and the value of its last output."""
    stages = [Stage("s0", (), "x0", "0")]
    if shape == "chain":
        stages += [Stage(f"s{i}", (f"x{i - 1}",), f"x{i}", f"x{i - 1} + 1") for i in range(1, n)]
        return stages, n - 1
    middle = [f"x{i}" for i in range(1, n - 1)]
    stages += [Stage(f"s{i}", ("x0",), f"x{i}", f"x0 + {i}") for i in range(1, n - 1)]
    stages.append(Stage(f"s{n - 1}", tuple(middle), "total", f"sum([{', '.join(middle)}])"))
    return stages, sum(range(1, n - 1))


def build_dag(shape: str, n: int, root: Path) -> Dag:
    folder = root / f"{shape}{n}"
    folder.mkdir(parents=True)
    stages, expected = make_stages(shape, n)
    dag = Dag(shape, n, folder, stages, expected)
    cells = [nbformat.v4.new_code_cell("%load_ext nbpipe", id="load-ext")]
    for s in stages:  # ids of our own: nbformat's random 8-hex ones collide at 10,000 cells
        header = f"%%stage {s.name}" + (f" --in {' '.join(s.inputs)}" if s.inputs else "") + f" --out {s.output}"
        cells.append(nbformat.v4.new_code_cell(f"{header}\n{s.output} = {s.expr}", id=f"stage-{s.name}"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    dag.notebook = folder / f"{shape}{n}.ipynb"
    nbformat.write(nb, dag.notebook)
    lines = []
    for s in stages:
        params = ", ".join(f"{name}: int" for name in s.inputs)
        lines.append(f"def {s.output}({params}) -> int:\n    return {s.expr}\n\n")
    path = folder / f"stages_{shape}{n}_{len(sys.modules)}.py"  # a module name no other DAG has
    path.write_text("".join(lines))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # joblib and Hamilton look functions up by module
    spec.loader.exec_module(module)
    dag.module = module
    return dag


# --- nbpipe ------------------------------------------------------------------------------------


def forget_nbpipe_memos() -> None:
    """Clear nbpipe's in-process memos (analyzer caches, functools caches), as in a new process."""
    import nbpipe.analysis as analysis

    clear = getattr(analysis, "clear_caches", None)
    if clear is not None:
        clear()
    for name, module in list(sys.modules.items()):
        if not name.startswith("nbpipe") or module is None:
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                value.cache_clear()


def nbpipe_check(dag: Dag) -> float:
    import nbpipe

    forget_nbpipe_memos()
    gc.collect()
    started = time.perf_counter()
    graph = nbpipe.analyze(str(dag.notebook))
    seconds = time.perf_counter() - started
    assert len(graph.stages) == dag.n, (len(graph.stages), dag.n)
    return seconds


def nbpipe_run(dag: Dag, expect: str, store: Path) -> float:
    from nbpipe.runtime.runner import RunOptions, run_notebook

    forget_nbpipe_memos()
    gc.collect()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        started = time.perf_counter()
        result = run_notebook(str(dag.notebook), RunOptions(store=str(store)))
        seconds = time.perf_counter() - started
    statuses = [record.status for record in result.stages]
    if result.status != "ok" or statuses.count(expect) != dag.n:
        odd = [(r.name, r.status, r.reason, r.error) for r in result.stages if r.status != expect][:5]
        raise AssertionError(f"{dag.label}: run {result.status}, expected every stage {expect}; first others: {odd}")
    assert result.outputs([dag.final])[dag.final] == dag.expected
    return seconds


def nbpipe_process(dag: Dag, *args: str, tty: bool = False) -> float:
    """``nbpipe ARGS NB`` as a process, piped to /dev/null, or in a terminal (``script``, rich's live view)."""
    assert dag.notebook is not None
    command = [str(BIN / "nbpipe"), *args, dag.notebook.name]
    if tty:  # script gives the command a pseudo-terminal: what a user sees in a shell
        command = ["script", "-qec", shlex.join(command), "/dev/null"]
    gc.collect()
    started = time.perf_counter()
    subprocess.run(command, cwd=dag.folder, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - started


#: ``nbpipe run`` process modes: column suffix -> (extra arguments, in a terminal).
PROCESS_MODES = {
    "": ((), False),
    "-tty": ((), True),
    "-j2": (("--jobs", "2"), False),
    "-j2-tty": (("--jobs", "2"), True),
}


def nbpipe_processes(dag: Dag, modes: list[str]) -> dict[str, float]:
    """Check, then cold and cached runs as processes in each mode (the default store removed before each cold run)."""
    times = {"check-proc": nbpipe_process(dag, "check")}
    for suffix in modes:
        extra, tty = PROCESS_MODES[suffix]
        shutil.rmtree(dag.folder / ".nbpipe", ignore_errors=True)
        times[f"proc-cold{suffix}"] = nbpipe_process(dag, "run", *extra, tty=tty)
        times[f"proc-cached{suffix}"] = nbpipe_process(dag, "run", *extra, tty=tty)
    return times


def sleep_fan(n: int, root: Path) -> Path:
    """A notebook of ``n`` independent stages that each sleep 10 ms (what --jobs 2 should halve)."""
    folder = root / f"sleep{n}"
    folder.mkdir(parents=True)
    cells = [
        nbformat.v4.new_code_cell("%load_ext nbpipe", id="load-ext"),
        nbformat.v4.new_code_cell("import time", id="setup"),
    ]
    for i in range(n):
        source = f"%%stage s{i} --out x{i}\ntime.sleep(0.01)\nx{i} = {i}"
        cells.append(nbformat.v4.new_code_cell(source, id=f"stage-s{i}"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"sleep{n}.ipynb"
    nbformat.write(nb, path)
    return path


def measure_sleep(n: int, root: Path, repeat: int) -> str:
    """``nbpipe run`` (piped, cold) of the sleep fan with --jobs 1 and --jobs 2, interleaved; medians and ratio."""
    path = sleep_fan(n, root)
    samples: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(repeat):
        for jobs in (1, 2) if rep % 2 == 0 else (2, 1):
            shutil.rmtree(path.parent / ".nbpipe", ignore_errors=True)
            started = time.perf_counter()
            subprocess.run(
                [str(BIN / "nbpipe"), "run", "--jobs", str(jobs), path.name],
                cwd=path.parent, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True,
            )  # fmt: skip
            samples[jobs].append(time.perf_counter() - started)
    one, two = statistics.median(samples[1]), statistics.median(samples[2])
    return (
        f"\n{n:,} independent stages sleeping 10 ms each, `nbpipe run` cold, piped, medians of {repeat}:\n\n"
        f"| --jobs 1 | --jobs 2 | --jobs 2 / --jobs 1 |\n| ---: | ---: | ---: |\n"
        f"| {one:.2f} s | {two:.2f} s | {two / one:.2f}× |\n"
    )


def fresh_store(dag: Dag) -> Path:
    """A store folder beside the notebook that no run of this process has used yet.

    Not ``.nbpipe/`` removed and used again: a process keeps a writer lease per store folder,
    and once the store was deleted under it, a later compaction of the lease's log fails every
    stage after it ("I/O operation on closed file", nbpipe/cache/leases.py ``_compact``).
    """
    dag.stores += 1
    return dag.folder / f".nbpipe-{dag.stores}"


# --- peers -------------------------------------------------------------------------------------


def functions(dag: Dag) -> list[Callable[..., int]]:
    return [getattr(dag.module, s.output) for s in dag.stages]


def plain_loop(dag: Dag) -> float:
    funcs = functions(dag)
    gc.collect()
    started = time.perf_counter()
    values: dict[str, Any] = {}
    for stage, func in zip(dag.stages, funcs):
        values[stage.output] = func(*[values[name] for name in stage.inputs])
    seconds = time.perf_counter() - started
    assert values[dag.final] == dag.expected
    return seconds


def joblib_run(dag: Dag, location: Path) -> float:
    import joblib.memory
    from joblib import Memory

    hashes = getattr(joblib.memory, "_FUNCTION_HASHES", None)  # joblib's in-process memo, gone in a new process
    if hashes is not None:
        hashes.clear()
    funcs = functions(dag)
    gc.collect()
    started = time.perf_counter()
    memory = Memory(location, verbose=0)
    values: dict[str, Any] = {}
    for stage, func in zip(dag.stages, funcs):
        values[stage.output] = memory.cache(func)(*[values[name] for name in stage.inputs])
    seconds = time.perf_counter() - started
    assert values[dag.final] == dag.expected
    return seconds


def kedro_run(dag: Dag) -> float:
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node
    from kedro.runner import SequentialRunner

    logging.getLogger("kedro").setLevel(logging.WARNING)
    funcs = functions(dag)
    gc.collect()
    started = time.perf_counter()
    pipeline = Pipeline(
        [
            node(func, list(stage.inputs) or None, stage.output, name=stage.name)
            for stage, func in zip(dag.stages, funcs)
        ]
    )
    catalog = DataCatalog()
    outputs = SequentialRunner().run(pipeline, catalog)
    seconds = time.perf_counter() - started
    value = outputs[dag.final]
    value = value.load() if hasattr(value, "load") else value
    assert value == dag.expected, value
    return seconds


def hamilton_run(dag: Dag, cache: Path | None) -> float:
    from hamilton import driver

    gc.collect()
    started = time.perf_counter()
    builder = driver.Builder().with_modules(dag.module)
    if cache is not None:
        builder = builder.with_cache(path=str(cache))
    dr = builder.build()
    result = dr.execute([dag.final])
    seconds = time.perf_counter() - started
    assert result[dag.final] == dag.expected
    return seconds


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- the table ---------------------------------------------------------------------------------

COLUMNS = [
    ("check", "nbpipe check (API)"),
    ("check-proc", "`nbpipe check` process"),
    ("api-cold", "nbpipe API cold"),
    ("api-cached", "nbpipe API cached"),
    ("proc-cold", "`nbpipe run` process cold"),
    ("proc-cached", "`nbpipe run` process cached"),
    ("proc-cold-tty", "process cold, terminal"),
    ("proc-cached-tty", "process cached, terminal"),
    ("proc-cold-j2", "process cold, --jobs 2"),
    ("proc-cached-j2", "process cached, --jobs 2"),
    ("proc-cold-j2-tty", "process cold, --jobs 2, terminal"),
    ("proc-cached-j2-tty", "process cached, --jobs 2, terminal"),
    ("joblib-cold", "joblib.Memory cold"),
    ("joblib-warm", "joblib.Memory warm"),
    ("hamilton-cache-cold", "Hamilton + cache cold"),
    ("hamilton-cache-warm", "Hamilton + cache warm"),
    ("hamilton", "Hamilton, no cache"),
    ("kedro", "Kedro SequentialRunner"),
    ("plain", "plain loop"),
]


def allowed(tool: str, dag: Dag, args: argparse.Namespace) -> bool:
    """Whether ``tool`` runs at this DAG's size (``--max``: ``TOOL=N`` or, first, ``TOOL:SHAPE=N``)."""
    limit = args.max.get(f"{tool}:{dag.shape}", args.max.get(tool))
    return limit is None or dag.n <= limit


def contenders(dag: Dag, args: argparse.Namespace) -> list[tuple[str, Callable[[], dict[str, float]]]]:
    """Groups of measurements run together (cold before warm), each returning seconds by column."""

    def runs(tool: str) -> bool:
        return tool in args.tools and allowed(tool, dag, args)

    groups: list[tuple[str, Callable[[], dict[str, float]]]] = []

    if runs("nbpipe"):

        def api() -> dict[str, float]:
            store = fresh_store(dag)
            times = {
                "check": nbpipe_check(dag),
                "api-cold": nbpipe_run(dag, "ran", store),
                "api-cached": nbpipe_run(dag, "cached", store),
            }
            shutil.rmtree(store, ignore_errors=True)
            return times

        groups.append(("nbpipe", api))
    if runs("nbpipe") and dag.n <= args.process_max:
        groups.append(("nbpipe-process", lambda: nbpipe_processes(dag, args.modes)))
    if runs("joblib") and installed("joblib"):

        def joblib_pair() -> dict[str, float]:
            location = dag.folder / "joblib"
            shutil.rmtree(location, ignore_errors=True)
            return {"joblib-cold": joblib_run(dag, location), "joblib-warm": joblib_run(dag, location)}

        groups.append(("joblib", joblib_pair))
    if runs("hamilton-cache") and installed("hamilton"):

        def hamilton_cached() -> dict[str, float]:
            location = dag.folder / "hamilton_cache"
            shutil.rmtree(location, ignore_errors=True)
            return {
                "hamilton-cache-cold": hamilton_run(dag, location),
                "hamilton-cache-warm": hamilton_run(dag, location),
            }

        groups.append(("hamilton-cache", hamilton_cached))
    if runs("hamilton") and installed("hamilton"):
        groups.append(("hamilton", lambda: {"hamilton": hamilton_run(dag, None)}))
    if runs("kedro") and installed("kedro"):
        groups.append(("kedro", lambda: {"kedro": kedro_run(dag)}))
    if runs("plain"):
        groups.append(("plain", lambda: {"plain": plain_loop(dag)}))
    return groups


def measure(dags: list[Dag], args: argparse.Namespace, quiet: bool = False) -> dict[str, dict[str, list[float]]]:
    """Samples in seconds: label -> column -> one per repetition."""
    samples: dict[str, dict[str, list[float]]] = {dag.label: {} for dag in dags}
    for rep in range(args.repeat):
        for dag in dags:
            groups = contenders(dag, args)
            shift = rep % len(groups) if groups else 0
            for tool, group in groups[shift:] + groups[:shift]:
                started = time.perf_counter()
                for column, seconds in group().items():
                    samples[dag.label].setdefault(column, []).append(seconds)
                if args.verbose:
                    print(
                        f"  rep {rep + 1} {dag.label:>22} {tool:15s} {time.perf_counter() - started:7.2f} s", flush=True
                    )
        if not quiet:
            print(f"repetition {rep + 1}/{args.repeat} done", file=sys.stderr, flush=True)
    return samples


def warm_up(root: Path, args: argparse.Namespace) -> None:
    """One untimed pass of every contender on 5-stage DAGs: imports and first-call costs land here.

    Then ``gc.freeze()``, so the untimed ``gc.collect()`` before each measurement does not walk
    the objects of every imported library again.
    """
    tiny = [build_dag(shape, 5, root / "warm-up") for shape in args.shapes]
    verbose, repeat = args.verbose, args.repeat
    args.verbose, args.repeat = False, 1
    try:
        measure(tiny, args, quiet=True)
    finally:
        args.verbose, args.repeat = verbose, repeat
    gc.collect()
    gc.freeze()


def ms_per_stage(samples: dict[str, dict[str, list[float]]], dags: list[Dag]) -> dict[str, dict[str, float]]:
    return {
        dag.label: {col: statistics.median(values) * 1000 / dag.n for col, values in samples[dag.label].items()}
        for dag in dags
    }


def cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def report(dags: list[Dag], table: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    out = io.StringIO()
    out.write(f"Median ms per stage over {args.repeat} interleaved repetitions (— = not measured at that size).\n")
    for first, last in ((0, 6), (6, 12), (12, len(COLUMNS))):
        used = [(key, title) for key, title in COLUMNS[first:last] if any(key in table[d.label] for d in dags)]
        if not used:
            continue
        out.write("\n| stages | " + " | ".join(title for _, title in used) + " |\n")
        out.write("| ---: | " + " | ".join("---:" for _ in used) + " |\n")
        for dag in dags:
            row = table[dag.label]
            out.write(f"| {dag.label} | " + " | ".join(cell(row.get(key)) for key, _ in used) + " |\n")
    pairs = [
        ("proc-cold", "joblib-cold", "process cold / joblib cold"),
        ("proc-cold", "hamilton-cache-cold", "process cold / Hamilton+cache cold"),
        ("proc-cached", "joblib-warm", "process cached / joblib warm"),
        ("proc-cached", "hamilton-cache-warm", "process cached / Hamilton+cache warm"),
        ("api-cold", "joblib-cold", "cold / joblib cold"),
        ("api-cold", "hamilton-cache-cold", "cold / Hamilton+cache cold"),
        ("api-cold", "kedro", "cold / Kedro"),
        ("api-cold", "hamilton", "cold / Hamilton no cache"),
        ("api-cached", "joblib-warm", "cached / joblib warm"),
        ("api-cached", "hamilton-cache-warm", "cached / Hamilton+cache warm"),
    ]
    pairs = [p for p in pairs if any(p[1] in table[d.label] for d in dags)]
    if pairs:
        out.write("\nRatios nbpipe / peer (medians; < 1 means nbpipe is faster):\n\n")
        out.write("| stages | " + " | ".join(title for _, _, title in pairs) + " |\n")
        out.write("| ---: | " + " | ".join("---:" for _ in pairs) + " |\n")
        for dag in dags:
            row = table[dag.label]
            ratios = [f"{row[a] / row[b]:.2f}×" if a in row and b in row and row[b] > 0 else "—" for a, b, _ in pairs]
            out.write(f"| {dag.label} | " + " | ".join(ratios) + " |\n")
    return out.getvalue()


# --- profile -----------------------------------------------------------------------------------


def profile(dags: list[Dag], args: argparse.Namespace) -> None:
    """Profile nbpipe's in-process run, cold then cached, at each DAG; print the hotspots."""
    from nbpipe.runtime.runner import RunOptions, run_notebook

    out_dir = Path(args.profile_dir) if args.profile_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for dag in dags:
        store = str(fresh_store(dag))
        for phase in ("cold", "cached"):
            forget_nbpipe_memos()
            gc.collect()
            title = f"{dag.label}, {phase}"
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                if args.profiler == "pyinstrument":
                    from pyinstrument import Profiler

                    profiler = Profiler(interval=0.001)
                    profiler.start()
                    run_notebook(str(dag.notebook), RunOptions(store=store))
                    profiler.stop()
                    text = sampled_hotspots(profiler.last_session.root_frame(), args.top)
                else:
                    import cProfile
                    import pstats

                    prof = cProfile.Profile()
                    prof.enable()
                    run_notebook(str(dag.notebook), RunOptions(store=store))
                    prof.disable()
                    text = hotspots(pstats.Stats(prof), args.top)
                    if out_dir is not None:
                        prof.dump_stats(str(out_dir / f"{dag.shape}{dag.n}-{phase}.prof"))
            print(f"\n===== {title} =====\n{text}", flush=True)


def _where(file: str | None, line: int | None, name: str) -> str:
    if not file or file == "~":
        return name  # a builtin
    path = Path(file)
    shown = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else "/".join(path.parts[-2:])
    return f"{shown}:{line} {name}"


def _listing(rows: dict[str, tuple[float, float, int]], total: float, top: int, header: str) -> str:
    """``rows``: function -> (own seconds, cumulative seconds, calls or samples)."""
    out = io.StringIO()
    out.write(header)
    for title, index in (("own time", 0), ("cumulative time", 1)):
        out.write(f"\nby {title}:\n{'share':>6} {'seconds':>8} {'count':>9}  function\n")
        for name, value in sorted(rows.items(), key=lambda item: -item[1][index])[:top]:
            out.write(f"{value[index] / total:6.1%} {value[index]:8.3f} {value[2]:9d}  {name}\n")
    return out.getvalue()


def hotspots(stats: Any, top: int) -> str:
    """cProfile: the ``top`` functions by own and by cumulative time, with their share of the run."""
    raw = stats.stats  # (file, line, name) -> (primitive calls, calls, own s, cumulative s, callers)
    rows = {_where(*key): (value[2], value[3], value[1]) for key, value in raw.items()}
    total = max([stats.total_tt, *(value[1] for value in rows.values())]) or 1.0  # the run's cumulative time
    return _listing(rows, total, top, f"total {total:.2f} s under cProfile (count = calls)\n")


def sampled_hotspots(root: Any, top: int) -> str:
    """pyinstrument: the same listing from the sampled call tree (count = frames in the tree)."""
    rows: dict[str, list[float]] = {}

    def visit(frame: Any, stack: set[str]) -> None:
        if frame.is_synthetic:
            return
        name = _where(frame.file_path, frame.line_no, frame.function)
        row = rows.setdefault(name, [0.0, 0.0, 0])
        row[0] += frame.total_self_time
        row[2] += 1
        if name not in stack:  # recursion: count the outermost frame's time once
            row[1] += frame.time
        for child in frame.children:
            visit(child, stack | {name})

    visit(root, set())
    total = root.time or 1.0
    listing = {name: (own, cum, int(count)) for name, (own, cum, count) in rows.items()}
    return _listing(listing, total, top, f"total {total:.2f} s sampled by pyinstrument (1 ms)\n")


# --- main --------------------------------------------------------------------------------------


def environment() -> str:
    """What was measured: nbpipe's commit, Python and the peers' versions, the load average."""
    from importlib.metadata import PackageNotFoundError, version

    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    versions = []
    for package in ("joblib", "sf-hamilton", "kedro"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} not installed")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"nbpipe {commit or '?'}, Python {sys.version.split()[0]}, {', '.join(versions)}; load average {load}"


def parse_max(values: list[str]) -> dict[str, int]:
    limits = dict(DEFAULT_MAX)
    for value in values:
        tool, _, size = value.partition("=")
        if ":" not in tool:  # TOOL=N replaces the default TOOL:SHAPE limits too
            limits = {key: n for key, n in limits.items() if key.split(":")[0] != tool}
        limits[tool] = int(size)
    return limits


TOOLS = ("nbpipe", "joblib", "hamilton-cache", "hamilton", "kedro", "plain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000], help="stage counts")
    parser.add_argument("--shapes", nargs="+", choices=("chain", "fan"), default=["chain", "fan"])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions (medians are quoted)")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument(
        "--max",
        nargs="*",
        default=[],
        metavar="TOOL=N",
        help=f"largest size per peer (defaults {DEFAULT_MAX}; e.g. --max kedro=10000)",
    )
    parser.add_argument(
        "--process-max", type=int, default=1000, help="largest size timed as a process (`nbpipe check/run NB`)"
    )
    parser.add_argument(
        "--tmp",
        default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
        help="where the notebooks, stores and caches live (default: /dev/shm, a tmpfs, where there is one)",
    )
    parser.add_argument(
        "--modes",
        nargs="*",
        default=["piped", "tty", "j2", "j2-tty"],
        choices=("piped", "tty", "j2", "j2-tty"),
        help="`nbpipe run` process modes: piped, in a terminal (script), --jobs 2, both",
    )
    parser.add_argument(
        "--sleep", type=int, default=1000, metavar="N", help="stages of the sleep fan (--jobs 2 vs 1); 0 skips it"
    )
    parser.add_argument("--json", metavar="FILE", help="write every sample (seconds) to this file")
    parser.add_argument("--profile", type=int, metavar="N", help="profile nbpipe at N stages instead of timing")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument"), default="cprofile")
    parser.add_argument("--profile-dir", help="keep the cProfile .prof files here")
    parser.add_argument("--top", type=int, default=25, help="rows of each cProfile listing")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each measurement group's time")
    args = parser.parse_args(argv)
    args.max = parse_max(args.max)
    args.modes = ["" if mode == "piped" else f"-{mode}" for mode in args.modes]
    if min(args.sizes) < 3 or (args.profile is not None and args.profile < 3):
        parser.error("sizes must be at least 3 stages (a fan has a source, a middle and a sum)")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))  # Hamilton walks the graph recursively

    tmp = tempfile.mkdtemp(prefix="nbpipe-bench-scale-", dir=args.tmp)
    # Removed at exit, after nbpipe's own exit handlers (registered later, so run earlier) release
    # the store leases they hold in it.
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    sizes = [args.profile] if args.profile else sorted(args.sizes)
    dags = [build_dag(shape, n, Path(tmp)) for n in sizes for shape in args.shapes]
    if args.profile:
        args.tools = ["nbpipe"]
        warm_up(Path(tmp), args)
        profile(dags, args)
        return 0
    print(environment(), flush=True)
    warm_up(Path(tmp), args)
    samples = measure(dags, args)
    print(report(dags, ms_per_stage(samples, dags), args))
    if args.sleep and "nbpipe" in args.tools:
        print(measure_sleep(args.sleep, Path(tmp), args.repeat))
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    skipped = [f"{tool} at {dag.label}" for dag in dags for tool in args.tools if not allowed(tool, dag, args)]
    if skipped:
        print("Skipped (too slow there; --max TOOL=N or TOOL:SHAPE=N to change): " + ", ".join(skipped))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": sys.argv[1:], "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
