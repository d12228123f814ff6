"""Deterministic content fingerprints of Python values (DESIGN §6).

A fingerprint is the xxh3-128 hex digest of a tagged byte stream that describes a
value. Equal values give equal fingerprints in every process and run:

- NumPy arrays feed their dtype, shape and C-order bytes straight from their buffer
  (no copy for C-contiguous arrays);
- pandas DataFrame / Series / Index feed names, dtypes and each column's underlying
  buffers (masked, categorical, datetime and Arrow-backed arrays by their parts);
- pyarrow Tables, RecordBatches, ChunkedArrays and Arrays feed their schema and, per
  chunk, a zero-copy NumPy view when the type allows it;
- ``dict``, ``list``, ``tuple``, ``set`` and ``frozenset`` are walked recursively, dict
  items and set elements in a canonical order (sorted by their own fingerprints), so
  insertion order and hash randomisation do not matter;
- everything else is pickled with protocol 5; out-of-band buffers are fed to the
  hasher as they are, without copying them into the pickle stream.

NumPy, pandas and pyarrow are never imported here: a value can only be one of their
objects if its library is already in ``sys.modules``.

Equal values stored with a different layout (an Arrow column split into other chunks,
an object that pickles its attributes in another order) may get different
fingerprints. That costs a cache miss, never a wrong hit.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
from collections.abc import Callable
from typing import Any

import xxhash

from nbpipe.errors import CacheError

#: Bumped whenever the byte stream below changes for an existing type.
FINGERPRINT_VERSION = 1

_PRIMITIVES = (type(None), bool, int, float, complex, str, bytes)
_Hasher = Any  # xxhash.xxh3_128 has no public type in its stubs


class _Unpicklable(Exception):
    """Raised internally when a value cannot be pickled; carries the path to it."""

    def __init__(self, value: object, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.value = value
        self.cause = cause
        self.path: list[str] = []


def fingerprint(value: object, name: str = "value") -> str:
    """A 128-bit hex content hash of ``value``.

    Args:
        value: any picklable value; arrays, data frames and containers are hashed
            from their buffers and parts.
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
        _feed(hasher, value)
    except _Unpicklable as exc:
        where = name + "".join(reversed(exc.path))
        kind = f"{type(exc.value).__module__}.{type(exc.value).__qualname__}"
        raise CacheError(
            f"cannot fingerprint {where!r}: a {kind} cannot be pickled ({exc.cause})",
            hint="make it picklable, or keep it local to the stage instead of declaring it an output",
        ) from exc.cause
    return hasher.hexdigest()


def _sub(value: object) -> bytes:
    """The raw 16-byte digest of one value, used to sort container members."""
    hasher = xxhash.xxh3_128()
    _feed(hasher, value)
    return hasher.digest()


def _tag(hasher: _Hasher, tag: str) -> None:
    data = tag.encode()
    hasher.update(struct.pack("<B", len(data)))
    hasher.update(data)


def _bytes(hasher: _Hasher, data: Any) -> None:
    """Feed a length-prefixed buffer (bytes, memoryview or contiguous array)."""
    view = memoryview(data)
    hasher.update(struct.pack("<Q", view.nbytes))
    hasher.update(view)


def _feed(hasher: _Hasher, value: object) -> None:
    kind = type(value)
    if kind in _PRIMITIVES:
        _tag(hasher, "prim")
        _bytes(hasher, pickle.dumps(value, protocol=5))
        return
    handler = _handler_for(value)
    if handler is None:
        _feed_pickle(hasher, value)
    else:
        handler(hasher, value)


def _handler_for(value: object) -> Callable[[_Hasher, Any], None] | None:
    kind = type(value)
    if kind in (list, tuple):
        return _feed_sequence
    if kind is dict:
        return _feed_dict
    if kind in (set, frozenset):
        return _feed_set
    module = sys.modules
    numpy = module.get("numpy")
    if numpy is not None and (kind is numpy.ndarray or kind is numpy.memmap):  # subclasses (masked…) pickle
        return _feed_ndarray
    if "pandas" in module:
        from nbpipe.cache import _fp_pandas

        found = _fp_pandas.handler_for(value)
        if found is not None:
            return found
    if "pyarrow" in module:
        from nbpipe.cache import _fp_arrow

        return _fp_arrow.handler_for(value)
    return None


def _feed_sequence(hasher: _Hasher, value: list[Any] | tuple[Any, ...]) -> None:
    _tag(hasher, type(value).__name__)
    hasher.update(struct.pack("<Q", len(value)))
    if all(type(item) in _PRIMITIVES for item in value):
        # Flat lists of scalars: one C-speed pickle instead of a Python loop.
        _bytes(hasher, pickle.dumps(value, protocol=5))
        return
    for index, item in enumerate(value):
        try:
            _feed(hasher, item)
        except _Unpicklable as exc:
            exc.path.append(f"[{index}]")
            raise


