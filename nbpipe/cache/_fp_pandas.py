"""Fingerprints of pandas objects from their buffers; imported only when pandas is.

A DataFrame is fed as its type, column index, row index and, per column, the dtype
and the column's values. Values come from the array behind the column without
copying: the NumPy block row for plain dtypes, the data and mask of masked arrays,
codes and categories of categoricals, the int64 view of datetimes, and the Arrow
chunks of Arrow-backed columns. Object columns feed their elements (runs of scalars
pickled together); an extension array we do not know is walked like any object.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from nbpipe.cache.fingerprint import Handler, Node, Steps


def handler_for(value: object) -> Handler | None:
    """The handler for a pandas value, or None if ``value`` is not one we know."""
    if isinstance(value, pd.DataFrame):
        return _feed_frame
    if isinstance(value, pd.Series):
        return _feed_series
    if isinstance(value, pd.Index):
        return _feed_index
    return None


def _feed_frame(node: Node, frame: pd.DataFrame) -> Steps:
    node.tag("pandas.DataFrame")
    node.tag(type(frame).__qualname__)
    yield from _feed_index(node, frame.columns)
    yield from _feed_index(node, frame.index)
    node.count(frame.shape[1])
    for _, column in frame.items():  # positional, so duplicate column names are fine
        yield from _feed_array(node, column.array)


def _feed_series(node: Node, series: pd.Series) -> Steps:
    node.tag("pandas.Series")
    node.tag(type(series).__qualname__)
    node.update((yield series.name))
    yield from _feed_index(node, series.index)
    yield from _feed_array(node, series.array)


def _feed_index(node: Node, index: pd.Index) -> Steps:
    node.tag("pandas.Index")
    node.tag(type(index).__qualname__)
    if isinstance(index, pd.RangeIndex):  # no buffer at all: three integers
        node.update((yield (index.name, index.start, index.stop, index.step)))
        return
    if isinstance(index, pd.MultiIndex):
        node.update((yield list(index.names)))
        for level, codes in zip(index.levels, index.codes):
            yield from _feed_index(node, level)
            node.ndarray(codes)
        return
    node.update((yield index.name))
    yield from _feed_array(node, index.array)


def _feed_array(node: Node, array: Any) -> Steps:
    """Feed a pandas ExtensionArray (or NumpyExtensionArray) by its parts."""
    node.tag(str(array.dtype))
    parts = _parts(array)
    if parts is None:
        parts = [array]  # an extension array we do not know: walked like any object
    for part in parts:
        node.update((yield part))


def _parts(array: Any) -> list[Any] | None:
    """The buffers that define ``array``, or None to fall back to pickling it."""
    if isinstance(array, pd.Categorical):
        return [array.codes, array.categories, array.ordered]
    if hasattr(array, "_pa_array"):  # ArrowExtensionArray, ArrowStringArray
        return [array._pa_array]
    if hasattr(array, "_data") and hasattr(array, "_mask"):  # masked Int64, boolean, Float64
        return [array._data, array._mask]
    ndarray = getattr(array, "_ndarray", None)  # NumpyExtensionArray, datetime, timedelta, period
    if ndarray is not None:
        return [ndarray]
    return None
