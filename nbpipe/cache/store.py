"""The artifact store: one directory per stage key, shared by kernel and batch runs (DESIGN §6).

Layout under the store root::

    entries/<key[:2]>/<key>/manifest.json      written last, published atomically
    entries/<key[:2]>/<key>/<output>.<token>.npy|.pkl5|…   one payload per output
    entries/<key[:2]>/<key>/used               touched on every hit (gc order)
    stages/<stage>.json                        the stage's latest key and key inputs
    runs/<run_id>.json                         run records (DESIGN §7)
    leases/<owner>/lease.json, keys.log        the keys live writers and pins hold (gc skips them)

Every write goes to a temporary name and is renamed into place; payload names carry
a per-writer token, and the manifest is published last and only if no complete
manifest exists yet, so concurrent writers of one key never mix their files (the
first complete entry wins). Readers verify each payload's size and checksum: a torn
or corrupt entry raises :class:`CorruptEntry`, which callers treat as a miss. With a
store key, manifests are signed and checked before use, and payloads are checked against
their signed SHA-256 before decoding (:mod:`nbpipe.cache.trust`). gc and the sweep of dead
writers' leftovers live in :mod:`nbpipe.cache.maintenance`, leases in :mod:`nbpipe.cache.leases`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import xxhash

from nbpipe.cache import serializers, trust
from nbpipe.cache._fs import (
    HashingWriter,
    LocalFS,
    Payload,
    RemoteFS,
    forget_verified,
    open_fs,
    remember_verified,
    verified_before,
)
from nbpipe.cache.errors import CorruptEntry, StoreUnavailable
from nbpipe.cache.keys import KeyInputs
from nbpipe.cache.leases import Lease, LeaseTable, new_token, writer_lease
from nbpipe.cache.maintenance import GC_GRACE, collect, sweep, sweep_once
from nbpipe.cache.manifest import Manifest, OutputInfo, load_json, versions
from nbpipe.cache.sizes import human_size, parse_size
from nbpipe.errors import CacheError

#: Environment variable naming the store URL for every notebook.
STORE_ENV = "NBPIPE_STORE"
DEFAULT_DIR = ".nbpipe"
_KEY = re.compile(r"[0-9a-f]{8,64}")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Environment variable: the smallest payload restored memory-mapped (a size, or ``off``).
MMAP_ENV = "NBPIPE_MMAP_MIN"
MMAP_DEFAULT = 16 << 20
_MAPPABLE = frozenset({"npy", "pickle5"})
__all__ = [
    "DEFAULT_DIR",
    "GC_GRACE",
    "MMAP_ENV",
    "STORE_ENV",
    "CacheWarning",
    "Lease",
    "Store",
    "forget_verified",
    "human_size",
    "parse_size",
]


class CacheWarning(UserWarning):
    """Warned when an entry is torn or corrupt and is treated as a miss."""


class Store:
    """A content-addressed store of stage outputs at a local path or an fsspec URL.

    Args:
        url: a directory path, ``file://`` URL or any fsspec URL (``s3://bucket/x``).
        scope: the notebook the per-stage pointers belong to (its file stem), so that two
            notebooks sharing a store and a stage name keep separate miss reasons.
            Entries themselves are shared: keys are content addresses.
        key: the store key that signs and verifies manifests (``nbpipe.cache.trust``); None reads
            ``$NBPIPE_STORE_KEY`` or the key file, empty means none. With a key, only entries
            signed with it are read, and payloads are checked against their signed SHA-256.
    """

    def __init__(self, url: str | os.PathLike[str], scope: str = "", key: str | bytes | None = None) -> None:
        self.url = os.fspath(url)
        secret = trust.configured_key() if key is None else key.encode() if isinstance(key, str) else key
        self.key: bytes | None = secret or None
        self._key_id = trust.key_id(self.key) if self.key else ""
        self._warned: set[str] = set()
        self.scope = _scope_name(scope) if scope else ""
        self.fs: LocalFS | RemoteFS = open_fs(url)
        self._pins: list[Lease] = []
        self.mmap_min = mmap_threshold()  # None: never map (see :meth:`maps`)
        self._pointed: dict[str, str] = {}  # stage -> the key its pointer names, as last read or written here
        self._stages = self.fs.join("stages", self.scope) if self.scope else self.fs.join("stages")

    def _pointer(self, stage: str) -> str:
        return self.fs.child(self._stages, f"{_safe_name(stage)}.json")

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @classmethod
    def for_notebook(
        cls,
        notebook: str | os.PathLike[str] | None,
        url: str | os.PathLike[str] | None = None,
        *,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Store:
        """The store of a notebook: the one store-location rule (DESIGN §6).

        1. ``url`` when given (``--store URL``, ``%nbpipe config store=URL``, a script's ``store=``);
        2. else ``$NBPIPE_STORE``;
        3. else ``.nbpipe/`` in ``base_dir`` if given, else beside the notebook, else inside
           ``notebook`` when it is a folder (an exported papermill folder, ``nbpipe cache ls DIR``),
           else in the current directory (a kernel that does not know its notebook).

        Args:
            notebook: the notebook path (its file name scopes the per-stage pointers), a folder, or None.
            url: an explicit store path or fsspec URL; empty means not given.
            base_dir: the notebook's folder when ``notebook`` is not a path to it (an exported
                script or papermill plan records the notebook's name and its folder separately).

        Returns:
            The store, with ``scope`` set to the notebook's file name (empty for a folder or None).
        """
        is_folder = notebook is not None and os.path.isdir(notebook)
        scope = os.path.basename(os.fspath(notebook)) if notebook is not None and not is_folder else ""
        configured = os.fspath(url) if url else os.environ.get(STORE_ENV)
        if configured:
            return cls(configured, scope=scope)
        if base_dir is not None:
            folder = os.path.abspath(base_dir)
        elif notebook is None:
            folder = os.getcwd()
        elif is_folder:
            folder = os.path.abspath(notebook)
        else:
            folder = os.path.dirname(os.path.abspath(notebook))
        return cls(os.path.join(folder, DEFAULT_DIR), scope=scope)

    # -- reading -------------------------------------------------------------------

    def entry_dir(self, key: str) -> str:
        """The directory of one entry."""
        if not _KEY.fullmatch(key):
            raise CacheError(f"invalid cache key {key!r}", hint="keys are lowercase hex digests")
        return self._entry(key)

    def _entry(self, key: str) -> str:
        """The folder of an entry whose key is already checked (joined once per look-up)."""
        return self.fs.join("entries", key[:2], key)

    def lookup(self, key: str) -> Manifest | None:
        """The manifest of ``key`` if a complete entry exists (no payload is read); marks it used.

        Inside :meth:`pin` the key is pinned first. The use is marked before the manifest is
        confirmed to be still there, so a concurrent gc either sees the use and keeps the entry,
        or unpublished it before the confirmation and this is a miss.
        """
        if not _KEY.fullmatch(key):  # not a key nbpipe makes (e.g. "" for an unknown producer): a miss
            return None
        self._pin_keys([key])
        entry = self._entry(key)
        manifest_path = self.fs.child(entry, "manifest.json")
        manifest = self._read_manifest(key, manifest_path=manifest_path)
        if manifest is None:
            return None
        with contextlib.suppress(OSError):
            self.fs.touch(self.fs.child(entry, "used"))
        return manifest if self.fs.mtime(manifest_path) is not None else None

    def _manifest_state(self, key: str) -> tuple[str, Manifest | None]:
        """``("complete", manifest)``, ``("missing", None)`` or ``("corrupt", None)``; no signature check."""
        try:
            manifest = self._parse_manifest(key)
        except (FileNotFoundError, NotADirectoryError):
            return "missing", None
        except (OSError, ValueError, RecursionError, CorruptEntry):
            return "corrupt", None
        return "complete", manifest

    def _parse_manifest(self, key: str) -> Manifest:
        manifest = Manifest.from_dict(load_json(self.fs.read_bytes(self.fs.join(self.entry_dir(key), "manifest.json"))))
        if manifest.key != key:
            raise CorruptEntry(f"manifest of {key[:12]} names key {manifest.key[:12]}")
        return manifest

    @staticmethod
    def _is_key(text: str) -> bool:
        return bool(_KEY.fullmatch(text))

    def _read_manifest(self, key: str, warn: bool = True, manifest_path: str = "") -> Manifest | None:
        """The entry's manifest, or None: missing, corrupt or (with a key) not signed with it.

        ``manifest_path``: its path when the caller has it (``key`` then is already checked).
        """
        if not manifest_path:
            if not _KEY.fullmatch(key):  # not a key nbpipe makes (e.g. "" for an unknown producer): a miss
                return None
            manifest_path = self.fs.child(self._entry(key), "manifest.json")
        try:
            data = load_json(self.fs.read_bytes(manifest_path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            self._warn(warn, key, f"cache entry {key[:12]} is unreadable, treated as a miss: {str(exc)[:200]}")
            return None
        signed = b""
        if self.key is not None and isinstance(data, dict):
            problem, signed = trust.check(data, self.key)  # before any field of it is used
            if problem is not None:
                self._warn(warn, key, trust.untrusted_message(key, data.get("stage"), problem))
                return None
        try:
            manifest = Manifest.from_dict(data, signed)
            if manifest.key != key:
                raise CorruptEntry(f"manifest of {key[:12]} names key {manifest.key[:12]}")
        except CorruptEntry as exc:
            self._warn(warn, key, f"cache entry {key[:12]} is unreadable, treated as a miss: {exc.message}")
            return None
        return manifest

    def _warn(self, warn: bool, key: str, message: str) -> None:
        if warn and key not in self._warned:  # one warning per entry, not one per look
            self._warned.add(key)
            warnings.warn(message, CacheWarning, 3)

    def load(self, manifest: Manifest, name: str, mmap: bool | None = None, verify: bool = True) -> object:
        """One output of an entry, its payload verified before it is decoded.

        Args:
            manifest: from :meth:`lookup`.
            name: the output name.
            mmap: memory-map the payload (copy-on-write: values stay writable, pages load on
                first touch); None (the default) decides by :meth:`maps`.
            verify: check size and checksum (on by default; off only for trusted stores).

        Without a store key, a payload's xxh3-128 checksum is checked once per process: a file
        this process verified and that is still the same file, unchanged (:mod:`nbpipe.cache._fs`),
        is not hashed again. With a key, every read checks the payload's signed SHA-256 in private
        memory before decoding, and nothing is memory-mapped.

        Raises:
            CorruptEntry: the payload is missing, truncated, fails its checksum or does not decode;
                the entry is removed so the next run rewrites it.
            UntrustedEntry: (a CorruptEntry) with a store key, the manifest is not signed with it;
                nothing is read or decoded.
        """
        if name not in manifest.outputs:
            raise CacheError(f"stage {manifest.stage!r} stored no output {name!r}")
        if self.key is not None:
            info = trust.signed_output(manifest, name, self.key)
            mmap = False  # a signed payload is read into private memory, checked, and only then decoded
        else:
            info = manifest.outputs[name]
            trust.check_writers(self.fs)
            mmap = self.maps(info) if mmap is None else mmap and self.fs.local
        path = self.fs.child(self._entry(manifest.key), info.file)
        try:
            payload = self.fs.read_payload(path, mmap)
        except (OSError, EOFError) as exc:
            self._corrupt(manifest, f"output {name!r}: payload unreadable ({exc})")
        self._verify(manifest, name, info, path, payload, verify)
        try:
            return serializers.get(info.serializer).load(payload.view, mmap=mmap)
        except (ValueError, EOFError, ImportError, AttributeError, TypeError, IndexError, KeyError) as exc:
            raise CorruptEntry(
                f"cache entry {manifest.key[:12]} of stage {manifest.stage!r}: output {name!r} does not load: {exc!r}",
                stage=manifest.stage,
                hint="the stage will run again",
            ) from exc
        except Exception as exc:  # an unpickling error from user code
            raise CorruptEntry(f"output {name!r} of stage {manifest.stage!r} does not load: {exc!r}") from exc

    def maps(self, info: OutputInfo) -> bool:
        """The rule for memory-mapped restores (README: Big data): a payload is mapped when the
        store is a local folder without a store key, its serializer is ``npy`` or ``pickle5``
        (their values view the payload's bytes), and it holds at least ``$NBPIPE_MMAP_MIN``
        bytes (default 16 MiB; ``off`` never maps)."""
        return (
            self.mmap_min is not None
            and self.fs.local
            and self.key is None
            and info.serializer in _MAPPABLE
            and info.bytes >= self.mmap_min
        )

    def _verify(
        self, manifest: Manifest, name: str, info: OutputInfo, path: str, payload: Payload, verify: bool
    ) -> None:
        view = payload.view
        if self.key is not None:  # the signed digest, every time, before anything decodes it
            if view.nbytes != info.bytes or hashlib.sha256(view).hexdigest() != info.sha256:
                self._corrupt(
                    manifest, f"output {name!r}: payload does not match the SHA-256 its signed manifest lists"
                )
            return
        if not verify or verified_before(path, payload, info.checksum):
            return
        if view.nbytes != info.bytes or xxhash.xxh3_128_hexdigest(view) != info.checksum:
            self._corrupt(manifest, f"output {name!r}: payload checksum mismatch")
        remember_verified(path, payload, info.checksum)

    def untrusted(self, key: str) -> str | None:
        """Why this store's key does not accept the entry ``key`` (None if it does, or no key is set)."""
        if self.key is None:
            return None
        try:
            data = load_json(self.fs.read_bytes(self.fs.join(self.entry_dir(key), "manifest.json")))
        except (OSError, ValueError, RecursionError):
            return "its manifest is unreadable"
        return trust.check(data, self.key)[0] if isinstance(data, dict) else "its manifest is not an object"

    def _corrupt(self, manifest: Manifest, what: str) -> Any:
        self.remove(manifest.key)
        raise CorruptEntry(
            f"cache entry {manifest.key[:12]} of stage {manifest.stage!r} is corrupt ({what}); removed it",
            stage=manifest.stage,
            hint="the stage will run again and rewrite it",
        )

    def load_all(self, manifest: Manifest, mmap: bool | None = None) -> dict[str, object]:
        """Every output of an entry (see :meth:`load`)."""
        return {name: self.load(manifest, name, mmap=mmap) for name in manifest.outputs}

    def latest(self, stage: str) -> Manifest | None:
        """The most recently saved entry of ``stage``, if it is still in the store."""
        pointer = self._read_pointer(stage)
        return None if pointer is None else self._read_manifest(str(pointer.get("key", "0" * 32)))

    def latest_inputs(self, stage: str) -> KeyInputs | None:
        """The key inputs of the stage's latest save, kept even after gc evicts the entry (for miss reasons)."""
        pointer = self._read_pointer(stage)
        try:
            return None if pointer is None else KeyInputs.from_dict(pointer["key_inputs"])
        except (KeyError, TypeError, ValueError):
            return None

    def _read_pointer(self, stage: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.fs.read_bytes(self._pointer(stage)))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        self._pointed[stage] = str(data.get("key", ""))
        return data

    def entries(self) -> list[Manifest]:
        """Every complete entry, oldest first."""
        found = [manifest for key in self._keys() if (manifest := self._manifest_state(key)[1])]
        return sorted(found, key=lambda manifest: manifest.created)

    def _keys(self) -> Iterator[str]:
        for prefix in sorted(self.fs.listdir(self.fs.join("entries"))):
            for key in sorted(self.fs.listdir(self.fs.join("entries", prefix))):
                if _KEY.fullmatch(key):
                    yield key

    def find(self, prefix: str) -> Manifest:
        """The entry whose key starts with ``prefix``.

        Raises:
            CacheError: no entry, or more than one, matches.
        """
        matches = [key for key in self._keys() if key.startswith(prefix.lower())]
        if len(matches) != 1:
            problem = "no cache entry" if not matches else f"{len(matches)} cache entries"
            raise CacheError(f"{problem} match {prefix!r} in {self.url}", hint="see `nbpipe cache ls` for keys")
        state, manifest = self._manifest_state(matches[0])
        if manifest is None:
            raise CorruptEntry(f"cache entry {matches[0][:12]} is {state}", hint="run `nbpipe cache gc`")
        return manifest

    def last_used(self, key: str) -> float:
        """When the entry was last hit (or written), as a POSIX time; 0 if unknown."""
        entry = self.fs.join("entries", key[:2], key)
        return self.fs.mtime(self.fs.join(entry, "used")) or self.fs.mtime(self.fs.join(entry, "manifest.json")) or 0.0

    @contextlib.contextmanager
    def pin(self, keys: Iterable[str] = ()) -> Iterator[Lease]:
        """Hold entries against gc while a run or a reader needs them.

        ``keys``, keys added with ``lease.add(keys)`` and every key this Store looks up or
        saves inside the block are held until the block ends; ``nbpipe cache gc`` in any
        process skips them. The lease lives in the store (``leases/``): on this host it dies
        with the process, elsewhere when it is not refreshed for ``LEASE_TTL`` seconds (a
        thread refreshes it). Pinning is best effort: on a read-only store nothing is held.

        Yields:
            The :class:`~nbpipe.cache.leases.Lease` (``add(keys)``, ``discard(keys)``, ``keys``).
        """
        lease = Lease(self.fs, strict=False)
        with contextlib.suppress(OSError):
            sweep_once(self)
        lease.add(keys)
        self._pins.append(lease)
        try:
            yield lease
        finally:
            self._pins.remove(lease)
            lease.release()

    def _pin_keys(self, keys: list[str]) -> None:
        for lease in self._pins:
            lease.add(keys)

    # -- writing -------------------------------------------------------------------

    def save(
        self,
        stage: str,
        key: str,
        key_inputs: KeyInputs,
        outputs: Mapping[str, object],
        fingerprints: Mapping[str, str],
        seconds: float,
        formats: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Store a stage's outputs under ``key`` atomically and return the entry's manifest.

        If a complete entry for ``key`` already exists (another process won the race),
        it is returned and nothing is written.

        Args:
            formats: optional output name -> serializer name (e.g. ``{"df": "parquet"}``).

        Raises:
            CacheError: an output cannot be serialized (names the stage, output and type);
                nothing is left behind.
            StoreUnavailable: the store cannot be written (full disk, permissions).
        """
        self._pin_keys([key])
        existing = self._read_manifest(key, warn=False)
        if existing is not None:
            with contextlib.suppress(OSError):
                self.fs.touch(self.fs.join(self.entry_dir(key), "used"))  # a use: gc's grace covers it
            with contextlib.suppress(OSError):
                self._write_pointer(stage, key, key_inputs)
            return existing
        entry = self.entry_dir(key)
        token = new_token()  # names our files: whoever finds them can tell if we are alive
        written: list[str] = []
        writer = writer_lease(self.fs)
        try:
            sweep_once(self)
            writer.add([key])  # held while we write: gc leaves the entry alone
            self.fs.makedirs(entry)
            infos = {
                name: self._write_output(stage, entry, token, name, value, fingerprints, formats, written)
                for name, value in outputs.items()
            }
            manifest = self._sign(
                Manifest(stage, key, key_inputs, infos, float(seconds), _now(), versions(), self._key_id)
            )
            published = self._publish(entry, token, manifest, written)
        except OSError as exc:
            self._discard(written)
            raise StoreUnavailable(
                f"cannot write to the cache store {self.url}: {exc.strerror or exc}",
                stage=stage,
                hint="free disk space, fix permissions or set NBPIPE_STORE to another store; the run goes on uncached",
            ) from exc
        except BaseException:
            self._discard(written)
            raise
        finally:
            with contextlib.suppress(OSError):
                writer.discard([key])
        with contextlib.suppress(OSError):
            self._write_pointer(stage, key, key_inputs)
        return published

    def _write_output(
        self,
        stage: str,
        entry: str,
        token: str,
        name: str,
        value: object,
        fingerprints: Mapping[str, str],
        formats: Mapping[str, str] | None,
        written: list[str],
    ) -> OutputInfo:
        if not name.isidentifier():
            raise CacheError(f"stage {stage!r}: output name {name!r} is not an identifier", stage=stage)
        serializer = serializers.choose(value, (formats or {}).get(name))
        file = f"{name}.{token}{serializer.extension}"
        final = self.fs.join(entry, file)
        temporary = final + ".tmp"
        written.append(temporary)
        with self.fs.open_write(temporary) as handle:
            writer = HashingWriter(handle, sha256=self.key is not None)
            try:
                serializer.dump(value, writer)  # type: ignore[arg-type]
            except OSError:
                raise
            except Exception as exc:
                kind = f"{type(value).__module__}.{type(value).__qualname__}"
                raise CacheError(
                    f"stage {stage!r}: cannot store output {name!r}: a {kind} cannot be serialized ({exc})",
                    stage=stage,
                    hint="make it picklable, or keep it local to the stage instead of declaring it an output",
                ) from exc
        self.fs.replace(temporary, final)
        written.append(final)
        digest = writer.sha256.hexdigest() if writer.sha256 is not None else ""
        return OutputInfo(
            serializer.name, file, writer.count, writer.hasher.hexdigest(), fingerprints.get(name, ""), digest
        )

    def _sign(self, manifest: Manifest) -> Manifest:
        if self.key is None:
            return manifest
        text = trust.canonical(manifest.to_dict())
        return replace(manifest, signature=trust.sign(text, self.key), signed_text=text)

    def _publish(self, entry: str, token: str, manifest: Manifest, written: list[str]) -> Manifest:
        """Write the manifest last; if another writer completed first, keep theirs and drop ours."""
        temporary = self.fs.join(entry, f"manifest.json.{token}.tmp")
        written.append(temporary)
        with self.fs.open_write(temporary) as handle:
            handle.write(
                json.dumps(manifest.to_dict(), separators=(",", ":")).encode()
            )  # C encoder: indent is 10x slower
        target = self.fs.join(entry, "manifest.json")
        if self.fs.link_new(temporary, target):
            self.fs.remove(temporary)
            with contextlib.suppress(OSError):
                self.fs.touch(self.fs.join(entry, "used"))
            return manifest
        winner = self._read_manifest(manifest.key, warn=False)
        if winner is not None:
            self._discard(written)
            return winner
        self.fs.replace(temporary, target)  # the existing manifest is unreadable: ours replaces it
        return manifest

    def _discard(self, paths: list[str]) -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                self.fs.remove(path)

    def _write_pointer(self, stage: str, key: str, key_inputs: KeyInputs) -> None:
        data = {"stage": stage, "key": key, "updated": _now(), "key_inputs": key_inputs.to_dict()}
        self._pointed.pop(stage, None)  # unknown until the write succeeds
        self._write_json(self._pointer(stage), data)
        self._pointed[stage] = key

    def mark_latest(self, manifest: Manifest) -> None:
        """Make ``manifest`` the stage's latest entry for this notebook (a hit it had not saved itself).

        Miss reasons compare against the latest entry of the same notebook, so a notebook
        whose stages were all computed by another notebook or target still says what changed.
        This Store remembers the pointers it has read or written: a stage hit again (a kernel
        re-running a cell) costs no file access. The pointer file is read only for its key:
        one it wrote itself starts with the stage and the key (:meth:`_write_pointer`).
        """
        if self._pointed.get(manifest.stage) == manifest.key:
            return
        try:
            raw = self.fs.read_bytes(self._pointer(manifest.stage))
        except OSError:
            raw = b""
        head = json.dumps({"stage": manifest.stage, "key": manifest.key}, separators=(",", ":"))[:-1] + ","
        if raw.startswith(head.encode()):
            self._pointed[manifest.stage] = manifest.key
            return
        with contextlib.suppress(OSError):
            self._write_pointer(manifest.stage, manifest.key, manifest.key_inputs)

    def read_document(self, name: str) -> Any:
        """A bookkeeping JSON document (e.g. ``memo/KEY.json``); None if absent or unreadable."""
        try:
            return json.loads(self.fs.read_bytes(self.fs.join(*name.split("/"))))
        except (OSError, ValueError, RecursionError):
            return None

    def write_document(self, name: str, data: Any) -> None:
        """Write a bookkeeping JSON document atomically (see :meth:`read_document`).

        Raises:
            StoreUnavailable: the store cannot be written.
        """
        try:
            self._write_json(self.fs.join(*name.split("/")), data)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write to the cache store {self.url}: {exc.strerror or exc}") from exc

    def _write_json(self, path: str, data: Any) -> None:
        directory = path.rsplit("/", 1)[0] if not self.fs.local else os.path.dirname(path)
        self.fs.makedirs(directory)
        temporary = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            with self.fs.open_write(temporary) as handle:
                handle.write(json.dumps(data, separators=(",", ":"), default=str).encode())
            self.fs.replace(temporary, path)
        except BaseException:
            self.fs.remove(temporary)
            raise

    # -- maintenance -----------------------------------------------------------------

    def remove(self, key: str) -> None:
        """Delete one entry (readers racing with it see a miss)."""
        entry = self.entry_dir(key)
        with contextlib.suppress(OSError):
            self.fs.remove(self.fs.join(entry, "manifest.json"))  # unpublish first
        with contextlib.suppress(OSError):
            self.fs.rmtree(entry)

    def clear(self, stage: str | None = None) -> int:
        """Delete every entry (of ``stage``, if given); returns how many were removed.

        Entries a live writer is filling are left to it; corrupt ones go with ``stage=None``.
        """
        removed = 0
        writing = LeaseTable(self.fs).held if stage is None else set()
        for key in list(self._keys()):
            state, manifest = self._manifest_state(key)
            if state == "missing" and key in writing:  # a live writer is filling it right now
                continue
            if stage is None or (manifest is not None and manifest.stage == stage):
                self.remove(key)
                removed += 1
        if stage is None:
            self._pointed.clear()
            self.fs.rmtree(self.fs.join("stages"))
        else:
            self._pointed.pop(stage, None)
            self.fs.remove(self._pointer(stage))
        return removed

    def gc(self, max_bytes: int, grace: float = GC_GRACE) -> list[str]:
        """Evict least recently used entries until the store holds at most ``max_bytes``.

        Never evicts an entry a live process holds (being written, or pinned with :meth:`pin`)
        or one used in the last ``grace`` seconds, so the store may stay above ``max_bytes``.
        Also removes what dead writers left (at once when their pid is gone on this host, after
        an hour otherwise) and corrupt entries.

        Returns:
            The evicted keys, least recently used first.
        """
        return collect(self, max_bytes, grace)

    def sweep(self) -> int:
        """Remove leftovers of dead writers and corrupt entries now; returns how many files or entries went.

        gc sweeps first; every process also sweeps the leases of dead ones on its first save or pin.
        """
        return sweep(self, full=True)[0]

    # -- run records -----------------------------------------------------------------

    def write_record(self, run_record: Mapping[str, Any]) -> str:
        """Write a run record (DESIGN §7) to ``runs/RUN_ID.json`` atomically; returns its path."""
        run_id = str(run_record.get("run_id", ""))
        if not _RUN_ID.match(run_id):
            raise CacheError(f"invalid run id {run_id!r}", hint="use letters, digits, '-', '_' and '.'")
        path = self.fs.join("runs", f"{run_id}.json")
        try:
            self._write_json(path, dict(run_record))
        except OSError as exc:
            raise StoreUnavailable(f"cannot write run record {run_id!r} to {self.url}: {exc}") from exc
        return path

    def records(self) -> list[dict[str, Any]]:
        """Every readable run record, oldest first."""
        found = []
        for name in self.fs.listdir(self.fs.join("runs")):
            if name.endswith(".json"):
                with contextlib.suppress(OSError, ValueError):
                    found.append(json.loads(self.fs.read_bytes(self.fs.join("runs", name))))
        return sorted(found, key=lambda record: (str(record.get("started", "")), str(record.get("run_id", ""))))

    def record(self, run_id: str) -> dict[str, Any]:
        """The run record ``run_id`` (or the only one starting with it).

        Raises:
            CacheError: no record, or several, match.
        """
        names = [name[:-5] for name in self.fs.listdir(self.fs.join("runs")) if name.endswith(".json")]
        matches = [name for name in names if name == run_id] or [name for name in names if name.startswith(run_id)]
        if len(matches) != 1:
            problem = "no run record" if not matches else f"{len(matches)} run records"
            raise CacheError(f"{problem} match {run_id!r} in {self.url}", hint="see `nbpipe runs ls`")
        data: dict[str, Any] = json.loads(self.fs.read_bytes(self.fs.join("runs", f"{matches[0]}.json")))
        return data


def mmap_threshold() -> int | None:
    """``$NBPIPE_MMAP_MIN`` as bytes (None for ``off``); a value that is not a size warns and keeps the default."""
    text = os.environ.get(MMAP_ENV, "").strip()
    if not text:
        return MMAP_DEFAULT if os.name != "nt" else None  # Windows cannot remove a mapped file (gc, clear)
    if text.lower() in ("off", "never", "no"):
        return None
    try:
        return parse_size(text)
    except CacheError:
        warnings.warn(
            f"nbpipe: {MMAP_ENV}={text!r} is not a size; using {human_size(MMAP_DEFAULT)}. "
            f"Set it to a size (16MiB, 0 maps every payload) or to off",
            CacheWarning,
            stacklevel=3,
        )
        return MMAP_DEFAULT


def _scope_name(scope: str) -> str:
    """A file-name-safe, collision-resistant form of a notebook name."""
    import re

    import xxhash

    return re.sub(r"[^A-Za-z0-9_.-]", "_", scope)[:60] + "-" + xxhash.xxh3_64_hexdigest(scope.encode())[:8]


_NAME_BYTES = 200  # a pointer's file name stays well inside the usual 255-byte limit


def _safe_name(stage: str) -> str:
    """The file name of a stage's pointer: the name itself, or a bounded prefix plus its hash when long."""
    if not stage.isidentifier():
        raise CacheError(f"invalid stage name {stage!r}", hint="stage names are Python identifiers")
    encoded = stage.encode("utf-8")
    if len(encoded) <= _NAME_BYTES:
        return stage
    import xxhash

    prefix = encoded[: _NAME_BYTES - 18].decode("utf-8", errors="ignore")
    return f"{prefix}-{xxhash.xxh3_64_hexdigest(encoded)}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
