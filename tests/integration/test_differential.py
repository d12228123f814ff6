"""The differential suite of issue 9: every target agrees on order, keys, outputs and status (DESIGN §1).

Hypothesis writes notebooks (:mod:`tests.differential`: random stage DAGs with parallel
branches, setup constants, setup values from calls, the environment and a config
file, helpers, parameters, ``--file-in``). For each one these targets run it:

- ``kernel``: a real IPython shell with ``%load_ext nbpipe`` running every code cell
  top to bottom (in-process, no kernel subprocess);
- ``run-j1`` / ``run-j2``: ``nbpipe run`` in-process (``run_notebook``) with ``jobs=1`` and ``jobs=2``;
- ``script``: ``nbpipe export --to script`` run as ``python pipeline.py`` (a subprocess);

and the assertions are the promise, not today's behaviour:

1. order: the analyzer's ``Graph.order`` = the runner's record order (``jobs=1``: also the
   order the stages started) = the script's record order = the order the kernel ran them;
2. keys: every stage has the same key in every target (kernel bundles, run records);
3. outputs: every value equals the plain-Python :func:`tests.differential.reference`,
   and every output fingerprint equals the fingerprint of that value;
4. one cache: a target run on a store another target filled is all cache hits, same keys;
5. status: after a run every stage is fresh in every status view; after a setup value
   that comes from outside the source (an environment variable, a config file) changes,
   exactly the stages that read it (directly or through a helper) and their descendants
   are stale with a reason, and a re-run in every target recomputes them.

The status views go through the adapters below (:func:`status_views`): point them at
the one status function once it exists.

Each property runs its hand-written examples (the bugs of issue 9 in their smallest
form) and ``NBP_DIFF_EXAMPLES`` generated ones (default 6: about a minute for the
module on two cores). Failing examples are not shrunk by default (a failing example
reports every disagreement of every target at once, with the notebook as text); set
``NBP_DIFF_SHRINK=1`` to let hypothesis shrink to a minimal notebook.

All targets run in this one process except the exported script. So the environment
variable keeps one value across examples until a test changes it on purpose: a
process pool's workers keep the environment their server started with, and the
change test must see that (see
:func:`test_a_second_run_in_one_process_sees_the_new_environment`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from IPython.utils.capture import capture_output

from nbpipe.analysis import analyze
from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.store import Store
from nbpipe.cli import main as cli
from nbpipe.model import STAGE_MIME
from nbpipe.notebook import read
from nbpipe.runtime.runner import RunOptions, run_notebook
from tests.differential import (
    CONFIG_FILE,
    ENV_VAR,
    EXTERNAL,
    NotebookSpec,
    StageSpec,
    changed_values,
    environment,
    notebooks,
    reference,
    same,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]

PHASES = (
    (Phase.explicit, Phase.generate, Phase.shrink)
    if os.environ.get("NBP_DIFF_SHRINK")
    else (Phase.explicit, Phase.generate)
)
SETTINGS = settings(
    max_examples=int(os.environ.get("NBP_DIFF_EXAMPLES", "6")),
    deadline=None,
    derandomize=True,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- hand-written examples: the bugs of issue 9 in their smallest form ----------------------

#: a -> b plus an independent c (issue 9, "two stage graphs, two orders")
CHAIN_AND_SIBLING = NotebookSpec(
    k0=1, label="a", p0=1, p1="p", h0_reads="K0", data_text="d", config_scale=1,
    stages=(
        StageSpec(0, (), (("v0", "int"),), (), None, False),
        StageSpec(1, ("v0",), (("v1", "int"),), (), None, False),
        StageSpec(2, (), (("v2", "int"),), (), None, False),
    ),
)  # fmt: skip
#: one stage reading a setup value from the environment (issue 9, "a stale cache hit")
ENV_READER = NotebookSpec(
    k0=1, label="a", p0=1, p1="p", h0_reads="K0", data_text="d", config_scale=1,
    stages=(StageSpec(0, (), (("v0", "str"),), ("N",), None, False),),
    changes=("env",),
)  # fmt: skip
#: a stage reading the environment only through a helper, with a consumer
HELPER_READS_ENV = NotebookSpec(
    k0=1, label="a", p0=1, p1="p", h0_reads="N", data_text="d", config_scale=1,
    stages=(
        StageSpec(0, (), (("v0", "int"),), (), "h1", False),
        StageSpec(1, ("v0",), (("v1", "list"),), (), None, False),
    ),
    changes=("env",),
)  # fmt: skip
#: a config file read by a setup cell, a data file, arrays and frames
CONFIG_AND_FILES = NotebookSpec(
    k0=2, label="ab", p0=3, p1="q", h0_reads="CFG", data_text="hello\n", config_scale=4,
    stages=(
        StageSpec(0, (), (("v0", "array"), ("v0b", "frame")), ("CFG",), None, True),
        StageSpec(1, (), (("v1", "dict"),), ("L", "P0"), None, False),
        StageSpec(2, ("v0", "v1"), (("v2", "int"),), ("P1",), "h0", False),
    ),
    changes=("config",),
)  # fmt: skip


# -- one target's run, as the assertions see it ---------------------------------------------


@dataclass
class TargetRun:
    """What one target did with one notebook."""

    target: str
    order: list[str] = field(default_factory=list)  # stages in the order the target ran them
    keys: dict[str, str] = field(default_factory=dict)  # stage -> key
    statuses: dict[str, str] = field(default_factory=dict)  # stage -> ran | cached | failed | …
    fingerprints: dict[str, str] = field(default_factory=dict)  # output -> fingerprint
    values: dict[str, Any] | None = None  # output -> value, where the target hands them over
    errors: list[str] = field(default_factory=list)  # anything that went wrong running it


def from_record(target: TargetRun, record: dict[str, Any]) -> TargetRun:
    """Fill ``target`` from a run record (DESIGN §7)."""
    for stage in record["stages"]:
        name = stage["name"]
        target.order.append(name)
        target.keys[name] = stage["key"]
        target.statuses[name] = stage["status"]
        if stage.get("error"):
            target.errors.append(f"stage {name!r}: {stage['error']}")
        for output, info in stage.get("outputs", {}).items():
            target.fingerprints[output] = info["fingerprint"]
    return target


def new_records(store: Path, before: set[str]) -> list[dict[str, Any]]:
    """Run records written to ``store`` since ``before`` (a set of run ids)."""
    return [r for r in Store(str(store)).records() if r.get("run_id") not in before]


def record_ids(store: Path) -> set[str]:
    """The run ids in ``store``."""
    if not (store / "runs").is_dir():
        return set()
    return {p.stem for p in (store / "runs").glob("*.json")}


def batch_run(spec: NotebookSpec, nb: Path, store: Path, jobs: int, env_value: str) -> TargetRun:
    """``nbpipe run`` in-process: the run record and the values it hands back."""
    target = TargetRun(f"run-j{jobs}")
    before = record_ids(store)
    with environment(nb.parent, env_value):
        try:
            result = run_notebook(nb, RunOptions(jobs=jobs, store=str(store)))
        except Exception as exc:  # a refusal or a crash is a disagreement, reported with the rest
            target.errors.append(f"run_notebook raised {type(exc).__name__}: {exc}")
            return target
        if result.status != "ok":
            target.errors.append(result.failures())
        records = [r for r in new_records(store, before) if r.get("run_id") == result.run_id]
        if len(records) != 1:
            target.errors.append(f"expected one run record for run {result.run_id}, found {len(records)}")
        else:
            from_record(target, records[0])
            check_timing(spec, target, records[0], jobs)
        target.values = result.outputs()
    return target


def check_timing(spec: NotebookSpec, target: TargetRun, record: dict[str, Any], jobs: int) -> None:
    """``jobs=1``: stages start in record order; any ``jobs``: no stage starts before its parents finished."""
    stages = record["stages"]
    started = {s["name"]: s.get("started") or "" for s in stages}
    finished = {s["name"]: s.get("finished") or "" for s in stages}
    if jobs == 1 and list(started.values()) != sorted(started.values()):
        target.errors.append(f"jobs=1: record order {target.order} is not the order the stages started {started}")
    for stage in spec.stages:
        for parent in sorted(spec.parents(stage)):
            if stage.name in started and parent in finished and started[stage.name] < finished[parent]:
                target.errors.append(f"{stage.name!r} started before its parent {parent!r} finished")


EXPORT_ERRORS: dict[Path, str] = {}  # script path -> why ``nbpipe export`` wrote none


def export_script(nb: Path) -> Path:
    """``nbpipe export NB --to script -o pipeline.py`` (beside the notebook, in ``out/``)."""
    script = nb.parent / "out" / "pipeline.py"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli(["export", str(nb), "--to", "script", "-o", str(script)])
    if code != 0:
        EXPORT_ERRORS[script] = f"nbpipe export exited {code}: {err.getvalue().strip()}"
    return script


def script_run(script: Path, store: Path, env_value: str, cwd: Path) -> TargetRun:
    """``python pipeline.py --store STORE`` as a subprocess; the run record it writes."""
    target = TargetRun("script")
    if not script.exists():
        target.errors.append(EXPORT_ERRORS.get(script, f"no script at {script}"))
        return target
    before = record_ids(store)
    env = {k: v for k, v in os.environ.items() if k != "NBPIPE_STORE"}
    env.update({ENV_VAR: env_value, "PYTHONPATH": str(ROOT)})
    done = subprocess.run(
        [sys.executable, str(script), "--store", str(store)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        target.errors.append(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
    records = new_records(store, before)
    if len(records) == 1:
        from_record(target, records[0])
    elif records or done.returncode == 0:
        target.errors.append(f"expected one run record, found {len(records)}")
    return target


# -- the kernel: a real IPython shell ---------------------------------------------------------


def ipython() -> Any:
    """The process's test IPython shell (IPython.testing.globalipapp)."""
    from IPython.testing.globalipapp import get_ipython

    return get_ipython()


