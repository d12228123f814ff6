"""Executing setup cells and stage bodies outside a kernel (every batch target).

Cells are compiled under a ``<cell N>`` file name registered with ``linecache``, so
tracebacks show the cell's own lines and ``inspect.getsource`` finds setup helpers
(the stage key hashes their source, exactly as in the kernel).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import linecache
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

from nbpipe.errors import StageError
from nbpipe.model import cell_label
from nbpipe.runtime.checks import check_unchanged, run_checks, watch
from nbpipe.runtime.namespace import Ownership, StageNamespace, bound_names
from nbpipe.runtime.plan import Plan, StagePlan
from nbpipe.runtime.shell import get_ipython
from nbpipe.source import batch_tree, code_lines


def cell_filename(notebook: str, cell: int) -> str:
    """The pseudo file name a cell is compiled under (tracebacks show it; -1: the parameters as overridden)."""
    return f"<{notebook} parameters>" if cell < 0 else f"<{notebook} {cell_label(cell)}>"


def exec_cell(source: str, filename: str, namespace: dict[str, Any]) -> None:
    """Run one cell's code in ``namespace`` (IPython syntax transformed, session magics dropped)."""
    lines = code_lines(source)
    linecache.cache[filename] = (len(source), None, lines, filename)
    tree = batch_tree(source, filename)
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - running the user's notebook is the job


def setup_namespace(plan: Plan, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Run the setup cells and the parameters cell, then apply parameter overrides."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": get_ipython}
    with as_main(namespace):
        for index, source in plan.setup:
            exec_cell(source, cell_filename(plan.notebook, index), namespace)
        if plan.parameters_source:
            exec_cell(plan.parameters_source, cell_filename(plan.notebook, -1), namespace)
    namespace.update(overrides)
    return namespace


_SETUP_CACHE: dict[str, dict[str, Any]] = {}


def forget_setup() -> None:
    """Start afresh: the next :func:`cached_setup` runs the setup cells again (a new run reads the
    environment, the clock and files anew, as a new kernel would)."""
    _SETUP_CACHE.clear()


def cached_setup(plan: Plan, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The setup namespace of a plan, built once per run and parameter set.

    The coordinator (for keys) and in-process stage jobs share it, so setup cells run
    once per run, as they run once per kernel; each run starts with :func:`forget_setup`.
    """
    token = json.dumps([plan.notebook, plan.setup, plan.parameters_source, repr(sorted(overrides.items()))])
    if token not in _SETUP_CACHE:
        _SETUP_CACHE.clear()
        _SETUP_CACHE[token] = setup_namespace(plan, overrides)
    return _SETUP_CACHE[token]


class _MainModule:
    """A module-like object whose attributes are a namespace (what IPython does for its user module)."""


@contextlib.contextmanager
def as_main(namespace: dict[str, Any]) -> Iterator[None]:
    """Make ``namespace`` the ``__main__`` module while setup and stages run.

    Classes and functions defined in setup cells belong to ``__main__``, as in the
    kernel, so pickle finds them by reference: a stage output that is an instance of a
    setup class can be stored, fingerprinted and restored identically by every target.
    """
    module = _MainModule()
    module.__dict__ = namespace
    previous = sys.modules.get("__main__")
    sys.modules["__main__"] = module  # type: ignore[assignment]
    try:
        yield
    finally:
        if previous is not None:
            sys.modules["__main__"] = previous


def plan_ownership(plan: Plan) -> Ownership:
    """Which stage outputs which name: for isolation messages in batch runs.

    O(stages): built only when a stage's NameError needs explaining, then kept for the plan.
    """
    found = _OWNERSHIP.get(id(plan))
    if found is None or found[0] is not plan:
        own = Ownership()
        own.outputs.update(plan.producers)
        own.headers.update({name: s.header for name, s in plan.stages.items()})
        _OWNERSHIP.clear()
        found = _OWNERSHIP[id(plan)] = (plan, own)
    return found[1]


_OWNERSHIP: dict[int, tuple[Plan, Ownership]] = {}


def run_body(
    plan: Plan,
    stage: StagePlan,
    setup: Mapping[str, Any],
    inputs: Mapping[str, Any],
    setup_prints: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], float]:
    """Execute a stage body with its setup names and inputs; returns (outputs, seconds).

    Args:
        setup_prints: fingerprints of the setup values the stage reads (NBP201 checks them).

    Raises:
        StageError: a declared output is not bound, a ``--check`` fails, or an input or
            setup object was changed in place (NBP201).
        Exception: whatever the body raised.
    """
    before = watch(stage.header, inputs, setup_prints or {})
    namespace = StageNamespace({**setup, **inputs}, stage.header, lambda: plan_ownership(plan))
    initial = dict(namespace)
    started = time.perf_counter()
    try:
        exec_cell(stage.body, cell_filename(plan.notebook, stage.cell), namespace)
    except NameError as exc:
        namespace.explain(exc)
        raise
    seconds = time.perf_counter() - started
    bound = bound_names(initial, namespace)
    missing = [n for n in stage.header.outputs if n not in bound]
    if missing:
        raise StageError(
            f"stage {stage.name!r} declares output {', '.join(repr(m) for m in missing)} but its body never binds it",
            hint=f"assign {missing[0]} in the cell, or remove it from --out",
            stage=stage.name,
            cell=stage.cell,
        )
    run_checks(stage.header, namespace)
    check_unchanged(stage.header, before, {**setup, **inputs})
    return {name: namespace[name] for name in stage.header.outputs}, seconds
