"""The few file operations the store needs, for a local directory or an fsspec URL.

Local paths use ``os`` directly (fast, with real atomic rename and hard links);
anything else goes through fsspec, where renames are copies on object stores and the
manifest-last rule alone makes entries appear atomically.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap as _mmap
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import xxhash

from nbpipe.cache.serializers import read_into_buffer

#: Large writes are hashed and written in chunks of this size, so each chunk is hashed while it is in cache.
_CHUNK = 1 << 22
#: A payload checked within this long of its last change is not remembered as verified: file times
#: tick coarsely (a clock tick, up to seconds on some file systems), so a later change in the same
#: tick could leave them as they were (git's "racily clean" files).
SETTLE_NS = 2_000_000_000
_VERIFIED_MAX = 100_000
#: path -> (identity, checksum) of the payload files this process verified (see :func:`verified_before`).
_VERIFIED: dict[str, tuple[tuple[int, ...], str]] = {}


@dataclass(frozen=True)
class Payload:
    """A payload's bytes and, for a local file, its identity when it was opened."""

    view: memoryview
    identity: tuple[int, ...] | None  # (device, inode, size, mtime_ns, ctime_ns); None for remote stores


def identity(info: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's bytes change through the file system: inode, size, times (ctime cannot be set)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def verified_before(path: str, payload: Payload, checksum: str) -> bool:
    """True if this process verified ``path`` against ``checksum`` and the file is the same file, unchanged.

    nbpipe never changes a payload in place (files are written under a new name and renamed), so
    the same identity means the same bytes; a file changed by anything else has a new ctime.
    """
    return payload.identity is not None and _VERIFIED.get(path) == (payload.identity, checksum)


def remember_verified(path: str, payload: Payload, checksum: str) -> None:
    """Note that ``path`` matched ``checksum`` (unless it changed too recently for its times to tell)."""
    if payload.identity is None or time.time_ns() - max(payload.identity[3:]) < SETTLE_NS:
        return
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[path] = (payload.identity, checksum)


def forget_verified() -> None:
    """Forget every verification of this process: the next read of each payload hashes it again."""
    _VERIFIED.clear()


def map_private(handle: IO[bytes], size: int) -> memoryview:
    """A copy-on-write mapping of the whole file: pages load on first touch; writes stay private.

    Values built on it are writable like read ones, and the file never changes under them
    (nbpipe only ever adds files and removes them; a removed file lives while it is mapped).
    """
    if size == 0:
        return memoryview(b"")
    return memoryview(_mmap.mmap(handle.fileno(), 0, access=_mmap.ACCESS_COPY))


class HashingWriter:
    """A write-only file wrapper that checksums (xxh3, and SHA-256 for signed stores) and counts what passes."""

    def __init__(self, handle: IO[bytes], sha256: bool = False) -> None:
        self.handle = handle
        self.hasher = xxhash.xxh3_128()
        self.sha256 = hashlib.sha256() if sha256 else None  # for signed manifests only: 10x slower than xxh3
        self.count = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, view.nbytes, _CHUNK):  # hash a chunk, then write it while it is in cache
            chunk = view[start : start + _CHUNK]
            self.hasher.update(chunk)
            if self.sha256 is not None:
                self.sha256.update(chunk)
            self.handle.write(chunk)
        self.count += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.count

    def flush(self) -> None:
        self.handle.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False


def open_fs(url: str | os.PathLike[str]) -> LocalFS | RemoteFS:
    """The file system for a store URL: local for plain paths and ``file://``, fsspec otherwise."""
    text = os.fspath(url)
    text = text.removeprefix("file://")
    if "://" not in text and "::" not in text:
        return LocalFS(os.path.abspath(os.path.expanduser(text)))
    return RemoteFS(text)