class Kernel:
    """A fresh kernel session on one notebook: cells run top to bottom with the magics loaded."""

    def __init__(self, spec: NotebookSpec, nb: Path, store: Path) -> None:
        self.spec, self.nb, self.store = spec, nb, store
        self.shell = ipython()
        self.shell.reset(new_session=False)
        self.shell.extension_manager.loaded.discard("nbpipe")
        self.shell.run_line_magic("load_ext", "nbpipe")
        self.magics = self.shell.magics_manager.registry["NbpipeMagics"]
        self.shell.run_line_magic("nbpipe", f"config notebook={nb}")
        self.shell.run_line_magic("nbpipe", f"config store={store}")
        self.target = TargetRun("kernel")
        self.bundles: list[dict[str, Any]] = []

    @property
    def session(self) -> Any:
        """The KernelSession the magics run stages in."""
        return self.magics.session

    def run_cells(self, env_value: str, stages: bool = True, setup: bool = True) -> None:
        """Run the notebook's code cells in order: setup cells, stage cells or both."""
        with environment(self.nb.parent, env_value):
            for source, _ in self.spec.cells():
                is_stage = source.startswith("%%stage")
                if (is_stage and not stages) or (not is_stage and not setup):
                    continue
                with capture_output() as cap:
                    result = self.shell.run_cell(source, store_history=False)
                self.bundles += [o.data[STAGE_MIME] for o in cap.outputs if STAGE_MIME in o.data]
                if not result.success:
                    first = source.splitlines()[0]
                    error = result.error_in_exec or result.error_before_exec
                    self.target.errors.append(f"cell {first!r} raised {type(error).__name__}: {error}")

    def collect(self) -> TargetRun:
        """Order, keys and statuses from the published bundles; values from the namespace."""
        target = self.target
        for bundle in self.bundles:
            name = bundle["stage"]
            target.order.append(name)
            target.keys[name] = bundle["key"]
            target.statuses[name] = bundle["status"]
            run = self.session.runs.get(name)
            if run is not None and run.key != bundle["key"]:
                target.errors.append(f"stage {name!r}: bundle key {bundle['key']} != session key {run.key}")
        namespace = self.shell.user_ns
        target.values = {n: namespace[n] for n in self.spec.outputs if n in namespace}
        store = Store(str(self.store), scope=self.nb.name)
        for name, key in target.keys.items():
            manifest = store.lookup(key) if key else None
            if manifest is None:
                target.errors.append(f"stage {name!r}: key {key!r} has no entry in the kernel's store")
                continue
            target.fingerprints.update({o: info.fingerprint for o, info in manifest.outputs.items()})
        return target


