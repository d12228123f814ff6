"""What a stage output *was*: a small JSON summary per output, kept in run records (minor 1).

Computed from the value already in memory, right after the stage ran:

- arrays: ``shape``, ``dtype``;
- data frames (pandas ``DataFrame``/``Series``, ``pyarrow.Table``): ``rows`` and, for the first
  :data:`MAX_COLUMNS` columns (``columns_truncated`` beyond), ``name``, ``dtype``, ``nulls`` and, for
  numeric columns, ``min``/``max``/``mean``/``std`` (NaN ignored). Statistics read at most
  :data:`SAMPLE_VALUES` values per frame: a larger frame is summarised over evenly spaced runs of
  rows, and ``sampled_rows`` says how many (pandas null counts then count the sample; Arrow null
  counts are always exact), so a summary costs the same small time for any size of frame;
- numbers and booleans: ``value``; strings: ``value`` up to :data:`MAX_STRING` characters, else
  ``length``; lists, tuples, dicts and sets: ``length``; anything else: just its ``type``.

More summarisers come from the entry-point group ``nbpipe.summarizers`` (an object or class
with :class:`Summarizer`'s attributes), loaded the first time a value comes that no summariser
known so far accepts; :func:`register` puts one ahead of the built-ins. A summariser that raises
gives no summary: summaries never fail a run.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "nbpipe.summarizers"
MAX_COLUMNS = 200
MAX_STRING = 200
SAMPLE_VALUES = 200_000  # per data frame: statistics over at most this many values
MIN_SAMPLE_ROWS = 1_000


@runtime_checkable
class Summarizer(Protocol):
    """What a summariser provides."""

    name: str

    def accepts(self, value: object) -> bool:
        """Whether this summariser knows ``value``'s type."""

    def summarize(self, value: object) -> dict[str, Any]:
        """JSON-able fields describing ``value`` (``type`` is added when missing)."""


def type_name(value: object) -> str:
    """The shortest public module-qualified name of ``value``'s type (``pandas.DataFrame``, ``int``)."""
    kind = type(value)
    module, qualname = kind.__module__, kind.__qualname__
    if module == "builtins":
        return qualname
    parts = module.split(".")
    for end in range(1, len(parts)):
        prefix = ".".join(parts[:end])
        if getattr(sys.modules.get(prefix), qualname, None) is kind:
            return f"{prefix}.{qualname}"
    return f"{module}.{qualname}"


def summarize(value: object) -> dict[str, Any] | None:
    """The summary of one value, or None if its summariser failed."""
    try:
        summarizer = _find(value)
        if summarizer is None:
            return {"type": type_name(value)}
        fields = summarizer.summarize(value)
        if summarizer not in _BUILTINS:  # a plugin's fields must be JSON as they are
            fields = json.loads(json.dumps(fields, allow_nan=False, default=str))
        return {"type": type_name(value), **fields}
    except Exception:  # a summary is a courtesy: it never fails a run
        return None


