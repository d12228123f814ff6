"""Content fingerprints, serializers, the artifact store and stage keys (DESIGN §6).

The public names are importable from here; NumPy, pandas, pyarrow and fsspec are
only imported when a value or a store URL needs them.
"""

from __future__ import annotations

from nbpipe.cache.errors import CorruptEntry, StoreUnavailable, UntrustedEntry
from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import FORMAT_VERSION, KeyInputs, file_hash, miss_reason, stage_key
from nbpipe.cache.manifest import Manifest, OutputInfo
from nbpipe.cache.store import CacheWarning, Store

__all__ = [
    "FORMAT_VERSION",
    "CacheWarning",
    "CorruptEntry",
    "KeyInputs",
    "Manifest",
    "OutputInfo",
    "Store",
    "StoreUnavailable",
    "UntrustedEntry",
    "file_hash",
    "fingerprint",
    "miss_reason",
    "stage_key",
]
