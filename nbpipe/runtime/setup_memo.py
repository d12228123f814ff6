"""The setup-derived key parts of a run, with the setup cells executed only when needed.

A stage key needs, from the setup cells, the source of the helpers the stage calls
and the values of the setup names it reads (DESIGN §6: values, never source). The
fast path remembers these parts in the store (a JSON document keyed by the setup
cells' sources and the parameter values) so that a fully cached re-run computes every
key without importing the notebook's libraries — but only where that is provably
sound: a remembered stage's parts may stand in for running the setup cells only if
every value among them is a literal of the source (``N = 10``, a parameter default
or override), whose value the memo key already pins. A stage reading a value that
comes from a call, the environment or an import (``os.environ[...]``,
``date.today()``, ``from config import T``) makes the run execute the setup cells and
take the value as it is now, in every target.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

from nbpipe.cache.keys import encode_param
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError
from nbpipe.runtime.execute import as_main, cached_setup
from nbpipe.runtime.keys import stage_setup_parts
from nbpipe.runtime.plan import Plan, StagePlan
from nbpipe.source import digest, normalize

MEMO_VERSION = 2

#: (helper sources, encoded setup values, fingerprints of inputs that setup provides)
Parts = tuple[dict[str, str], dict[str, Any], dict[str, str]]


def _parameters_shape(plan: Plan, overrides: dict[str, Any]) -> str:
    """What the memo depends on in the parameters cell: only its names when it binds literals only.

    Literal parameter values are known without running anything, so they are put into
    the remembered parts on use (:meth:`SetupMemo._current`) and a new value keeps the memo.
    """
    if _only_literals(plan.parameters_source, plan) and set(overrides) <= set(plan.defaults):
        return repr(sorted(plan.defaults))
    return normalize(plan.parameters_source) + repr(sorted((n, repr(v)) for n, v in overrides.items()))


def _only_literals(source: str, plan: Plan) -> bool:
    """Whether the parameters cell is nothing but ``name = literal`` lines (each in ``plan.defaults``)."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    names = [n.targets[0].id for n in body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)]
    return len(names) == len(body) and set(names) <= set(plan.defaults) and set(names) <= plan.static


def _token(stage: StagePlan) -> str:
    """A stage's entry in the memo: its header and normalised body (the plan's, computed once)."""
    return digest(stage.canonical, stage.code)


class SetupMemo:
    """Setup-derived key parts per stage: remembered where sound, else computed from the setup namespace."""

    def __init__(self, plan: Plan, overrides: dict[str, Any], store: Store) -> None:
        self.plan, self.overrides, self.store = plan, overrides, store
        self._namespace: dict[str, Any] | None = None
        self.current = {**plan.defaults, **overrides}  # parameter values of this run (literals)
        self.key = digest(
            f"nbpipe-setup-memo-v{MEMO_VERSION}",
            platform.python_version(),
            repr([normalize(source) for _, source in plan.setup]),
            _parameters_shape(plan, overrides),
        )
        self.parts: dict[str, Parts] = self._load()
        self._fresh: set[str] = set()  # tokens computed from the namespace in this process
        self._produced = {**plan.producers, **plan.imported}  # imported: fingerprinted where produced
        self.dirty = False

    @property
    def namespace(self) -> dict[str, Any]:
        """The setup namespace; the setup and parameters cells run on first access."""
        if self._namespace is None:
            self._namespace = cached_setup(self.plan, self.overrides)
        return self._namespace

    @property
    def executed(self) -> bool:
        """True once the setup cells have run in this process."""
        return self._namespace is not None

    def stage_parts(self, stage: StagePlan) -> Parts:
        """Helpers, setup values and setup-provided input fingerprints of a stage.

        Raises:
            KeyError: an input is neither produced by a stage nor bound by setup (the name).
        """
        token = _token(stage)
        found = self.parts.get(token)
        if found is not None and token in self._fresh:
            return found
        if found is not None and self._sound(found):
            return self._current(found)
        found = self.parts[token] = self._compute(stage)
        self._fresh.add(token)
        self.dirty = True
        return found

    def remembered(self, stage: StagePlan) -> Parts | None:
        """The stage's parts if the memo may stand in for the setup cells (never executes anything)."""
        found = self.parts.get(_token(stage))
        return self._current(found) if found is not None and self._sound(found) else None

    def last_known(self, stage: StagePlan) -> tuple[Parts, list[str]] | None:
        """The stage's parts as of the last run, and the setup values among them that only running
        the setup cells would confirm (computed by calls, read from the environment or files)."""
        found = self.parts.get(_token(stage))
        if found is None:
            return None
        _helpers, values, external = found
        return self._current(found), sorted((values.keys() | external.keys()) - self.plan.static)

    def _current(self, parts: Parts) -> Parts:
        """Remembered parts with this run's parameter values (literals: known without running anything)."""
        helpers, values, external = parts
        if not self.current.keys() & values.keys():
            return parts
        now = {n: encode_param(n, self.current[n]) if n in self.current else v for n, v in values.items()}
        return helpers, now, external

    def _sound(self, parts: Parts) -> bool:
        """Every value among the parts follows from the source the memo key pins."""
        _helpers, values, external = parts
        return self.plan.static.issuperset(values) and self.plan.static.issuperset(external)

    def _compute(self, stage: StagePlan) -> Parts:
        with as_main(self.namespace):  # setup classes pickle as __main__.X, as in the kernel
            return stage_setup_parts(stage.header, stage.body, self.namespace, self._produced)

    def _load(self) -> dict[str, Parts]:
        data = self.store.read_document(f"memo/{self.key}.json")
        if not isinstance(data, dict) or data.get("version") != MEMO_VERSION:
            return {}
        parts: dict[str, Parts] = {}
        for token, entry in (data.get("stages") or {}).items():
            try:
                helpers, values, prints = entry["helpers"], entry["values"], entry["inputs"]
                if all(isinstance(x, dict) for x in (helpers, values, prints)):
                    parts[str(token)] = (
                        dict(helpers),
                        {n: encode_param(n, v) for n, v in values.items()},
                        dict(prints),
                    )
            except (KeyError, TypeError, CacheError):
                continue
        return parts

    def save(self, unwritable: Callable[[CacheError], None]) -> None:
        """Remember the parts in the store (a failure only costs the next run time).

        Args:
            unwritable: how the run reports a store it cannot write (once per run).
        """
        if not self.dirty:
            return
        stages = {t: {"helpers": h, "values": v, "inputs": i} for t, (h, v, i) in self.parts.items()}
        try:
            self.store.write_document(f"memo/{self.key}.json", {"version": MEMO_VERSION, "stages": stages})
        except CacheError as exc:
            unwritable(exc)
        self.dirty = False
