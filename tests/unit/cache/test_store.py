"""The store: round trips, torn and corrupt entries as misses, gc order, records, fsspec URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbpipe.cache import CacheWarning, CorruptEntry, KeyInputs, Store, StoreUnavailable, fingerprint, stage_key
from nbpipe.errors import CacheError

ROOT = Path(__file__).resolve().parents[3]


def _inputs(stage: str = "prep", code: str = "body") -> KeyInputs:
    return KeyInputs(stage=stage, code=code, header=f"{stage} --out x", params={"n": 1})


def _save(store: Store, outputs: dict[str, object], stage: str = "prep", code: str = "body") -> str:
    inputs = _inputs(stage, code)
    key = stage_key(inputs)
    fingerprints = {name: fingerprint(value, name) for name, value in outputs.items()}
    store.save(stage, key, inputs, outputs, fingerprints, seconds=2.5)
    return key


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return Store(f"memory://nbpipe-test-{uuid.uuid4().hex}")


def test_round_trip_with_manifest(store: Store) -> None:
    outputs = {"arr": np.arange(10.0), "df": pd.DataFrame({"a": [1, 2]}), "obj": {"k": [1, "x"]}}
    key = _save(store, outputs)
    manifest = store.lookup(key)
    assert manifest is not None and manifest.stage == "prep" and manifest.seconds == 2.5
    assert {name: info.serializer for name, info in manifest.outputs.items()} == {
        "arr": "npy",
        "df": "pickle5",
        "obj": "pickle5",
    }
    loaded = store.load_all(manifest)
    assert {name: fingerprint(value) for name, value in loaded.items()} == {
        name: info.fingerprint for name, info in manifest.outputs.items()
    }
    assert manifest.key_inputs == _inputs()
    assert manifest.versions["python"].count(".") == 2


def test_missing_key_is_a_miss(store: Store) -> None:
    assert store.lookup("0" * 32) is None
    assert store.latest("prep") is None and store.latest_inputs("prep") is None


def test_latest_and_latest_inputs(store: Store) -> None:
    first = _save(store, {"x": 1}, code="one")
    second = _save(store, {"x": 2}, code="two")
    latest = store.latest("prep")
    assert latest is not None and latest.key == second != first
    store.remove(second)
    assert store.latest("prep") is None
    assert store.latest_inputs("prep") == _inputs(code="two")  # kept for miss reasons after eviction


@pytest.mark.parametrize("stage", ["s" * 3000, "é" * 300, "a" * 199 + "é" * 2])
def test_stage_names_of_any_length_keep_their_latest_entry(tmp_path: Path, stage: str) -> None:
    store = Store(tmp_path / "store", scope="nb")
    key = _save(store, {"x": 1}, stage=stage)
    other = _save(store, {"x": 2}, stage=stage[:-1] + "t")  # a long name that differs only at its end
    latest = store.latest(stage)
    assert latest is not None and latest.key == key != other
    assert all(len(path.name.encode()) <= 255 for path in (tmp_path / "store").rglob("*"))


def test_flipped_byte_is_detected_and_the_entry_becomes_a_miss(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store, {"arr": np.arange(1000.0)})
    manifest = store.lookup(key)
    assert manifest is not None
    payload = tmp_path / "entries" / key[:2] / key / manifest.outputs["arr"].file
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    payload.write_bytes(bytes(data))
    with pytest.raises(CorruptEntry, match="checksum mismatch"):
        store.load(manifest, "arr")
    assert store.lookup(key) is None
    _save(store, {"arr": np.arange(1000.0)})  # the re-run rewrites it
    rewritten = store.lookup(key)
    assert rewritten is not None
    np.testing.assert_array_equal(store.load(rewritten, "arr"), np.arange(1000.0))  # type: ignore[arg-type]


def test_missing_payload_is_a_corrupt_entry(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store, {"x": [1, 2, 3]})
    manifest = store.lookup(key)
    assert manifest is not None
    (tmp_path / "entries" / key[:2] / key / manifest.outputs["x"].file).unlink()
    with pytest.raises(CorruptEntry, match="payload unreadable"):
        store.load(manifest, "x")


def test_torn_manifest_is_a_miss_with_a_warning(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store, {"x": 1})
    path = tmp_path / "entries" / key[:2] / key / "manifest.json"
    path.write_text(path.read_text()[:40])
    with pytest.warns(CacheWarning, match="unreadable, treated as a miss"):
        assert store.lookup(key) is None


def test_second_save_of_a_key_keeps_the_first_entry(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store, {"x": np.arange(5)})
    first = store.lookup(key)
    _save(store, {"x": np.arange(5)})
    assert store.lookup(key) == first
    files = sorted(os.listdir(tmp_path / "entries" / key[:2] / key))
    assert files == sorted(["manifest.json", "used", *(info.file for info in first.outputs.values())])  # type: ignore[union-attr]


def test_unpicklable_output_names_stage_output_and_type_and_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    inputs = _inputs()
    key = stage_key(inputs)
    with pytest.raises(CacheError) as caught:
        store.save("prep", key, inputs, {"good": np.arange(3), "lock": threading.Lock()}, {}, 1.0)
    assert "stage 'prep': cannot store output 'lock': a _thread.lock cannot be serialized" in str(caught.value)
    assert os.listdir(tmp_path / "entries" / key[:2] / key) == []
    assert store.lookup(key) is None


def test_unwritable_store_raises_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = Store(blocker / "store")
    inputs = _inputs()
    with pytest.raises(StoreUnavailable, match="cannot write to the cache store"):
        store.save("prep", stage_key(inputs), inputs, {"x": 1}, {}, 1.0)


FULL_DISK = """
import resource, signal, sys
sys.path.insert(0, {root!r})
import numpy as np
from nbpipe.cache import KeyInputs, Store, StoreUnavailable, stage_key
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
inputs = KeyInputs(stage="big", code="c", header="big --out x")
try:
    Store({store!r}).save("big", stage_key(inputs), inputs, {{"x": np.ones(1 << 20)}}, {{}}, 1.0)
