"""Cache tests run without the developer's store key (``$NBPIPE_STORE_KEY`` or the key file)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_store_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBPIPE_STORE_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
