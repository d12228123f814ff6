"""A value fingerprints the same as its pickle round trip and as the value nbpipe's store gives back.

Each value is compared with: ``pickle.loads(pickle.dumps(value, protocol=5))``; the
serializer round trip with read-only buffers (as from a memory map); and a real
``Store`` save and load (``npy`` for arrays, ``pickle5`` otherwise), memory-mapped too.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import io
import pickle
import socket
import sys
import threading
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch

from nbpipe.cache import KeyInputs, Store, serializers, stage_key
from nbpipe.cache.fingerprint import fingerprint
from nbpipe.errors import CacheError

ROOT = Path(__file__).resolve().parents[3]


# -- value kinds ---------------------------------------------------------------------


@dataclasses.dataclass
class Sample:
    name: str
    weights: np.ndarray
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FrozenSample:
    label: str
    values: np.ndarray
    tags: tuple[str, ...] = ()


class Point(NamedTuple):
    x: Any
    y: Any


class Reordering:
    """Restores its attributes in the reverse order: the ``__dict__`` order differs after unpickling."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in reversed(list(state)):
            setattr(self, key, state[key])


class Tagged(set):  # type: ignore[type-arg]
    """A set subclass: pickles its members as a list in hash order."""


@functools.cache
def _iris() -> Bunch:
    return load_iris()


@functools.cache
def _fitted() -> dict[str, Any]:
    data = _iris()
    x, y = data.data, data.target
    return {
        "logistic": LogisticRegression(max_iter=1000).fit(x, y),
        "scaler": StandardScaler().fit(x),
        "pipeline": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y),
    }


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": np.linspace(0, 1, 4),
            "s": ["a", "b", None, "d"],
            "o": [1, "a", None, {"k": (1, 2)}],
            "c": pd.Categorical(["x", "y", "x", "z"]),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "t": pd.date_range("2024-01-01", periods=4, tz="Europe/Paris"),
            "p": pd.array(["u", None, "w", "x"], dtype=pd.StringDtype("python")),
            "a": pd.array([1.5, None, 3.0, 4.0], dtype="float64[pyarrow]"),
        }
    )


def _cyclic() -> types.SimpleNamespace:
    node = types.SimpleNamespace(name="root", data=np.arange(3), children=[])
    node.children.append(types.SimpleNamespace(name="leaf", parent=node))
    node.me = node
    return node


def _shared() -> dict[str, Any]:
    array, text = np.arange(5.0), "x" * 40
    bunch = Bunch(a=array, text=text)
    return {"a": array, "b": array, "bunches": [bunch, bunch], "texts": [text, text]}


