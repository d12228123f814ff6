"""Leases: owner tokens, counted holds, the key log and what a lease table sees."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from nbpipe.cache import leases
from nbpipe.cache._fs import open_fs
from nbpipe.cache.leases import Lease, LeaseTable, new_token, owner_dead, pid_alive, token_owner

KEYS = [f"{number:032x}" for number in range(1, 6)]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_tokens_name_their_owner() -> None:
    token = new_token()
    host, pid = token_owner(f"x.{token}.npy.tmp") or ("", 0)
    assert (host, pid) == (leases.host_id(), os.getpid())
    assert token_owner("x.0123456789ab.npy.tmp") is None  # an older writer's token: no owner
    assert not owner_dead(f"manifest.json.{token}.tmp")
    dead = _dead_pid()
    assert not pid_alive(dead)
    assert owner_dead(f"x.{leases.host_id()}-{dead}-0123abcd.pkl5")
    assert not owner_dead(f"x.0badc0de-{dead}-0123abcd.pkl5")  # another host: cannot tell


@pytest.mark.parametrize("where", ["local", "memory"])
def test_counted_holds_as_a_table_sees_them(tmp_path: Path, where: str) -> None:
    fs = open_fs(tmp_path if where == "local" else f"memory://leases-{uuid.uuid4().hex}")
    lease = Lease(fs)
    lease.add([KEYS[0], KEYS[1], "not a key", ""])
    lease.add([KEYS[0]])
    lease.discard([KEYS[0], KEYS[1]])
    assert lease.keys == {KEYS[0]}
    table = LeaseTable(fs)
    assert table.live == [lease.token] and table.dead == [] and table.held == {KEYS[0]}
    lease.release()
    assert LeaseTable(fs).live == [] and fs.listdir(fs.join("leases")) == []


def test_the_key_log_is_compacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "_LOG_COMPACT_AT", 200)
    fs = open_fs(tmp_path)
    lease = Lease(fs)
    lease.add(KEYS)
    for _ in range(20):
        lease.add([KEYS[0]])
        lease.discard([KEYS[0]])
        lease.discard([KEYS[1]])
        lease.add([KEYS[1]])
    lease.discard([KEYS[2]])
    log = tmp_path / "leases" / lease.token / "keys.log"
    assert log.stat().st_size < 300
    assert LeaseTable(fs).held == set(KEYS) - {KEYS[2]} == lease.keys
    lease.release()


def test_compaction_survives_a_store_deleted_under_the_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store removed while a process keeps using it: the lease writes its folder again, never a closed log."""
    import shutil

    monkeypatch.setattr(leases, "_LOG_COMPACT_AT", 200)
    fs = open_fs(tmp_path / "store")
    lease = Lease(fs)
    lease.add(KEYS)
    shutil.rmtree(tmp_path / "store")
    for i in range(20):  # a writer's keys come and go: the log grows until it is compacted
        key = f"{i:032x}"
        lease.add([key])
        lease.discard([key])
    assert LeaseTable(fs).held == set(KEYS)
    lease.release()


def test_a_lease_of_a_dead_process_is_dead(tmp_path: Path) -> None:
    fs = open_fs(tmp_path)
    folder = tmp_path / "leases" / f"{leases.host_id()}-{_dead_pid()}-0123abcd"
    folder.mkdir(parents=True)
    (folder / "keys.log").write_text(f"+{KEYS[0]}\n+{KEYS[1][:10]}")  # a torn last line is skipped
    table = LeaseTable(fs)
    assert table.dead == [folder.name] and table.held == set()
    assert table.keys_of(folder.name) == {KEYS[0]}
