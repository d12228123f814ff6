"""Running stages inside a live kernel (DESIGN §4): isolation, cache, checks, bundles.

:class:`KernelSession` is plain Python: the IPython glue (``nbpipe.magics``) hands
it the user namespace and an ``execute(body, namespace)`` callback that compiles
and runs code the way IPython does, so magics, ``!cmd`` and tracebacks keep working.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs, miss_reason, stage_key
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, StageError
from nbpipe.model import StageHeader
from nbpipe.runtime.checks import run_checks
from nbpipe.runtime.keys import key_inputs
from nbpipe.runtime.namespace import Ownership, StageNamespace, bound_names, visible_names
from nbpipe.source import source_hash

Execute = Callable[[str, StageNamespace], None]


@dataclass
class StageRun:
    """What happened when a stage ran in the kernel."""

    stage: str
    status: str  # "ran" | "cached" | "failed"
    key: str = ""
    source_hash: str = ""
    seconds: float = 0.0  # time the body took (for a hit: the time saved)
    reason: str = ""  # why the stage ran (miss reason) or "cached"
    mutated: list[str] = field(default_factory=list)  # inputs changed in place (NBP201)
    warnings: list[str] = field(default_factory=list)

    def bundle(self) -> dict[str, Any]:
        """The ``application/vnd.nbpipe.stage+json`` payload (DESIGN §4.6)."""
        return {
            "stage": self.stage,
            "key": self.key,
            "source_hash": self.source_hash,
            "status": self.status,
            "seconds": round(self.seconds, 6),
        }

    def summary(self) -> str:
        """One line for text front ends."""
        if self.status == "cached":
            return f"stage {self.stage!r} restored from cache [{self.key[:10]}], saved {self.seconds:.2f}s"
        if self.status == "failed":
            return f"stage {self.stage!r} failed"
        return f"stage {self.stage!r} ran in {self.seconds:.2f}s ({self.reason})"


class KernelSession:
    """The stages run in one kernel: who bound what, their last runs, the cache."""

    def __init__(self, user_ns: MutableMapping[str, Any], hidden: set[str] | None = None) -> None:
        self.user_ns = user_ns
        self.hidden = set(hidden or ())
        self.ownership = Ownership()
        self.runs: dict[str, StageRun] = {}
        self.store_url: str | None = os.environ.get("NBPIPE_STORE")
        self.notebook: str | None = None
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The artifact store: configured URL, else ``.nbpipe/`` in the working directory."""
        if self._store is None:
            scope = os.path.basename(self.notebook_path() or "")
            self._store = Store(self.store_url or os.path.join(os.getcwd(), ".nbpipe"), scope=scope)
        return self._store

    def notebook_path(self) -> str | None:
        """The notebook this kernel runs, if known: configured, or told by the front end."""
        for candidate in (
            self.notebook,
            self.user_ns.get("__session__"),
            os.environ.get("JPY_SESSION_NAME"),
            self.user_ns.get("__vsc_ipynb_file__"),
        ):
            if candidate and str(candidate).endswith(".ipynb"):
                return str(candidate)
        return None

    def configure(self, key: str, value: str) -> None:
        """``%nbpipe config KEY=VALUE``: ``store`` or ``notebook``."""
        if key == "store":
            self.store_url, self._store = value, None
        elif key == "notebook":
            self.notebook, self._store = value, None
        else:
            raise StageError(f"unknown setting {key!r}", hint="settings: store=URL, notebook=PATH")

    def run(self, header: StageHeader, body: str, execute: Execute) -> StageRun:
        """Run one stage: check inputs, restore or execute, check outputs, publish back.

        Raises:
            StageError: a missing input, a missing output or a failed check.
            Exception: whatever the body raised (with its own traceback).
        """
        __tracebackhide__ = True
        self._check_inputs(header)
        setup = visible_names(self.user_ns, self.ownership, self.hidden)
        inputs = {name: self.user_ns[name] for name in header.inputs}
        before = {name: fingerprint(value, name) for name, value in inputs.items()}
        record = StageRun(stage=header.name, status="ran", source_hash=source_hash(header.canonical(), body))
        parts = key_inputs(header, body, setup, before, os.getcwd())
        record.key = stage_key(parts)
        shared = {n: fingerprint(v, n) for n, v in parts.params.items() if isinstance(v, (list, dict, set))}
        if not header.no_cache and self._restore(header, record):
            return self._finish(header, record)
        record.reason = "--no-cache" if header.no_cache else self._miss_reason(header, parts)
        namespace = StageNamespace({**setup, **inputs}, header, self.ownership)
        initial = dict(namespace)
        self.ownership.headers[header.name] = header
        self.runs[header.name] = StageRun(stage=header.name, status="failed", key=record.key)
        started = time.perf_counter()
        execute(body, namespace)
        record.seconds = time.perf_counter() - started
        bound = bound_names(initial, namespace)
        self._check_outputs(header, bound)
        run_checks(header, namespace)
        record.mutated = [n for n in header.inputs if _changed(namespace.get(n), before[n], n)]
        record.mutated += [n for n, fp in shared.items() if _changed(setup[n], fp, n)]
        self._publish(header, namespace, bound)
        self._save(header, parts, namespace, record)
        return self._finish(header, record)

    def _finish(self, header: StageHeader, record: StageRun) -> StageRun:
        self.ownership.headers[header.name] = header
        self.runs[header.name] = record
        return record

    def _check_inputs(self, header: StageHeader) -> None:
        for name in header.inputs:
            owner = self.ownership.owner(name)
            if owner and owner[1] == "local" and owner[0] != header.name:
                raise StageError(
                    f"stage {header.name!r} declares input {name!r}, but stage {owner[0]!r} binds it only as a local",
                    hint=f"add {name!r} to the --out of stage {owner[0]!r} and run it again",
                    stage=header.name,
                )
            if name not in self.user_ns:
                raise StageError(_missing_input_message(header, name), hint=self._missing_hint(name), stage=header.name)

    def _missing_hint(self, name: str) -> str:
        producer = self.ownership.producer(name)
        if producer is not None:
            return (
                f"stage {producer!r} outputs it but has not run successfully: run its cell, or %nbpipe run {producer}"
            )
        return "run the stage whose --out lists it first (%nbpipe run STAGE runs a stage with its upstream)"

    def _check_outputs(self, header: StageHeader, bound: set[str]) -> None:
        missing = [n for n in header.outputs if n not in bound]
        if missing:
            names = ", ".join(repr(n) for n in missing)
            raise StageError(
                f"stage {header.name!r} declares output {names} but its body never binds it",
                hint=f"assign {missing[0]} in the cell, or remove it from --out",
                stage=header.name,
            )

    def _publish(self, header: StageHeader, namespace: StageNamespace, bound: set[str]) -> None:
        outputs = set(header.outputs)
        local_names = {n for n in bound if n not in outputs and not n.startswith("__")}
        self._bind(header, {name: namespace[name] for name in outputs | local_names}, local_names)

    def _bind(self, header: StageHeader, values: dict[str, Any], local_names: set[str]) -> None:
        """Put a stage's values in the user namespace; drop what its previous run bound and this one did not."""
        for name in self.ownership.claim(header.name, set(header.outputs), local_names):
            self.user_ns.pop(name, None)
        self.user_ns.update(values)

    def _restore(self, header: StageHeader, record: StageRun) -> bool:
        try:
            manifest = self.store.lookup(record.key)
            if manifest is None:
                return False
            values = {name: self.store.load(manifest, name) for name in header.outputs}
        except CacheError as exc:
            warnings.warn(f"nbpipe: cache entry {record.key[:10]} ignored: {exc.message}", stacklevel=2)
            return False
        self._bind(header, values, set())
        record.status, record.reason, record.seconds = "cached", "cached", float(manifest.seconds)
        return True

    def _miss_reason(self, header: StageHeader, parts: KeyInputs) -> str:
        try:
            previous = self.store.latest_inputs(header.name)
        except CacheError:
            previous = None
        return miss_reason(previous, parts)

    def _save(self, header: StageHeader, parts: KeyInputs, namespace: StageNamespace, record: StageRun) -> None:
        if header.no_cache:
            return
        outputs = {name: namespace[name] for name in header.outputs}
        try:
            prints = {name: fingerprint(value, name) for name, value in outputs.items()}
            self.store.save(header.name, record.key, parts, outputs, prints, record.seconds)
        except CacheError as exc:
            record.warnings.append(f"not cached: {exc.message}")


def _changed(value: object, before: str, name: str) -> bool:
    try:
        return fingerprint(value, name) != before
    except CacheError:
        return False


def _missing_input_message(header: StageHeader, name: str) -> str:
    return f"stage {header.name!r} needs input {name!r}, which is not defined in this kernel"
