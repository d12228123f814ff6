"""Payload serializers and their registry (DESIGN §6).

A serializer turns one output value into one payload file and back. Built-ins:

- ``npy``: NumPy arrays (non-object dtypes) in the ``.npy`` format, written straight
  from the array's buffer and loaded into one buffer or memory-mapped;
- ``pickle5``: everything else, as a pickle protocol-5 stream followed by its
  out-of-band buffers (64-byte aligned), so arrays inside data frames are written
  and read without extra copies;
- ``parquet``: opt-in for pandas DataFrames (name it explicitly; it writes slower).

More serializers come from the entry-point group ``nbpipe.serializers`` (an object
or a class with the attributes of :class:`Serializer`), loaded the first time a
name that is not built in is asked for, or by :func:`available`.

``load`` accepts a path, a binary file object or a bytes-like buffer. The store
passes a buffer it has already read (or memory-mapped) and checksummed.
"""

from __future__ import annotations

import io
import mmap as _mmap
import os
import pickle
import struct
import sys
from typing import IO, Any, Protocol, Union, runtime_checkable

from nbpipe.errors import CacheError

ENTRY_POINT_GROUP = "nbpipe.serializers"

Source = Union[str, "os.PathLike[str]", IO[bytes], bytes, bytearray, memoryview]


@runtime_checkable
class Serializer(Protocol):
    """What the store needs from a serializer."""

    name: str  # unique, recorded in manifests
    extension: str  # payload file suffix, e.g. ".npy"

    def can_write(self, value: object) -> bool:
        """Whether this serializer can store ``value``."""

    def dump(self, value: object, fileobj: IO[bytes]) -> None:
        """Write ``value`` to the binary file object."""

    def load(self, source: Source, mmap: bool = False) -> object:
        """Read a value back from a path, a binary file object or a buffer."""


def as_buffer(source: Source, mmap: bool = False) -> memoryview:
    """A read-only or fresh writable view of a payload, without needless copies.

    Paths are memory-mapped (``mmap=True``) or read into one fresh buffer; file
    objects are read; bytes-like objects are viewed as they are.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return memoryview(source).cast("B")
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return _map(handle) if mmap else read_into_buffer(handle, os.fstat(handle.fileno()).st_size)
    return memoryview(source.read())


def _map(handle: IO[bytes]) -> memoryview:
    if os.fstat(handle.fileno()).st_size == 0:
        return memoryview(b"")
    return memoryview(_mmap.mmap(handle.fileno(), 0, access=_mmap.ACCESS_READ))


def read_into_buffer(handle: IO[bytes], size: int) -> memoryview:
    """Read ``size`` bytes into a fresh writable buffer.

    NumPy allocates it (not zero-filled) when NumPy is already imported, which it is
    whenever large arrays are about; importing it just for a buffer would cost more
    than zero-filling a small payload (a fully cached run loads only the setup memo).
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None and size >= 1 << 20:
        view = memoryview(numpy.empty(size, dtype=numpy.uint8))
    else:
        view = memoryview(bytearray(size))
    done = 0
    while done < size:
        count = handle.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            raise EOFError(f"payload ended after {done} of {size} bytes")
        done += count
    return view


class NpySerializer:
    """NumPy arrays as ``.npy``: header, then the raw C- or Fortran-order buffer."""

    name = "npy"
    extension = ".npy"

    def can_write(self, value: object) -> bool:
        numpy = sys.modules.get("numpy")
        return numpy is not None and type(value) in (numpy.ndarray, numpy.memmap) and not value.dtype.hasobject  # type: ignore[attr-defined]

    def dump(self, value: object, fileobj: IO[bytes]) -> None:
        import numpy
        from numpy.lib import format as npy

        array: Any = value
        header = npy.header_data_from_array_1_0(array)
        if header["fortran_order"]:
            data = array.T.reshape(-1)
        else:
            data = numpy.ascontiguousarray(array).reshape(-1)
        try:
            npy.write_array_header_1_0(fileobj, header)
        except ValueError:  # header too long for format 1.0
            npy.write_array_header_2_0(fileobj, header)
        fileobj.write(memoryview(data.view(numpy.uint8)))

    def load(self, source: Source, mmap: bool = False) -> object:
        import numpy
        from numpy.lib import format as npy

        view = as_buffer(source, mmap)
        major = view[6] if len(view) >= 8 else 0
        if bytes(view[:6]) != b"\x93NUMPY" or major not in (1, 2):
            raise ValueError("not a .npy payload of format 1.0 or 2.0")
        length_end = 10 if major == 1 else 12
        (header_len,) = struct.unpack("<H" if major == 1 else "<I", view[8:length_end])
        offset = length_end + header_len
        head = io.BytesIO(bytes(view[:offset]))
        npy.read_magic(head)
        read_header = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
        shape, fortran, dtype = read_header(head)
        count = 1
        for extent in shape:
            count *= extent
        flat = numpy.frombuffer(view, dtype=dtype, count=count, offset=offset)
        return flat.reshape(shape, order="F" if fortran else "C")


