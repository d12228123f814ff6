"""Running stages inside a live kernel (DESIGN §4): isolation, cache, checks, bundles.

:class:`KernelSession` is plain Python: the IPython glue (``nbpipe.magics``) hands
it the user namespace and an ``execute(body, namespace)`` callback that compiles
and runs code the way IPython does, so magics, ``!cmd`` and tracebacks keep working.
"""

from __future__ import annotations

import ast
import builtins
import functools
import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.store import Store
from nbpipe.errors import StageError
from nbpipe.model import StageHeader
from nbpipe.runtime import replay
from nbpipe.runtime.checks import check_unchanged, run_checks, watch
from nbpipe.runtime.keys import key_inputs, mutable_prints
from nbpipe.runtime.namespace import LiveStageNamespace, Ownership, SetupView, StageNamespace, bound_names
from nbpipe.runtime.replay import Recording, recording_streams
from nbpipe.runtime.stage_cache import Probe, StageCache
from nbpipe.source import python_tree, source_hash

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
        self._cache: StageCache | None = None
        self._notes: list[str] = []  # cache faults of the stage running now
        self.recording = Recording()  # what the stage running now shows (the magics add displays)
        self.replayer: Callable[[list[dict[str, Any]]], None] | None = None  # shows a restored stage's outputs

    @property
    def store(self) -> Store:
        """The artifact store (the one location rule: configured URL, ``NBPIPE_STORE``, beside the notebook)."""
        if self._store is None:
            # The kernel's working directory is the notebook's folder (Jupyter starts it there);
            # the front end's notebook path may be relative to the server root instead.
            self._store = Store.for_notebook(self.notebook_path(), self.store_url, base_dir=os.getcwd())
        return self._store

    @property
    def cache(self) -> StageCache:
        """The stage-cache protocol over :attr:`store`."""
        if self._cache is None or self._cache.store is not self.store:
            self._cache = StageCache(self.store, warn=self._notes.append)  # shown with the stage's summary
        return self._cache

    def notebook_path(self) -> str | None:
        """The notebook this kernel runs, if known: configured, or told by the front end."""
        for candidate in (
            self.notebook,
            self.user_ns.get("__session__"),
            os.environ.get("JPY_SESSION_NAME"),
            self.user_ns.get("__vsc_ipynb_file__"),
        ):
            if candidate and str(candidate).endswith((".ipynb", ".py")):  # .py: a jupytext percent notebook
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
            StageError: a missing input or output, a failed check, an input or setup
                object changed in place (NBP201), an output that cannot be cached.
            Exception: whatever the body raised (with its own traceback).
        """
        __tracebackhide__ = True
        imported = self._imported(header)
        self._check_inputs(header, imported)
        setup = SetupView(self.user_ns, self.ownership, self.hidden)  # looked up by name: cost ∝ what the stage reads
        inputs = {name: imported[name] if name in imported else self.user_ns[name] for name in header.inputs}
        record = StageRun(stage=header.name, status="ran", source_hash=source_hash(header.canonical(), body))
        parts = self.key_parts(header, body, setup, inputs)
        self._notes.clear()  # cache faults found by the probe or restore from here on are this stage's
        probe = self.cache.probe(parts, use=not header.no_cache)
        record.key = probe.key
        if probe.hit and self._restore(header, probe, record):
            return self._finish(header, record)
        record.reason = "--no-cache" if header.no_cache else self.cache.reason(probe)
        before = watch(header, inputs, mutable_prints(parts.params, setup))
        namespace = self._namespace(header, body, setup, inputs)
        initial = dict(namespace)
        self.ownership.headers[header.name] = header
        self.runs[header.name] = StageRun(stage=header.name, status="failed", key=record.key)
        started = time.perf_counter()
        self.recording = Recording()
        with recording_streams(self.recording):
            execute(body, namespace)
        record.seconds = time.perf_counter() - started
        bound = bound_names(initial, namespace)
        self._check_outputs(header, bound)
        run_checks(header, namespace)
        check_unchanged(header, before, {**{n: setup[n] for n in before if n in setup}, **inputs})
        outputs = {name: namespace[name] for name in header.outputs}
        if self.cache.save(probe, outputs, record.seconds, persist=not header.no_cache).saved:
            replay.save(self.store, probe.key, self.recording)
        record.warnings.extend(self._notes)
        self._publish(header, namespace, bound)
        return self._finish(header, record)

    def _namespace(self, header: StageHeader, body: str, setup: SetupView, inputs: Mapping[str, Any]) -> StageNamespace:
        """The body's globals: the setup names and builtins it mentions, its inputs, the view for the rest.

        Builtins are copied in too, so that a loop calling ``len`` does not go through
        ``__missing__`` on every call; precedence stays setup, then builtins.
        """
        initial: dict[str, Any] = {}
        table = vars(builtins)
        for name in _MODULE_NAMES | mentioned_names(body, header.checks):
            if name in setup:
                initial[name] = setup[name]
            elif name in table:
                initial[name] = table[name]
        initial.update(inputs)
        return LiveStageNamespace(initial, header, self.ownership, setup)

    def key_parts(
        self, header: StageHeader, body: str, setup: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> KeyInputs:
        """The stage's key parts from the live namespace (the same rule as every batch target)."""
        prints = {name: fingerprint(value, name) for name, value in inputs.items()}
        return key_inputs(header, body, setup, prints, self.base_dir())

    def base_dir(self) -> str:
        """Where relative ``--file-in`` paths point: the kernel's working directory (the notebook's folder)."""
        return os.getcwd()

    def _finish(self, header: StageHeader, record: StageRun) -> StageRun:
        self.ownership.headers[header.name] = header
        self.runs[header.name] = record
        return record

    def _imported(self, header: StageHeader) -> dict[str, Any]:
        """``--in NAME@NOTEBOOK``: the values restored from the store (never bound in the user namespace)."""
        if not header.notebook_inputs:
            return {}
        from nbpipe.runtime.imports import restore_imports

        return restore_imports(header, self.base_dir(), self.store)

    def _check_inputs(self, header: StageHeader, imported: Mapping[str, Any]) -> None:
        for name in header.inputs:
            if name in imported:
                continue
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

    def _restore(self, header: StageHeader, probe: Probe, record: StageRun) -> bool:
        values = self.cache.restore(probe, list(header.outputs))
        if values is None:
            return False
        self._bind(header, values, set())
        if self.replayer is not None:
            self.replayer(replay.load(self.store, probe.key))
        record.status, record.reason = "cached", "cached"
        record.warnings.extend(self._notes)
        record.seconds = float(probe.manifest.seconds) if probe.manifest is not None else 0.0
        return True


#: Module attributes the interpreter reads without naming them (a class body's ``__module__``
#: comes from ``__name__``, looked up in the globals dict directly, never through ``__missing__``).
_MODULE_NAMES = frozenset(
    {"__name__", "__doc__", "__package__", "__loader__", "__spec__", "__file__", "__builtins__", "__builtin__"}
)


@functools.lru_cache(maxsize=1024)
def mentioned_names(body: str, checks: tuple[str, ...] = ()) -> frozenset[str]:
    """Every name a body (or a ``--check`` expression) mentions in any role: all its code looks up by name."""
    trees = [_parsed(body, python_tree), *(_parsed(check, _expression) for check in checks)]
    return frozenset(node.id for tree in trees if tree for node in ast.walk(tree) if isinstance(node, ast.Name))


def _expression(source: str) -> ast.AST:
    return ast.parse(source, mode="eval")


def _parsed(source: str, parse: Callable[[str], ast.AST]) -> ast.AST | None:
    try:
        return parse(source)
    except (SyntaxError, ValueError):
        return None  # it fails when it runs, with its own message


def _missing_input_message(header: StageHeader, name: str) -> str:
    return f"stage {header.name!r} needs input {name!r}, which is not defined in this kernel"
