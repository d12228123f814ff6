"""The manifest of one cache entry: what was stored, how, and from which key inputs."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from nbpipe._version import __version__
from nbpipe.cache.errors import CorruptEntry
from nbpipe.cache.keys import FORMAT_VERSION, KeyInputs

#: Version of the manifest JSON itself.
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class OutputInfo:
    """One stored output."""

    serializer: str  # serializer name (nbpipe.cache.serializers)
    file: str  # payload file name inside the entry directory
    bytes: int  # payload size
    checksum: str  # xxh3-128 of the payload bytes
    fingerprint: str  # content fingerprint of the value (nbpipe.cache.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "serializer": self.serializer,
            "file": self.file,
            "bytes": self.bytes,
            "checksum": self.checksum,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Manifest:
    """A complete cache entry: stage, key, key inputs and one payload per output."""

    stage: str
    key: str
    key_inputs: KeyInputs
    outputs: dict[str, OutputInfo]
    seconds: float  # how long the stage ran: the time a hit saves
    created: str  # ISO-8601 UTC
    versions: dict[str, str] = field(default_factory=dict)

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
        }

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Parse and validate manifest JSON.

        Raises:
            CorruptEntry: a field is missing or has the wrong type.
        """
        try:
            if data["version"] != MANIFEST_VERSION:
                raise ValueError(f"manifest version {data['version']!r}, expected {MANIFEST_VERSION}")
            outputs = {str(name): OutputInfo(**info) for name, info in data["outputs"].items()}
            return cls(
                stage=str(data["stage"]),
                key=str(data["key"]),
                key_inputs=KeyInputs.from_dict(data["key_inputs"]),
                outputs=outputs,
                seconds=float(data["seconds"]),
                created=str(data["created"]),
                versions=dict(data.get("versions", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptEntry(
                f"invalid cache manifest: {exc!r}", hint="run `nbpipe cache gc` or clear the entry"
            ) from exc


def versions() -> dict[str, str]:
    """Python, nbpipe, cache format and the versions of the data libraries already imported."""
    import platform

    found = {"python": platform.python_version(), "nbpipe": __version__, "format": str(FORMAT_VERSION)}
    for name in ("numpy", "pandas", "pyarrow"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", ""))
    return found
