"""The one stage-cache protocol, with one fault policy, for every target.

key parts → :meth:`StageCache.probe` (hit, or miss with its reason) → :meth:`restore`,
or run the body → :meth:`save` (fingerprints, then the entry and the stage pointer).
The kernel, ``nbpipe run`` (in-process, ``--jobs``, Dask), the exported script, the
papermill stage notebooks and the Airflow tasks all go through this class, so they
compute the same key and answer faults the same way:

- the store cannot be read or written (full, read-only, unreachable): the run goes
  on uncached, with one warning per run;
- an entry is corrupt or has vanished: a miss with a warning (the stage runs again);
  an input whose entry is lost raises :class:`InputLost`, and the coordinator re-runs
  its producer;
- an output that cannot be fingerprinted (a lambda, a generator, an open file) fails
  the stage, naming the variable and its type: it could be neither cached nor passed
  to another stage, in any target.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs, miss_reason, stage_key
from nbpipe.cache.manifest import Manifest
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError, StageError


class InputLost(CacheError):
    """Raised when a stage's input entry is missing or corrupt in the store: its producer must run again."""

    def __init__(self, name: str, key: str, detail: str) -> None:
        super().__init__(f"input {name!r} ({key[:10]}) is not in the store: {detail}", hint="its producer runs again")
        self.name = name
        self.key = key


@dataclass(frozen=True)
class Probe:
    """The answer of the cache for one stage key."""

    key: str
    parts: KeyInputs
    manifest: Manifest | None  # the entry on a hit

    @property
    def hit(self) -> bool:
        """True when the store holds a complete entry for the key."""
        return self.manifest is not None

    def fingerprints(self) -> dict[str, str]:
        """Output name -> fingerprint recorded in the entry (a hit), without loading any payload."""
        assert self.manifest is not None
        return {name: info.fingerprint for name, info in self.manifest.outputs.items()}


@dataclass
class Saved:
    """What :meth:`StageCache.save` did."""

    fingerprints: dict[str, str]
    sizes: dict[str, int] = field(default_factory=dict)
    saved: bool = False


def warn_once(seen: set[str]) -> Callable[[str], None]:
    """A warning callback that shows each distinct message once."""

    def warn(message: str) -> None:
        if message not in seen:
            seen.add(message)
            warnings.warn(f"nbpipe: {message}", stacklevel=3)

    return warn


class StageCache:
    """Probe, restore and save stage results in one store with one fault policy.

    Args:
        store: the artifact store.
        warn: how to report a fault (default: a Python warning, each message once).
    """

    def __init__(self, store: Store, warn: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.warn = warn or warn_once(set())
        self._unwritable = False  # after the first failed write, the run goes on uncached

    def probe(self, parts: KeyInputs, use: bool = True) -> Probe:
        """The key of ``parts`` and, if ``use``, the entry the store holds for it."""
        key = stage_key(parts)
        manifest = None
        if use:
            try:
                manifest = self.store.lookup(key)
            except CacheError as exc:
                self.warn(f"cache entry of stage {parts.stage!r} ignored: {exc.message}")
        return Probe(key, parts, manifest)

    def hit(self, probe: Probe) -> None:
        """Note a hit as the stage's latest entry for this notebook (its next miss reason compares with it)."""
        assert probe.manifest is not None
        try:
            self.store.mark_latest(probe.manifest)
        except CacheError as exc:
            self.warn(f"stage pointer not updated: {exc.message}")

    def reason(self, probe: Probe) -> str:
        """Why the stage misses: the first difference with its latest saved key parts."""
        try:
            previous = self.store.latest_inputs(probe.parts.stage)
        except CacheError:
            previous = None
        return miss_reason(previous, probe.parts)

    def restore(self, probe: Probe, names: list[str] | None = None) -> dict[str, Any] | None:
        """The outputs of a hit (``names``, default all), or None if the entry turned out corrupt (a miss)."""
        assert probe.manifest is not None
        wanted = list(probe.manifest.outputs) if names is None else names
        try:
            values = {name: self.store.load(probe.manifest, name) for name in wanted}
        except CacheError as exc:
            self.warn(f"stage {probe.parts.stage!r} runs again: {exc.message}")
            return None
        self.hit(probe)
        return values

    def load_input(self, name: str, key: str, output: str) -> Any:
        """One input from the entry its producer saved.

        Raises:
            InputLost: the entry is missing, evicted or corrupt.
        """
        try:
            manifest = self.store.lookup(key)
            if manifest is None:
                raise InputLost(name, key, "the entry is missing or was evicted")
            return self.store.load(manifest, output)
        except InputLost:
            raise
        except CacheError as exc:
            raise InputLost(name, key, exc.message) from exc

    def unwritable(self, exc: CacheError) -> None:
        """The store cannot be written: one warning per run, and nothing more is attempted."""
        if not self._unwritable:
            self._unwritable = True
            self.warn(f"results not cached: {exc.message}; the run continues without caching")

    def save(self, probe: Probe, outputs: Mapping[str, Any], seconds: float, persist: bool = True) -> Saved:
        """Fingerprint the outputs and, if ``persist``, store them under the probe's key.

        Raises:
            StageError: an output cannot be fingerprinted (named with its type).
        """
        stage = probe.parts.stage
        prints = output_fingerprints(stage, outputs)
        result = Saved(prints)
        if not persist or self._unwritable:
            return result
        try:
            manifest = self.store.save(stage, probe.key, probe.parts, outputs, prints, seconds)
        except CacheError as exc:
            self.unwritable(exc)
            return result
        result.saved = True
        result.sizes = {name: info.bytes for name, info in manifest.outputs.items()}
        return result


def output_fingerprints(stage: str, outputs: Mapping[str, Any]) -> dict[str, str]:
    """Fingerprint of each output.

    Raises:
        StageError: an output cannot be fingerprinted: it could not be cached or passed on.
    """
    prints: dict[str, str] = {}
    for name, value in outputs.items():
        try:
            prints[name] = fingerprint(value, name)
        except CacheError as exc:
            raise StageError(
                f"stage {stage!r}: {exc.message}",
                hint=exc.hint
                or f"an output must be data that can be pickled; keep the {type(value).__name__} inside the stage",
                stage=stage,
            ) from None
    return prints
