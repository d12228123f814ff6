"""Output summaries (run records minor 1), stage resources and the comparison of two runs' records."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nbpipe.runtime import summaries
from nbpipe.runtime.resources import measure
from nbpipe.runtime.rundiff import diff_runs
from nbpipe.runtime.summaries import summarize, summarize_outputs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, {"type": "int", "value": 3}),
        (0.25, {"type": "float", "value": 0.25}),
        (True, {"type": "bool", "value": True}),
        (np.float64(0.5), {"type": "numpy.float64", "value": 0.5}),
        (np.int32(7), {"type": "numpy.int32", "value": 7}),
        (float("nan"), {"type": "float", "value": "nan"}),
        ("short", {"type": "str", "value": "short"}),
        ("x" * 201, {"type": "str", "length": 201}),
        ([1, 2, 3], {"type": "list", "length": 3}),
        ({"a": 1}, {"type": "dict", "length": 1}),
        ({1, 2}, {"type": "set", "length": 2}),
        (np.zeros((4, 2), dtype="float32"), {"type": "numpy.ndarray", "shape": [4, 2], "dtype": "float32"}),
        (object(), {"type": "object"}),
    ],
)
def test_summaries_by_type(value: Any, expected: dict[str, Any]) -> None:
    assert summarize(value) == expected
    json.dumps(summarize(value), allow_nan=False)  # strict JSON


def test_pandas_frame_columns_nulls_and_statistics() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1.0, None, 3.0, 5.0], "c": ["x", None, "y", "z"], "d": [True] * 4})
    found = summarize(frame)
    assert found is not None and found["type"] == "pandas.DataFrame" and found["rows"] == 4
    a, b, c, d = found["columns"]
    assert a == {
        "name": "a",
        "dtype": "int64",
        "nulls": 0,
        "min": 1.0,
        "max": 4.0,
        "mean": 2.5,
        "std": pytest.approx(1.290994),
    }
    assert b["nulls"] == 1 and b["mean"] == 3.0 and b["min"] == 1.0 and b["max"] == 5.0
    assert c["nulls"] == 1 and "mean" not in c and d["dtype"] == "bool" and "mean" not in d
    assert "sampled_rows" not in found and "columns_truncated" not in found


def test_arrow_table_has_exact_nulls_and_the_same_statistics() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1.0, None, 3.0, 5.0]})
    arrow, pandas = summarize(pa.Table.from_pandas(frame, preserve_index=False)), summarize(frame)
    assert arrow is not None and pandas is not None and arrow["type"] == "pyarrow.Table" and arrow["rows"] == 4
    for mine, theirs in zip(arrow["columns"], pandas["columns"]):
        assert {k: mine[k] for k in ("nulls", "min", "max", "mean")} == {
            k: theirs[k] for k in ("nulls", "min", "max", "mean")
        }
        assert mine["std"] == pytest.approx(theirs["std"])


def test_series_is_a_one_column_frame() -> None:
    found = summarize(pd.Series([1.0, 2.0, None], name="x"))
    assert found is not None and found["type"] == "pandas.Series" and found["rows"] == 3
    assert found["columns"][0]["name"] == "x" and found["columns"][0]["nulls"] == 1


def test_wide_frames_are_truncated_and_large_ones_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = pd.DataFrame(np.ones((3, summaries.MAX_COLUMNS + 5)))
    found = summarize(wide)
    assert found is not None and len(found["columns"]) == summaries.MAX_COLUMNS and found["columns_truncated"] is True
    monkeypatch.setattr(summaries, "SAMPLE_VALUES", 2_000)
    monkeypatch.setattr(summaries, "MIN_SAMPLE_ROWS", 100)
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"x": rng.normal(5.0, 2.0, 100_000), "y": rng.normal(size=100_000)})
    for value in (big, pa.Table.from_pandas(big)):
        found = summarize(value)
        assert found is not None and found["rows"] == 100_000 and 0 < found["sampled_rows"] <= 1_000
        x = found["columns"][0]
        assert x["mean"] == pytest.approx(5.0, abs=0.3) and x["std"] == pytest.approx(2.0, abs=0.3)


class _Broken:
    name = "broken"

    def accepts(self, value: object) -> bool:
        return isinstance(value, complex)

    def summarize(self, value: object) -> dict[str, Any]:
        raise RuntimeError("no")


class _Temperature:
    name = "temperature"

    def accepts(self, value: object) -> bool:
        return isinstance(value, complex)

    def summarize(self, value: object) -> dict[str, Any]:
        return {"value": abs(value)}  # type: ignore[arg-type]


def test_a_failing_summariser_gives_no_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "_registered", [])
    summaries.register(_Broken())
    assert summarize(1j) is None
    assert summarize_outputs({"z": 1j, "n": 2}) == {"n": {"type": "int", "value": 2}}
    summaries.register(_Temperature())  # the latest registered comes first
    assert summarize(3 + 4j) == {"type": "complex", "value": 5.0}


def test_summarisers_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real distribution on sys.path declaring an ``nbpipe.summarizers`` entry point, loaded lazily."""
    (tmp_path / "point_summary.py").write_text(
        "class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n\n"
        "class PointSummarizer:\n    name = 'point'\n"
        "    def accepts(self, value):\n        return type(value).__name__ == 'Point'\n"
        "    def summarize(self, value):\n        return {'x': value.x, 'y': value.y}\n"
    )
    info = tmp_path / "point_summary-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: point-summary\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nbpipe.summarizers]\npoint = point_summary:PointSummarizer\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(summaries, "_registered", [])
    monkeypatch.setattr(summaries, "_plugins_loaded", False)
    assert summarize([1]) == {"type": "list", "length": 1} and not summaries._plugins_loaded  # built-ins: no scan
    point = sys.modules.get("point_summary") or __import__("point_summary")
    assert summarize(point.Point(1, 2)) == {"type": "point_summary.Point", "x": 1, "y": 2}
    assert summaries._plugins_loaded


