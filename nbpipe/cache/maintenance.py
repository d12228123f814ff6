"""Store maintenance: sweeping what dead writers left, and gc that never removes a held entry.

What a live process holds is never removed:

- an entry being written is held by its writer's lease (:mod:`nbpipe.cache.leases`) and,
  having no manifest yet, is never an eviction candidate;
- an entry a run or a reader pinned (:meth:`nbpipe.cache.Store.pin`) is skipped;
- an entry used (looked up or written) in the last ``grace`` seconds is skipped, which
  covers the moment between a lookup and the load that follows it.

Eviction is race-free against readers: gc first unpublishes the manifests of a batch of
victims (renames them aside), then reads the leases and the entries' last uses again, and
puts a manifest back if a reader got in between. A reader marks its use (pin marker, ``used`` file) before it
confirms the manifest is still there, so one of the two always sees the other.

Leftovers (temporary files, payloads no manifest names, entries without a manifest) are
removed as soon as their writer is known dead: same host and its pid gone; otherwise
(another host, no owner token) once they are older than :data:`LEFTOVER_MAX_AGE` and no
live lease holds their key.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from nbpipe.cache.leases import LEASES_DIR, LeaseTable, new_token, token_owner

if TYPE_CHECKING:
    from nbpipe.cache.manifest import Manifest
    from nbpipe.cache.store import Store

#: Seconds after which a leftover of a writer whose liveness cannot be checked is removed.
LEFTOVER_MAX_AGE = 3600.0
#: Default seconds during which a used (looked up or written) entry is never evicted.
GC_GRACE = 300.0
_MANIFEST = "manifest.json"
_SWEPT: set[tuple[str, int]] = set()
REPLAY = "replay.json"  # what the stage showed when it ran (nbpipe.runtime.replay), removed with its entry
_BATCH = 64  # entries unpublished before the leases are read again (bounds the window of spurious misses)


class _Sweep:
    """One sweep: the lease table and a cache of which pids of this host are alive."""

    def __init__(self, store: Store) -> None:
        from nbpipe.cache.leases import _HOST, pid_alive

        self.store = store
        self.fs = store.fs
        self.table = LeaseTable(store.fs)
        self.now = time.time()
        self._host = _HOST
        self._pid_alive = pid_alive
        self._alive: dict[int, bool] = {}
        self.removed = 0

    def dead_owner(self, name: str) -> bool:
        owner = token_owner(name)
        if owner is None or owner[0] != self._host:
            return False
        if owner[1] not in self._alive:
            self._alive[owner[1]] = self._pid_alive(owner[1])
        return not self._alive[owner[1]]

    def stale(self, path: str, name: str) -> bool:
        """A leftover nobody will finish: its writer is dead, or it is old and unowned."""
        if self.dead_owner(name):
            return True
        mtime = self.fs.mtime(path)
        return mtime is not None and self.now - mtime > LEFTOVER_MAX_AGE

    def remove(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.fs.remove(path)
            self.removed += 1

    def entry(self, key: str) -> Manifest | None:
        """Clean one entry; returns its manifest if it is complete."""
        entry = self.fs.join("entries", key[:2], key)
        names = self.fs.listdir(entry)
        state, manifest = self.store._manifest_state(key)
        if state == "complete" and manifest is not None:
            keep = {_MANIFEST, "used", REPLAY, *(info.file for info in manifest.outputs.values())}
            for name in names:
                if name not in keep and self.stale(self.fs.join(entry, name), name):
                    self.remove(self.fs.join(entry, name))
            return manifest
        if key in self.table.held:
            return None
        if state == "corrupt":  # a manifest that does not parse: nothing can ever read this entry
            self._drop(key, entry)
            return None
        stale = [name for name in names if self.stale(self.fs.join(entry, name), name)]
        if len(stale) == len(names):
            if not names and (self.now - (self.fs.mtime(entry) or self.now)) < 60:
                return None  # a writer may have just made the folder
            self._drop(key, entry)
        else:
            for name in stale:
                self.remove(self.fs.join(entry, name))
        return None

    def _drop(self, key: str, entry: str) -> None:
        if key not in LeaseTable(self.fs).held:  # look again: a writer may have started since
            with contextlib.suppress(OSError):
                self.fs.rmtree(entry)
                self.removed += 1


def sweep(store: Store, full: bool) -> tuple[int, dict[str, Manifest]]:
    """Remove dead leases and their writers' leftovers; with ``full``, check every entry.

    Returns:
        (how many files or entries were removed, the complete entries by key when ``full``).
    """
    job = _Sweep(store)
    for name in job.table.dead:
        for key in job.table.keys_of(name):
            if key not in job.table.held and store._is_key(key):
                job.entry(key)
        with contextlib.suppress(OSError):
            store.fs.rmtree(store.fs.join(LEASES_DIR, name))
    complete: dict[str, Manifest] = {}
    if full:
        store.fs.rmtree(store.fs.join("trash"))
        for key in list(store._keys()):
            manifest = job.entry(key)
            if manifest is not None:
                complete[key] = manifest
    return job.removed, complete


def sweep_once(store: Store) -> None:
    """The cheap sweep (dead leases only), once per process and store: a run cleans up after killed ones."""
    from os import getpid

    marker = (str(store.fs.root), getpid())
    if marker in _SWEPT:
        return
    _SWEPT.add(marker)
    with contextlib.suppress(OSError):
        sweep(store, full=False)


def collect(store: Store, max_bytes: int, grace: float = GC_GRACE) -> list[str]:
    """Evict least recently used entries until the complete ones total at most ``max_bytes``.

    Entries held by a live lease or used in the last ``grace`` seconds are kept even if the
    store stays above ``max_bytes``.

    Returns:
        The evicted keys, least recently used first.
    """
    _, complete = sweep(store, full=True)
    table = LeaseTable(store.fs)
    now = time.time()
    sized = sorted(
        (store.last_used(key), key, store.fs.tree_size(store.fs.join("entries", key[:2], key))) for key in complete
    )
    total = sum(size for _, _, size in sized)
    victims = []
    for used, key, size in sized:
        if total <= max_bytes:
            break
        if key not in table.held and now - used >= grace:
            victims.append(key)
            total -= size
    evicted: list[str] = []
    for start in range(0, len(victims), _BATCH):
        evicted += _evict(store, victims[start : start + _BATCH], grace)
    return evicted


def _evict(store: Store, keys: list[str], grace: float) -> list[str]:
    """Unpublish ``keys``, look at the leases and last uses again, then delete or put back each one."""
    fs = store.fs
    parked: dict[str, str] = {}
    for key in keys:
        entry = fs.join("entries", key[:2], key)
        parked[key] = fs.join(entry, f"{_MANIFEST}.{new_token()}.evict")
        try:
            fs.replace(fs.join(entry, _MANIFEST), parked[key])
        except OSError:  # gone already (another gc, a clear)
            del parked[key]
    held, now, evicted = LeaseTable(fs).held, time.time(), []
    for key, path in parked.items():
        entry = fs.join("entries", key[:2], key)
        if key in held or (grace > 0 and now - store.last_used(key) < grace):
            with contextlib.suppress(OSError):
                if not fs.link_new(path, fs.join(entry, _MANIFEST)):  # a writer published a new one meanwhile
                    fs.remove(path)
            continue
        fs.rmtree(entry)
        evicted.append(key)
    return evicted
