"""Fingerprints of pyarrow objects; imported only when pyarrow is.

Tables and record batches feed their schema and each column; a column feeds its
values as one chunk (chunk boundaries are layout, not content). A chunk of a
fixed-width type without nulls is fed as a zero-copy NumPy view (which honours
slice offsets); any other chunk (strings, nested types, nulls) is fed by its offset
and all its buffers (children included), each read in place.
"""

from __future__ import annotations

import pyarrow as pa

from nbpipe.cache.fingerprint import Handler, Node, Steps


def handler_for(value: object) -> Handler | None:
    """The handler for a pyarrow value, or None if ``value`` is not one we know."""
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return _feed_table
    if isinstance(value, pa.ChunkedArray):
        return _feed_chunked
    if isinstance(value, pa.Array):
        return _feed_chunk
    return None


def _feed_table(node: Node, table: pa.Table | pa.RecordBatch) -> Steps:
    node.tag("arrow." + type(table).__name__)
    fields = [(f.name, str(f.type), f.nullable) for f in table.schema]
    metadata = sorted((table.schema.metadata or {}).items())
    node.update((yield (fields, metadata)))
    for column in table.columns:
        if isinstance(column, pa.ChunkedArray):
            _feed_chunked(node, column)
        else:
            _feed_chunk(node, column)


def _feed_chunked(node: Node, column: pa.ChunkedArray) -> None:
    node.tag("arrow.ChunkedArray")
    node.buffer(str(column.type).encode())
    # Chunk boundaries are layout, not content: a column split differently (pickling
    # re-chunks, appending a column splits the index) must hash the same.
    if column.num_chunks == 1:
        _feed_chunk(node, column.chunk(0))
    else:
        _feed_chunk(node, column.combine_chunks())


def _feed_chunk(node: Node, chunk: pa.Array) -> None:
    node.tag("arrow.Array")
    node.buffer(str(chunk.type).encode())
    node.count(len(chunk))
    node.count(chunk.null_count)
    if chunk.null_count == 0 and _fixed_width(chunk.type):
        try:
            view = chunk.to_numpy(zero_copy_only=True)
        except (pa.ArrowInvalid, NotImplementedError):
            pass
        else:
            node.ndarray(view)
            return
    if isinstance(chunk, pa.DictionaryArray):
        _feed_chunk(node, chunk.indices)
        _feed_chunk(node, chunk.dictionary)
        return
    # Any other layout: compact it first (a slice keeps its parent's buffers and offsets),
    # then feed every buffer, children included.
    chunk = pa.concat_arrays([chunk])
    buffers = chunk.buffers()
    if chunk.null_count == 0 and buffers:  # an all-valid bitmap may be present or not: same values
        buffers[0] = None
    for buffer in buffers:
        if buffer is None:
            node.tag("none")
        else:
            node.buffer(memoryview(buffer))


def _fixed_width(kind: pa.DataType) -> bool:
    types = pa.types
    return bool(
        types.is_integer(kind) or types.is_floating(kind) or types.is_timestamp(kind) or types.is_duration(kind)
    )
