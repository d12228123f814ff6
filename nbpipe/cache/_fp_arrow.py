"""Fingerprints of pyarrow objects; imported only when pyarrow is.

Tables and record batches feed their schema and each column; a column feeds each
chunk. A chunk of a fixed-width type without nulls is fed as a zero-copy NumPy view
(which honours slice offsets); any other chunk (strings, nested types, nulls) is fed
by its offset and all its buffers (children included), each read in place.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from nbpipe.cache.fingerprint import feed_bytes, feed_ndarray, feed_tag, feed_value


def handler_for(value: object) -> Callable[[Any, Any], None] | None:
    """The feeder for a pyarrow value, or None if ``value`` is not one we know."""
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return _feed_table
    if isinstance(value, pa.ChunkedArray):
        return _feed_chunked
    if isinstance(value, pa.Array):
        return _feed_chunk
    return None


def _feed_table(hasher: Any, table: pa.Table | pa.RecordBatch) -> None:
    feed_tag(hasher, "arrow." + type(table).__name__)
    _feed_schema(hasher, table.schema)
    for column in table.columns:
        if isinstance(column, pa.ChunkedArray):
            _feed_chunked(hasher, column)
        else:
            _feed_chunk(hasher, column)


def _feed_schema(hasher: Any, schema: pa.Schema) -> None:
    fields = [(f.name, str(f.type), f.nullable) for f in schema]
    metadata = sorted((schema.metadata or {}).items())
    feed_value(hasher, (fields, metadata))


def _feed_chunked(hasher: Any, column: pa.ChunkedArray) -> None:
    feed_tag(hasher, "arrow.ChunkedArray")
    feed_bytes(hasher, str(column.type).encode())
    # Chunk boundaries are layout, not content: a column split differently (pickling
    # re-chunks, appending a column splits the index) must hash the same.
    if column.num_chunks == 1:
        _feed_chunk(hasher, column.chunk(0))
    else:
        _feed_chunk(hasher, column.combine_chunks())


def _feed_chunk(hasher: Any, chunk: pa.Array) -> None:
    feed_tag(hasher, "arrow.Array")
    feed_bytes(hasher, str(chunk.type).encode())
    hasher.update(struct.pack("<QQ", len(chunk), chunk.null_count))
    if chunk.null_count == 0 and _fixed_width(chunk.type):
        try:
            view = chunk.to_numpy(zero_copy_only=True)
        except (pa.ArrowInvalid, NotImplementedError):
            pass
        else:
            feed_ndarray(hasher, view)
            return
    if isinstance(chunk, pa.DictionaryArray):
        _feed_chunk(hasher, chunk.indices)
        _feed_chunk(hasher, chunk.dictionary)
        return
    # Any other layout: compact it first (a slice keeps its parent's buffers and offsets),
    # then feed every buffer, children included.
    chunk = pa.concat_arrays([chunk])
    buffers = chunk.buffers()
    if chunk.null_count == 0 and buffers:  # an all-valid bitmap may be present or not: same values
        buffers[0] = None
    for buffer in buffers:
        if buffer is None:
            feed_tag(hasher, "none")
        else:
            feed_bytes(hasher, memoryview(buffer))


def _fixed_width(kind: pa.DataType) -> bool:
    types = pa.types
    return bool(
        types.is_integer(kind) or types.is_floating(kind) or types.is_timestamp(kind) or types.is_duration(kind)
    )
