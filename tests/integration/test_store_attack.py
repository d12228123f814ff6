"""The shared-store attack (issue 11 §1), with real processes: a store writer plants a pickle.

The attacker can write to the store but does not have the store key. They replace a payload
with a pickle that creates a marker file when unpickled and fix up the manifest (the unkeyed
xxh3 checksum and size, and whatever else they like). With a key set, the victim's next run
never unpickles it: the stage is a miss. Without a key, the victim is at least told that the
store is writable by others (and the pickle runs: a store is as trusted as the code).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbpipe.cache import KeyInputs, Store, stage_key

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef" * 4
INPUTS = KeyInputs(stage="train", code="model = fit()", header="train --out model")

ATTACKER = f"""
import hashlib, io, json, os, sys
sys.path.insert(0, {str(ROOT)!r})
import xxhash
from nbpipe.cache.serializers import Pickle5Serializer

store, key, marker, mode = sys.argv[1:5]


class Evil:
    def __reduce__(self):
        return (open, (marker, "w"))  # any callable: os.system would do as well


entry = os.path.join(store, "entries", key[:2], key)
path = os.path.join(entry, "manifest.json")
manifest = json.load(open(path))
info = manifest["outputs"]["model"]
buffer = io.BytesIO()
Pickle5Serializer().dump(Evil(), buffer)
data = buffer.getvalue()
open(os.path.join(entry, info["file"]), "wb").write(data)
info.update(bytes=len(data), checksum=xxhash.xxh3_128_hexdigest(data))
if mode == "unsigned":  # pretend the entry was written by someone without a key
    for name in ("signature", "key_id"):
        manifest.pop(name, None)
    info.pop("sha256", None)
elif mode == "fixed-digest":  # also fix the SHA-256: the signature no longer matches
    info["sha256"] = hashlib.sha256(data).hexdigest()
json.dump(manifest, open(path, "w"))
"""

VICTIM = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from nbpipe.cache import KeyInputs, Store, stage_key

inputs = KeyInputs(stage="train", code="model = fit()", header="train --out model")
store = Store(sys.argv[1])
manifest = store.lookup(stage_key(inputs))
if manifest is None:
    print("miss")
else:
    print("hit", type(store.load(manifest, "model")).__name__)
"""


def _victim(store: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NBPIPE_STORE_KEY"}
    env["XDG_CONFIG_HOME"] = str(store.parent / "victim-config")
    if key is not None:
        env["NBPIPE_STORE_KEY"] = key
    return subprocess.run(
        [sys.executable, "-c", VICTIM, str(store)], capture_output=True, text=True, env=env, timeout=120
    )


def _attack(store: Path, marker: Path, mode: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NBPIPE_STORE_KEY"}
    argv = [sys.executable, "-c", ATTACKER, str(store), stage_key(INPUTS), str(marker), mode]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("mode", ["keep-signature", "fixed-digest", "unsigned"])
def test_with_a_key_a_store_writer_cannot_get_code_run(tmp_path: Path, mode: str) -> None:
    store, marker = tmp_path / "shared", tmp_path / "PWNED"
    Store(store, key=KEY).save("train", stage_key(INPUTS), INPUTS, {"model": {"weights": [1.0, 2.0]}}, {}, 3.0)
    assert _victim(store, KEY).stdout.strip() == "hit dict"  # the honest entry is a hit
    _attack(store, marker, mode)
    done = _victim(store, KEY)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "the planted pickle ran"
    assert done.stdout.strip() == "miss"
    assert "not trusted" in done.stderr and "never loaded" in done.stderr
    assert done.stderr.count("CacheWarning") == 1


def test_without_a_key_the_victim_is_warned_that_others_can_write_the_store(tmp_path: Path) -> None:
    store, marker = tmp_path / "team-folder", tmp_path / "PWNED"
    Store(store, key="").save("train", stage_key(INPUTS), INPUTS, {"model": {"weights": [1.0]}}, {}, 3.0)
    os.chmod(store, 0o777)  # a folder the team shares
    _attack(store, marker, "unsigned")
    done = _victim(store, None)
    assert done.returncode == 0, done.stderr
    assert "UntrustedStoreWarning" in done.stderr
    assert f"the cache store {store} is writable by every user" in done.stderr
    assert "configure a store key (NBPIPE_STORE_KEY" in done.stderr
    # What the warning is about: without a key the store is as trusted as the code, and the pickle ran.
    assert marker.exists() and done.stdout.strip() == "hit TextIOWrapper"