VALUES: list[tuple[str, Callable[[], object]]] = [
    *[(f"array {code}", functools.partial(np.zeros, 3, dtype=code)) for code in "?bBhHiIlLqQefdgFDG"],
    ("array datetime64", lambda: np.array(["2024-01-01", "NaT"], dtype="M8[s]")),
    ("array timedelta64", lambda: np.array([1, 2], dtype="m8[ms]")),
    ("array unicode", lambda: np.array(["a", "bcd"])),
    ("array bytes", lambda: np.array([b"a", b"bcd"])),
    ("array void", lambda: np.array([b"ab"], dtype="V2")),
    ("array object", lambda: np.array([1, "a", None, (1, 2), {"k": np.arange(2)}], dtype=object)),
    ("array object shared", lambda: np.array(["x" * 40] * 3, dtype=object)),
    ("array 0-d", lambda: np.array(3.5)),
    ("array 0-d object", lambda: np.array({"k": 1}, dtype=object)),
    ("array strided", lambda: np.arange(30.0).reshape(5, 6)[::2, 1::2]),
    ("array fortran", lambda: np.asfortranarray(np.arange(12).reshape(3, 4))),
    ("array structured", lambda: np.array([(1, 2.5, b"x")], dtype=[("a", "i4"), ("b", "f8"), ("c", "S2")])),
    ("array structured object", lambda: np.array([(1, "a")], dtype=[("a", "i4"), ("o", "O")])),
    ("array masked", lambda: np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])),
    (
        "numpy scalars",
        lambda: [np.float32(1.5), np.int8(-3), np.bool_(True), np.datetime64("2024-01-01"), np.str_("s")],
    ),
    ("numpy record scalar", lambda: np.array([(1, "a")], dtype=[("a", "i4"), ("o", "O")])[0]),
    ("frame mixed", _frame),
    ("frame multiindex", lambda: _frame().set_index(["s", "f"])),
    ("frame arrow", lambda: pd.DataFrame({"i": pd.array([1, None], dtype="int64[pyarrow]"), "s": ["a", "b"]})),
    ("series categorical", lambda: pd.Series(pd.Categorical(["a", "b", "a"], ordered=True), name="c")),
    ("series tz", lambda: pd.Series(pd.date_range("2024-01-01", periods=3, tz="UTC"))),
    ("series Int64", lambda: pd.Series([1, None, 3], dtype="Int64")),
    ("series string pyarrow", lambda: pd.Series(["a", None], dtype="string[pyarrow]")),
    ("series str default", lambda: pd.Series(list("abc"))),
    ("index multi", lambda: pd.MultiIndex.from_product([[1, 2], ["a", "b"]], names=["n", "s"])),
    ("index datetime", lambda: pd.DatetimeIndex(["2024-01-01", None], tz="Asia/Tokyo")),
    ("index categorical", lambda: pd.CategoricalIndex(["a", "b", "a"])),
    ("index range", lambda: pd.RangeIndex(2, 20, 3, name="r")),
    ("arrow table", lambda: pa.table({"a": [1, None, 3], "s": ["x", "y", None], "l": [[1], [], None]})),
    ("arrow record batch", lambda: pa.record_batch({"a": [1, 2]})),
    ("arrow array", lambda: pa.array([1.5, None, 2.5])),
    ("arrow chunked", lambda: pa.chunked_array([[1, 2], [3]])),
    ("arrow dictionary", lambda: pa.array(["a", "b", "a"]).dictionary_encode()),
    ("sklearn unfitted", lambda: LogisticRegression(C=0.5)),
    ("sklearn unfitted pipeline", lambda: Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])),
    ("sklearn fitted logistic", lambda: _fitted()["logistic"]),
    ("sklearn fitted scaler", lambda: _fitted()["scaler"]),
    ("sklearn fitted pipeline", lambda: _fitted()["pipeline"]),
    ("sklearn fitted forest", lambda: _fitted()["forest"]),
    ("bunch iris", _iris),
    ("bunch built", lambda: Bunch(b=np.arange(2), a="x")),
    ("dataclass", lambda: Sample("s", np.arange(3.0), {"z": 1, "a": np.ones(2)})),
    ("dataclass frozen", lambda: FrozenSample("f", np.arange(2), ("t",))),
    ("namedtuple", lambda: Point(np.arange(2), {"k": "v"})),
    ("reordering __dict__", lambda: Reordering(a=1, b=np.arange(2), c="x")),
    ("dict key order", lambda: {"b": 1, "a": [2], 3: "c", (1, "t"): None}),
    ("set subclass", lambda: Tagged({"alpha", "beta", "gamma", "delta"})),
    ("ordered dict", lambda: collections.OrderedDict([("b", 1), ("a", np.arange(2))])),
    ("defaultdict", lambda: collections.defaultdict(list, {"x": [1], "a": []})),
    ("counter", lambda: collections.Counter("abracadabra")),
    ("namespace", lambda: types.SimpleNamespace(z=1, a=np.ones(2), s={"p", "q"})),
    ("shared references", _shared),
    ("cyclic object", _cyclic),
    ("pandas scalars", lambda: [pd.Timestamp("2024-01-01", tz="UTC"), pd.NA, pd.NaT, pd.Period("2024-01", "M")]),
    (
        "nested mix",
        lambda: {
            "frame": _frame(),
            "model": _fitted()["scaler"],
            "items": [Point(1, FrozenSample("x", np.arange(2))), {frozenset({1, 2}), ("t", 3)}],
            "table": pa.table({"a": [1]}),
            "bunch": _iris(),
        },
    ),
]


# -- round trips ---------------------------------------------------------------------


def _pickled(value: object) -> object:
    return pickle.loads(pickle.dumps(value, protocol=5))


