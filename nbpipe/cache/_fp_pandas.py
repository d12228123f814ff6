"""Fingerprints of pandas objects from their buffers; imported only when pandas is.

A DataFrame is fed as its type, column index, row index and, per column, the dtype
and the column's values. Values come from the array behind the column without
copying: the NumPy block row for plain dtypes, the data and mask of masked arrays,
codes and categories of categoricals, the int64 view of datetimes, and the Arrow
chunks of Arrow-backed columns. Object columns are pickled.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pandas as pd

from nbpipe.cache.fingerprint import feed_ndarray, feed_tag, feed_value


def handler_for(value: object) -> Callable[[Any, Any], None] | None:
    """The feeder for a pandas value, or None if ``value`` is not one we know."""
    if isinstance(value, pd.DataFrame):
        return _feed_frame
    if isinstance(value, pd.Series):
        return _feed_series
    if isinstance(value, pd.Index):
        return _feed_index
    return None


def _feed_frame(hasher: Any, frame: pd.DataFrame) -> None:
    feed_tag(hasher, "pandas.DataFrame")
    feed_tag(hasher, type(frame).__qualname__)
    _feed_index(hasher, frame.columns)
    _feed_index(hasher, frame.index)
    hasher.update(struct.pack("<Q", frame.shape[1]))
    for _, column in frame.items():  # positional, so duplicate column names are fine
        _feed_array(hasher, column.array)


def _feed_series(hasher: Any, series: pd.Series) -> None:
    feed_tag(hasher, "pandas.Series")
    feed_tag(hasher, type(series).__qualname__)
    feed_value(hasher, series.name)
    _feed_index(hasher, series.index)
    _feed_array(hasher, series.array)


def _feed_index(hasher: Any, index: pd.Index) -> None:
    feed_tag(hasher, "pandas.Index")
    feed_tag(hasher, type(index).__qualname__)
    if isinstance(index, pd.RangeIndex):  # no buffer at all: three integers
        feed_value(hasher, (index.name, index.start, index.stop, index.step))
        return
    if isinstance(index, pd.MultiIndex):
        feed_value(hasher, list(index.names))
        for level, codes in zip(index.levels, index.codes):
            _feed_index(hasher, level)
            feed_ndarray(hasher, codes)
        return
    feed_value(hasher, index.name)
    _feed_array(hasher, index.array)


def _feed_array(hasher: Any, array: Any) -> None:
    """Feed a pandas ExtensionArray (or NumpyExtensionArray) by its parts."""
    feed_tag(hasher, str(array.dtype))
    parts = _parts(array)
    if parts is None:
        feed_value(hasher, array)  # an extension array we do not know: pickle it
        return
    for part in parts:
        feed_value(hasher, part)


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