@pytest.fixture(scope="module")
def shell() -> Iterator[Any]:
    """The test IPython shell, reset after the module."""
    ip = ipython()
    yield ip
    ip.reset(new_session=False)
    ip.extension_manager.loaded.discard("nbpipe")


# -- status views: adapters to point at the one status function ------------------------------

Status = dict[str, tuple[str, str]]  # stage -> (fresh | stale | never-run | failed | …, reason)


def kernel_status_view(kernel: Kernel, env_value: str) -> Status:
    """``%nbpipe status`` in the kernel (today ``nbpipe.runtime.status.kernel_status``)."""
    from nbpipe.runtime.status import kernel_status

    with environment(kernel.nb.parent, env_value):
        rows = kernel_status(kernel.session, read(str(kernel.nb)))
    return {row["stage"]: (row["status"], row.get("reason", "")) for row in rows}


def graph_status_view(nb: Path, store: Path, env_value: str) -> Status:
    """The graph JSON's per-stage status (the sidebar, ``nbpipe graph``), the store given as NBPIPE_STORE.

    It never runs the notebook's code: setup values computed by calls are taken as of the last run.
    """
    from nbpipe.runtime.status import analyze_with_status

    old = os.environ.get("NBPIPE_STORE")
    os.environ["NBPIPE_STORE"] = str(store)
    try:
        with environment(nb.parent, env_value):
            graph = analyze_with_status(str(nb))
    finally:
        if old is None:
            os.environ.pop("NBPIPE_STORE", None)
        else:
            os.environ["NBPIPE_STORE"] = old
    return {s.name: (s.status, str(getattr(s, "reason", "") or "")) for s in graph.stages}


