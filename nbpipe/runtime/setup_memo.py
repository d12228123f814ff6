"""The setup namespace of a run, executed only when needed.

A stage key needs two things from the setup cells: the source of the helpers the
stage calls and the values of the parameters and constants it reads. Both follow
from the setup cells' sources and the parameter values, so they are remembered in
the store under a hash of exactly those. A fully cached re-run then computes every
key without importing the notebook's libraries (scikit-learn alone takes seconds),
and loads no payload at all. Setup cells must be deterministic for this, as they
must be anyway for the notebook and the batch run to agree.
"""

from __future__ import annotations

import platform
import warnings
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError
from nbpipe.runtime.execute import as_main, cached_setup
from nbpipe.runtime.keys import setup_parts
from nbpipe.runtime.plan import Plan, StagePlan
from nbpipe.source import digest, normalize

MEMO_STAGE = "__setup__"

#: (helper sources, parameter values, fingerprints of inputs that setup provides)
Parts = tuple[dict[str, str], dict[str, Any], dict[str, str]]


class SetupMemo:
    """Setup-derived key parts per stage, computed once per setup and remembered."""

    def __init__(self, plan: Plan, overrides: dict[str, Any], store: Store) -> None:
        self.plan, self.overrides, self.store = plan, overrides, store
        self._namespace: dict[str, Any] | None = None
        self.key = digest(
            "nbpipe-setup-memo-v1",
            platform.python_version(),
            repr([normalize(source) for _, source in plan.setup]),
            normalize(plan.parameters_source),
            repr(sorted(overrides.items())),
        )
        self.parts: dict[str, Parts] = self._load()
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
        """Helpers, parameter values and setup-provided input fingerprints of a stage.

        Raises:
            KeyError: an input is neither produced by a stage nor bound by setup (the name).
        """
        token = digest(stage.header.canonical(), normalize(stage.body))
        if token not in self.parts:
            self.parts[token] = self._compute(stage)
            self.dirty = True
        return self.parts[token]

    def _compute(self, stage: StagePlan) -> Parts:
        header = stage.header
        visible = {k: v for k, v in self.namespace.items() if k not in header.inputs}
        helpers, params = setup_parts(header, stage.body, visible)
        external = [i for i in header.inputs if i not in self.plan.producers]
        missing = [i for i in external if i not in self.namespace]
        if missing:
            raise KeyError(missing[0])
        with as_main(self.namespace):
            prints = {i: fingerprint(self.namespace[i], i) for i in external}
        return helpers, params, prints

    def _load(self) -> dict[str, Parts]:
        try:
            manifest = self.store.lookup(self.key)
            if manifest is None:
                return {}
            loaded = self.store.load(manifest, "parts")
        except CacheError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def save(self) -> None:
        """Remember new parts in the store (a failure only costs the next run time)."""
        if not self.dirty:
            return
        empty = KeyInputs(stage=MEMO_STAGE, code="", header="", helpers={}, inputs={}, params={}, files={})
        try:
            self.store.save(MEMO_STAGE, self.key, empty, {"parts": self.parts}, {"parts": fingerprint(self.parts)}, 0.0)
        except CacheError as exc:
            warnings.warn(f"nbpipe: setup memo not saved: {exc.message}", stacklevel=2)
        self.dirty = False