class Pickle5Serializer:
    """Anything picklable: a protocol-5 stream plus its out-of-band buffers, 64-byte aligned."""

    name = "pickle5"
    extension = ".pkl5"
    MAGIC = b"NBPKL5\x00\x01"
    ALIGN = 64

    def can_write(self, value: object) -> bool:
        return True

    def dump(self, value: object, fileobj: IO[bytes]) -> None:
        buffers: list[pickle.PickleBuffer] = []
        stream = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        raws = [_raw(buffer) for buffer in buffers]
        head = self.MAGIC + struct.pack("<QQ", len(stream), len(raws))
        head += b"".join(struct.pack("<Q", raw.nbytes) for raw in raws)
        position = self._write(fileobj, head, 0)
        position = self._write(fileobj, stream, position)
        for raw in raws:
            position = self._write(fileobj, raw, position)

    def _write(self, fileobj: IO[bytes], data: Any, position: int) -> int:
        pad = -position % self.ALIGN
        if pad:
            fileobj.write(b"\0" * pad)
        fileobj.write(data)
        return position + pad + memoryview(data).nbytes

    def load(self, source: Source, mmap: bool = False) -> object:
        view = as_buffer(source, mmap)
        if bytes(view[:8]) != self.MAGIC:
            raise ValueError("not a pickle5 payload")
        stream_len, count = struct.unpack("<QQ", view[8:24])
        sizes = struct.unpack(f"<{count}Q", view[24 : 24 + 8 * count])
        position = 24 + 8 * count
        position += -position % self.ALIGN
        stream = view[position : position + stream_len]
        position += stream_len
        buffers = []
        for size in sizes:
            position += -position % self.ALIGN
            buffers.append(view[position : position + size])
            position += size
        if position > len(view):
            raise ValueError(f"pickle5 payload is truncated: needs {position} bytes, has {len(view)}")
        return pickle.loads(stream, buffers=buffers)


def _raw(buffer: pickle.PickleBuffer) -> memoryview:
    try:
        return buffer.raw()
    except BufferError:  # non-contiguous: the one case that must copy
        return memoryview(bytes(buffer))


class ParquetSerializer:
    """pandas DataFrames as Parquet (opt-in: name it; it writes slower than pickle5)."""

    name = "parquet"
    extension = ".parquet"

    def can_write(self, value: object) -> bool:
        pandas = sys.modules.get("pandas")
        return pandas is not None and isinstance(value, pandas.DataFrame)

    def dump(self, value: object, fileobj: IO[bytes]) -> None:
        value.to_parquet(fileobj)  # type: ignore[attr-defined]

    def load(self, source: Source, mmap: bool = False) -> object:
        import pyarrow
        from pyarrow import parquet

        table = parquet.read_table(pyarrow.py_buffer(as_buffer(source, mmap)))
        return table.to_pandas()


_BUILTINS: dict[str, Serializer] = {s.name: s for s in (NpySerializer(), Pickle5Serializer(), ParquetSerializer())}
_registry: dict[str, Serializer] = dict(_BUILTINS)
_plugins_loaded = False

#: Serializers tried, in order, when none is named for an output.
AUTO_ORDER = ("npy", "pickle5")


def register(serializer: Serializer) -> None:
    """Add (or replace) a serializer under its ``name``."""
    _registry[serializer.name] = serializer


def load_plugins() -> None:
    """Load serializers from the ``nbpipe.serializers`` entry points (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    from nbpipe import plugins

    _plugins_loaded = True
    for name, serializer in plugins.loaded(ENTRY_POINT_GROUP, skip_broken=False):
        if not isinstance(serializer, Serializer):
            raise CacheError(
                f"entry point {name!r} in {ENTRY_POINT_GROUP!r} is not a serializer",
                hint="it needs name, extension, can_write(value), dump(value, fileobj) and load(source, mmap=False)",
            )
        _registry.setdefault(serializer.name, serializer)


def get(name: str) -> Serializer:
    """The serializer called ``name``.

    Raises:
        CacheError: no built-in or installed serializer has that name.
    """
    if name not in _registry:
        load_plugins()
    try:
        return _registry[name]
    except KeyError:
        raise CacheError(
            f"unknown serializer {name!r}; known: {', '.join(sorted(_registry))}",
            hint=f"install a package that provides it in the {ENTRY_POINT_GROUP!r} entry-point group",
        ) from None


def available() -> list[str]:
    """Names of every serializer, plugins included."""
    load_plugins()
    return sorted(_registry)


def choose(value: object, preferred: str | None = None) -> Serializer:
    """The serializer for ``value``: ``preferred`` if it can write it, else the first automatic one."""
    if preferred is not None:
        serializer = get(preferred)
        if serializer.can_write(value):
            return serializer
    for name in AUTO_ORDER:
        serializer = _registry[name]
        if serializer.can_write(value):
            return serializer
    return _BUILTINS["pickle5"]