def _serialized(value: object) -> object:
    """Through the serializer the store would choose, loaded from a read-only buffer."""
    serializer = serializers.choose(value)
    buffer = io.BytesIO()
    serializer.dump(value, buffer)
    return serializer.load(memoryview(buffer.getvalue()))


class _StoreTrip:
    """Save an output in a real store and load it back (optionally memory-mapped)."""

    def __init__(self, root: Path) -> None:
        self.store = Store(root)

    def __call__(self, value: object, mmap: bool = False) -> object:
        inputs = KeyInputs(stage="s", code=uuid.uuid4().hex, header="s --out x")
        key = stage_key(inputs)
        self.store.save("s", key, inputs, {"x": value}, {"x": fingerprint(value, "x")}, seconds=0.0)
        manifest = self.store.lookup(key)
        assert manifest is not None
        return self.store.load(manifest, "x", mmap=mmap)


@pytest.fixture(scope="module")
def store_trip(tmp_path_factory: pytest.TempPathFactory) -> _StoreTrip:
    return _StoreTrip(tmp_path_factory.mktemp("store"))


def _assert_round_trips(value: object, store_trip: _StoreTrip) -> None:
    expected = fingerprint(value)
    assert fingerprint(_pickled(value)) == expected, "pickle round trip"
    assert fingerprint(_pickled(_pickled(value))) == expected, "two pickle round trips"
    assert fingerprint(_serialized(value)) == expected, "serializer round trip (read-only buffers)"
    assert fingerprint(store_trip(value)) == expected, "store round trip"
    assert fingerprint(store_trip(value, mmap=True)) == expected, "store round trip, memory-mapped"
    assert fingerprint(value) == expected, "fingerprinting changed the value"


@pytest.mark.parametrize(("label", "make"), VALUES, ids=[case[0] for case in VALUES])
def test_value_fingerprints_like_its_round_trips(
    label: str, make: Callable[[], object], store_trip: _StoreTrip
) -> None:
    _assert_round_trips(make(), store_trip)


def test_bunch_fingerprints_like_its_round_trip() -> None:
    """The reported case (``fab985de…`` live, ``ffbc71bb…`` unpickled before the fix).

    The cause: a live Bunch carries ``__dict__ == {"_deprecated_key_to_warnings": {}}``,
    pickled as its state, but ``Bunch.__setstate__`` ignores it, so the restored Bunch
    has an empty ``__dict__`` and pickled differently.
    """
    iris = load_iris()
    assert fingerprint(iris) == fingerprint(_pickled(iris)) == fingerprint(_pickled(_pickled(iris)))


EQUAL = [
    ("bunch key order", lambda: Bunch(a=1, b=np.arange(2)), lambda: Bunch(b=np.arange(2), a=1)),
    ("attribute order", lambda: types.SimpleNamespace(a=1, b=2), lambda: types.SimpleNamespace(b=2, a=1)),
    ("shared vs copies", lambda: [np.arange(3)] * 2, lambda: [np.arange(3), np.arange(3)]),
    ("shared strings", lambda: ["x" * 40] * 2, lambda: ["x" * 40, "".join(["x"] * 40)]),
    ("shared objects", lambda: [Point(1, 2)] * 2, lambda: [Point(1, 2), Point(1, 2)]),
    ("set subclass order", lambda: Tagged(["a", "b", "c"]), lambda: Tagged(["c", "b", "a"])),
]

DIFFERENT = [
    ("bunch value", lambda: Bunch(a=1), lambda: Bunch(a=2)),
    ("bunch vs dict", lambda: Bunch(a=1), lambda: {"a": 1}),
    ("estimator parameter", lambda: LogisticRegression(C=1.0), lambda: LogisticRegression(C=2.0)),
    ("fitted vs unfitted", lambda: _fitted()["scaler"], lambda: StandardScaler()),
    ("dataclass field", lambda: Sample("a", np.zeros(2)), lambda: Sample("a", np.ones(2))),
    ("frozen vs plain", lambda: FrozenSample("a", np.zeros(2)), lambda: Sample("a", np.zeros(2))),
    ("ordered dict order", lambda: collections.OrderedDict(a=1, b=2), lambda: collections.OrderedDict(b=2, a=1)),
    ("namedtuple vs tuple", lambda: Point(1, 2), lambda: (1, 2)),
    ("set subclass vs set", lambda: Tagged({"a"}), lambda: {"a"}),
    ("attribute value", lambda: types.SimpleNamespace(a=1), lambda: types.SimpleNamespace(a=1.0)),
    ("cycle vs copy", _cyclic, lambda: types.SimpleNamespace(**{**vars(_cyclic()), "me": None})),
    ("0-d vs scalar", lambda: np.array(1.5), lambda: np.float64(1.5)),
    ("masked mask", lambda: np.ma.masked_array([1, 2], mask=[0, 1]), lambda: np.ma.masked_array([1, 2], mask=[1, 0])),
]