except StoreUnavailable as exc:
    print("unavailable:", exc.message)
"""


def test_full_disk_raises_store_unavailable_and_cleans_up(tmp_path: Path) -> None:
    code = FULL_DISK.format(root=str(ROOT), store=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "unavailable: cannot write to the cache store" in done.stdout, done.stderr
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == []


def test_gc_evicts_least_recently_used_first(tmp_path: Path) -> None:
    store = Store(tmp_path)
    keys = [_save(store, {"x": np.zeros(10_000)}, stage=f"s{i}") for i in range(3)]
    for age, key in zip((300, 200, 100), keys):  # keys[0] oldest, keys[2] newest
        used = tmp_path / "entries" / key[:2] / key / "used"
        os.utime(used, (used.stat().st_mtime - age, used.stat().st_mtime - age))
    assert store.lookup(keys[0]) is not None  # a hit makes the oldest the most recently used
    entry_size = sum(f.stat().st_size for f in (tmp_path / "entries" / keys[1][:2] / keys[1]).iterdir())
    evicted = store.gc(max_bytes=2 * entry_size + 100, grace=0)
    assert evicted == [keys[1]]
    assert store.gc(max_bytes=0, grace=0) == [keys[2], keys[0]]
    assert store.entries() == []


def test_gc_keeps_entries_used_within_the_grace_period(store: Store) -> None:
    old, recent = _save(store, {"x": 1}, stage="old"), _save(store, {"x": 2}, stage="recent")
    for key in (old, recent):
        used = store.fs.join("entries", key[:2], key, "used")
        if store.fs.local:
            os.utime(used, (1, 1))
        else:
            store.fs.fs.store[used].modified = __import__("datetime").datetime.fromtimestamp(1)  # type: ignore[union-attr]
    assert store.lookup(recent) is not None  # a hit: used just now
    assert store.gc(max_bytes=0, grace=60) == [old]
    assert [manifest.key for manifest in store.entries()] == [recent]
    assert store.gc(max_bytes=0, grace=0) == [recent]


def test_gc_never_evicts_a_pinned_entry(store: Store) -> None:
    pinned, other = _save(store, {"x": 1}, stage="pinned"), _save(store, {"x": 2}, stage="other")
    with store.pin([pinned]) as lease:
        assert lease.keys == {pinned}
        assert store.gc(max_bytes=0, grace=0) == [other]
        manifest = store.lookup(pinned)
        assert manifest is not None and store.load(manifest, "x") == 1
    assert store.gc(max_bytes=0, grace=0) == [pinned]
    assert lease.token not in store.fs.listdir(store.fs.join("leases"))  # the pin left nothing behind


def test_keys_looked_up_or_saved_inside_a_pin_are_held(store: Store) -> None:
    hit = _save(store, {"x": 1}, stage="hit")
    with store.pin() as lease:
        assert store.lookup(hit) is not None
        saved = _save(store, {"x": 2}, stage="saved")
        assert store.lookup("") is None  # not a key: ignored
        assert lease.keys == {hit, saved}
        assert store.gc(max_bytes=0, grace=0) == []
    assert sorted(store.gc(max_bytes=0, grace=0)) == sorted([hit, saved])


def test_gc_removes_old_leftovers_of_killed_writers(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = "ab" * 16
    entry = tmp_path / "entries" / key[:2] / key
    entry.mkdir(parents=True)
    leftover = entry / "x.0123456789ab.npy.tmp"
    leftover.write_bytes(b"partial")
    os.utime(leftover, (1, 1))
    store.gc(max_bytes=10**9)
    assert not entry.exists()


def test_clear_by_stage(store: Store) -> None:
    _save(store, {"x": 1}, stage="a")
    _save(store, {"x": 2}, stage="b")
    assert store.clear(stage="a") == 1
    assert [manifest.stage for manifest in store.entries()] == ["b"]
    assert store.clear() == 1 and store.entries() == []


def test_find_by_prefix(store: Store) -> None:
    key = _save(store, {"x": 1})
    assert store.find(key[:6]).key == key
    with pytest.raises(CacheError, match="no cache entry match"):
        store.find("ffffffffff" if not key.startswith("f") else "0000000000")


def test_run_records(store: Store) -> None:
    for run_id, started in (("20240102-b", "2024-01-02"), ("20240101-a", "2024-01-01")):
        store.write_record({"version": 1, "run_id": run_id, "started": started, "status": "ok"})
    assert [record["run_id"] for record in store.records()] == ["20240101-a", "20240102-b"]
    assert store.record("20240102")["started"] == "2024-01-02"
    with pytest.raises(CacheError, match="2 run records match '2024'"):
        store.record("2024")
    with pytest.raises(CacheError, match="invalid run id"):
        store.write_record({"run_id": "../escape"})


def test_for_notebook_is_the_one_location_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit URL > $NBPIPE_STORE > .nbpipe/ beside the notebook (in a folder; in the cwd without one)."""
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    notebook, folder = tmp_path / "sub" / "nb.ipynb", tmp_path / "exported"
    notebook.parent.mkdir()
    folder.mkdir()
    cases = [
        (notebook, None, {}, str(tmp_path / "sub" / ".nbpipe"), "nb.ipynb"),
        ("sub/nb.ipynb", "", {}, str(tmp_path / "sub" / ".nbpipe"), "nb.ipynb"),  # relative, empty URL = not given
        (folder, None, {}, str(folder / ".nbpipe"), ""),
        (None, None, {}, str(tmp_path / ".nbpipe"), ""),
        ("nb.ipynb", None, {"base_dir": folder}, str(folder / ".nbpipe"), "nb.ipynb"),
        (notebook, "memory://explicit", {}, "memory://explicit", "nb.ipynb"),
        (None, tmp_path / "other", {}, str(tmp_path / "other"), ""),
    ]
    for nb, url, extra, where, scope in cases:
        store = Store.for_notebook(nb, url, **extra)
        assert (store.url, store.scope.rsplit("-", 1)[0]) == (where, scope), (nb, url, extra)
    monkeypatch.setenv("NBPIPE_STORE", "memory://shared")
    assert Store.for_notebook(notebook).url == "memory://shared"
    assert Store.for_notebook(None).url == "memory://shared"
    assert Store.for_notebook(notebook, "memory://explicit").url == "memory://explicit"  # the URL beats the env
    assert Store.for_notebook(notebook).scope == Store(tmp_path, scope="nb.ipynb").scope


