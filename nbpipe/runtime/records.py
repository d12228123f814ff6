"""Run records (DESIGN §7, contract ``"version": 1``): the lineage of every artifact."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

from nbpipe._version import __version__

RECORD_VERSION = 1


def now() -> str:
    """The current time, ISO-8601 with timezone."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%f") + "-" + uuid.uuid4().hex[:8]


@dataclass
class StageRecord:
    """One stage of a run."""

    name: str
    key: str = ""
    status: str = "pending"  # ran | cached | failed | skipped
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    seconds: float = 0.0
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {fingerprint, bytes}
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The contract form (extra fields are additive)."""
        data: dict[str, Any] = {
            "name": self.name,
            "key": self.key,
            "status": self.status,
            "reason": self.reason,
            "started": self.started,
            "finished": self.finished,
            "seconds": round(self.seconds, 6),
            "outputs": self.outputs,
        }
        if self.error:
            data["error"] = self.error
        if self.traceback:
            data["traceback"] = self.traceback
        if self.attempts > 1:
            data["attempts"] = self.attempts
        return data


def versions() -> dict[str, str]:
    """Python, nbpipe and the versions of third-party top-level modules imported so far."""
    found = {"python": platform.python_version(), "nbpipe": __version__}
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    for name, module in sorted(sys.modules.items()):
        if "." in name or name.startswith("_") or name in stdlib or name == "nbpipe":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some packages deprecate __version__
            version = getattr(module, "__version__", None)
        if isinstance(version, str):
            found[name] = version
    return found


def git_commit(folder: str) -> str | None:
    """The commit of the git repository holding ``folder``, if any."""
    try:
        out = subprocess.run(
            ["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_record(
    run_id: str,
    notebook: str,
    target: str,
    params: dict[str, Any],
    started: str,
    stages: list[StageRecord],
    git: str | None,
) -> dict[str, Any]:
    """Assemble the run record dict."""
    failed = any(s.status == "failed" for s in stages)
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "run_id": run_id,
        "notebook": notebook,
        "target": target,
        "params": params,
        "started": started,
        "finished": now(),
        "status": "failed" if failed else "ok",
        "stages": [s.to_dict() for s in stages],
        "versions": versions(),
    }
    if git:
        record["git_commit"] = git
    return record