def explain_status_view(nb: Path, store: Path, env_value: str) -> Status:
    """``nbpipe run --explain``: cached is fresh, would-run is stale (never-run when it says so)."""
    with environment(nb.parent, env_value):
        result = run_notebook(nb, RunOptions(explain=True, store=str(store)))
    found: Status = {}
    for record in result.stages:
        if record.status == "cached":
            found[record.name] = ("fresh", record.reason)
        elif record.reason == "never run":
            found[record.name] = ("never-run", record.reason)
        elif record.status == "would-run":
            found[record.name] = ("stale", record.reason)
        else:
            found[record.name] = (record.status, record.reason)
    return found


def status_views(
    nb: Path, store: Path, env_value: str, kernel: Kernel | None = None, static: bool = True
) -> dict[str, Status]:
    """Every status view of the notebook against ``store`` (``static``: with the views that run no code)."""
    views = {"explain": explain_status_view(nb, store, env_value)}
    if static:
        views["graph"] = graph_status_view(nb, store, env_value)
    if kernel is not None:
        views["kernel %nbpipe status"] = kernel_status_view(kernel, env_value)
    return views


# -- comparing -----------------------------------------------------------------------------------


class Findings:
    """Soft assertions: every disagreement of one example, reported together with the notebook."""

    def __init__(self, spec: NotebookSpec) -> None:
        self.spec = spec
        self.items: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        """Record ``message`` unless ``ok``."""
        if not ok:
            self.items.append(message)

    def assert_none(self) -> None:
        """Fail with every finding and the notebook as text."""
        if self.items:
            listed = "\n".join(f"  - {item}" for item in self.items)
            raise AssertionError(f"{len(self.items)} disagreement(s):\n{listed}\nnotebook:\n{self.spec.text()}")


