"""The one status function: fresh / stale (why) / never-run / failed / unknown, per stage.

A stage is *fresh* when the store holds the entry of the key it would have now —
computed with the cache's own key logic from the setup parts of this notebook and
the fingerprints its producers recorded (Merkle style) — whichever target wrote the
entry (the kernel, ``nbpipe run``, the script, papermill, Airflow). Otherwise it is
*stale* with the cache's miss reason ("code changed (line 3)", "parameter 'C' 1.0 →
0.5", "upstream 'train' is stale"), *never-run*, or *failed* when its last run with
this very key failed. Staleness propagates downstream: a stage whose producer is not
fresh cannot be fresh.

The setup parts come from the live namespace in a kernel, and from the run's setup
memo elsewhere, which never executes user code (setup values computed by calls are
taken as of the last run, and a fresh stage says so); when neither knows them (no
batch run yet), the stage's saved display bundle decides, conservatively.

Every view shows this answer: the graph JSON (``status`` and ``reason``), the sidebar,
``nbpipe graph``, ``nbpipe run --explain``, ``%nbpipe status`` and ``%nbpipe graph``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nbpipe.cache.keys import KeyInputs, miss_reason, stage_key
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, NbpipeError
from nbpipe.model import Graph
from nbpipe.notebook import Notebook, stage_bundle
from nbpipe.runtime.imports import ImportedOutput
from nbpipe.runtime.keys import key_inputs
from nbpipe.runtime.plan import Plan, StagePlan
from nbpipe.source import normalize, source_hash

#: Setup parts of a stage: (helper sources, setup values, setup-provided input fingerprints), or None if unknown.
PartsOf = Callable[[StagePlan], "tuple[dict[str, str], dict[str, Any], dict[str, str]] | None"]


@dataclass(frozen=True)
class StageStatus:
    """The status of one stage and why."""

    status: str  # fresh | stale | never-run | failed | unknown
    reason: str
    key: str = ""


def pipeline_status(
    plan: Plan,
    store: Store,
    parts_of: PartsOf,
    bundles: Mapping[str, dict[str, Any]] | None = None,
    failed: Mapping[str, str] | None = None,
    unconfirmed: Mapping[str, list[str]] | None = None,
    imported: Mapping[str, ImportedOutput] | None = None,
) -> dict[str, StageStatus]:
    """The status of every stage of ``plan``, in order.

    Args:
        plan: the notebook's plan.
        store: the store its targets share.
        parts_of: the setup parts of a stage, or None when they cannot be known without running code.
        bundles: stage -> its saved display bundle (``application/vnd.nbpipe.stage+json``), the
            fallback when the parts are unknown.
        failed: key -> error of stage runs that failed (a failure counts only for the current key).
        unconfirmed: stage -> setup values its parts took from the last run, unchecked (the
            reason of a fresh stage says so).
        imported: ``--in NAME@NOTEBOOK`` input -> its producing stage in the other notebook
            (:mod:`nbpipe.runtime.imports`): a fresh one gives the recorded fingerprint.
    """
    walk = _Walk(plan, store, parts_of, bundles or {}, failed or {}, unconfirmed or {})
    walk.imported = dict(imported or {})
    walk.prints.update({n: o.fingerprint for n, o in walk.imported.items() if o.fresh})
    return walk.run()


class _Walk:
    def __init__(
        self,
        plan: Plan,
        store: Store,
        parts_of: PartsOf,
        bundles: Mapping[str, dict[str, Any]],
        failed: Mapping[str, str],
        unconfirmed: Mapping[str, list[str]],
    ) -> None:
        self.plan, self.store, self.parts_of, self.bundles, self.failed = plan, store, parts_of, bundles, failed
        self.unconfirmed = unconfirmed  # stage -> setup values taken from the last run, unchecked
        self.prints: dict[str, str] = {}  # output -> fingerprint recorded by its fresh producer
        self.found: dict[str, StageStatus] = {}
        self.imported: dict[str, ImportedOutput] = {}  # --in NAME@NOTEBOOK -> its producer elsewhere

    def run(self) -> dict[str, StageStatus]:
        for name in self.plan.order:
            self.found[name] = self._stage(name)
        return self.found

    def _stage(self, name: str) -> StageStatus:
        stage = self.plan.stages[name]
        if stage.header.no_cache:
            return StageStatus("unknown", "--no-cache: its results are not kept, so it runs every time")
        late = [p for p in self.plan.parents(name) if self.found[p].status != "fresh"]
        away = [self.imported[i] for i in stage.header.inputs if i in self.imported and not self.imported[i].fresh]
        if away and not late:
            return self._imported_late(stage, away[0])
        parts = None if late else self._parts(stage)
        if parts is None:
            return self._without_key(stage, late)
        key = stage_key(parts)
        try:
            manifest = self.store.lookup(key)
            previous = None if manifest is not None else self.store.latest_inputs(name)
        except CacheError as exc:
            return StageStatus("unknown", f"the store cannot be read: {exc.message}", key)
        if manifest is not None:
            self.prints.update({out: info.fingerprint for out, info in manifest.outputs.items()})
            names = self.unconfirmed.get(name)
            if names:
                shown = ", ".join(repr(n) for n in names)
                return StageStatus("fresh", f"up to date if setup values {shown} are as in the last run", key)
            return StageStatus("fresh", "up to date (in the cache)", key)
        if key in self.failed:
            return StageStatus("failed", f"its last run failed: {self.failed[key]}", key)
        if previous is None:
            return StageStatus("never-run", "never run", key)
        return StageStatus("stale", miss_reason(previous, parts), key)

    def _parts(self, stage: StagePlan) -> Any:
        try:
            setup = self.parts_of(stage)
        except (NbpipeError, KeyError):
            return None
        if setup is None:
            return None
        helpers, values, external = setup
        prints = {i: self.prints[i] for i in stage.header.inputs if i in self.plan.producers or i in self.imported}
        if len(prints) + len(external) < len(stage.header.inputs):
            return None
        return key_inputs(stage.header, stage.body, None, {**prints, **external}, self.plan.base_dir, (helpers, values))

    def _without_key(self, stage: StagePlan, late: list[str]) -> StageStatus:
        """The answer when the key cannot be computed: from upstream, else the saved bundle."""
        ran_before = self._ran_before(stage.name)
        if late:
            parent = self.found[late[0]]
            what = {"stale": "is stale", "never-run": "has not run", "failed": "failed"}.get(parent.status)
            if what is None:
                return StageStatus("unknown", f"upstream {late[0]!r}: {parent.reason}")
            if not ran_before:
                return StageStatus("never-run", f"never run (upstream {late[0]!r} {what})")
            return StageStatus("stale", f"upstream {late[0]!r} {what}")
        return self._code_changed(stage) or self._from_bundle(stage, ran_before)

    def _imported_late(self, stage: StagePlan, away: ImportedOutput) -> StageStatus:
        """The answer when an input from another notebook is not fresh there: its producer's status."""
        what = {"stale": "is stale", "never-run": "has not run", "failed": "failed"}.get(away.status)
        if what is None:
            return StageStatus("unknown", f"input {away.name!r} from {away.written}: {away.reason}")
        if not self._ran_before(stage.name):
            return StageStatus("never-run", f"never run (upstream {away.where()} {what})")
        return StageStatus("stale", f"upstream {away.where()} {what}")

    def _code_changed(self, stage: StagePlan) -> StageStatus | None:
        """Stale when the code or header differs from the stage's latest entry: no key is needed to know
        that (the setup memo knows only the code that ran, so an edited stage has no parts)."""
        try:
            previous = self.store.latest_inputs(stage.name)
        except CacheError:
            return None
        if previous is None:
            return None
        source = stage.body.partition("\n")[2]  # as key_inputs keeps it: the body's line 1 stands for the header
        now = KeyInputs(stage.name, normalize(stage.body), stage.header.canonical(), source=source)
        if (previous.code, previous.header) == (now.code, now.header):
            return None
        return StageStatus("stale", miss_reason(previous, now))

    def _ran_before(self, name: str) -> bool:
        try:
            return self.store.latest_inputs(name) is not None or name in self.bundles
        except CacheError:
            return name in self.bundles

    def _from_bundle(self, stage: StagePlan, ran_before: bool) -> StageStatus:
        saved = self.bundles.get(stage.name)
        if saved is None:
            if ran_before:
                return StageStatus("unknown", "ran before; run it (or nbpipe run) to know whether it is up to date")
            return StageStatus("never-run", "never run")
        if saved.get("status") == "failed":
            return StageStatus("failed", "its last run in the kernel failed")
        if saved.get("source_hash") != source_hash(stage.header.canonical(), stage.body):
            return StageStatus("stale", "code changed since it ran")
        key = str(saved.get("key") or "")
        try:
            manifest = self.store.lookup(key) if key else None
        except CacheError:
            manifest = None
        if manifest is None:
            return StageStatus("stale", "its saved result is not in the store")
        changed = [
            name
            for name, fp in manifest.key_inputs.inputs.items()
            if (name in self.plan.producers or name in self.imported) and self.prints.get(name) != fp
        ]
        if changed:
            return StageStatus("stale", f"input {changed[0]!r} changed", key)
        self.prints.update({out: info.fingerprint for out, info in manifest.outputs.items()})
        return StageStatus("fresh", "up to date (as saved in the notebook)", key)


