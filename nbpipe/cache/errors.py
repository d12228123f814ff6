"""Cache-specific errors; both are :class:`~nbpipe.errors.CacheError` subclasses."""

from __future__ import annotations

from nbpipe.errors import CacheError


class CorruptEntry(CacheError):
    """Raised when a cache entry is torn or its payload fails its checksum; callers treat it as a miss."""


class StoreUnavailable(CacheError):
    """Raised when the store cannot be written (full disk, no permission); the run continues uncached."""


class UntrustedEntry(CorruptEntry):
    """Raised when a store key is set and an entry is not signed with it; callers treat it as a miss."""
