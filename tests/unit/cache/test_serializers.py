"""Serializers: exact round trips, zero-copy loading, the registry and entry-point plugins."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbpipe.cache import serializers
from nbpipe.cache.fingerprint import fingerprint
from nbpipe.errors import CacheError

VALUES = [
    ("npy", np.arange(12.0).reshape(3, 4)),
    ("npy", np.asfortranarray(np.arange(12).reshape(3, 4))),
    ("npy", np.arange(20)[::3]),
    ("npy", np.array(["2024-01-01", "NaT"], dtype="M8[s]")),
    ("npy", np.zeros((0, 3))),
    ("npy", np.array(3.5)),
    ("npy", np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])),
    ("pickle5", pd.DataFrame({"a": np.arange(5), "s": list("abcde")})),
    ("pickle5", {"nested": [np.ones(3), "x"], "n": None}),
    ("pickle5", np.array([{"a": 1}, None], dtype=object)),
    ("pickle5", np.memmap),  # a class: pickled by reference
]


def _round_trip(name: str, value: object, *, mmap: bool = False, tmp_path: Path | None = None) -> object:
    serializer = serializers.get(name)
    buffer = io.BytesIO()
    serializer.dump(value, buffer)
    if tmp_path is None:
        return serializer.load(memoryview(buffer.getvalue()), mmap=mmap)
    path = tmp_path / f"payload{serializer.extension}"
    path.write_bytes(buffer.getvalue())
    return serializer.load(path, mmap=mmap)


@pytest.mark.parametrize(("name", "value"), VALUES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VALUES)])
def test_choose_and_round_trip(name: str, value: object, tmp_path: Path) -> None:
    assert serializers.choose(value).name == name
    for mmap in (False, True):
        restored = _round_trip(name, value, mmap=mmap, tmp_path=tmp_path)
        assert type(restored) is type(value)
        assert fingerprint(restored) == fingerprint(value)


def test_masked_array_round_trips_through_pickle5() -> None:
    # Its fill_value is computed lazily and pickled once known, so the fingerprint
    # may change after a round trip (a cache miss, never a wrong hit); the values do not.
    masked = np.ma.masked_array([1, 2, 3], mask=np.array([False, True, False]))
    assert serializers.choose(masked).name == "pickle5"
    restored = _round_trip("pickle5", masked)
    assert isinstance(restored, np.ma.MaskedArray)
    np.testing.assert_array_equal(restored.mask, masked.mask)
    np.testing.assert_array_equal(restored.compressed(), masked.compressed())


def test_npy_payload_is_a_standard_npy_file(tmp_path: Path) -> None:
    array = np.arange(10.0).reshape(2, 5)
    path = tmp_path / "a.npy"
    with open(path, "wb") as handle:
        serializers.get("npy").dump(array, handle)
    np.testing.assert_array_equal(np.load(path), array)


def test_mmap_load_maps_instead_of_reading(tmp_path: Path) -> None:
    restored = _round_trip("npy", np.arange(1000.0), mmap=True, tmp_path=tmp_path)
    assert isinstance(restored, np.ndarray) and not restored.flags.writeable


def test_loaded_arrays_are_writable_and_share_the_read_buffer(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(1000.0), "b": np.arange(1000.0)})
    restored = _round_trip("pickle5", frame, tmp_path=tmp_path)
    assert isinstance(restored, pd.DataFrame)
    restored.loc[0, "a"] = 5.0
    assert restored.loc[0, "a"] == 5.0


def test_pickle5_buffers_are_aligned(tmp_path: Path) -> None:
    restored = _round_trip("pickle5", {"x": np.arange(1001, dtype="f8")}, tmp_path=tmp_path)
    assert isinstance(restored, dict) and restored["x"].flags.aligned


def test_parquet_is_opt_in() -> None:
    frame = pd.DataFrame({"a": [1, 2], "s": ["x", "y"]})
    assert serializers.choose(frame).name == "pickle5"
    assert serializers.choose(frame, "parquet").name == "parquet"
    assert serializers.choose([1, 2], "parquet").name == "pickle5"  # parquet cannot write a list
    restored = _round_trip("parquet", frame)
    pd.testing.assert_frame_equal(restored, frame)  # type: ignore[arg-type]


def test_truncated_payload_is_an_error() -> None:
    buffer = io.BytesIO()
    serializers.get("pickle5").dump({"x": np.arange(100)}, buffer)
    with pytest.raises(ValueError, match="truncated"):
        serializers.get("pickle5").load(memoryview(buffer.getvalue()[:-50]))


def test_unknown_serializer_names_the_known_ones() -> None:
    with pytest.raises(CacheError, match=r"unknown serializer 'nope'; known: .*npy.*pickle5"):
        serializers.get("nope")


PLUGIN = """
import json


class JsonSerializer:
    name = "json-test"
    extension = ".json"

    def can_write(self, value):
        return isinstance(value, dict)

    def dump(self, value, fileobj):
        fileobj.write(json.dumps(value).encode())

    def load(self, source, mmap=False):
        from nbpipe.cache.serializers import as_buffer
        return json.loads(bytes(as_buffer(source)))
"""


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real installed distribution (dist-info on sys.path) exposing an nbpipe.serializers entry point."""
    (tmp_path / "nbpipe_json_test.py").write_text(PLUGIN)
    info = tmp_path / "nbpipe_json_test-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nbpipe-json-test\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nbpipe.serializers]\njson-test = nbpipe_json_test:JsonSerializer\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(serializers, "_plugins_loaded", False)
    monkeypatch.setattr(serializers, "_registry", dict(serializers._BUILTINS))
    yield
    sys.modules.pop("nbpipe_json_test", None)


@pytest.mark.usefixtures("plugin_on_path")
def test_entry_point_serializer_is_loaded_lazily_by_name() -> None:
    assert "json-test" not in serializers._registry
    assert serializers.choose({"a": 1}).name == "pickle5"  # plugins are opt-in by name
    serializer = serializers.get("json-test")
    assert serializer.name == "json-test" and "json-test" in serializers.available()
    buffer = io.BytesIO()
    serializer.dump({"a": [1, 2]}, buffer)
    assert serializer.load(buffer.getvalue()) == {"a": [1, 2]}
