"""Leases: which store entries live writers and readers hold, so that gc never removes them.

A lease is a folder in the store, ``leases/<owner token>/``, holding ``lease.json``
(host, pid, when it was last refreshed) and the held keys: on a local store an
append-only ``keys.log`` (``+KEY`` / ``-KEY`` lines: one ``write`` per change, cheap
enough to pin every cache hit of a run), on an fsspec store one empty object per key.
The owner
token (``<host id>-<pid>-<random>``) also names every temporary and payload file a
writer creates, so whoever finds a leftover can tell whose it is:

- on the same host a lease or file is live while its process is (checked by pid, so
  the leftovers of a killed writer go at the next sweep, not an hour later);
- from another host (a shared fsspec store) a lease is live while it was refreshed
  within :data:`LEASE_TTL`; a daemon thread refreshes every lease of the process.

Each process keeps one writer lease per store (the keys it is saving right now) and
any number of pins (:meth:`nbpipe.cache.Store.pin`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbpipe.cache._fs import LocalFS, RemoteFS

#: Seconds after which a lease of another host that was not refreshed counts as abandoned.
LEASE_TTL = 600.0
#: On this host a lease of a live pid is trusted this long without a refresh (guards against pid reuse).
SAME_HOST_TTL = 4 * LEASE_TTL
LEASES_DIR = "leases"
LOG = "keys.log"
_LOG_COMPACT_AT = 1 << 20
#: What a cache key looks like (lowercase hex); nothing else is ever used as a file name here.
KEY = re.compile(r"[0-9a-f]{8,64}")
_TOKEN = re.compile(r"(?<![0-9a-f])([0-9a-f]{8})-([0-9]{1,10})-[0-9a-f]{8}(?![0-9a-f])")


def hostname() -> str:
    """This machine's name (``os.uname`` where there is one: importing ``socket`` costs milliseconds)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def host_id() -> str:
    """A short, stable id of this machine (a hash of its host name)."""
    import xxhash

    return xxhash.xxh3_64_hexdigest(hostname().encode())[:8]


_HOST = host_id()


def new_token() -> str:
    """A fresh owner token: ``<host id>-<pid>-<random>``."""
    return f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def token_owner(name: str) -> tuple[str, int] | None:
    """The (host id, pid) of the owner token inside a file or folder name, if there is one."""
    match = _TOKEN.search(name)
    return (match.group(1), int(match.group(2))) if match else None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running (a zombie is not)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would terminate it: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the kill probe said it runs


def owner_dead(name: str) -> bool:
    """True when ``name`` carries the token of a process of this host that is no longer running."""
    owner = token_owner(name)
    return owner is not None and owner[0] == _HOST and not pid_alive(owner[1])


class Lease:
    """Keys held by one process in one store, as marker files under ``leases/<token>/``."""

    def __init__(self, fs: LocalFS | RemoteFS, strict: bool = True) -> None:
        """A lease in the store at ``fs``; with ``strict=False`` (pins) store errors are ignored."""
        self.fs = fs
        self.strict = strict
        self.token = new_token()
        self.path = fs.join(LEASES_DIR, self.token)
        self._counts: dict[str, int] = {}
        self._lock = threading.RLock()
        self._written = 0.0  # when lease.json was last written by us
        self._released = False
        self._log: IO[bytes] | None = None  # keys.log, local stores only
        self._log_bytes = 0

    @property
    def keys(self) -> frozenset[str]:
        """The keys held now."""
        return frozenset(self._counts)

    def add(self, keys: Iterable[str]) -> None:
        """Hold ``keys`` (counted: each :meth:`add` needs its :meth:`discard`); other strings are ignored.

        Raises:
            OSError: the store cannot be written (strict leases only).
        """
        with self._lock:
            if self._released:
                return
            for key in keys:
                if not KEY.fullmatch(key):
                    continue
                self._counts[key] = self._counts.get(key, 0) + 1
                if self._counts[key] == 1:
                    try:
                        self._mark(key)
                    except OSError:
                        if self.strict:
                            self._counts.pop(key)
                            raise

    def _mark(self, key: str) -> None:
        if time.time() - self._written > LEASE_TTL / 4:  # first use, or a sweeper may have dropped us
            self.refresh()
        if self.fs.local:
            self._append(f"+{key}\n")
            return
        try:
            self.fs.touch(self.fs.join(self.path, key))
        except FileNotFoundError:  # our folder was removed (by a clock-skewed sweeper): write it again
            self.refresh()
            self.fs.touch(self.fs.join(self.path, key))

    def _append(self, line: str) -> None:
        if self._log is None:
            self._log = open(self.fs.join(self.path, LOG), "ab", buffering=0)
        self._log_bytes += self._log.write(line.encode())
        if self._log_bytes > _LOG_COMPACT_AT and line.startswith("-"):
            self._compact()

    def _compact(self) -> None:
        """Rewrite keys.log with the keys held now (a long-lived writer's log would only grow)."""
        assert self._log is not None
        path = self.fs.join(self.path, LOG)
        text = "".join(f"+{key}\n" for key in self._counts).encode()
        if self.fs.mtime(self.fs.join(self.path, "lease.json")) is None:  # removed under us (a deleted store)
            self.fs.makedirs(self.path)
            with self.fs.open_write(self.fs.join(self.path, "lease.json")) as handle:
                handle.write(json.dumps({"host": hostname(), "pid": os.getpid(), "refreshed": time.time()}).encode())
        with open(f"{path}.tmp", "wb") as handle:
            handle.write(text)
        os.replace(f"{path}.tmp", path)
        # The new log opens before the old one closes: if anything above fails, the lease keeps
        # a usable (if stale) log instead of a closed file every later save would trip on.
        old, self._log = self._log, open(path, "ab", buffering=0)
        old.close()
        self._log_bytes = len(text)

    def discard(self, keys: Iterable[str]) -> None:
        """Stop holding ``keys`` once every :meth:`add` of them is matched."""
        with self._lock:
            for key in keys:
                count = self._counts.get(key, 0) - 1
                if count > 0:
                    self._counts[key] = count
                    continue
                if self._counts.pop(key, None) is None:
                    continue
                with contextlib.suppress(OSError):
                    if self.fs.local:
                        self._append(f"-{key}\n")
                    else:
                        self.fs.remove(self.fs.join(self.path, key))

    def refresh(self) -> None:
        """Write ``lease.json`` with the current time (creates the lease folder)."""
        with self._lock:
            if not self._released:
                self._write()

    def _write(self) -> None:
        self.fs.makedirs(self.path)
        data = {"host": hostname(), "pid": os.getpid(), "refreshed": time.time()}
        with self.fs.open_write(self.fs.join(self.path, "lease.json")) as handle:
            handle.write(json.dumps(data).encode())
        self._written = time.time()
        _heartbeat.register(self)
        if self._log is not None and self.fs.mtime(self.fs.join(self.path, LOG)) is None:
            self._compact()  # our folder was removed under us: write the keys again

    def release(self) -> None:
        """Drop the lease and every key it holds."""
        with self._lock:
            self._released = True
            self._counts.clear()
            if self._log is not None:
                self._log.close()
                self._log = None
        _heartbeat.unregister(self)
        if self._written:
            with contextlib.suppress(OSError):
                self.fs.rmtree(self.path)


