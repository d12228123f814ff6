"""Stage status in a live kernel: fresh, stale, never-run or failed, and why."""

from __future__ import annotations

import os
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import miss_reason, stage_key
from nbpipe.errors import CacheError
from nbpipe.notebook import Notebook
from nbpipe.runtime.kernel import KernelSession
from nbpipe.runtime.keys import key_inputs
from nbpipe.runtime.namespace import visible_names
from nbpipe.source import source_hash


def kernel_status(session: KernelSession, nb: Notebook) -> list[dict[str, Any]]:
    """One row per stage of ``nb``: ``{stage, status, reason}``."""
    rows = []
    for cell in nb.stage_cells:
        assert cell.header is not None
        header, run = cell.header, session.runs.get(cell.header.name)
        current = source_hash(header.canonical(), cell.body)
        if run is None:
            status, reason = "never-run", _would_run(session, cell.header, cell.body)
        elif run.status == "failed":
            status, reason = "failed", "the last run in this kernel failed"
        elif run.source_hash != current:
            status, reason = "stale", "code changed since it ran in this kernel"
        else:
            status, reason = "fresh", "cached" if run.status == "cached" else f"ran: {run.reason}"
        rows.append({"stage": header.name, "status": status, "reason": reason})
    return rows


def _would_run(session: KernelSession, header: Any, body: str) -> str:
    """Why the stage would run now (or that the cache has it)."""
    missing = [n for n in header.inputs if n not in session.user_ns]
    if missing:
        return f"input {missing[0]!r} not in this kernel yet"
    try:
        prints = {n: fingerprint(session.user_ns[n], n) for n in header.inputs}
        setup = visible_names(session.user_ns, session.ownership, session.hidden)
        parts = key_inputs(header, body, setup, prints, os.getcwd())
        if session.store.lookup(stage_key(parts)) is not None:
            return "in the cache: running the cell restores it"
        previous = session.store.latest_inputs(header.name)
    except CacheError as exc:
        return f"cannot tell: {exc.message}"
    return miss_reason(previous, parts)
