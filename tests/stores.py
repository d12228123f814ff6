"""Reading what a run left in a store (shared by the integration tests)."""

from __future__ import annotations

from nbpipe.cache.store import Store


def latest_fingerprints(store: Store, stages: list[str]) -> dict[str, str]:
    """Output name -> fingerprint from each stage's latest entry in ``store``."""
    found: dict[str, str] = {}
    for stage in stages:
        manifest = store.latest(stage)
        assert manifest is not None, f"stage {stage!r}: no entry in {store.url}"
        found.update({name: info.fingerprint for name, info in manifest.outputs.items()})
    return found
