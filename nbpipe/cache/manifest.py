"""The manifest of one cache entry: what was stored, how, and from which key inputs."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from nbpipe._version import __version__
from nbpipe.cache.errors import CorruptEntry
from nbpipe.cache.keys import FORMAT_VERSION, KeyInputs

#: Version of the manifest JSON itself (``sha256``, ``key_id`` and ``signature`` are optional additions).
MANIFEST_VERSION = 1
#: A payload file name: a bare name inside its entry folder (no separators, no ``..``).
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_RESERVED = {"manifest.json", "used"}


#: A manifest is a few kilobytes (key parts hold sources and parameter values); a bigger one is hostile.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def load_json(raw: bytes) -> Any:
    """Parse a manifest file's bytes.

    Raises:
        ValueError: it is larger than :data:`MAX_MANIFEST_BYTES` (parsing it would take seconds), or not JSON.
        RecursionError: it is nested too deeply.
    """
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ValueError(
            f"the manifest is {len(raw) >> 20} MiB, over the {MAX_MANIFEST_BYTES >> 20} MiB a manifest may be"
        )
    return json.loads(raw)


@dataclass(frozen=True)
class OutputInfo:
    """One stored output."""

    serializer: str  # serializer name (nbpipe.cache.serializers)
    file: str  # payload file name inside the entry directory
    bytes: int  # payload size
    checksum: str  # xxh3-128 of the payload bytes
    fingerprint: str  # content fingerprint of the value (nbpipe.cache.fingerprint)
    sha256: str = ""  # SHA-256 of the payload bytes; written when the store has a key (signed manifests)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        data: dict[str, Any] = {
            "serializer": self.serializer,
            "file": self.file,
            "bytes": self.bytes,
            "checksum": self.checksum,
            "fingerprint": self.fingerprint,
        }
        if self.sha256:
            data["sha256"] = self.sha256
        return data

    @classmethod
    def from_dict(cls, data: Any) -> OutputInfo:
        """Parse and validate one output of a manifest.

        Raises:
            ValueError: a field is missing, has the wrong type, or the file name is not a bare name.
        """
        if not isinstance(data, dict):
            raise ValueError(f"an output is a {type(data).__name__}, not an object")
        fields = {name: data.get(name) for name in ("serializer", "file", "checksum", "fingerprint")}
        for name, value in fields.items():
            if not isinstance(value, str):
                raise ValueError(f"output field {name!r} is not a string")
        size, digest = data.get("bytes"), data.get("sha256", "")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("output field 'bytes' is not a size")
        if not isinstance(digest, str):
            raise ValueError("output field 'sha256' is not a string")
        file = str(fields["file"])
        if not _FILE.fullmatch(file) or file in _RESERVED:  # "../../x" would read outside the entry
            raise ValueError(f"payload file name {file[:80]!r} is not a bare name inside its entry")
        return cls(bytes=size, sha256=digest, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Manifest:
    """A complete cache entry: stage, key, key inputs and one payload per output.

    ``parts`` holds the key inputs as given to :meth:`Store.save`, or, for a manifest read from
    the store, their JSON, already checked field by field (:func:`_key_inputs`) and converted by
    :attr:`key_inputs` on first use: a hit needs only the outputs, a miss reason the key inputs.
    """

    stage: str
    key: str
    parts: KeyInputs | dict[str, Any] = field(compare=False, repr=False)  # the key names them
    outputs: dict[str, OutputInfo]
    seconds: float  # how long the stage ran: the time a hit saves
    created: str  # ISO-8601 UTC
    versions: dict[str, str] = field(default_factory=dict)
    key_id: str = ""  # the public id of the store key that signed it (nbpipe.cache.trust.key_id)
    signature: str = ""  # HMAC-SHA256 over signed_text
    signed_text: bytes = field(default=b"", compare=False, repr=False)  # the canonical JSON the signature covers

    @property
    def key_inputs(self) -> KeyInputs:
        """The key inputs (converted from the checked JSON once, on first use; cannot fail)."""
        parts = self.parts
        if isinstance(parts, KeyInputs):
            return parts
        converted = KeyInputs.from_dict(parts)
        object.__setattr__(self, "parts", converted)  # a cache of a pure conversion; frozen otherwise
        return converted

    @property
    def total_bytes(self) -> int:
        """Sum of the payload sizes."""
        return sum(info.bytes for info in self.outputs.values())

    def to_dict(self) -> dict[str, Any]:
        """The manifest JSON."""
        return {
            "version": MANIFEST_VERSION,
            "stage": self.stage,
            "key": self.key,
            "key_inputs": self.key_inputs.to_dict(),
            "outputs": {name: info.to_dict() for name, info in self.outputs.items()},
            "seconds": self.seconds,
            "created": self.created,
            "versions": self.versions,
            **({"key_id": self.key_id} if self.key_id else {}),
            **({"signature": self.signature} if self.signature else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, signed_text: bytes = b"") -> Manifest:
        """Parse and validate manifest JSON.

        Args:
            data: the parsed JSON.
            signed_text: the canonical bytes its signature was checked over, if it was.

        Raises:
            CorruptEntry: it is not an object, a field is missing or has the wrong type, or a
                payload file name is not a bare name inside the entry.
        """
        try:
            if not isinstance(data, dict):
                raise ValueError(f"a manifest is an object, not a {type(data).__name__}")
            if data.get("version") != MANIFEST_VERSION:
                raise ValueError(f"manifest version {data.get('version')!r:.40}, expected {MANIFEST_VERSION}")
            texts = {name: data.get(name) for name in ("stage", "key", "created")}
            extra = {name: data.get(name, "") for name in ("key_id", "signature")}
            for name, value in {**texts, **extra}.items():
                if not _is_text(value):
                    raise ValueError(f"manifest field {name!r} is not a string of valid Unicode")
            outputs, versions = data.get("outputs"), data.get("versions", {})
            if not isinstance(outputs, dict) or not isinstance(versions, dict):
                raise ValueError("manifest fields 'outputs' and 'versions' must be objects")
            if not all(_is_text(name) for name in outputs):
                raise ValueError("an output name is not valid Unicode")
            seconds = data.get("seconds")
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < math.inf:
                raise ValueError("manifest field 'seconds' is not a duration")
            return cls(
                parts=_key_inputs(data.get("key_inputs")),
                outputs={str(name): OutputInfo.from_dict(info) for name, info in outputs.items()},
                seconds=float(seconds),
                versions={str(name): str(value) for name, value in versions.items() if isinstance(value, str)},
                signed_text=signed_text,
                **texts,  # type: ignore[arg-type]
                **extra,
            )
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError, ArithmeticError) as exc:
            raise CorruptEntry(
                f"invalid cache manifest: {str(exc)[:200]}", hint="run `nbpipe cache gc` or clear the entry"
            ) from None


def _is_text(value: Any) -> bool:
    """A string that can be printed and written (a lone surrogate such as ``"\\ud800"`` cannot)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_KEY_TEXTS = ("stage", "code", "header")  # required
