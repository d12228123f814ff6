"""gc against live processes: pinned entries, entries being written, killed writers and readers (real processes)."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nbpipe.cache import KeyInputs, Store, serializers, stage_key
from nbpipe.cache.leases import LEASE_TTL

ROOT = Path(__file__).resolve().parents[2]
SPAWN = multiprocessing.get_context("spawn")
WAIT = 60.0


def _inputs(stage: str) -> KeyInputs:
    return KeyInputs(stage=stage, code="c", header=f"{stage} --out x")


def _save(store: Store, stage: str, value: object) -> str:
    key = stage_key(_inputs(stage))
    store.save(stage, key, _inputs(stage), {"x": value}, {}, 1.0)
    return key


def _files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


# -- children (module level: the spawn start method imports them by name) ----------------


def _hold_pin(store_dir: str, key: str, ready: Any, release: Any) -> None:
    with Store(store_dir).pin([key]):
        ready.set()
        release.wait(WAIT)


class _Pausing:
    """A serializer that writes half a payload, then waits until the test lets it finish."""

    name, extension = "pausing", ".bin"

    def __init__(self, halfway: Any, resume: Any) -> None:
        self.halfway, self.resume = halfway, resume

    def can_write(self, value: object) -> bool:
        return True

    def dump(self, value: object, fileobj: Any) -> None:
        fileobj.write(b"a" * 500_000)
        fileobj.flush()
        self.halfway.set()
        self.resume.wait(WAIT)
        fileobj.write(b"b" * 500_000)

    def load(self, source: Any, mmap: bool = False) -> object:
        return bytes(serializers.as_buffer(source))


def _slow_write(store_dir: str, halfway: Any, resume: Any, done: Any) -> None:
    serializers.register(_Pausing(halfway, resume))
    store = Store(store_dir)
    inputs = _inputs("slow")
    manifest = store.save("slow", stage_key(inputs), inputs, {"x": b""}, {}, 1.0, {"x": "pausing"})
    done.put(manifest.key)


def _reader(store_dir: str, keys: list[str], seconds: float, pinned: bool, pause: float, results: Any) -> None:
    try:
        results.put(_read_rounds(Store(store_dir), keys, seconds, pinned, pause))
    except BaseException:
        results.put(traceback.format_exc())


def _read_rounds(store: Store, keys: list[str], seconds: float, pinned: bool, pause: float) -> tuple[int, int, int]:
    """Look up and load the keys in rounds (each round in its own pin, or unpinned); count what breaks."""
    hits = misses = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.pin() if pinned else contextlib.nullcontext():
            for number, key in enumerate(keys):
                manifest = store.lookup(key)
                if manifest is None:
                    misses += 1
                    continue
                try:
                    value = store.load(manifest, "x")
                except Exception:
                    errors += 1
                    continue
                hits += 1
                errors += not bool((np.asarray(value) == number).all())
        time.sleep(pause)
    return hits, misses, errors


# -- tests --------------------------------------------------------------------------------


def test_gc_skips_an_entry_another_process_pinned_until_it_exits(tmp_path: Path) -> None:
    store = Store(tmp_path)
    pinned, other = _save(store, "pinned", np.zeros(1000)), _save(store, "other", np.ones(1000))
    ready, release = SPAWN.Event(), SPAWN.Event()
    child = SPAWN.Process(target=_hold_pin, args=(str(tmp_path), pinned, ready, release))
    child.start()
    try:
        assert ready.wait(WAIT)
        assert store.gc(max_bytes=0, grace=0) == [other]
        assert store.lookup(pinned) is not None
    finally:
        release.set()
        child.join(WAIT)
    assert child.exitcode == 0
    assert store.gc(max_bytes=0, grace=0) == [pinned]


def test_the_pin_of_a_killed_process_is_dropped_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    pinned = _save(store, "pinned", np.zeros(1000))
    ready, release = SPAWN.Event(), SPAWN.Event()
    child = SPAWN.Process(target=_hold_pin, args=(str(tmp_path), pinned, ready, release))
    child.start()
    assert ready.wait(WAIT)
    assert store.gc(max_bytes=0, grace=0) == []
    os.kill(child.pid or 0, signal.SIGKILL)
    child.join(WAIT)
    assert store.gc(max_bytes=0, grace=0) == [pinned]  # not an hour later: its pid is gone
    assert not any(str(child.pid) in name for name in os.listdir(tmp_path / "leases"))


def test_gc_during_a_write_leaves_the_entry_alone_and_the_write_completes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    old = _save(store, "old", np.ones(1000))
    halfway, resume, done = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    child = SPAWN.Process(target=_slow_write, args=(str(tmp_path), halfway, resume, done))
    child.start()
    try:
        assert halfway.wait(WAIT)
        key = stage_key(_inputs("slow"))
        before = _files(tmp_path / "entries" / key[:2] / key)
        assert before and before[0].endswith(".tmp")
        assert store.gc(max_bytes=0, grace=0) == [old]  # the complete entry goes, the one being written stays
        assert store.sweep() == 0
        assert store.clear() == 0  # clear leaves it to its writer too
        assert _files(tmp_path / "entries" / key[:2] / key) == before
    finally:
        resume.set()
    assert done.get(timeout=WAIT) == key
    child.join(WAIT)
    assert child.exitcode == 0
    serializers.register(_Pausing(None, None))
    manifest = store.lookup(key)
    assert manifest is not None and store.load(manifest, "x") == b"a" * 500_000 + b"b" * 500_000
    assert store.gc(max_bytes=0, grace=0) == [key]


@pytest.mark.parametrize(("pinned", "grace"), [(True, 0.0), (False, 0.3)])
def test_a_reader_never_loses_an_entry_between_lookup_and_load(tmp_path: Path, pinned: bool, grace: float) -> None:
    """gc in a loop against a reader: pinned, or protected by the grace after each lookup.

    The reader pauses longer than the grace between rounds, so gc evicts between them and races their start.
    """
    store = Store(tmp_path)
    keys = [_save(store, f"s{number}", np.full(50_000, number)) for number in range(4)]
    results = SPAWN.Queue()
    reader = SPAWN.Process(target=_reader, args=(str(tmp_path), keys, 3.0, pinned, grace * 1.1 or 0.002, results))
    reader.start()
    deadline, collected = time.monotonic() + 20, 0
    while reader.is_alive() and time.monotonic() < deadline:
        collected += len(store.gc(max_bytes=0, grace=grace))
        for number, key in enumerate(keys):  # rewrite what gc took, so that the reader has work
            if not (tmp_path / "entries" / key[:2] / key / "manifest.json").exists():  # (a lookup would use it)
                _save(store, f"s{number}", np.full(50_000, number))
    reader.join(WAIT)
    assert reader.exitcode == 0
    outcome = results.get(timeout=5)
    assert isinstance(outcome, tuple), outcome
    hits, misses, errors = outcome
    assert errors == 0, (hits, misses, errors, collected)
    assert hits > 0 and collected > 0, (hits, misses, collected)


KILLED_WRITER = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from nbpipe.cache import KeyInputs, Store, serializers, stage_key


class Die:
    name, extension = "die", ".bin"

    def can_write(self, value):
        return True

    def dump(self, value, fileobj):
        fileobj.write(b"x" * 1_000_000)
        os.kill(os.getpid(), signal.SIGKILL)


serializers.register(Die())
inputs = KeyInputs(stage="big", code="c", header="big --out a b")
Store(sys.argv[1]).save("big", stage_key(inputs), inputs, {{"a": b"complete", "b": b"half"}}, {{}}, 1.0, {{"b": "die"}})
"""