def saved_bundles(nb: Notebook) -> dict[str, dict[str, Any]]:
    """Stage -> the last stage bundle saved in its cell's outputs."""
    found: dict[str, dict[str, Any]] = {}
    for cell in nb.stage_cells:
        saved = stage_bundle(cell)
        if saved is not None and cell.header is not None:
            found[cell.header.name] = saved
    return found


def failed_runs(store: Store, notebook: str, scan: int = 20) -> dict[str, str]:
    """Key -> error of the stages that failed in the latest run record of ``notebook``
    (among the newest ``scan`` records, :func:`nbpipe.runtime.records.recent_records`)."""
    from nbpipe.runtime.records import recent_records

    for record in recent_records(store, notebook, scan):
        return {
            str(s.get("key")): str(s.get("error") or "failed")
            for s in record.get("stages", [])
            if isinstance(s, dict) and s.get("status") == "failed" and s.get("key")
        }
    return {}


def analyze_with_status(path: str, content: Any = None) -> Graph:
    """The analyzer's graph of a notebook (saved, or its unsaved ``content``) with the status function's answer.

    Never runs the notebook's code: what the sidebar and ``nbpipe graph`` show.
    """
    from nbpipe.analysis import analyze
    from nbpipe.notebook import read

    nb = read(path, content)
    graph = analyze(nb)
    return with_status(graph, notebook_status(nb, graph=graph))


