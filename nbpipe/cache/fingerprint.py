"""Deterministic content fingerprints of Python values (DESIGN §6).

A fingerprint is the xxh3-128 hex digest of a value hashed as a Merkle tree: every
composite value is a node whose digest its parent takes. Equal values give equal
fingerprints in every process and run, and a value fingerprints the same as its
pickle round trip (and as the value nbpipe's store gives back):

- NumPy arrays feed their dtype, shape and C-order bytes straight from their buffer
  (no copy for C-contiguous arrays); object arrays feed their elements;
- pandas DataFrame / Series / Index feed names, dtypes and each column's underlying
  buffers (masked, categorical, datetime and Arrow-backed arrays by their parts);
- pyarrow Tables, RecordBatches, ChunkedArrays and Arrays feed their schema and
  their values, whatever the chunking;
- ``dict``, ``list``, ``tuple``, ``set`` and ``frozenset`` feed their members, dict
  items and set members in a canonical order, so insertion order and hash
  randomisation do not matter; runs of scalars are pickled in one go;
- any other object is walked the way pickle would save it (``__reduce_ex__(5)``):
  its class by reference, its constructor arguments, its state (an attribute dict
  is canonical like any dict) and its list and dict items (canonical unless the
  type is an ``OrderedDict``, whose equality depends on order). A class that defines
  ``__setstate__`` is hashed by the state it keeps: the state is applied to an empty
  instance first, as unpickling does (sklearn's ``Bunch`` drops its ``__dict__``).

Identity does not count: an object referenced twice hashes like two equal copies
(its digest is computed once per call). Values with reference cycles are hashed
again with pickle-style back-references in visit order; that stays deterministic,
but sets of identity-hashed objects inside a cycle may make a round trip miss.

The walk is iterative (handlers are generators that yield their children), so
deeply nested values do not hit Python's recursion limit. NumPy, pandas and pyarrow
are never imported here: a value can only be one of their objects if its library
is already in ``sys.modules``.
"""

from __future__ import annotations

import collections
import copyreg
import functools
import io
import itertools
import operator
import pickle
import struct
import sys
import types
from collections.abc import Callable, Generator, Iterable
from typing import Any

import xxhash

from nbpipe.errors import CacheError

#: Bumped whenever the byte stream below changes for an existing type.
#: 2: Merkle walk of objects by their reduce tuples (was: whole-object pickles).
FINGERPRINT_VERSION = 2

_PRIMITIVES = frozenset({type(None), bool, int, float, complex, str, bytes})
_BY_REFERENCE = (types.FunctionType, types.BuiltinFunctionType)  # pickled by module and name

#: What a handler returns: None, or a generator that yields child values and is sent
#: back each child's record (bytes to feed into its node).
Steps = Generator[object, bytes, None]
Handler = Callable[["Node", Any], "Steps | None"]