def summarize_outputs(outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Output name -> summary, leaving out the outputs whose summariser failed."""
    found = {}
    for name, value in outputs.items():
        summary = summarize(value)
        if summary is not None:
            found[name] = summary
    return found


def register(summarizer: Summarizer) -> None:
    """Put a summariser ahead of the built-ins (and of those registered before it)."""
    _registered.insert(0, summarizer)


def load_plugins() -> None:
    """Load summarisers from the ``nbpipe.summarizers`` entry points (once); a broken one is left out."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    from nbpipe import plugins

    _plugins_loaded = True
    for _, summarizer in plugins.loaded(ENTRY_POINT_GROUP, skip_broken=True):
        if isinstance(summarizer, Summarizer):
            _registered.append(summarizer)


def _find(value: object) -> Summarizer | None:
    for summarizer in (*_registered, *_BUILTINS):
        if summarizer.accepts(value):
            return summarizer
    if _plugins_loaded:
        return None
    load_plugins()
    return next((s for s in _registered if s.accepts(value)), None)


def number(value: Any) -> float | None:
    """A finite float, or None (NaN, infinities, missing)."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


class Scalars:
    """Numbers, booleans and strings (Python's and NumPy's)."""

    name = "scalar"

    def accepts(self, value: object) -> bool:
        if isinstance(value, (bool, int, float, str)):
            return True
        numpy = sys.modules.get("numpy")
        return numpy is not None and isinstance(value, (numpy.bool_, numpy.integer, numpy.floating))

    def summarize(self, value: object) -> dict[str, Any]:
        if isinstance(value, str):
            return {"value": value} if len(value) <= MAX_STRING else {"length": len(value)}
        item: Any = value.item() if hasattr(value, "item") else value
        if isinstance(item, float) and not math.isfinite(item):
            return {"value": str(item)}  # nan, inf: JSON has no such numbers
        return {"value": item}


class Containers:
    """Lists, tuples, dicts, sets and bytes: their length."""

    name = "container"

    def accepts(self, value: object) -> bool:
        return isinstance(value, (list, tuple, dict, set, frozenset, bytes, bytearray))

    def summarize(self, value: object) -> dict[str, Any]:
        return {"length": len(value)}  # type: ignore[arg-type]


class Arrays:
    """NumPy arrays: shape and dtype."""

    name = "array"

    def accepts(self, value: object) -> bool:
        numpy = sys.modules.get("numpy")
        return numpy is not None and isinstance(value, numpy.ndarray)

    def summarize(self, value: object) -> dict[str, Any]:
        array: Any = value
        return {"shape": list(array.shape), "dtype": str(array.dtype)}


class PandasFrames:
    """pandas DataFrames and Series: rows, columns with dtype, nulls and numeric statistics."""

    name = "pandas"

    def accepts(self, value: object) -> bool:
        pandas = sys.modules.get("pandas")
        return pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series))

    def summarize(self, value: object) -> dict[str, Any]:
        frame: Any = value
        if frame.ndim == 1:
            frame = frame.to_frame(name="" if frame.name is None else frame.name)
        rows, width = frame.shape
        count = min(width, MAX_COLUMNS)
        positions = sample_rows(rows, count)
        sample = frame.iloc[:, :count] if positions is None else frame.iloc[positions, :count]
        nulls = sample.isna().sum(axis=0).to_numpy()
        numeric = [i for i, dtype in enumerate(sample.dtypes) if getattr(dtype, "kind", None) in ("i", "u", "f")]
        stats = _statistics(sample.iloc[:, numeric].to_numpy(dtype="float64", na_value=math.nan)) if numeric else []
        columns = [
            {"name": str(name), "dtype": str(dtype), "nulls": int(nulls[i])}
            for i, (name, dtype) in enumerate(zip(sample.columns, sample.dtypes))
        ]
        for i, found in zip(numeric, stats):
            columns[i].update(found)
        return _frame_fields(rows, width, columns, positions)


class ArrowTables:
    """pyarrow Tables: rows, columns with type, exact null counts and numeric statistics."""

    name = "arrow"

    def accepts(self, value: object) -> bool:
        pyarrow = sys.modules.get("pyarrow")
        return pyarrow is not None and isinstance(value, pyarrow.Table)

    def summarize(self, value: object) -> dict[str, Any]:
        import pyarrow

        table: Any = value
        rows, width = table.num_rows, table.num_columns
        count = min(width, MAX_COLUMNS)
        positions = sample_rows(rows, count)
        columns = []
        for i in range(count):
            field, data = table.schema.field(i), table.column(i)
            column: dict[str, Any] = {"name": field.name, "dtype": str(field.type), "nulls": int(data.null_count)}
            if pyarrow.types.is_integer(field.type) or pyarrow.types.is_floating(field.type):
                part = data.take(positions) if positions is not None else data
                values = part.to_numpy(zero_copy_only=False).astype("float64", copy=False)
                column.update(_statistics(values.reshape(-1, 1))[0])
            columns.append(column)
        return _frame_fields(rows, width, columns, positions)


#: A sampled frame is read in this many evenly spaced runs of consecutive rows (cheap to gather).
SAMPLE_RUNS = 64


def sample_rows(rows: int, columns: int) -> Any:
    """Row positions the statistics read (evenly spaced runs of rows), or None to read every row."""
    import numpy

    budget = max(MIN_SAMPLE_ROWS, SAMPLE_VALUES // max(1, columns))
    if rows <= budget:
        return None
    run = max(1, budget // SAMPLE_RUNS)
    starts = numpy.linspace(0, rows - run, SAMPLE_RUNS).astype(numpy.int64)
    return (starts[:, None] + numpy.arange(run)[None, :]).reshape(-1)


def _statistics(values: Any) -> list[dict[str, float | None]]:
    """min, max, mean and std (ddof 1) of each column of a 2-D float array, ignoring NaN."""
    import warnings

    import numpy

    with warnings.catch_warnings(), numpy.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns, one row
        found = [numpy.nanmin(values, axis=0), numpy.nanmax(values, axis=0), numpy.nanmean(values, axis=0)]
        found.append(numpy.nanstd(values, axis=0, ddof=1))
    return [
        {"min": number(lo), "max": number(hi), "mean": number(mean), "std": number(std)}
        for lo, hi, mean, std in zip(*found)
    ]


def _frame_fields(rows: int, width: int, columns: list[dict[str, Any]], positions: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"rows": int(rows), "columns": columns}
    if width > len(columns):
        fields["columns_truncated"] = True
    if positions is not None:
        fields["sampled_rows"] = len(positions)
    return fields


_BUILTINS: tuple[Summarizer, ...] = (Scalars(), Containers(), Arrays(), PandasFrames(), ArrowTables())
_registered: list[Summarizer] = []
_plugins_loaded = False
