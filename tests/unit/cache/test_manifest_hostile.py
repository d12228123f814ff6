"""Hostile store manifests (issue 11 §4): nested 100k deep inside a field, numbers Python cannot
convert, wrong types that Python would convert anyway, lone surrogates. Each is a corrupt entry:
a miss with one warning, and ``cache ls/gc/clear`` keep working and can remove it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.cache import CacheWarning, CorruptEntry, KeyInputs, Store, stage_key, trust
from nbpipe.cache.manifest import Manifest
from nbpipe.cli import main

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(autouse=True)
def _no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(trust, "CHECKED_WRITERS", set())


def _save(store: Store, stage: str) -> str:
    inputs = KeyInputs(stage=stage, code="c", header=f"{stage} --out x", params={"n": 1})
    key = stage_key(inputs)
    store.save(stage, key, inputs, {"x": 7}, {}, 1.0)
    return key


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _set(path: str, value: str) -> Any:
    """Replace the field at the dotted ``path`` of the manifest text with the raw JSON ``value``."""

    def edit(data: dict[str, Any]) -> str:
        *parents, last = path.split(".")
        target = data
        for name in parents:
            target = target[name]
        target[last] = "@@"
        return _compact(data).replace('"@@"', value)

    return edit


HOSTILE = {
    "deep in params": _set("key_inputs.params.n", DEEP),
    "deep in versions": _set("versions.python", DEEP),
    "deep in an output": _set("outputs.x.serializer", DEEP),
    "format 1e400": _set("key_inputs.format", "1e400"),
    "format true": _set("key_inputs.format", "true"),
    "seconds 1e400": _set("seconds", "1e400"),
    "seconds NaN": _set("seconds", "NaN"),
    "seconds negative": _set("seconds", "-1"),
    "an int past Python's digit limit": _set("seconds", "9" * 5_000),
    "params as pairs": _set("key_inputs.params", '[["n", 1]]'),
    "helpers as a string": _set("key_inputs.helpers", '"ab"'),
    "key_inputs a list": _set("key_inputs", "[1]"),
    "code a number": _set("key_inputs.code", "5"),
    "stage a lone surrogate": _set("stage", '"\\ud800"'),
    "output name a lone surrogate": lambda data: _compact(data).replace('"x":{', '"\\udc80":{', 1),
}


@pytest.mark.parametrize("edit", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_manifest_is_a_corrupt_miss_and_the_cli_removes_it(
    tmp_path: Path, edit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path)
    good, bad = _save(store, "good"), _save(store, "bad")
    path = tmp_path / "entries" / bad[:2] / bad / "manifest.json"
    path.write_text(edit(json.loads(path.read_text())))
    with pytest.warns(CacheWarning, match="unreadable, treated as a miss") as caught:
        assert store.lookup(bad) is None
    assert len([w for w in caught if issubclass(w.category, CacheWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.lookup(bad) is None  # one warning per entry
        assert [m.key for m in store.entries()] == [good]
    assert main(["cache", "ls", "--store", str(tmp_path)]) == 0
    assert main(["cache", "gc", "--max-size", "1G", "--store", str(tmp_path)]) == 0
    assert not path.parent.exists()
    assert main(["cache", "clear", "--store", str(tmp_path)]) == 0
    assert "Traceback" not in capsys.readouterr().err


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = ["version", "stage", "key", "key_inputs", "outputs", "seconds", "created", "versions", "signature"]
_FIELDS += [f"key_inputs.{name}" for name in ("stage", "code", "header", "helpers", "params", "format", "python")]
_FIELDS += [f"outputs.x.{name}" for name in ("serializer", "file", "bytes", "checksum", "fingerprint", "sha256")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=_json)
def test_any_field_of_any_type_is_a_manifest_or_corrupt(tmp_path: Path, field: str, value: Any) -> None:
    store = Store(tmp_path)
    key = stage_key(KeyInputs(stage="s", code="c", header="s --out x"))
    if store.lookup(key) is None:
        store.save("s", key, KeyInputs(stage="s", code="c", header="s --out x"), {"x": 1}, {}, 1.0)
    data = json.loads((tmp_path / "entries" / key[:2] / key / "manifest.json").read_text())
    edited = json.loads(_set(field, json.dumps(value))(data))
    try:
        manifest = Manifest.from_dict(edited)
    except CorruptEntry:
        return
    json.dumps(manifest.to_dict())  # what was accepted can be written back and shown
    str(manifest.stage).encode("utf-8")


def test_a_huge_manifest_is_corrupt_without_being_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbpipe.cache import manifest

    store = Store(tmp_path)
    key = _save(store, "big")
    path = tmp_path / "entries" / key[:2] / key / "manifest.json"
    data = json.loads(path.read_text())
    monkeypatch.setattr(manifest, "MAX_MANIFEST_BYTES", len(path.read_bytes()) + 100)
    path.write_text(json.dumps({**data, "pad": "x" * 200}))
    with pytest.warns(CacheWarning, match=r"MiB a manifest may be"):
        assert Store(tmp_path).lookup(key) is None
    assert main(["cache", "gc", "--max-size", "1G", "--store", str(tmp_path)]) == 0
    assert not path.parent.exists()
