"""``nbpipe cache ls | show | clear | gc`` through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nbpipe.cache import KeyInputs, Store, stage_key
from nbpipe.cache.store import parse_size
from nbpipe.cli import main


def _fill(store: Store) -> list[str]:
    keys = []
    for number, stage in enumerate(("load", "train")):
        inputs = KeyInputs(stage=stage, code=f"c{number}", header=stage)
        keys.append(stage_key(inputs))
        store.save(stage, keys[-1], inputs, {"x": np.zeros(1000 * (number + 1))}, {"x": "f" * 32}, 1.0 + number)
    return keys


@pytest.mark.parametrize(
    ("text", "size"), [("0", 0), ("500", 500), ("500M", 500_000_000), ("2GB", 2_000_000_000), ("1GiB", 1 << 30)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_ls_show_clear_gc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_dir = tmp_path / "s"
    keys = _fill(Store(store_dir))
    assert main(["cache", "ls", "--store", str(store_dir)]) == 0
    listing = capsys.readouterr().out
    assert keys[0][:12] in listing and "train" in listing and "2 entries" in listing

    assert main(["cache", "show", keys[1][:8], "--store", str(store_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == keys[1]

    assert main(["cache", "clear", "--stage", "load", "--store", str(store_dir)]) == 0
    assert "removed 1 cache entry of stage 'load'" in capsys.readouterr().out

    assert main(["cache", "gc", "--max-size", "0", "--store", str(store_dir)]) == 0
    out = capsys.readouterr().out
    assert "evicted 0 entries" in out and "kept 1 entry above 0 B: in use by a running process or used in" in out
    assert main(["cache", "gc", "--max-size", "0", "--grace", "0", "--store", str(store_dir)]) == 0
    assert "evicted 1 entry" in capsys.readouterr().out
    assert Store(store_dir).entries() == []


def test_notebook_argument_locates_the_default_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    _fill(Store(tmp_path / ".nbpipe"))
    assert main(["cache", "ls", str(notebook), "--json"]) == 0
    assert [entry["stage"] for entry in json.loads(capsys.readouterr().out)] == ["load", "train"]


def test_show_unknown_key_fails_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "show", "abcdef", "--store", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "no cache entry match 'abcdef'" in error and "nbpipe cache ls" in error


def test_bad_size_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "gc", "--max-size", "lots", "--store", str(tmp_path)]) == 2
    assert "invalid size 'lots'" in capsys.readouterr().err
    assert main(["cache", "gc", "--max-size", "0", "--grace", "-1", "--store", str(tmp_path)]) == 2
    assert "invalid number of seconds '-1'" in capsys.readouterr().err


def test_key_init_show_path_and_the_ls_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBPIPE_STORE_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key_file = tmp_path / "config" / "nbpipe" / "store.key"
    assert main(["cache", "key", "show-path"]) == 0
    assert capsys.readouterr().out.startswith(f"{key_file}\nno store key")
    _fill(Store(tmp_path / "s"))  # written before the key existed: unsigned
    assert main(["cache", "key", "init"]) == 0
    assert "wrote a new store key" in capsys.readouterr().out
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text().strip()) == 64
    assert main(["cache", "key", "init"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["cache", "key", "show-path"]) == 0
    assert "the key file holds a key (id " in capsys.readouterr().out
    assert main(["cache", "ls", "--store", str(tmp_path / "s")]) == 0
    assert "2 of them are not signed with this store key" in capsys.readouterr().out
