"""The store under real processes: writers killed with SIGKILL, concurrent writers and readers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nbpipe.cache import KeyInputs, Store, stage_key

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = f"""
import os, signal, sys, time
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
from nbpipe.cache import KeyInputs, Store, stage_key
from nbpipe.cache import serializers
"""

KILLED_WRITER = (
    PRELUDE
    + """
store, mode = Store(sys.argv[1]), sys.argv[2]
inputs = KeyInputs(stage="big", code="c", header="big --out a b")


class KillHalfway:
    name, extension = "killhalfway", ".bin"

    def can_write(self, value):
        return True

    def dump(self, value, fileobj):
        fileobj.write(b"x" * 100_000)
        os.kill(os.getpid(), signal.SIGKILL)

    def load(self, source, mmap=False):
        raise AssertionError("never loaded")


serializers.register(KillHalfway())
formats = {}
if mode == "mid-payload":
    formats = {"b": "killhalfway"}  # output 'a' is complete, 'b' is half written
elif mode == "before-manifest":
    Store._publish = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
print("writing", flush=True)
while True:  # mode "random": the parent kills us at an arbitrary moment
    store.save("big", stage_key(inputs), inputs, {"a": np.ones(8_000_000), "b": np.arange(4_000_000)}, {}, 1.0, formats)
    if mode == "random":
        store.remove(stage_key(inputs))
"""
)


def _inputs() -> KeyInputs:
    return KeyInputs(stage="big", code="c", header="big --out a b")


def _assert_miss_then_recovers(store_dir: Path) -> None:
    store = Store(store_dir)
    key = stage_key(_inputs())
    manifest = store.lookup(key)
    if manifest is not None:  # "random" mode may be killed after a complete save: then it must be whole
        np.testing.assert_array_equal(store.load(manifest, "a"), np.ones(8_000_000))  # type: ignore[arg-type]
        np.testing.assert_array_equal(store.load(manifest, "b"), np.arange(4_000_000))  # type: ignore[arg-type]
        return
    assert store.entries() == []
    store.save("big", key, _inputs(), {"a": np.ones(3), "b": np.arange(3)}, {}, 1.0)
    saved = store.lookup(key)
    assert saved is not None
    np.testing.assert_array_equal(store.load(saved, "b"), np.arange(3))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["mid-payload", "before-manifest"])
def test_writer_killed_mid_write_leaves_a_miss(tmp_path: Path, mode: str) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path), mode], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    leftovers = [path.name for path in tmp_path.rglob("*") if path.is_file()]
    assert leftovers and "manifest.json" not in leftovers  # payload bytes were on disk when it died
    _assert_miss_then_recovers(tmp_path)


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5])
def test_writer_killed_at_a_random_moment_never_leaves_a_partial_entry(tmp_path: Path, delay: float) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path), "random"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == b"writing"
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    _assert_miss_then_recovers(tmp_path)


CONCURRENT_WRITER = (
    PRELUDE
    + """
store, go, keys = Store(sys.argv[1]), sys.argv[2], int(sys.argv[3])
while not os.path.exists(go):
    time.sleep(0.001)
for number in range(keys):
    inputs = KeyInputs(stage=f"s{number}", code="same", header="s --out x")
    manifest = store.save(inputs.stage, stage_key(inputs), inputs, {"x": np.full(1_000_000, float(number))}, {}, 1.0)
    assert manifest.key == stage_key(inputs)
print(keys)
"""
)

READER = (
    PRELUDE
    + """
store, go, keys = Store(sys.argv[1]), sys.argv[2], int(sys.argv[3])
while not os.path.exists(go):
    time.sleep(0.001)
hits = wrong = 0
deadline = time.monotonic() + 20
while hits < keys and time.monotonic() < deadline:
    hits = 0
    for number in range(keys):
        inputs = KeyInputs(stage=f"s{number}", code="same", header="s --out x")
        manifest = store.lookup(stage_key(inputs))
        if manifest is not None:
            value = store.load(manifest, "x")
            hits += 1
            wrong += not (value.shape == (1_000_000,) and bool((value == number).all()))
print(hits, wrong)
"""
)


def test_two_writers_of_the_same_keys_and_a_reader(tmp_path: Path) -> None:
    go, keys = tmp_path / "go", 12
    store_dir = tmp_path / "store"
    argv = [str(store_dir), str(go), str(keys)]
    writers = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, *argv], stdout=subprocess.PIPE) for _ in range(2)
    ]
    reader = subprocess.Popen([sys.executable, "-c", READER, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let the interpreters start, then release them together
    go.write_text("go")
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0 and out.strip() == str(keys).encode()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    hits, wrong = map(int, out.split())
    assert wrong == 0 and hits == keys

    store = Store(store_dir)
    assert len(store.entries()) == keys
    for number in range(keys):
        inputs = KeyInputs(stage=f"s{number}", code="same", header="s --out x")
        manifest = store.lookup(stage_key(inputs))
        assert manifest is not None
        np.testing.assert_array_equal(store.load(manifest, "x"), np.full(1_000_000, float(number)))  # type: ignore[arg-type]
        files = set(os.listdir(store_dir / "entries" / manifest.key[:2] / manifest.key))
        assert files == {"manifest.json", "used", manifest.outputs["x"].file}, "a losing writer left files behind"
    assert json.loads((store_dir / "stages" / "s0.json").read_text())["key"] == stage_key(
        KeyInputs(stage="s0", code="same", header="s --out x")
    )