def compare_targets(
    spec: NotebookSpec, order: list[str], expected: dict[str, Any], runs: list[TargetRun], found: Findings, when: str
) -> None:
    """Order, keys, values and fingerprints of ``runs`` against the analyzer and the reference."""
    prints = {name: fingerprint(value, name) for name, value in expected.items()}
    for run in runs:
        for error in run.errors:
            found.check(False, f"{when}: {run.target}: {error}")
        if not run.order:
            continue  # nothing ran (the error says why): no order, keys or outputs to compare
        found.check(run.order == order, f"{when}: {run.target} ran {run.order}, the analyzer's order is {order}")
        found.check(
            run.fingerprints == prints,
            f"{when}: {run.target} output fingerprints {_diff(run.fingerprints, prints)} (observed vs reference)",
        )
        if run.values is not None:
            wrong = {
                n: (show(run.values.get(n)), show(v)) for n, v in expected.items() if not same(run.values.get(n), v)
            }
            found.check(
                not wrong, f"{when}: {run.target} values differ from plain Python (observed, expected): {wrong}"
            )
    ran = [run for run in runs if run.order]
    first = ran[0] if ran else runs[0]
    for run in ran[1:]:
        found.check(
            run.keys == first.keys,
            f"{when}: stage keys of {run.target} != {first.target}: {_diff(run.keys, first.keys)}",
        )


def show(value: Any) -> str:
    """A value on one line (arrays and frames included) for a failure message."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return f"DataFrame({value.to_dict('list')})"
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return f"array({value.tolist()}, {value.dtype})"
    return repr(value)


def _diff(observed: dict[str, Any], expected: dict[str, Any]) -> str:
    names = sorted(set(observed) | set(expected))
    return str({n: (observed.get(n), expected.get(n)) for n in names if observed.get(n) != expected.get(n)})


def expect_statuses(
    views: dict[str, Status], expected: dict[str, str], found: Findings, when: str, reasons: Callable[[str], set[str]]
) -> None:
    """Each view says ``expected`` per stage; a stale stage has a reason naming one of ``reasons(stage)``."""
    for view, statuses in views.items():
        observed = {stage: status for stage, (status, _) in statuses.items()}
        found.check(observed == expected, f"{when}: {view} status {_diff(observed, expected)} (observed vs expected)")
        for stage, (status, reason) in statuses.items():
            if expected.get(stage) == "stale" and status == "stale":
                names = reasons(stage)
                found.check(
                    any(f"'{n}'" in reason or f"`{n}`" in reason for n in names),
                    f"{when}: {view} says {stage!r} is stale because {reason!r}, which names none of {sorted(names)}",
                )


# -- the properties ------------------------------------------------------------------------------


def prepare(spec: NotebookSpec, tmp: Path, found: Findings) -> tuple[Path, list[str]]:
    """Write the notebook; the analyzer's order (and its errors as findings: the promise needs none)."""
    nb = spec.write(tmp / "nb")
    graph = analyze(str(nb))
    found.check(not graph.errors, f"nbpipe check reports errors: {[(d.code, d.message) for d in graph.errors]}")
    found.check(
        list(graph.order) == spec.names,
        f"the analyzer's order {list(graph.order)} is not the notebook order {spec.names}, which is topological",
    )
    return nb, list(graph.order)