def test_measure_attributes_peak_memory_and_cpu_to_the_block() -> None:
    with measure() as usage:
        block = np.ones(40_000_000)  # 320 MB, touched
        total = float(block.sum())
        del block
    assert total == 40_000_000.0 and usage.cpu_seconds > 0
    if sys.platform.startswith("linux"):
        assert usage.peak_memory is not None and usage.peak_memory >= 320_000_000
    with measure() as small:
        sum(range(1000))
    if sys.platform.startswith("linux"):  # the high-water mark was reset: the big block is not counted again
        # (the peak includes what the process already held, which depends on the tests run before this one)
        assert usage.peak_memory is not None and small.peak_memory is not None
        assert small.peak_memory < usage.peak_memory - 200_000_000


def _record(run_id: str, params: dict[str, Any], outputs: dict[str, Any], status: str = "ran") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "notebook": "nb.ipynb",
        "params": params,
        "stages": [
            {
                "name": "make",
                "status": status,
                "reason": "parameter 'n' 1 → 2",
                "outputs": {
                    name: {"fingerprint": f"{run_id}-{name}", "summary": summarize(value)}
                    for name, value in outputs.items()
                },
            }
        ],
    }


def test_diff_of_frames_schema_rows_drift_and_scalars() -> None:
    rng = np.random.default_rng(1)
    before = pd.DataFrame({"a": rng.normal(0, 1, 200), "b": rng.normal(0, 1, 200), "c": np.arange(200)})
    after = before.iloc[:100].drop(columns="c").assign(b=lambda f: f["b"] + 3.0, d=1)
    diff = diff_runs(
        _record("A", {"n": 1}, {"df": before, "score": 0.93, "arr": np.zeros((5, 2))}),
        _record("B", {"n": 2}, {"df": after, "score": 0.9, "arr": np.zeros((7, 3))}),
    )
    assert diff.params == {"n": (1, 2)}
    df, score, arr = diff.outputs
    assert df.rows == (200, 100) and score.value == (0.93, 0.9) and arr.rows == (5, 7)
    assert "column 'c' removed" in df.schema and any("column 'd' added" in s for s in df.schema)
    assert [d["column"] for d in df.drift] == ["b"] and df.drift[0]["sigmas"] > 2
    assert arr.schema == ["shape (5, 2) → (7, 3)"]
    assert diff.schema_changed and diff.drifted
    text = diff.to_text()
    assert "n: 1 → 2" in text and "rows 200 → 100 (-50%)" in text and "0.93 → 0.9" in text
    assert "ran → ran  (parameter 'n' 1 → 2)" in text
    data = json.loads(json.dumps(diff.to_dict()))
    assert data["params"] == {"n": {"before": 1, "after": 2}} and data["schema_changed"] and data["drift"]


def test_diff_of_identical_runs_flags_nothing() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    first, second = _record("A", {"n": 1}, {"df": frame}), _record("A", {"n": 1}, {"df": frame}, "cached")
    diff = diff_runs(first, second)
    assert not diff.params and not diff.schema_changed and not diff.drifted
    assert not any(o.changed for o in diff.outputs) and "parameters: unchanged" in diff.to_text()