def _feed_dict(hasher: _Hasher, value: dict[Any, Any]) -> None:
    _tag(hasher, "dict")
    hasher.update(struct.pack("<Q", len(value)))
    items = []
    for key, item in value.items():
        try:
            items.append((_sub(key), _sub(item)))
        except _Unpicklable as exc:
            exc.path.append(f"[{key!r}]")
            raise
    for key_digest, item_digest in sorted(items):
        hasher.update(key_digest)
        hasher.update(item_digest)


def _feed_set(hasher: _Hasher, value: set[Any] | frozenset[Any]) -> None:
    _tag(hasher, type(value).__name__)
    hasher.update(struct.pack("<Q", len(value)))
    for digest in sorted(_sub(item) for item in value):
        hasher.update(digest)


def feed_ndarray(hasher: _Hasher, array: Any) -> None:
    """Feed a NumPy array: dtype, shape and C-order bytes (no copy when C-contiguous).

    Object arrays (and structured dtypes holding objects) are pickled instead.
    """
    _tag(hasher, "ndarray")
    if array.dtype.hasobject:
        _tag(hasher, "object")
        _bytes(hasher, repr(array.shape).encode())
        _feed_pickle(hasher, array)
        return
    descr = array.dtype.str if array.dtype.fields is None else repr(array.dtype.descr)
    _bytes(hasher, f"{descr}|{array.shape}".encode())
    if not array.flags.c_contiguous:
        import numpy

        array = numpy.ascontiguousarray(array)  # the only copy: strided or Fortran-order input
    flat = array.reshape(-1).view("u1")
    hasher.update(struct.pack("<Q", flat.nbytes))
    hasher.update(flat)


_feed_ndarray = feed_ndarray


def _feed_pickle(hasher: _Hasher, value: object) -> None:
    """Feed the protocol-5 pickle of ``value``, with its out-of-band buffers as they are."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        stream = _memo_free_dumps(value, buffers)
    except Exception as exc:
        raise _Unpicklable(value, exc) from exc
    _tag(hasher, "pickle")
    if any(buffer.raw().readonly for buffer in buffers if _contiguous(buffer)):
        stream = _drop_readonly_marks(stream)
    _bytes(hasher, stream)
    hasher.update(struct.pack("<Q", len(buffers)))
    for buffer in buffers:
        try:
            raw = buffer.raw()
        except BufferError:  # a non-contiguous buffer: pickle would copy it too
            raw = memoryview(bytes(buffer))
        _bytes(hasher, raw)


def _memo_free_dumps(value: object, buffers: list[pickle.PickleBuffer]) -> bytes:
    """Pickle without the memo, so the bytes do not depend on which objects happen to be shared.

    Pickle's memo writes a shared object once and refers back to it; whether two equal
    objects are the same object differs between a freshly computed value and the same
    value unpickled in another process, which changed the fingerprint of restored models.
    Fast mode (no memo) cannot pickle cyclic structures: those fall back to the memo.
    """
    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, protocol=5, buffer_callback=buffers.append)
    pickler.fast = True  # documented as deprecated, still supported: the only memo-free mode
    try:
        pickler.dump(value)
    except (ValueError, RecursionError):
        buffers.clear()
        return pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return stream.getvalue()


def _contiguous(buffer: pickle.PickleBuffer) -> bool:
    try:
        buffer.raw()
    except BufferError:
        return False
    return True


def _drop_readonly_marks(stream: bytes) -> bytes:
    """The stream without READONLY_BUFFER opcodes.

    A value restored from a memory-mapped payload has read-only buffers; pickle marks
    them, but the content is the same, so the mark must not change the fingerprint.
    """
    import pickletools

    cuts = [position for opcode, _, position in pickletools.genops(stream) if opcode.name == "READONLY_BUFFER"]
    if not cuts:
        return stream
    pieces, start = [], 0
    for position in cuts:
        pieces.append(stream[start:position])
        start = (position or 0) + 1
    pieces.append(stream[start:])
    return b"".join(pieces)


def feed_pickle(hasher: _Hasher, value: object) -> None:
    """Feed ``value`` through its protocol-5 pickle, bypassing the type handlers."""
    _feed_pickle(hasher, value)


def feed_value(hasher: _Hasher, value: object) -> None:
    """Feed any value into ``hasher`` (used by the pandas and Arrow helpers)."""
    _feed(hasher, value)


def feed_tag(hasher: _Hasher, tag: str) -> None:
    """Feed a short type tag into ``hasher``."""
    _tag(hasher, tag)


def feed_bytes(hasher: _Hasher, data: Any) -> None:
    """Feed a length-prefixed contiguous buffer into ``hasher``."""
    _bytes(hasher, data)
