"""Who may put code in front of the unpickler: store keys, signed manifests, store permissions.

Payloads may be pickles, so a store is as trusted as the code (DESIGN §6). With a store
key configured (``$NBPIPE_STORE_KEY``, else the key file :func:`key_path`), every
manifest carries an HMAC-SHA256 signature over its canonical JSON and the SHA-256 digest
of each payload; the store checks both before a payload reaches a deserializer. Without
a key, a local store that other users can write to gets one warning naming the risk and
the fix.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.cache.errors import UntrustedEntry
from nbpipe.cache.manifest import OutputInfo

if TYPE_CHECKING:
    from nbpipe.cache._fs import LocalFS, RemoteFS
    from nbpipe.cache.manifest import Manifest

#: Environment variable holding the store key itself (any text; 32+ random bytes recommended).
KEY_ENV = "NBPIPE_STORE_KEY"
SIGNATURE = "signature"


#: Local store roots whose permissions this process has checked.
CHECKED_WRITERS: set[str] = set()


class UntrustedStoreWarning(UserWarning):
    """Warned once per store when entries could be planted by someone else (no key, foreign-writable store)."""


def key_path() -> Path:
    """The key file: ``$XDG_CONFIG_HOME/nbpipe/store.key``, else ``~/.config/nbpipe/store.key``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nbpipe" / "store.key"


def configured_key() -> bytes | None:
    """The store key: ``$NBPIPE_STORE_KEY`` if set and not empty, else the key file's content, else None."""
    text = os.environ.get(KEY_ENV, "").strip()
    if text:
        return text.encode()
    path = key_path()
    try:
        data = path.read_bytes().strip()
        mode = path.stat().st_mode
    except OSError:
        return None
    if data and mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"nbpipe: the store key file {path} can be read by other users; they could sign cache entries "
            f"that run code in your processes. Fix: chmod 600 {path}",
            UntrustedStoreWarning,
            stacklevel=3,
        )
    return data or None


def new_key() -> str:
    """A fresh random key (64 hex digits)."""
    import secrets

    return secrets.token_hex(32)


def key_id(key: bytes) -> str:
    """A short public name of a key (so that messages can say "signed with another key")."""
    return hmac.new(key, b"nbpipe store key id", hashlib.sha256).hexdigest()[:16]


def canonical(data: Any) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, ASCII."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(text: bytes, key: bytes) -> str:
    """HMAC-SHA256 of ``text`` (hex)."""
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def check(data: dict[str, Any], key: bytes) -> tuple[str | None, bytes]:
    """Verify a manifest's signature before anything in it is used.

    Returns:
        (None if it verifies, else what is wrong; the canonical bytes the signature covers).
    """
    unsigned = {name: value for name, value in data.items() if name != SIGNATURE}
    text = canonical(unsigned)
    signature = data.get(SIGNATURE)
    if not isinstance(signature, str) or not signature:
        return "it is not signed", text
    if not hmac.compare_digest(sign(text, key), signature):
        other = unsigned.get("key_id")
        if isinstance(other, str) and other != key_id(key):
            return f"it is signed with another key (id {other}; yours is {key_id(key)})", text
        return "its signature does not match its content", text
    return None, text


def verified(text: bytes, signature: str, key: bytes) -> bool:
    """Whether ``signature`` is the HMAC of ``text`` under ``key``."""
    return bool(signature) and hmac.compare_digest(sign(text, key), signature)


def foreign_writable(path: str) -> str | None:
    """Why other users can write to the folder ``path`` (None if only its owner, this user, can).

    A group-writable folder whose group is this user's private group (no other members) is fine.
    """
    try:
        info = os.stat(path)
    except OSError:
        return None
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"owned by another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH:
        return "writable by every user"
    if info.st_mode & stat.S_IWGRP and not _private_group(info.st_gid):
        return f"writable by its group (gid {info.st_gid})"
    return None


def _private_group(gid: int) -> bool:
    try:
        import grp
        import pwd

        group, user = grp.getgrgid(gid), pwd.getpwuid(os.geteuid())
    except (ImportError, KeyError):
        return False
    return group.gr_name == user.pw_name and user.pw_gid == gid and not [m for m in group.gr_mem if m != user.pw_name]


def store_risk_message(root: str, why: str) -> str:
    """The warning for a store others can write to, with the fix."""
    return (
        f"nbpipe: the cache store {root} is {why}: whoever can write there can make this process run "
        "code, because cached outputs are pickles and are loaded from it. Fix: make it writable only by "
        f"you (chmod go-w {root}), or configure a store key ({KEY_ENV} or {key_path()}) so that only "
        "entries signed with it are loaded (README: Sharing a store)."
    )


def signed_output(manifest: Manifest, name: str, key: bytes) -> OutputInfo:
    """What the signed text of ``manifest`` says about output ``name`` (never the object's own fields).

    Raises:
        UntrustedEntry: the manifest is not signed with this store's key.
    """
    try:
        if not verified(manifest.signed_text, manifest.signature, key):
            raise ValueError("not signed with this store key")
        data = json.loads(manifest.signed_text)
        if data["key"] != manifest.key:
            raise ValueError("signed for another key")
        return OutputInfo.from_dict(data["outputs"][name])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UntrustedEntry(
            f"cache entry {manifest.key[:12]} of stage {manifest.stage!r} was not loaded: {exc}",
            stage=manifest.stage,
            hint="the stage runs again and its entry is signed with this store key",
        ) from None


def check_writers(fs: LocalFS | RemoteFS) -> None:
    """Without a key: warn once per process if others can write to this local store (they could plant pickles)."""
    if not fs.local or fs.root in CHECKED_WRITERS:
        return
    CHECKED_WRITERS.add(fs.root)
    for folder in (fs.root, fs.join("entries")):
        why = foreign_writable(folder)
        if why is not None:
            warnings.warn(store_risk_message(folder, why), UntrustedStoreWarning, 4)
            return


def untrusted_message(key: str, stage: object, problem: str) -> str:
    """The one warning for an entry this store's key does not accept."""
    return (
        f"cache entry {key[:12]} of stage {str(stage)[:80]!r} is not trusted: {problem}; treated as a miss, never "
        "loaded (it runs again and is re-signed with this store key)"
    )
