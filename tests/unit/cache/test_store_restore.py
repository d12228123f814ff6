"""Restores of big payloads (issue 16 §6): memory-mapped copy-on-write, verified once per process.

The rules under test: a payload is mapped only in a local store without a key, for ``npy`` and
``pickle5`` payloads of at least ``$NBPIPE_MMAP_MIN`` bytes; mapped values are writable and the
file never changes under them; a payload's checksum is skipped only when this process verified
that very file (same inode, size and times) long enough after its last change; with a store key
the signed SHA-256 is checked on every read and nothing is mapped.
"""

from __future__ import annotations

import mmap
import os
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xxhash

from nbpipe.cache import CorruptEntry, KeyInputs, Store, _fs, fingerprint, stage_key
from nbpipe.cache import store as store_module

KEY = "a store key for the tests"


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBPIPE_MMAP_MIN", raising=False)
    monkeypatch.delenv("NBPIPE_STORE_KEY", raising=False)
    _fs.forget_verified()


def _save(store: Store, value: object) -> tuple[str, Path]:
    inputs = KeyInputs(stage="big", code="body", header="big --out x")
    key = stage_key(inputs)
    store.save("big", key, inputs, {"x": value}, {"x": fingerprint(value, "x")}, seconds=1.0)
    manifest = store.lookup(key)
    assert manifest is not None
    return key, Path(store.url) / "entries" / key[:2] / key / manifest.outputs["x"].file


def _load(store: Store, key: str) -> Any:
    manifest = store.lookup(key)
    assert manifest is not None
    return store.load(manifest, "x")


def _mapped(value: Any) -> bool:
    base = value
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


def _count_checksums(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counted(data: Any) -> str:
        calls.append(1)
        return xxhash.xxh3_128_hexdigest(data)

    monkeypatch.setattr(store_module, "xxhash", types.SimpleNamespace(xxh3_128_hexdigest=counted))
    return calls


def test_a_big_array_is_mapped_copy_on_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", "1KiB")
    store = Store(tmp_path, key="")
    key, payload = _save(store, np.arange(10_000.0))
    before = payload.read_bytes()
    restored = _load(store, key)
    assert _mapped(restored) and restored.flags.writeable
    restored[:] = -1.0  # private pages: the payload never changes
    assert payload.read_bytes() == before
    np.testing.assert_array_equal(_load(store, key), np.arange(10_000.0))


def test_a_big_frame_is_mapped_and_stays_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", "0")
    store = Store(tmp_path, key="")
    frame = pd.DataFrame({"a": np.arange(5000.0), "b": np.arange(5000.0) * 2})
    key, _ = _save(store, frame)
    restored = _load(store, key)
    pd.testing.assert_frame_equal(restored, frame)
    restored.loc[0, "a"] = 7.0
    pd.testing.assert_frame_equal(_load(store, key), frame)


def test_a_mapped_value_outlives_its_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", "0")
    store = Store(tmp_path, key="")
    key, _ = _save(store, np.arange(4096.0))
    restored = _load(store, key)
    store.clear()
    np.testing.assert_array_equal(restored, np.arange(4096.0))


@pytest.mark.parametrize(
    ("setting", "key", "mapped"),
    [("", "", False), ("off", "", False), ("0", KEY, False), ("0", "", True), ("not a size", "", False)],
)
def test_the_mapping_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, key: str, mapped: bool
) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", setting)
    if setting == "not a size":
        with pytest.warns(UserWarning, match="NBPIPE_MMAP_MIN='not a size' is not a size; using 16.8 MB"):
            store = Store(tmp_path, key=key)
    else:
        store = Store(tmp_path, key=key)
    entry, _ = _save(store, np.arange(1000.0))  # 8 kB: below the default 16 MiB
    assert _mapped(_load(store, entry)) is mapped


def test_an_unchanged_verified_payload_is_not_hashed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fs, "SETTLE_NS", 0)
    store = Store(tmp_path, key="")
    key, _ = _save(store, np.arange(1000.0))
    calls = _count_checksums(monkeypatch)
    for _ in range(3):
        np.testing.assert_array_equal(_load(store, key), np.arange(1000.0))
    assert len(calls) == 1
    _fs.forget_verified()
    _load(store, key)
    assert len(calls) == 2


def test_a_replaced_payload_is_hashed_again_and_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fs, "SETTLE_NS", 0)
    store = Store(tmp_path, key="")
    key, payload = _save(store, np.arange(1000.0))
    _load(store, key)  # verified and remembered
    data = bytearray(payload.read_bytes())
    data[-1] ^= 0x01
    forged = payload.with_name("forged")
    forged.write_bytes(bytes(data))
    os.replace(forged, payload)  # same name and size, another file
    with pytest.raises(CorruptEntry, match="checksum mismatch"):
        _load(store, key)
    assert store.lookup(key) is None


def test_a_payload_changed_in_place_right_after_its_check_is_caught(tmp_path: Path) -> None:
    store = Store(tmp_path, key="")
    key, payload = _save(store, np.arange(1000.0))
    _load(store, key)  # verified, but too soon after its last change to be remembered
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    with open(payload, "r+b") as handle:  # in place: same inode, same size, maybe the same clock tick
        handle.write(bytes(data))
    with pytest.raises(CorruptEntry, match="checksum mismatch"):
        _load(store, key)


def test_a_signed_store_checks_every_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fs, "SETTLE_NS", 0)
    store = Store(tmp_path, key=KEY)
    key, payload = _save(store, [1, 2, 3])
    assert _load(store, key) == [1, 2, 3]
    payload.write_bytes(payload.read_bytes().replace(b"K\x03", b"K\x04"))
    with pytest.raises(CorruptEntry, match="does not match the SHA-256 its signed manifest lists"):
        _load(store, key)