@pytest.mark.parametrize(("label", "left", "right"), EQUAL, ids=[case[0] for case in EQUAL])
def test_equal_values_fingerprint_alike(label: str, left: Callable[[], object], right: Callable[[], object]) -> None:
    assert fingerprint(left()) == fingerprint(right())


@pytest.mark.parametrize(("label", "left", "right"), DIFFERENT, ids=[case[0] for case in DIFFERENT])
def test_different_values_fingerprint_apart(
    label: str, left: Callable[[], object], right: Callable[[], object]
) -> None:
    assert fingerprint(left()) != fingerprint(right())


# -- random nested values --------------------------------------------------------------


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.binary(max_size=6),
)
_hashable = st.one_of(st.integers(), st.text(max_size=6), st.tuples(st.integers(), st.text(max_size=3)))
_dtypes = st.sampled_from(["i1", "u2", "i8", "f4", "f8", "c16", "?", "M8[s]", "U3"])
_arrays = st.builds(
    lambda dtype, n, step: np.arange(n * 2).astype(dtype)[::step],
    _dtypes,
    st.integers(0, 6),
    st.integers(1, 2),
)
_library = st.one_of(
    _arrays,
    st.builds(lambda items: np.array([*items, None], dtype=object), st.lists(_scalars, max_size=4)),
    st.builds(lambda x: np.float32(x), st.floats(width=32, allow_nan=False)),
    st.builds(lambda n: pd.DataFrame({"a": np.arange(n), "s": [str(i) for i in range(n)]}), st.integers(0, 4)),
    st.builds(lambda items: pd.Series(items, dtype="Int64"), st.lists(st.one_of(st.none(), st.integers(-9, 9)))),
    st.builds(lambda items: pa.array(items, type=pa.string()), st.lists(st.one_of(st.none(), st.text(max_size=3)))),
    st.sampled_from(["sklearn unfitted", "sklearn fitted logistic", "bunch iris"])
    .map(dict(VALUES).__getitem__)
    .map(lambda make: make()),
)


def _nest(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(_hashable, children, max_size=4),
        st.frozensets(_hashable, max_size=4),
        st.sets(_hashable, max_size=4),
        st.builds(Point, children, children),
        st.builds(lambda name, value: Sample(name, np.arange(2.0), {"v": value}), st.text(max_size=3), children),
        st.builds(lambda value: FrozenSample("f", np.zeros(1), (str(value)[:3],)), children),
        st.builds(
            lambda items: Bunch(**{f"k{i}": item for i, item in enumerate(items)}), st.lists(children, max_size=3)
        ),
        st.builds(
            lambda items: Reordering(**{f"a{i}": item for i, item in enumerate(items)}), st.lists(children, max_size=3)
        ),
        st.builds(lambda value: types.SimpleNamespace(z=value, a=value), children),  # one object referenced twice
    )


_values = st.recursive(st.one_of(_scalars, _library), _nest, max_leaves=12)


class _StoreTripDir:
    """A store in a fresh temporary directory (hypothesis cannot use function-scoped fixtures)."""

    def __enter__(self) -> _StoreTrip:
        import tempfile

        self.directory = tempfile.TemporaryDirectory()
        return _StoreTrip(Path(self.directory.name))

    def __exit__(self, *exc: object) -> None:
        self.directory.cleanup()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_random_nested_values_fingerprint_like_their_round_trips(value: object) -> None:
    with _StoreTripDir() as store_trip:
        _assert_round_trips(value, store_trip)


