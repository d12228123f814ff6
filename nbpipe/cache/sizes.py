"""Byte sizes as people write them (``500M``, ``2GB``, ``1GiB``) and as they read them."""

from __future__ import annotations

import re

from nbpipe.errors import CacheError

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_UNITS.update({"ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4})
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?)?[bB]?\s*")


def parse_size(text: str) -> int:
    """Bytes from ``500``, ``500M``, ``2GB``, ``1.5GiB`` or ``0`` (decimal units; ``i`` for binary ones).

    Raises:
        CacheError: the text is not a size.
    """
    match = _SIZE.fullmatch(text)
    if not match:
        raise CacheError(f"invalid size {text!r}", hint="use a number with an optional unit: 500M, 2G, 1GiB, 0")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def human_size(count: int) -> str:
    """``1234567`` → ``1.2 MB`` (decimal units)."""
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            break
        size /= 1000
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
