"""What a stage reads from another notebook (``--in NAME@NOTEBOOK``), without running anything.

The producing stage's status comes from the one status function
(:func:`nbpipe.runtime.status.notebook_status`) over the producing notebook as it is
now, in the store the reader uses (``Store.for_notebook(producer, store.url)``: one
store, scoped by notebook). A fresh producer gives the output's recorded fingerprint
(Merkle style, for the reader's key and status) and its entry (the kernel restores
the value from it); any other status says why and how to produce it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, NbpipeError, StageError
from nbpipe.model import StageHeader
from nbpipe.runtime.plan import Plan
from nbpipe.runtime.stage_cache import InputLost, StageCache


@dataclass(frozen=True)
class ImportedOutput:
    """An output of another notebook as a reading stage sees it."""

    name: str  # the output
    written: str  # the notebook as written after '@' (relative to the reader)
    path: str  # the notebook's path (relative to the current directory when the reader's is)
    stage: str = ""  # the producing stage ("" when the notebook or the output is missing)
    status: str = "missing"  # the producing stage's status (status.py), or "missing"
    reason: str = ""  # why it is not fresh
    key: str = ""  # the producing stage's key when known
    fingerprint: str = ""  # the output's recorded fingerprint when fresh
    store: str = ""  # the store looked in, when it is not the producing notebook's own default

    @property
    def fresh(self) -> bool:
        """True when the store holds the output for the producing notebook's current source."""
        return self.status == "fresh" and bool(self.fingerprint)

    def where(self) -> str:
        """``stage 'featurize' of prep.py``, or the notebook alone when no stage outputs the name."""
        return f"stage {self.stage!r} of {self.written}" if self.stage else self.written

    def how_to_produce(self) -> str:
        """The exact command (or cell) that produces it."""
        if self.status == "missing":
            return f"fix --in {self.name}@{self.written} (nbpipe check shows the notebooks it joins)"
        store = f" --store {self.store}" if self.store else ""
        return (
            f"run nbpipe run {self.path}{store} (or run stage {self.stage!r} in {self.written} with its upstream: "
            f"%nbpipe run {self.stage}), then run this cell again"
        )

    def state(self) -> str:
        """What is wrong with it, for a message: ``has not run``, ``is stale (code changed (line 2))``."""
        if self.status == "missing":
            return self.reason
        what = {"stale": "is stale", "never-run": "has not run", "failed": "failed"}.get(self.status, "is not cached")
        return f"{what} ({self.reason})" if self.reason and self.status != "never-run" else what


def upstream_outputs(plan: Plan, store: Store, visiting: frozenset[str] = frozenset()) -> dict[str, ImportedOutput]:
    """Each ``--in NAME@NOTEBOOK`` input of ``plan`` with its producing stage's status."""
    return {
        name: imported_output(plan.base_dir, name, written, store, visiting) for name, written in plan.imported.items()
    }


def imported_output(
    base_dir: str, name: str, written: str, store: Store, visiting: frozenset[str] = frozenset()
) -> ImportedOutput:
    """Output ``name`` of the notebook ``written`` (relative to ``base_dir``), as the store holds it now.

    Args:
        base_dir: the reading notebook's folder.
        name: the output read.
        written: the notebook as written after '@'.
        store: the reader's store (the producer is looked up in it, scoped by its file name).
        visiting: notebooks whose status is being computed (a cycle across notebooks stops here).
    """
    from nbpipe.notebook import read
    from nbpipe.runtime.status import notebook_status

    path = os.path.normpath(os.path.join(base_dir, written))
    shown = os.path.relpath(path) if not os.path.isabs(written) else path
    found = ImportedOutput(name, written, shown)
    if path in visiting:
        return _replace(found, reason=f"notebooks read each other's outputs through {written}")
    try:
        nb = read(path)
    except NbpipeError as exc:
        return _replace(found, reason=f"notebook {written!r} cannot be read: {exc.message}")
    producers = [c.header.name for c in nb.stage_cells if c.header is not None and name in c.header.outputs]
    if not producers:
        return _replace(found, reason=f"no stage of {written} outputs {name!r}")
    sub = Store.for_notebook(path, store.url)
    if Store.for_notebook(path).url != sub.url:
        found = _replace(found, store=sub.url)
    status = notebook_status(nb, sub, visiting=visiting | {path}).get(producers[0])
    if status is None:
        return _replace(found, stage=producers[0], status="unknown", reason=f"{written} cannot be planned")
    if status.status == "unknown":  # ran in a kernel, nothing saved in the file: its last entry, if the code is
        status = last_run(nb, producers[0], sub) or status
    return _replace(
        found,
        stage=producers[0],
        status=status.status,
        reason=status.reason,
        key=status.key,
        fingerprint=_fingerprint(sub, status.key, name) if status.status == "fresh" else "",
    )


def restore_imports(header: StageHeader, base_dir: str, store: Store) -> dict[str, Any]:
    """The values of a stage's ``--in NAME@NOTEBOOK`` inputs, restored from the store (the kernel).

    An input is restored only when its producing stage is cached for the producing
    notebook's current source; the kernel never runs another notebook's code.

    Raises:
        StageError: an input whose producer is not cached, naming it, why, and the command that produces it.
    """
    values: dict[str, Any] = {}
    for name, written in header.notebook_inputs:
        found = imported_output(base_dir, name, written, store)
        detail = found.reason if found.status == "missing" else f"{found.where()} {found.state()}"
        if found.fresh:
            try:
                values[name] = StageCache(store).load_input(name, found.key, name)
                continue
            except InputLost as exc:
                detail = f"its entry in the store is gone: {exc.message}"
        raise StageError(
            f"stage {header.name!r} reads {name!r} from {written}, which this kernel restores from the store "
            f"only when it is cached for {written} as it is now; {detail}",
            hint=found.how_to_produce(),
            stage=header.name,
        )
    return values


def last_run(nb: Any, stage: str, store: Store) -> Any:
    """The producing stage's latest entry as a fresh status when it ran the stage's current code and header.

    A notebook run in a kernel (a percent notebook keeps no outputs in its file, and a notebook
    may be unsaved) leaves no setup memo and no saved bundle: the status function cannot compute
    the key without running its setup cells, and says "unknown". The kernel's entry of the same
    code is the best answer there is; the reason says so.
    """
    from nbpipe.runtime.status import StageStatus
    from nbpipe.source import normalize

    cell = next(c for c in nb.stage_cells if c.header is not None and c.header.name == stage)
    try:
        latest = store.latest(stage)
    except CacheError:
        return None
    if latest is None or latest.key_inputs.header != cell.header.canonical():
        return None
    if latest.key_inputs.code != normalize(cell.body):
        return None
    return StageStatus("fresh", "as it last ran (same code and header)", latest.key)


def _fingerprint(store: Store, key: str, name: str) -> str:
    try:
        manifest = store.lookup(key) if key else None
    except CacheError:
        return ""
    info = manifest.outputs.get(name) if manifest is not None else None
    return info.fingerprint if info is not None else ""


def _replace(found: ImportedOutput, **fields: str) -> ImportedOutput:
    import dataclasses

    return dataclasses.replace(found, **fields)