# -- processes, depth, errors, side effects --------------------------------------------------

_SAMPLES = """
import collections, json, sys, types
import numpy as np
sys.path.insert(0, {root!r})
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from nbpipe.cache.fingerprint import fingerprint
class Tagged(set):
    pass
iris = load_iris()
values = [
    types.SimpleNamespace(names={{"alpha", "beta", "gamma", "delta", "epsilon"}}),
    Tagged({{"alpha", "beta", "gamma", "delta"}}),
    iris,
    StandardScaler().fit(iris.data),
    {{"k": frozenset({{"p", "q", "r"}}), "o": np.array([{{"s", "t"}}, "u"], dtype=object)}},
    collections.Counter("abracadabra"),
]
print(json.dumps([fingerprint(v) for v in values]))
"""


def test_objects_holding_sets_fingerprint_alike_across_hash_seeds() -> None:
    from tests.unit.cache.test_fingerprint import fingerprints_in_subprocess

    assert fingerprints_in_subprocess("1", _SAMPLES) == fingerprints_in_subprocess("977", _SAMPLES)


def test_deeply_nested_values_do_not_hit_the_recursion_limit() -> None:
    def chain(end: object) -> object:
        value: object = end
        for _ in range(5 * sys.getrecursionlimit()):
            value = types.SimpleNamespace(next=value)
        return value

    assert fingerprint(chain(1)) == fingerprint(chain(1))
    assert fingerprint(chain(1)) != fingerprint(chain(2))


class _Fussy:
    """A ``__setstate__`` that edits the state it is given and counts its calls."""

    restored = 0

    def __init__(self) -> None:
        self.items = [1, 2]
        self.version = 1

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).restored += 1
        state.pop("version")
        self.__dict__.update(state)


class _Singleton(list):  # type: ignore[type-arg]
    """``__new__`` hands back the one live instance."""

    instance: _Singleton | None = None

    def __new__(cls, *args: object) -> _Singleton:
        if cls.instance is None:
            cls.instance = super().__new__(cls)
        return cls.instance

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def test_fingerprinting_never_changes_the_value() -> None:
    fussy = _Fussy()
    fingerprint(fussy)
    assert fussy.__dict__ == {"items": [1, 2], "version": 1}
    single = _Singleton([1, 2])
    single.meta = "m"
    fingerprint(single)
    assert list(single) == [1, 2] and single.meta == "m"


def _generator() -> Iterator[int]:
    yield 1


def _local_function() -> Callable[[], int]:
    def inner() -> int:
        return 1

    return inner


UNPICKLABLE = [
    ("lambda", lambda: lambda x: x, "'f': a function (lambda) cannot be pickled"),
    ("local function", _local_function, "'f': a local function (_local_function.<locals>.inner) cannot be pickled"),
    ("generator", _generator, "'f': a generator (builtins.generator) cannot be pickled"),
    ("open file", lambda: open(__file__), "'f': an open file (_io.TextIOWrapper) cannot be pickled"),
    ("socket", socket.socket, "'f': a socket (socket.socket) cannot be pickled"),
    ("lock", threading.Lock, "'f': a lock (_thread.lock) cannot be pickled"),
    ("nested", lambda: {"k": [types.SimpleNamespace(cb=lambda: 1)]}, "\"f['k'][0].cb\": a function (lambda)"),
    (
        "in a dataclass",
        lambda: Sample("s", np.zeros(1), {"lock": threading.Lock()}),
        "\"f.extra['lock']\": a lock (_thread.lock)",
    ),
]


@pytest.mark.parametrize(("label", "make", "expected"), UNPICKLABLE, ids=[case[0] for case in UNPICKLABLE])
def test_unpicklable_values_name_the_variable_and_the_type(
    label: str, make: Callable[[], object], expected: str
) -> None:
    value = make()
    try:
        with pytest.raises(CacheError) as caught:
            fingerprint(value, "f")
    finally:
        if hasattr(value, "close"):
            value.close()
    assert str(caught.value).startswith(f"cannot fingerprint {expected}"), str(caught.value)
    assert caught.value.hint and "keep it local to the stage" in caught.value.hint
