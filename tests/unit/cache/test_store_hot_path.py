"""The store's hit path (issue 16): key inputs converted on first use, pointers remembered per Store.

A hostile ``key_inputs`` is still refused when the manifest is read (the check is eager, only the
conversion is lazy), so ``Manifest.key_inputs`` never raises on a manifest the store returned."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nbpipe.cache import CacheWarning, KeyInputs, Store, stage_key, trust
from nbpipe.cache.manifest import Manifest


@pytest.fixture(autouse=True)
def _no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(trust, "CHECKED_WRITERS", set())


def _save(store: Store, stage: str = "s", code: str = "c") -> tuple[str, KeyInputs]:
    inputs = KeyInputs(stage=stage, code=code, header=f"{stage} --out x", params={"n": 1}, source="x = 1")
    key = stage_key(inputs)
    store.save(stage, key, inputs, {"x": 7}, {}, 1.0)
    return key, inputs


def test_a_read_manifest_converts_its_key_inputs_on_first_use(tmp_path: Path) -> None:
    key, inputs = _save(Store(tmp_path))
    manifest = Store(tmp_path).lookup(key)
    assert manifest is not None
    assert isinstance(manifest.parts, dict)  # a hit has not converted them
    assert manifest.key_inputs == inputs
    assert manifest.key_inputs is manifest.key_inputs  # converted once
    assert Manifest.from_dict(manifest.to_dict()).key_inputs == inputs


@pytest.mark.parametrize("field", ["stage", "code", "header"])
def test_a_missing_required_key_input_is_a_corrupt_miss(tmp_path: Path, field: str) -> None:
    store = Store(tmp_path)
    key, _ = _save(store)
    path = tmp_path / "entries" / key[:2] / key / "manifest.json"
    data = json.loads(path.read_text())
    del data["key_inputs"][field]
    path.write_text(json.dumps(data))
    with pytest.warns(CacheWarning, match=f"key input '{field}' is missing"):
        assert Store(tmp_path).lookup(key) is None


def test_a_hit_again_does_not_read_the_pointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = _save(Store(tmp_path))
    store = Store(tmp_path)
    manifest = store.lookup(key)
    assert manifest is not None
    reads: list[str] = []
    real = store.fs.read_bytes
    monkeypatch.setattr(store.fs, "read_bytes", lambda path: reads.append(path) or real(path))
    pointer = tmp_path / "stages" / "s.json"
    before = pointer.stat().st_mtime_ns
    store.mark_latest(manifest)  # the pointer already names the key: read once, not rewritten
    store.mark_latest(manifest)  # remembered: not read again
    assert [os.path.basename(path) for path in reads] == ["s.json"]
    assert pointer.stat().st_mtime_ns == before


def test_a_hit_on_another_entry_moves_the_pointer(tmp_path: Path) -> None:
    old, _ = _save(Store(tmp_path), code="old")
    new, new_inputs = _save(Store(tmp_path), code="new")
    store = Store(tmp_path)
    first = store.lookup(old)
    assert first is not None
    store.mark_latest(first)
    assert json.loads((tmp_path / "stages" / "s.json").read_text())["key"] == old
    second = store.lookup(new)
    assert second is not None
    store.mark_latest(second)
    assert store.latest_inputs("s") == new_inputs
    store.clear("s")  # forgets the pointer it removed
    store.mark_latest(second)
    assert json.loads((tmp_path / "stages" / "s.json").read_text())["key"] == new