class _Unpicklable(Exception):
    """Raised internally when a value cannot be pickled; carries the path to it."""

    def __init__(self, value: object, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.value = value
        self.cause = cause
        self.path: list[str] = []


class _Cyclic(Exception):
    """Raised internally when the tree walk meets a value that contains itself."""


def fingerprint(value: object, name: str = "value") -> str:
    """A 128-bit hex content hash of ``value``.

    Args:
        value: any picklable value; arrays, data frames, containers and objects are
            hashed from their buffers and parts.
        name: the variable name, used in error messages.

    Returns:
        32 lowercase hex digits.

    Raises:
        CacheError: the value (or something inside it) cannot be pickled; the message
            names the variable, the path inside it and the type.
    """
    hasher = xxhash.xxh3_128()
    hasher.update(b"nbpipe-fp-%d\0" % FINGERPRINT_VERSION)
    try:
        try:
            record = _Walker(graph=False).record(value)
        except _Cyclic:
            record = _Walker(graph=True).record(value)
    except _Unpicklable as exc:
        raise _unpicklable_error(name + "".join(reversed(exc.path)), exc) from exc.cause
    hasher.update(record)
    return hasher.hexdigest()


# -- the nodes handlers write into ---------------------------------------------------


class Node:
    """The hasher of one composite value; its handler writes the value's parts into it."""

    __slots__ = ("hasher", "walker")

    def __init__(self, walker: _Walker) -> None:
        self.hasher = xxhash.xxh3_128()
        self.walker = walker

    def tag(self, tag: str) -> None:
        """Feed a short type tag."""
        self.hasher.update(_tag_bytes(tag))

    def count(self, number: int) -> None:
        """Feed a count (of members, rows, chunks)."""
        self.hasher.update(struct.pack("<Q", number))

    def buffer(self, data: Any) -> None:
        """Feed a length-prefixed buffer (bytes, memoryview or contiguous array), without copying it."""
        view = memoryview(data)
        self.hasher.update(struct.pack("<Q", view.nbytes))
        self.hasher.update(view)

    def update(self, record: bytes) -> None:
        """Feed a child's record, as sent back for a yielded child."""
        self.hasher.update(record)

    def known(self, value: object) -> bytes | None:
        """The record of a scalar or an already hashed value, else None: yield it for its record.

        A shortcut past the walker's loop for the common case (classes, shared values).
        """
        return self.walker.leaf(value)

    def run(self, items: list[Any]) -> None:
        """Feed a list of scalars (see ``_PRIMITIVES``) as one memo-free pickle."""
        data = self.walker.runs.dumps(items)
        self.hasher.update(_RUN + struct.pack("<Q", len(data)))
        self.hasher.update(data)

    def ndarray(self, array: Any) -> None:
        """Feed a NumPy array without objects: dtype, shape and C-order bytes (no copy when C-contiguous)."""
        descr = array.dtype.str if array.dtype.fields is None else repr(array.dtype.descr)
        self.buffer(f"{descr}|{array.shape}".encode())
        if not array.flags.c_contiguous:
            import numpy

            array = numpy.ascontiguousarray(array)  # the only copy: strided or Fortran-order input
        self.buffer(array.reshape(-1).view("u1"))


@functools.lru_cache(maxsize=4096)
def _tag_bytes(tag: str) -> bytes:
    data = tag.encode()
    return struct.pack("<I", len(data)) + data


_RUN = _tag_bytes("run")


class _RunPickler:
    """One protocol-5 pickler in fast mode (no memo), reused for every run of one walk."""

    def __init__(self) -> None:
        self.stream = io.BytesIO()
        self.pickler = pickle.Pickler(self.stream, protocol=5)
        self.pickler.fast = True  # no memo: a string shared twice pickles like two equal strings

    def dumps(self, items: list[Any]) -> bytes:
        """The pickle of ``items``."""
        self.stream.seek(0)
        self.stream.truncate()
        self.pickler.dump(items)
        return self.stream.getvalue()


# -- the walk ------------------------------------------------------------------------


class _Frame:
    __slots__ = ("node", "steps", "value")

    def __init__(self, node: Node, steps: Steps, value: object) -> None:
        self.node = node
        self.steps = steps
        self.value = value


class _Walker:
    """Hashes one value depth-first without recursion: a stack of handler generators.

    In tree mode each composite value's record (its digest) is remembered by ``id``,
    so shared values are hashed once and hash like copies; meeting a value that is
    still being hashed raises ``_Cyclic``. In graph mode every value seen before is
    fed as a back-reference to its visit number instead, as pickle's memo does.
    Both keep the values they remember alive, so an ``id`` is never reused meanwhile.
    """

    def __init__(self, graph: bool) -> None:
        self.graph = graph
        self.stack: list[_Frame] = []
        self.active: set[int] = set()
        self.memo: dict[int, tuple[object, bytes]] = {}
        self.handlers: dict[type, Handler] = {}
        self.runs = _RunPickler()

    def record(self, root: object) -> bytes:
        """The record of ``root``: a primitive's own bytes or a node's tagged digest."""
        send = self.leaf(root)
        if send is None:
            send = self._enter(root)
        error: _Unpicklable | None = None
        try:
            while self.stack:
                frame = self.stack[-1]
                try:
                    if error is not None:
                        child = frame.steps.throw(error)
                    elif send is None:  # a new frame: start its generator
                        child = next(frame.steps)
                    else:
                        child = frame.steps.send(send)
                except StopIteration:
                    send, error = self._leave(), None
                    continue
                except _Unpicklable as exc:
                    self._pop()
                    if not self.stack:
                        raise
                    error = exc
                    continue
                error = None
                send = self.leaf(child)
                if send is None:
                    try:
                        send = self._enter(child)
                    except _Unpicklable as exc:
                        error = exc  # thrown into the frame that yielded the child, which adds the path
        finally:
            for frame in self.stack:
                frame.steps.close()
        assert send is not None
        return send

    def leaf(self, value: object) -> bytes | None:
        """The record of a value that needs no node of its own, or None."""
        if type(value) in _PRIMITIVES:
            return _primitive(value)
        hit = self.memo.get(id(value))
        if hit is not None:
            return hit[1]
        if id(value) in self.active:
            raise _Cyclic()
        return None

    def _enter(self, value: object) -> bytes | None:
        """Start hashing a composite value; its record if it has no children, else None."""
        kind = type(value)
        handler = self.handlers.get(kind)
        if handler is None:
            handler = self.handlers[kind] = _handler_for(value)
        node = Node(self)
        if self.graph:  # later meetings of this value refer back to its visit number
            self.memo[id(value)] = (value, b"\x03ref" + struct.pack("<Q", len(self.memo)))
        steps = handler(node, value)
        if steps is None:
            return self._finish(value, node)
        self.active.add(id(value))
        self.stack.append(_Frame(node, steps, value))
        return None

    def _leave(self) -> bytes:
        frame = self._pop()
        return self._finish(frame.value, frame.node)

    def _pop(self) -> _Frame:
        frame = self.stack.pop()
        self.active.discard(id(frame.value))
        return frame

    def _finish(self, value: object, node: Node) -> bytes:
        record = b"\x01@" + node.hasher.digest()
        if not self.graph:
            self.memo[id(value)] = (value, record)
        return record


def _primitive(value: object) -> bytes:
    if type(value) is bytes:  # hashed in place: a large payload is not copied into a pickle
        return b"\x05bytes" + struct.pack("<Q", len(value)) + xxhash.xxh3_128_digest(value)
    data = pickle.dumps(value, protocol=5)
    return b"\x04prim" + struct.pack("<Q", len(data)) + data


def _handler_for(value: object) -> Handler:
    kind = type(value)
    found = _EXACT.get(kind)
    if found is not None:
        return found
    modules = sys.modules
    numpy = modules.get("numpy")
    if numpy is not None:
        if kind is numpy.ndarray or kind is numpy.memmap:  # subclasses (masked…) go by their reduce
            return _feed_ndarray
        if isinstance(value, numpy.generic):
            return _feed_numpy_scalar
    if "pandas" in modules:
        from nbpipe.cache import _fp_pandas

        found = _fp_pandas.handler_for(value)
        if found is not None:
            return found
    if "pyarrow" in modules:
        from nbpipe.cache import _fp_arrow

        found = _fp_arrow.handler_for(value)
        if found is not None:
            return found
    if isinstance(value, type) or isinstance(value, _BY_REFERENCE):
        return _feed_global
    return _feed_object


# -- containers ----------------------------------------------------------------------


def _feed_sequence(node: Node, value: list[Any] | tuple[Any, ...]) -> Steps:
    node.tag(type(value).__name__)
    yield from _items(node, value)


def _items(node: Node, items: list[Any] | tuple[Any, ...], label: Callable[[int], str] | None = None) -> Steps:
    """Feed members in order: runs of scalars pickled together, other members by their records."""
    node.count(len(items))
    if _PRIMITIVES.issuperset(map(type, items)):
        node.run(items if type(items) is list else list(items))
        return
    run: list[Any] = []
    for index, item in enumerate(items):
        if type(item) in _PRIMITIVES:
            run.append(item)
            continue
        if run:
            node.run(run)
            run = []
        try:
            node.update((yield item))
        except _Unpicklable as exc:
            exc.path.append(label(index) if label else f"[{index}]")
            raise
    if run:
        node.run(run)


def _feed_dict(node: Node, value: dict[Any, Any]) -> Steps:
    node.tag("dict")
    yield from _mapping(node, list(value.items()))


def _mapping(node: Node, items: list[tuple[Any, Any]], attributes: bool = False) -> Steps:
    """Feed key-value pairs in a canonical order: by key when all keys are strings, else by records."""
    node.count(len(items))
    if _STRINGS.issuperset(map(type, map(_first, items))):
        items.sort(key=_first)
        flat = list(itertools.chain.from_iterable(items))
        name = (lambda i: f".{items[i // 2][0]}") if attributes else (lambda i: f"[{items[i // 2][0]!r}]")
        node.tag("str-keys")
        yield from _items(node, flat, name)
        return
    pairs = []
    for key, item in items:
        try:
            pairs.append(((yield key), (yield item)))
        except _Unpicklable as exc:
            exc.path.append(f"[{key!r}]")
            raise
    pairs.sort()
    for key_record, item_record in pairs:
        node.update(key_record)
        node.update(item_record)


_first = operator.itemgetter(0)
_STRINGS = frozenset({str})
_SORTABLE = frozenset({str, int, bytes})


def _feed_set(node: Node, value: set[Any] | frozenset[Any]) -> Steps:
    node.tag(type(value).__name__)
    yield from _members(node, value)


def _members(node: Node, members: Iterable[Any]) -> Steps:
    """Feed set members in a canonical order: sorted themselves when they allow it, else by records."""
    members = list(members)
    node.count(len(members))
    if len(kinds := set(map(type, members))) <= 1 and kinds <= _SORTABLE:  # one orderable type
        node.tag("sorted")
        node.run(sorted(members))
        return
    records = []
    for member in members:
        records.append((yield member))
    for record in sorted(records):
        node.update(record)


def _feed_bytearray(node: Node, value: bytearray | pickle.PickleBuffer) -> None:
    node.tag(type(value).__name__)
    try:
        node.buffer(value.raw() if isinstance(value, pickle.PickleBuffer) else value)
    except BufferError:  # a non-contiguous PickleBuffer: pickle copies it too
        node.buffer(bytes(value))


_EXACT: dict[type, Handler] = {
    list: _feed_sequence,
    tuple: _feed_sequence,
    dict: _feed_dict,
    set: _feed_set,
    frozenset: _feed_set,
    bytearray: _feed_bytearray,
    pickle.PickleBuffer: _feed_bytearray,
}


# -- NumPy ---------------------------------------------------------------------------


def _feed_ndarray(node: Node, array: Any) -> Steps:
    node.tag("ndarray")
    if not array.dtype.hasobject:
        node.ndarray(array)
        return
    node.tag("object")  # object arrays (and records holding objects): the elements, in C order
    descr = array.dtype.str if array.dtype.fields is None else repr(array.dtype.descr)
    node.buffer(f"{descr}|{array.shape}".encode())
    yield from _items(node, array.reshape(-1).tolist())


def _feed_numpy_scalar(node: Node, value: Any) -> Steps:
    if value.dtype.hasobject:  # a record holding objects
        yield from _feed_object(node, value)
        return
    import numpy

    node.tag("numpy.scalar")
    node.ndarray(numpy.asarray(value))


# -- anything else: what pickle would save -------------------------------------------


def _feed_global(node: Node, value: object) -> None:
    """Classes and functions: pickled by reference (module and qualified name)."""
    try:
        stream = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise _Unpicklable(value, exc) from exc
    node.tag("global")
    node.buffer(stream)


def _feed_object(node: Node, value: object) -> Steps:
    reduced = _reduce(value)
    if reduced is None:  # the reduce names a global
        _feed_global(node, value)
        return
    func, args, state, listitems, dictitems, setter = reduced
    if isinstance(value, (set, frozenset)) and func is type(value):
        args = (frozenset(value),)  # a set subclass reduces to a list in hash order
    state = _kept_state(value, func, args, state, listitems, dictitems)
    node.hasher.update(_OBJECT)
    node.count(len(args))
    for part in (func, *args):  # usually the constructor and the class: known after their first time
        record = node.known(part)
        node.update((yield part) if record is None else record)
    if type(state) is dict:
        node.hasher.update(_ATTRIBUTES)
        yield from _mapping(node, list(state.items()), attributes=True)
    else:
        node.hasher.update(_STATE)
        node.update((yield state))
    if setter is not None:
        node.tag("setter")
        node.update((yield setter))
    if listitems is not None:
        node.tag("listitems")
        yield from _items(node, listitems)
    if dictitems is not None:
        node.tag("dictitems")
        if isinstance(value, collections.OrderedDict):  # equality depends on order: keep it
            yield from _items(node, [part for pair in dictitems for part in pair])
        else:
            yield from _mapping(node, dictitems)


_OBJECT, _ATTRIBUTES, _STATE = _tag_bytes("object"), _tag_bytes("attributes"), _tag_bytes("state")
_Reduced = tuple[Any, tuple[Any, ...], Any, "list[Any] | None", "list[tuple[Any, Any]] | None", Any]


def _reduce(value: object) -> _Reduced | None:
    """``value``'s reduce tuple as pickle protocol 5 gets it, padded to six; None for a global."""
    reducer = copyreg.dispatch_table.get(type(value))
    try:
        reduced = reducer(value) if reducer is not None else value.__reduce_ex__(5)
    except Exception as exc:
        raise _Unpicklable(value, exc) from exc
    if isinstance(reduced, str):
        return None
    if type(reduced) is not tuple or not 2 <= len(reduced) <= 6 or type(reduced[1]) is not tuple:
        problem = pickle.PicklingError(f"{type(value).__qualname__}'s __reduce__ returned {type(reduced).__name__}")
        raise _Unpicklable(value, problem)
    func, args, state, listitems, dictitems, setter = reduced + (None,) * (6 - len(reduced))
    try:
        listitems = None if listitems is None else list(listitems)
        dictitems = None if dictitems is None else [(key, item) for key, item in dictitems]
    except Exception as exc:
        raise _Unpicklable(value, exc) from exc
    return func, args, state, listitems, dictitems, setter


def _kept_state(value: object, func: Any, args: tuple[Any, ...], state: Any, listitems: Any, dictitems: Any) -> Any:
    """The state a restored copy of ``value`` would have, when its class defines ``__setstate__``.

    Unpickling calls ``__setstate__`` on a new instance, which may drop or rewrite
    what ``__getstate__`` gave (sklearn's ``Bunch`` ignores its ``__dict__``; a masked
    array fills in its default fill value). So the state is applied to a new instance
    made the way unpickling makes it (items first), and that instance's state is
    hashed. The instance shares the state's members (no deep copy) and gets a shallow
    copy of the state itself, which ``__setstate__`` may edit.
    """
    if state is None or getattr(type(value), "__setstate__", None) is None:
        return state
    try:
        shell = func(*args)
        # Only a new object nobody else holds may be set up: a constructor that hands back
        # a live one (the value itself, a cached instance) must never be changed by hashing.
        if shell is value or sys.getrefcount(shell) > 2:
            return state
        if listitems:
            shell.extend(listitems)
        for key, item in dictitems or ():
            shell[key] = item
        shell.__setstate__(_shallow_copy(state))
        again = _reduce(shell)
    except Exception:  # it does not rebuild that way: hash the state as given
        return state
    return None if again is None else again[2]


def _shallow_copy(state: Any) -> Any:
    if isinstance(state, dict):
        return dict(state)
    if isinstance(state, tuple):
        return tuple(dict(part) if isinstance(part, dict) else part for part in state)
    return state


# -- errors --------------------------------------------------------------------------


def _unpicklable_error(where: str, exc: _Unpicklable) -> CacheError:
    what, hint = _describe(exc.value)
    detail = "" if what.startswith(("a function (lambda)", "a local function")) else f" ({exc.cause})"
    return CacheError(f"cannot fingerprint {where!r}: {what} cannot be pickled{detail}", hint=hint)


_KEEP_LOCAL = "keep it local to the stage instead of declaring it an output"


def _describe(value: object) -> tuple[str, str]:
    """What the value is, in words, and how to get rid of the problem."""
    kind = type(value)
    qualified = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(value, types.FunctionType):
        if value.__name__ == "<lambda>":
            return "a function (lambda)", f"define it with def at the top level of a setup cell, or {_KEEP_LOCAL}"
        if "<locals>" in value.__qualname__:
            return f"a local function ({value.__qualname__})", f"define it at the top level, or {_KEEP_LOCAL}"
        return (
            f"a function ({value.__module__}.{value.__qualname__})",
            f"check that it can be imported, or {_KEEP_LOCAL}",
        )
    if isinstance(value, types.GeneratorType):
        return f"a generator ({qualified})", f"turn it into a list (list(...)) in the stage, or {_KEEP_LOCAL}"
    if isinstance(value, io.IOBase):
        return f"an open file ({qualified})", f"declare its path or its contents instead, or {_KEEP_LOCAL}"
    if kind.__module__ == "socket" or qualified in ("_thread.lock", "_thread.RLock"):
        noun = "a socket" if kind.__module__ == "socket" else "a lock"
        return f"{noun} ({qualified})", f"create it where it is used; {_KEEP_LOCAL}"
    return f"a {qualified}", f"make it picklable (e.g. with __getstate__/__reduce__), or {_KEEP_LOCAL}"
