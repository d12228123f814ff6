"""Deterministic content fingerprints of Python values (first version; see issue 4)."""

from __future__ import annotations

import pickle

import xxhash

from nbpipe.errors import CacheError


def fingerprint(value: object, name: str = "value") -> str:
    """A 128-bit hex content hash of ``value``.

    Raises:
        CacheError: the value cannot be pickled; the message names ``name`` and its type.
    """
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise CacheError(
            f"cannot fingerprint {name!r}: a {type(value).__module__}.{type(value).__qualname__} cannot be pickled ({exc})",
            hint="make it picklable, or keep it local to the stage instead of an output",
        ) from exc
    return xxhash.xxh3_128_hexdigest(data)