_KEY_OPTIONAL_TEXTS = ("python", "source")
_KEY_MAPS = ("helpers", "inputs", "params", "files")


def _key_inputs(data: Any) -> dict[str, Any]:
    """``key_inputs`` of a manifest, checked field by field so that :meth:`KeyInputs.from_dict`
    cannot fail on them later (:attr:`Manifest.key_inputs` converts them on first use).

    Raises:
        ValueError: it is not an object, or a field has the wrong type (a list of pairs is not an object,
            ``1e400`` is not a format number).
    """
    if not isinstance(data, dict):
        raise ValueError("manifest field 'key_inputs' is not an object")
    for name in _KEY_TEXTS:
        if not isinstance(data.get(name), str):
            raise ValueError(f"key input {name!r} is missing or not a string")
    for name in _KEY_OPTIONAL_TEXTS:
        if not isinstance(data.get(name, ""), str):
            raise ValueError(f"key input {name!r} is not a string")
    for name in _KEY_MAPS:
        value = data.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise ValueError(f"key input {name!r} is not an object")
    number = data.get("format", 0)
    if not isinstance(number, int) or isinstance(number, bool):
        raise ValueError("key input 'format' is not an integer")
    return data


def versions() -> dict[str, str]:
    """Python, nbpipe, cache format and the versions of the data libraries already imported."""
    import platform

    found = {"python": platform.python_version(), "nbpipe": __version__, "format": str(FORMAT_VERSION)}
    for name in ("numpy", "pandas", "pyarrow"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", ""))
    return found