@SETTINGS
@given(spec=notebooks())
@example(spec=CHAIN_AND_SIBLING)
@example(spec=CONFIG_AND_FILES)
def test_every_target_computes_the_same_stages(
    spec: NotebookSpec, shell: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Cold runs, each target with its own store: same order, keys, outputs as plain Python; all ran."""
    tmp = tmp_path_factory.mktemp("cold")
    found = Findings(spec)
    nb, order = prepare(spec, tmp, found)
    expected = reference(spec, nb.parent, spec.env_value)

    kernel = Kernel(spec, nb, tmp / "store-kernel")
    kernel.run_cells(spec.env_value)
    runs = [kernel.collect()]
    runs.append(batch_run(spec, nb, tmp / "store-j1", 1, spec.env_value))
    runs.append(batch_run(spec, nb, tmp / "store-j2", 2, spec.env_value))
    runs.append(script_run(export_script(nb), tmp / "store-script", spec.env_value, cwd=nb.parent))

    compare_targets(spec, order, expected, runs, found, "cold")
    for run in runs:
        found.check(
            run.statuses == dict.fromkeys(order, "ran"),
            f"cold: {run.target} stage statuses {run.statuses}, expected every stage 'ran'",
        )
    found.assert_none()


@SETTINGS
@given(spec=notebooks())
@example(spec=CHAIN_AND_SIBLING)
def test_targets_share_one_cache_and_status_is_fresh(
    spec: NotebookSpec, shell: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """One store: the first run fills it; every later target is all hits with the same keys; all views say fresh."""
    tmp = tmp_path_factory.mktemp("shared")
    found = Findings(spec)
    nb, order = prepare(spec, tmp, found)
    expected = reference(spec, nb.parent, spec.env_value)
    store = tmp / "store"
    all_cached = dict.fromkeys(order, "cached")
    fresh = dict.fromkeys(order, "fresh")

    first = batch_run(spec, nb, store, 1, spec.env_value)
    found.check(first.statuses == dict.fromkeys(order, "ran"), f"first run-j1: statuses {first.statuses}")
    runs = [first]

    # a kernel started after a batch run: its stages are fresh before they run, then restored
    kernel = Kernel(spec, nb, store)
    kernel.run_cells(spec.env_value, stages=False)
    expect_statuses(
        {"kernel %nbpipe status": kernel_status_view(kernel, spec.env_value)},
        fresh,
        found,
        "kernel after a batch run",
        lambda s: set(),
    )
    kernel.run_cells(spec.env_value, setup=False)
    runs.append(kernel.collect())
    runs.append(batch_run(spec, nb, store, 2, spec.env_value))
    runs.append(script_run(export_script(nb), store, spec.env_value, cwd=nb.parent))

    compare_targets(spec, order, expected, runs, found, "shared store")
    for run in runs[1:]:
        found.check(
            run.statuses == all_cached,
            f"shared store: {run.target} after {first.target}: statuses {run.statuses}, expected all 'cached'",
        )
    views = status_views(nb, store, spec.env_value, kernel)
    expect_statuses(views, fresh, found, "after every target ran", lambda s: set())
    found.assert_none()


@SETTINGS
@given(spec=notebooks())
@example(spec=ENV_READER)
@example(spec=HELPER_READS_ENV)
@example(spec=CONFIG_AND_FILES)
def test_a_changed_setup_value_is_seen_by_every_target(
    spec: NotebookSpec, shell: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An environment variable or a config file read by a setup cell changes: status and re-runs in every target.

    Each target first runs cold into its own store; then the value changes. Every status
    view names exactly the stages that read it (directly or through a helper) and their
    descendants as stale, with a reason; a re-run of each target on its own store must
    recompute them (no stale hit: the outputs equal plain Python with the new value),
    re-run exactly the stages whose key changed, and agree on the new keys.
    """
    tmp = tmp_path_factory.mktemp("change")
    found = Findings(spec)
    nb, order = prepare(spec, tmp, found)
    script = export_script(nb)
    stores = {t: tmp / f"store-{t}" for t in ("kernel", "run-j1", "run-j2", "script")}

    # cold runs, each target in its own store
    kernel = Kernel(spec, nb, stores["kernel"])
    kernel.run_cells(spec.env_value)
    before = {"kernel": kernel.collect()}
    before["run-j1"] = batch_run(spec, nb, stores["run-j1"], 1, spec.env_value)
    before["run-j2"] = batch_run(spec, nb, stores["run-j2"], 2, spec.env_value)
    before["script"] = script_run(script, stores["script"], spec.env_value, cwd=nb.parent)
    for run in before.values():
        for error in run.errors:
            found.check(False, f"before the change: {run.target}: {error}")
    fresh = dict.fromkeys(order, "fresh")
    expect_statuses(
        status_views(nb, stores["run-j1"], spec.env_value, kernel), fresh, found, "after a cold run", lambda s: set()
    )

    # the change: the environment variable and/or the config file
    new = changed_values(spec)
    env_value = new["env"]
    (nb.parent / CONFIG_FILE).write_text(spec.config(int(new["config"])))
    changed = {EXTERNAL[c] for c in spec.changes}
    stale = set(spec.affected(changed))
    expected_status = {s: "stale" if s in stale else "fresh" for s in order}
    expected = reference(spec, nb.parent, env_value)
    when = f"after {' and '.join(spec.changes)} changed ({ENV_VAR}={env_value}, {CONFIG_FILE}={new['config']})"

    # the kernel: the same session re-runs its setup cells, then asks for status, then re-runs the stages
    kernel.bundles.clear()
    kernel.target = TargetRun("kernel")
    kernel.run_cells(env_value, stages=False)
    views = {"kernel %nbpipe status": kernel_status_view(kernel, env_value)}
    # The graph JSON runs no code, so it cannot see a new environment variable or file content
    # before a run: it takes such values as of the last run and says so in its reason.
    views.update(status_views(nb, stores["run-j1"], env_value, static=False))
    expect_statuses(views, expected_status, found, when, lambda s: spec.why(s, changed))
    kernel.run_cells(env_value, setup=False)

    after = {"kernel": kernel.collect()}
    after["run-j1"] = batch_run(spec, nb, stores["run-j1"], 1, env_value)
    after["run-j2"] = batch_run(spec, nb, stores["run-j2"], 2, env_value)
    after["script"] = script_run(script, stores["script"], env_value, cwd=nb.parent)
    compare_targets(spec, order, expected, list(after.values()), found, f"re-run {when}")
    direct = spec.direct(changed)
    for target, run in after.items():
        old = before[target].keys
        same_key = [s for s in direct if s in old and run.keys.get(s) == old[s]]
        found.check(
            not same_key,
            f"re-run {when}: {target} kept the key of {same_key}, which read{'s' if len(same_key) == 1 else ''} "
            f"the changed value{'s' if len(changed) > 1 else ''} {sorted(changed)}",
        )
        want = {s: "ran" if run.keys.get(s) != old.get(s) else "cached" for s in order}
        found.check(
            run.statuses == want,
            f"re-run {when}: {target} statuses {_diff(run.statuses, want)} (observed vs expected from its keys)",
        )
    expect_statuses(
        status_views(nb, stores["run-j1"], env_value), fresh, found, f"after the re-run {when}", lambda s: set()
    )
    found.assert_none()


# -- deterministic tests next to the properties --------------------------------------------------


def test_the_exported_script_runs_from_another_directory(shell: Any, tmp_path: Path) -> None:
    """``python out/pipeline.py`` from elsewhere computes what the notebook computes (setup cells read files too)."""
    spec = CONFIG_AND_FILES
    found = Findings(spec)
    nb, order = prepare(spec, tmp_path, found)
    expected = reference(spec, nb.parent, spec.env_value)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = script_run(export_script(nb), tmp_path / "store", spec.env_value, cwd=elsewhere)
    compare_targets(spec, order, expected, [run], found, "script run from another directory")
    found.assert_none()


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_second_run_in_one_process_sees_the_new_environment(shell: Any, tmp_path: Path, jobs: int) -> None:
    """``run_notebook`` twice in one long-lived process (a kernel's ``%nbpipe run``, the server, a worker).

    The environment variable a setup cell reads changes between the runs; each run has a
    fresh store, so no cache is involved: the second run must compute with the new value
    in the coordinator (its keys) and in the workers (its values).
    """
    spec = ENV_READER
    found = Findings(spec)
    nb, _ = prepare(spec, tmp_path, found)
    for value in ("2", "3"):
        expected = reference(spec, nb.parent, value)
        run = batch_run(spec, nb, tmp_path / f"store-{value}", jobs, value)
        kernel = Kernel(spec, nb, tmp_path / f"store-kernel-{value}")
        kernel.run_cells(value)
        compare_targets(spec, spec.names, expected, [kernel.collect(), run], found, f"{ENV_VAR}={value}")
    found.assert_none()


def test_a_setup_value_from_a_builtin_call_is_a_setup_value(shell: Any, tmp_path: Path) -> None:
    """``L = len("abc")`` is a setup value computed by a call, like ``L = math.gcd(12, 18)``.

    Today the analyzer calls the first cell setup and the second a data cell (the call's
    name is a builtin, not a name the cell imports), so a stage reading ``L`` gets NBP101
    and ``nbpipe run`` refuses the notebook. Setup values from calls enter keys by value
    (issue 9, item 4), so the two must be the same kind of cell.
    """
    spec = NotebookSpec(
        k0=1, label="a", p0=1, p1="p", h0_reads="K0", data_text="d", config_scale=1,
        stages=(StageSpec(0, (), (("v0", "int"),), ("L",), None, False),),
        l_call='len("abc")',
    )  # fmt: skip
    found = Findings(spec)
    nb, order = prepare(spec, tmp_path, found)
    expected = reference(spec, nb.parent, spec.env_value)
    kernel = Kernel(spec, nb, tmp_path / "store-kernel")
    kernel.run_cells(spec.env_value)
    runs = [kernel.collect(), batch_run(spec, nb, tmp_path / "store-j1", 1, spec.env_value)]
    runs.append(script_run(export_script(nb), tmp_path / "store-script", spec.env_value, cwd=nb.parent))
    compare_targets(spec, order, expected, runs, found, 'L = len("abc")')
    found.assert_none()


def test_reference_is_plain_python(tmp_path: Path) -> None:
    """The harness itself: the reference of a known notebook (so a failure above is never the oracle's)."""
    spec = CONFIG_AND_FILES
    nb = spec.write(tmp_path)
    values = reference(spec, nb.parent, "1")
    acc0 = 1 + 4 + len("hello\n")  # stage index + CFG + the data file
    assert list(values["v0"]) == [0, acc0, 2 * acc0, 3 * acc0]
    assert list(values["v0b"]["a"]) == [acc0 + 1, acc0 + 2, acc0 + 3]
    acc1 = 2 + 6 + 3  # stage index + L (gcd(12, 18)) + P0
    assert values["v1"] == {"a": acc1, "b": [acc1, 1]}
    acc2 = 3 + int(values["v0"].sum()) + acc1 + len("q")
    assert values["v2"] == acc2 + 4  # h0 adds CFG
    text = spec.text()
    assert "%%stage s2 --in v0 v1 --out v2" in text and "acc = h0(acc)" in text
    assert json.loads((tmp_path / CONFIG_FILE).read_text()) == {"scale": 4}