def lease_alive(fs: LocalFS | RemoteFS, name: str, now: float | None = None) -> bool:
    """Whether the lease folder ``leases/<name>`` belongs to a live holder (see the module docstring)."""
    owner = token_owner(name)
    if owner is None:
        return False
    now = time.time() if now is None else now
    refreshed = _refreshed(fs, fs.join(LEASES_DIR, name))
    if owner[0] == _HOST:
        return pid_alive(owner[1]) and (refreshed is None or now - refreshed < SAME_HOST_TTL)
    return refreshed is not None and now - refreshed < LEASE_TTL


def _refreshed(fs: LocalFS | RemoteFS, path: str) -> float | None:
    """When the lease was last refreshed: its ``lease.json`` time, else that file's mtime, else None."""
    file = fs.join(path, "lease.json")
    try:
        data: Any = json.loads(fs.read_bytes(file))
        return float(data["refreshed"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return fs.mtime(file) or fs.mtime(path)


class LeaseTable:
    """The leases of a store as one look sees them: live ones (and the keys they hold) and dead ones."""

    def __init__(self, fs: LocalFS | RemoteFS) -> None:
        self.fs = fs
        self.live: list[str] = []
        self.dead: list[str] = []
        self.held: set[str] = set()
        now = time.time()
        for name in fs.listdir(fs.join(LEASES_DIR)):
            (self.live if lease_alive(fs, name, now) else self.dead).append(name)
        for name in self.live:
            self.held.update(self.keys_of(name))

    def keys_of(self, name: str) -> set[str]:
        """The keys the lease folder ``name`` holds."""
        folder = self.fs.join(LEASES_DIR, name)
        names = self.fs.listdir(folder)
        keys = {key for key in names if KEY.fullmatch(key)}
        if LOG in names:
            with contextlib.suppress(OSError):
                text = self.fs.read_bytes(self.fs.join(folder, LOG)).decode("ascii", "replace")
                for line in text.split("\n")[:-1]:  # not a torn last line: its add has not returned yet
                    if KEY.fullmatch(line[1:]):
                        (keys.add if line[0] == "+" else keys.discard)(line[1:])
        return keys


class _Heartbeat:
    """One daemon thread per process refreshing its leases every ``LEASE_TTL / 4`` seconds."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.leases: dict[int, Lease] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def register(self, lease: Lease) -> None:
        with self.lock:
            self.leases[id(lease)] = lease
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="nbpipe-leases", daemon=True)
                self.thread.start()

    def unregister(self, lease: Lease) -> None:
        with self.lock:
            self.leases.pop(id(lease), None)

    def _run(self) -> None:
        while not self.wake.wait(LEASE_TTL / 4):
            with self.lock:
                leases = list(self.leases.values())
            for lease in leases:
                with contextlib.suppress(Exception):  # a flaky store must not kill the thread
                    lease.refresh()


_heartbeat = _Heartbeat()
_writers: dict[str, Lease] = {}
_writers_lock = threading.Lock()


def writer_lease(fs: LocalFS | RemoteFS) -> Lease:
    """This process's writer lease in the store at ``fs`` (created on first use, released at exit)."""
    root = str(fs.root)
    with _writers_lock:
        lease = _writers.get(root)
        if lease is None:
            lease = _writers[root] = Lease(fs)
        return lease


@atexit.register
def _release_writers() -> None:
    for lease in list(_writers.values()):
        lease.release()
    _writers.clear()


def _after_fork() -> None:
    """A forked child holds none of its parent's leases (their folders name the parent's pid)."""
    global _writers_lock
    _writers.clear()
    _writers_lock = threading.Lock()
    _heartbeat._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