class LocalFS:
    """A store root on the local file system."""

    local = True

    def __init__(self, root: str) -> None:
        self.root = root

    def join(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def child(self, folder: str, name: str) -> str:
        """``name`` inside ``folder``, a path this filesystem made (no ``os.path.join`` on hot paths)."""
        return f"{folder}{os.sep}{name}"

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def read_payload(self, path: str, mmap: bool) -> Payload:
        """The payload at ``path``: mapped copy-on-write (``mmap``) or read into one fresh buffer."""
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            view = None
            if mmap:
                with contextlib.suppress(OSError, ValueError):  # a file system that cannot map: read it
                    view = map_private(handle, info.st_size)
            if view is None:
                view = read_into_buffer(handle, info.st_size)
        return Payload(view, identity(info))

    @contextlib.contextmanager
    def open_write(self, path: str) -> Iterator[IO[bytes]]:
        with open(path, "wb") as handle:
            yield handle

    def replace(self, source: str, target: str) -> None:
        os.replace(source, target)

    def link_new(self, source: str, target: str) -> bool:
        """Publish ``source`` as ``target`` only if ``target`` does not exist yet; False if it does."""
        try:
            os.link(source, target)
        except FileExistsError:
            return False
        except OSError as exc:  # no hard links here (some network/FUSE file systems)
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                raise
            if os.path.exists(target):
                return False
            os.replace(source, target)
            return True
        os.unlink(source)
        return True

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def rmtree(self, path: str) -> None:
        """Remove a directory: rename it away first so readers never see it half-deleted."""
        import shutil  # gc and clear only: a run does not import it (nor bz2 and lzma with it)

        if path == self.join("trash"):
            shutil.rmtree(path, ignore_errors=True)
            return
        if not os.path.lexists(path):  # gone already: no trash folder made in a store that may be gone too
            return
        trash = self.join("trash", f"{os.path.basename(path)}-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.makedirs(os.path.dirname(trash), exist_ok=True)
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def mtime(self, path: str) -> float | None:
        try:
            return os.stat(path).st_mtime
        except FileNotFoundError:
            return None

    def size(self, path: str) -> int | None:
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            return None

    def touch(self, path: str) -> None:
        try:
            os.utime(path)
        except FileNotFoundError:
            with open(path, "ab"):
                pass

    def tree_size(self, path: str) -> int:
        total = 0
        for name in self.listdir(path):
            total += self.size(os.path.join(path, name)) or 0
        return total


class RemoteFS:
    """A store root behind an fsspec URL (``s3://``, ``gs://``, ``memory://`` …)."""

    local = False

    def __init__(self, url: str) -> None:
        import fsspec

        from nbpipe.cache.errors import StoreUnavailable

        self.fs: Any
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except ImportError as exc:  # fsspec names the package its protocol needs (s3fs, gcsfs …)
            raise StoreUnavailable(
                f"the store {url} needs a package that is not installed: {exc}",
                hint="install it (e.g. pip install s3fs for s3://, gcsfs for gs://), or use a local --store",
            ) from exc
        except (ValueError, OSError) as exc:
            raise StoreUnavailable(f"the store {url} cannot be opened: {exc}", hint="check the URL") from exc

    def join(self, *parts: str) -> str:
        """Like ``os.path.join``: a first part already under the root is not rooted again."""
        root = self.root.rstrip("/")
        if parts and (parts[0] == root or parts[0].startswith(root + "/")):
            return "/".join(parts)
        return "/".join([root, *parts])

    def child(self, folder: str, name: str) -> str:
        """``name`` inside ``folder``, a path this filesystem made."""
        return f"{folder.rstrip('/')}/{name}"

    def makedirs(self, path: str) -> None:
        self.fs.makedirs(path, exist_ok=True)

    def read_bytes(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def read_payload(self, path: str, mmap: bool) -> Payload:
        with self.fs.open(path, "rb") as handle:
            return Payload(read_into_buffer(handle, self.fs.size(path)), None)

    @contextlib.contextmanager
    def open_write(self, path: str) -> Iterator[IO[bytes]]:
        with self.fs.open(path, "wb") as handle:
            yield handle

    def replace(self, source: str, target: str) -> None:
        self.fs.mv(source, target)

    def link_new(self, source: str, target: str) -> bool:
        if self.fs.exists(target):  # object stores have no exclusive create: check, then move
            return False
        self.fs.mv(source, target)
        return True

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path)

    def rmtree(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    def listdir(self, path: str) -> list[str]:
        try:
            return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in self.fs.ls(path, detail=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def isdir(self, path: str) -> bool:
        return bool(self.fs.isdir(path))

    def mtime(self, path: str) -> float | None:
        try:
            return float(self.fs.modified(path).timestamp())
        except (FileNotFoundError, NotImplementedError):
            return None

    def size(self, path: str) -> int | None:
        try:
            return int(self.fs.size(path))
        except FileNotFoundError:
            return None

    def touch(self, path: str) -> None:
        self.fs.touch(path, truncate=True)

    def tree_size(self, path: str) -> int:
        return int(self.fs.du(path, total=True)) if self.fs.exists(path) else 0
