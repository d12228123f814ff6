"""Fingerprints: equal values hash equal (across processes and layouts), different values do not."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import threading
import tracemalloc
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbpipe.cache import serializers
from nbpipe.cache.fingerprint import fingerprint
from nbpipe.errors import CacheError

ROOT = Path(__file__).resolve().parents[3]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": np.linspace(0, 1, 6),
            "i": np.arange(6),
            "s": list("abcdef"),
            "c": pd.Categorical(list("xyxyxz")),
            "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
            "t": pd.date_range("2024-01-01", periods=6, tz="UTC"),
            "o": [1, "a", None, 2.5, (1,), {"k": 1}],
        },
        index=pd.Index(list("uvwxyz"), name="key"),
    )


EQUAL = [
    ("dict order", {"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}),
    ("set order", {3, 1, 2, "x"}, {"x", 2, 1, 3}),
    ("nested dict in list", [{"z": 1, "y": {2, 3}}], [{"y": {3, 2}, "z": 1}]),
    ("C vs Fortran order", np.arange(12.0).reshape(3, 4), np.asfortranarray(np.arange(12.0).reshape(3, 4))),
    ("strided view vs copy", np.arange(20)[::2], np.arange(20)[::2].copy()),
    ("datetime64", np.array(["2024-01-01"], dtype="M8[ns]"), np.array(["2024-01-01"], dtype="M8[ns]")),
    ("frame vs copy", _frame(), _frame().copy()),
    ("series", pd.Series([1.0, 2.0], name="x"), pd.Series([1.0, 2.0], name="x")),
    ("range index", pd.RangeIndex(5), pd.RangeIndex(0, 5)),
    ("multi index", pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]), pd.MultiIndex.from_tuples([(1, "a"), (2, "b")])),
    (
        "arrow table",
        pa.table({"a": [1, 2, None], "s": ["x", "y", "z"]}),
        pa.table({"a": [1, 2, None], "s": ["x", "y", "z"]}),
    ),
    ("arrow dictionary", pa.array(["a", "b", "a"]).dictionary_encode(), pa.array(["a", "b", "a"]).dictionary_encode()),
]

DIFFERENT = [
    ("list vs tuple", [1, 2], (1, 2)),
    ("int vs float", 1, 1.0),
    ("bool vs int", True, 1),
    ("dict value", {"a": 1}, {"a": 2}),
    ("set vs frozenset", {1}, frozenset({1})),
    ("dtype", np.arange(3, dtype="i4"), np.arange(3, dtype="i8")),
    ("shape", np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)),
    ("one element", np.zeros(1000), np.concatenate([np.zeros(999), [1e-300]])),
    ("frame column order", _frame()[["f", "i"]], _frame()[["i", "f"]]),
    ("frame row order", _frame(), _frame().iloc[::-1]),
    ("frame index name", _frame(), _frame().rename_axis("other")),
    ("frame column name", _frame(), _frame().rename(columns={"f": "g"})),
    ("frame dtype", pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1.0, 2.0]})),
    ("series name", pd.Series([1], name="a"), pd.Series([1], name="b")),
    ("object column", pd.DataFrame({"o": [{"a": 1}]}), pd.DataFrame({"o": [{"a": 2}]})),
    ("categorical order", pd.Categorical(["a"], ordered=True), pd.Categorical(["a"], ordered=False)),
    ("arrow values", pa.table({"s": ["x", "y"]}), pa.table({"s": ["x", "z"]})),
    ("arrow nulls", pa.array([1, None]), pa.array([1, 0])),
    ("array vs list", np.arange(3), [0, 1, 2]),
]


@pytest.mark.parametrize(("label", "left", "right"), EQUAL, ids=[case[0] for case in EQUAL])
def test_equal_values_have_equal_fingerprints(label: str, left: object, right: object) -> None:
    assert fingerprint(left) == fingerprint(right)


@pytest.mark.parametrize(("label", "left", "right"), DIFFERENT, ids=[case[0] for case in DIFFERENT])
def test_different_values_have_different_fingerprints(label: str, left: object, right: object) -> None:
    assert fingerprint(left) != fingerprint(right)


def test_fingerprint_is_32_hex_digits() -> None:
    digest = fingerprint({"a": 1})
    assert len(digest) == 32 and int(digest, 16) >= 0


_SAMPLES = """
import json, sys
import numpy as np, pandas as pd, pyarrow as pa
sys.path.insert(0, {root!r})
from nbpipe.cache.fingerprint import fingerprint
values = [
    {{"b": 1, "a": [1.5, "x", None]}},
    {{"x", "y", "z", 1, 2, (3, 4)}},
    frozenset({{"p", "q"}}),
    np.arange(100.0).reshape(10, 10),
    pd.DataFrame({{"a": [1, 2, 3], "s": ["u", "v", "w"], "o": [{{"k"}}, [1], "z"]}}),
    pa.table({{"a": [1, None, 3], "s": ["x", "y", None]}}),
    [{{"k": {{1, 2, 3}}}}, ("t", b"bytes")],
]
print(json.dumps([fingerprint(v) for v in values]))
"""


def fingerprints_in_subprocess(seed: str, samples: str = _SAMPLES) -> list[str]:
    """The fingerprints a fresh interpreter with ``PYTHONHASHSEED=seed`` prints for ``samples`` (a script template)."""
    env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", samples.format(root=str(ROOT))], env=env, capture_output=True, text=True, check=True
    )
    return list(json.loads(done.stdout))


def test_fingerprints_agree_across_processes_with_different_hash_seeds() -> None:
    assert fingerprints_in_subprocess("1") == fingerprints_in_subprocess("4242")


def test_importing_fingerprint_does_not_import_data_libraries() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import nbpipe.cache.fingerprint, nbpipe.cache; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'fsspec') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unpicklable_value_names_variable_path_and_type() -> None:
    with pytest.raises(CacheError) as caught:
        fingerprint({"k": [1, threading.Lock()]}, "model")
    message = str(caught.value)
    assert "\"model['k'][1]\"" in message
    assert "_thread.lock" in message
    assert "cannot be pickled" in message


def test_contiguous_array_is_hashed_without_a_copy() -> None:
    array = np.ones(40_000_000 // 8)  # 40 MB
    frame = pd.DataFrame({"a": array, "b": array * 2})
    tracemalloc.start()
    try:
        fingerprint(array)
        fingerprint(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"fingerprinting allocated {peak} bytes: a copy of the buffer was made"


@pytest.mark.parametrize("value", [_frame(), pa.table({"s": ["a", "b"], "i": [1, 2]}), (np.arange(4), "x")])
def test_values_restored_from_read_only_payload_keep_their_fingerprint(value: object) -> None:
    buffer = io.BytesIO()
    serializers.get("pickle5").dump(value, buffer)
    restored = serializers.get("pickle5").load(memoryview(buffer.getvalue()))  # read-only buffers, as with mmap
    assert fingerprint(restored) == fingerprint(value)


_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.binary(max_size=8)
)
_hashable = st.one_of(st.integers(), st.text(max_size=8), st.tuples(st.integers(), st.text(max_size=4)))
_nested = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(_hashable, children, max_size=5),
        st.frozensets(_hashable, max_size=5),
        st.sets(_hashable, max_size=5),
    ),
    max_leaves=25,
)


def _reinsert(value: object) -> object:
    """An equal value built in another order: dicts re-inserted reversed, sets rebuilt."""
    if isinstance(value, dict):
        return {key: _reinsert(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reinsert(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_reinsert(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(reversed(list(value)))
    return value


@settings(max_examples=150, deadline=None)
@given(_nested)
def test_fingerprint_is_deterministic_for_random_nested_containers(value: object) -> None:
    digest = fingerprint(value)
    assert fingerprint(copy.deepcopy(value)) == digest
    assert fingerprint(_reinsert(value)) == digest


def test_shared_and_equal_unshared_objects_fingerprint_alike() -> None:
    shared = [1, 2, "x" * 40]
    same_object_twice = types.SimpleNamespace(a=shared, b=shared)
    equal_copies = types.SimpleNamespace(a=[1, 2, "x" * 40], b=[1, 2, "x" * 40])
    assert fingerprint(same_object_twice) == fingerprint(equal_copies)


def test_cyclic_object_still_fingerprints() -> None:
    node = types.SimpleNamespace(value=1)
    node.self = node
    assert fingerprint(node) == fingerprint(node)