NEXT_RUN = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from nbpipe.cache import KeyInputs, Store, stage_key
inputs = KeyInputs(stage="next", code="c", header="next --out x")
Store(sys.argv[1]).save("next", stage_key(inputs), inputs, {{"x": 1}}, {{}}, 1.0)
"""


@pytest.mark.parametrize("cleaner", ["gc", "next run"])
def test_leftovers_of_a_killed_writer_go_at_the_next_gc_or_run(tmp_path: Path, cleaner: str) -> None:
    died = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], capture_output=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    key = stage_key(KeyInputs(stage="big", code="c", header="big --out a b"))
    leftovers = _files(tmp_path / "entries" / key[:2] / key)
    assert any(name.endswith(".tmp") for name in leftovers), leftovers  # a megabyte on disk, seconds old
    if cleaner == "gc":
        assert Store(tmp_path).gc(max_bytes=10**12) == []
    else:
        ran = subprocess.run([sys.executable, "-c", NEXT_RUN, str(tmp_path)], capture_output=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "entries" / key[:2] / key).exists()
    assert not [name for name in _files(tmp_path) if name.startswith("leases/") and "lease.json" not in name]
    assert len(os.listdir(tmp_path / "leases")) <= (0 if cleaner == "gc" else 1)  # only a live writer's lease


def test_a_lease_from_another_host_counts_until_it_is_stale(tmp_path: Path) -> None:
    store = Store(tmp_path)
    key = _save(store, "remote", np.zeros(10))
    lease = tmp_path / "leases" / "0badc0de-4242-0123abcd"  # another host: its pid cannot be checked
    lease.mkdir(parents=True)
    (lease / key).touch()
    (lease / "lease.json").write_text(json.dumps({"host": "elsewhere", "pid": 4242, "refreshed": time.time()}))
    assert store.gc(max_bytes=0, grace=0) == []
    (lease / "lease.json").write_text(json.dumps({"refreshed": time.time() - LEASE_TTL - 1}))
    assert store.gc(max_bytes=0, grace=0) == [key]
    assert not lease.exists()