def notebook_status(
    nb: Notebook, store: Store | None = None, graph: Graph | None = None, visiting: frozenset[str] = frozenset()
) -> dict[str, StageStatus]:
    """The status of every stage of a saved notebook, without running any of its code (CLI, server).

    ``visiting``: notebooks whose status asked for this one's (``--in NAME@NOTEBOOK``; a cycle stops).
    """
    from nbpipe.errors import PipelineError
    from nbpipe.runtime.imports import upstream_outputs
    from nbpipe.runtime.plan import plan_notebook
    from nbpipe.runtime.setup_memo import SetupMemo

    try:
        plan = plan_notebook(nb, graph, imports=True)
    except PipelineError:
        return {}
    store = store or Store.for_notebook(nb.path)
    imported = upstream_outputs(plan, store, visiting) if plan.imported else {}
    memo = SetupMemo(plan, {}, store)
    unconfirmed: dict[str, list[str]] = {}

    def parts_of(stage: StagePlan) -> Any:
        found = memo.last_known(stage)
        if found is None:
            return None
        unconfirmed[stage.name] = found[1]
        return found[0]

    bundles, failed = saved_bundles(nb), failed_runs(store, os.path.basename(nb.path))
    return pipeline_status(plan, store, parts_of, bundles, failed, unconfirmed, imported)


def with_status(graph: Graph, statuses: Mapping[str, StageStatus]) -> Graph:
    """``graph`` with every stage's ``status`` and ``reason`` from the status function."""
    stages = tuple(
        dataclasses.replace(s, status=statuses[s.name].status, reason=statuses[s.name].reason)
        if s.name in statuses
        else s
        for s in graph.stages
    )
    return dataclasses.replace(graph, stages=stages)


def kernel_status(session: Any, nb: Notebook) -> list[dict[str, Any]]:
    """One row per stage of ``nb`` as a kernel sees it: ``{stage, status, reason}``.

    The setup parts come from the kernel's live namespace, the same rule the kernel's
    cache keys follow; a stage run in this kernel that failed is failed.
    """
    from nbpipe.runtime.imports import upstream_outputs
    from nbpipe.runtime.keys import stage_setup_parts
    from nbpipe.runtime.namespace import visible_names
    from nbpipe.runtime.plan import plan_notebook

    plan = plan_notebook(nb, imports=True)
    setup = visible_names(session.user_ns, session.ownership, session.hidden)

    def parts_of(stage: StagePlan) -> Any:
        try:
            return stage_setup_parts(stage.header, stage.body, setup, {**plan.producers, **plan.imported})
        except KeyError:  # an input this kernel does not have yet
            return None

    failed = {run.key: "failed in this kernel" for run in session.runs.values() if run.status == "failed" and run.key}
    imported = upstream_outputs(plan, session.store) if plan.imported else {}
    found = pipeline_status(plan, session.store, parts_of, saved_bundles(nb), failed, imported=imported)
    return [{"stage": name, "status": s.status, "reason": s.reason} for name, s in found.items()]