def test_manifest_json_is_the_documented_layout(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store, {"arr": np.arange(3)})
    data = json.loads((tmp_path / "entries" / key[:2] / key / "manifest.json").read_text())
    assert set(data) == {"version", "stage", "key", "key_inputs", "outputs", "seconds", "created", "versions"}
    assert set(data["outputs"]["arr"]) == {"serializer", "file", "bytes", "checksum", "fingerprint"}
    pointer = json.loads((tmp_path / "stages" / "prep.json").read_text())
    assert pointer["key"] == key


@pytest.mark.parametrize("key", ["", "../../etc", "XYZ", "0" * 100])
def test_lookup_of_a_malformed_key_is_a_miss_and_save_refuses_it(store: Store, key: str) -> None:
    assert store.lookup(key) is None
    with pytest.raises(CacheError, match="invalid cache key"):
        store.save("prep", key, _inputs(), {"x": 1}, {}, 1.0)


def test_parquet_opt_in_per_output(tmp_path: Path) -> None:
    store = Store(tmp_path)
    frame = pd.DataFrame({"a": [1, 2], "s": ["x", "y"]})
    inputs = _inputs()
    manifest = store.save("prep", stage_key(inputs), inputs, {"df": frame, "raw": frame}, {}, 1.0, {"df": "parquet"})
    assert {name: info.serializer for name, info in manifest.outputs.items()} == {"df": "parquet", "raw": "pickle5"}
    pd.testing.assert_frame_equal(store.load(manifest, "df"), frame)  # type: ignore[arg-type]
