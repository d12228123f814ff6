"""Signed stores, malformed manifests and store permissions (issue 11 §1, §4)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nbpipe.cache import CacheWarning, CorruptEntry, KeyInputs, Store, stage_key, trust
from nbpipe.cache.errors import UntrustedEntry
from nbpipe.cli import main

KEY = "k" * 64


@pytest.fixture(autouse=True)
def _config_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no key (see conftest), a key file path here
    monkeypatch.setattr(trust, "CHECKED_WRITERS", set())


def _save(store: Store, value: object = 7, stage: str = "prep") -> str:
    inputs = KeyInputs(stage=stage, code="c", header=f"{stage} --out x")
    key = stage_key(inputs)
    store.save(stage, key, inputs, {"x": value}, {}, 1.0)
    return key


def _manifest_path(root: Path, key: str) -> Path:
    return root / "entries" / key[:2] / key / "manifest.json"


def _lookup_warns(store: Store, key: str, match: str) -> None:
    with pytest.warns(CacheWarning, match=match):
        assert store.lookup(key) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.lookup(key) is None  # one warning per entry, not one per look


def test_signed_entry_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path, key=KEY)
    key = _save(store, np.arange(5))
    data = json.loads(_manifest_path(tmp_path, key).read_text())
    assert data["key_id"] == trust.key_id(KEY.encode()) and len(data["signature"]) == 64
    assert len(data["outputs"]["x"]["sha256"]) == 64
    manifest = Store(tmp_path, key=KEY).lookup(key)
    assert manifest is not None
    np.testing.assert_array_equal(Store(tmp_path, key=KEY).load(manifest, "x", mmap=True), np.arange(5))  # type: ignore[arg-type]


def test_the_key_comes_from_the_environment_or_the_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Store(tmp_path).key is None
    path = trust.key_path()
    assert path == tmp_path / "config" / "nbpipe" / "store.key"
    path.parent.mkdir(parents=True)
    path.write_text("from-file\n")
    path.chmod(0o600)
    assert Store(tmp_path).key == b"from-file"
    monkeypatch.setenv(trust.KEY_ENV, "from-env")
    assert Store(tmp_path).key == b"from-env"
    assert Store(tmp_path, key="").key is None  # explicitly unsigned
    monkeypatch.delenv(trust.KEY_ENV)
    path.chmod(0o644)
    with pytest.warns(trust.UntrustedStoreWarning, match="can be read by other users.*chmod 600"):
        Store(tmp_path)


def test_with_a_key_an_unsigned_entry_is_a_miss_then_rewritten_signed(tmp_path: Path) -> None:
    key = _save(Store(tmp_path, key=""))
    signed = Store(tmp_path, key=KEY)
    _lookup_warns(signed, key, r"not trusted: it is not signed; treated as a miss, never loaded")
    assert signed.untrusted(key) == "it is not signed"
    _save(signed, 8)  # the stage runs again: its entry is replaced by a signed one
    manifest = signed.lookup(key)
    assert manifest is not None and signed.load(manifest, "x") == 8 and signed.untrusted(key) is None


def test_entries_of_another_key_or_edited_after_signing_are_misses(tmp_path: Path) -> None:
    key = _save(Store(tmp_path, key="other key"))
    mine = Store(tmp_path, key=KEY)
    _lookup_warns(mine, key, r"signed with another key \(id [0-9a-f]{16}; yours is [0-9a-f]{16}\)")
    key = _save(Store(tmp_path, key=KEY), stage="edited")
    path = _manifest_path(tmp_path, key)
    data = json.loads(path.read_text())
    data["seconds"] = 1e9
    path.write_text(json.dumps(data))
    _lookup_warns(Store(tmp_path, key=KEY), key, "its signature does not match its content")


def test_a_forged_manifest_object_is_never_loaded(tmp_path: Path) -> None:
    """Even a Manifest that did not come through lookup (ls, a pickle): load trusts only the signed text."""
    store = Store(tmp_path, key=KEY)
    key = _save(store)
    path = _manifest_path(tmp_path, key)
    data = json.loads(path.read_text())
    data["outputs"]["x"]["serializer"] = "npy"  # keeps the old signature
    path.write_text(json.dumps(data))
    (forged,) = store.entries()  # listing does not check signatures
    assert forged.outputs["x"].serializer == "npy"
    with pytest.raises(UntrustedEntry, match="not signed with this store key"):
        store.load(forged, "x")


def test_a_payload_that_does_not_match_its_signed_digest_is_never_decoded(tmp_path: Path) -> None:
    store = Store(tmp_path, key=KEY)
    key = _save(store, [1, 2, 3])
    manifest = store.lookup(key)
    assert manifest is not None
    payload = tmp_path / "entries" / key[:2] / key / manifest.outputs["x"].file
    payload.write_bytes(payload.read_bytes().replace(b"K\x03", b"K\x04"))
    with pytest.raises(CorruptEntry, match="does not match the SHA-256 its signed manifest lists"):
        store.load(manifest, "x", verify=False)  # the unkeyed checksum off: the signed digest still holds


@pytest.mark.parametrize(
    "content",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"version": 1, "outputs": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "[]",
        '"text"',
        "{not json",
        '{"version": 1}',
        "FILE:../../outside",
        "FILE:/etc/passwd",
        "FILE:used",
        "FIELD:bytes=-1",
        "FIELD:bytes=true",
        "FIELD:seconds=[]",
        "FIELD:created=[[1]]",
        "FIELD:outputs=[]",
    ],
)
def test_a_malformed_manifest_is_a_corrupt_miss_and_the_cli_keeps_working(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path)
    good, bad = _save(store, stage="good"), _save(store, stage="bad")
    path = _manifest_path(tmp_path, bad)
    data: dict[str, Any] = json.loads(path.read_text())
    if content.startswith("FILE:"):
        data["outputs"]["x"]["file"] = content[5:]
        content = json.dumps(data)
    elif content.startswith("FIELD:"):
        name, value = content[6:].split("=")
        data[name] = json.loads(value)
        data.setdefault("outputs", {})
        if name == "bytes":
            data["outputs"]["x"]["bytes"] = data.pop("bytes")
        content = json.dumps(data)
    path.write_text(content)
    with pytest.warns(CacheWarning, match="unreadable, treated as a miss"):
        assert store.lookup(bad) is None
    assert [manifest.key for manifest in store.entries()] == [good]
    assert main(["cache", "ls", "--store", str(tmp_path)]) == 0
    assert main(["cache", "gc", "--max-size", "1G", "--store", str(tmp_path)]) == 0
    assert not path.parent.exists()  # gc dropped the corrupt entry
    assert main(["cache", "clear", "--store", str(tmp_path)]) == 0
    assert "removed 1 cache entry" in capsys.readouterr().out


def test_without_a_key_a_store_others_can_write_to_is_named_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store)
    manifest = store.lookup(key)
    assert manifest is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.load(manifest, "x") == 7  # private: no warning
    trust.CHECKED_WRITERS.clear()
    os.chmod(tmp_path, 0o777)
    with pytest.warns(trust.UntrustedStoreWarning, match=r"writable by every user: .*run code.*chmod go-w"):
        assert store.load(manifest, "x") == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.load(manifest, "x") == 7  # once per process and store
    trust.CHECKED_WRITERS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signed = Store(tmp_path, key=KEY)
        _save(signed, 9)
        manifest = signed.lookup(key)
        assert manifest is not None and signed.load(manifest, "x") == 9  # a key makes the folder's mode moot


def test_bookkeeping_is_json_not_pickles(tmp_path: Path) -> None:
    store = Store(tmp_path, key=KEY)
    key = _save(store)
    store.write_record({"version": 1, "run_id": "r1", "stages": [{"key": key}]})
    manifest = store.lookup(key)
    assert manifest is not None
    payloads = {manifest.outputs["x"].file}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in payloads | {"used", "keys.log"}:
            json.loads(path.read_text())  # manifests, pointers, records, leases
