"""How two runs differ (``nbpipe runs diff``): parameters, stages re-run and why, and the outputs.

Compares two run records only (never loads an artifact): parameters changed (old → new); per
stage its status in each run and why it ran (the miss reason); per output its fingerprint and,
from the summaries of run records minor 1, schema changes (columns added, removed, dtype changed;
array dtype or trailing shape), row-count changes, numeric drift (a column's mean moving by more
than ``threshold`` standard deviations — of the first run, else of the second) and scalar values
before → after (``accuracy 0.933 → 0.867``). A stage that failed its ``--check`` gate recorded the
outputs it computed, so the value that failed the gate shows too (``accuracy 0.9333 → 0.8``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nbpipe.cache.store import Store
from nbpipe.errors import PipelineError
from nbpipe.runtime.records import recent_records

#: Default ``--drift-threshold``: a column's mean moving by more than this many standard deviations.
DRIFT_THRESHOLD = 0.5
#: How many of the newest records ``--last`` looks through for two runs of a notebook.
LAST_SCAN = 500

_ABSENT = object()


@dataclass
class OutputDiff:
    """One output in the two runs."""

    name: str
    stage: str
    before: str | None  # fingerprints (None: not in that run)
    after: str | None
    schema: list[str] = field(default_factory=list)  # descriptions of schema changes
    rows: tuple[int, int] | None = None  # (before, after) when it changed
    drift: list[dict[str, Any]] = field(default_factory=list)  # {column, before, after, std, sigmas}
    value: tuple[Any, Any] | None = None  # scalar value before → after (either may be None)
    note: str = ""  # why an output is missing after, or that its stage failed its check after

    @property
    def changed(self) -> bool:
        """True when the fingerprints differ (or the output is only in one run)."""
        return self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        data: dict[str, Any] = {
            "name": self.name,
            "stage": self.stage,
            "changed": self.changed,
            "fingerprint": {"before": self.before, "after": self.after},
            "schema": self.schema,
            "drift": self.drift,
        }
        if self.rows is not None:
            data["rows"] = {"before": self.rows[0], "after": self.rows[1]}
        if self.value is not None:
            data["value"] = {"before": self.value[0], "after": self.value[1]}
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class StageDiff:
    """One stage in the two runs: its status in each (None: not in that run) and why it ran in the second."""

    name: str
    before: str | None
    after: str | None
    reason: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass
class RunDiff:
    """The differences between run ``a`` (before) and run ``b`` (after)."""

    a: dict[str, Any]
    b: dict[str, Any]
    threshold: float
    params: dict[str, tuple[Any, Any]]  # name -> (before, after); _ABSENT when a run lacks it
    stages: list[StageDiff]
    outputs: list[OutputDiff]

    @property
    def schema_changed(self) -> bool:
        """True when an output's type, dtype, trailing shape or columns (added, removed, dtype) changed."""
        return any(o.schema for o in self.outputs)

    @property
    def drifted(self) -> bool:
        """True when a numeric column drifted beyond the threshold."""
        return any(o.drift for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``nbpipe runs diff --format json``)."""
        return {
            "a": self.a.get("run_id"),
            "b": self.b.get("run_id"),
            "notebook": self.b.get("notebook"),
            "drift_threshold": self.threshold,
            "params": {
                name: {k: v for k, v in (("before", old), ("after", new)) if v is not _ABSENT}
                for name, (old, new) in self.params.items()
            },
            "stages": [s.to_dict() for s in self.stages],
            "outputs": [o.to_dict() for o in self.outputs],
            "schema_changed": self.schema_changed,
            "drift": self.drifted,
        }

    def to_text(self) -> str:
        """The human form."""
        return "\n".join(_text(self))


def diff_runs(a: dict[str, Any], b: dict[str, Any], threshold: float = DRIFT_THRESHOLD) -> RunDiff:
    """Compare run record ``a`` (before) with run record ``b`` (after)."""
    return RunDiff(a, b, threshold, _params(a, b), _stages(a, b), _outputs(a, b, threshold))


def last_two(store: Store, notebook: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two newest run records of ``notebook`` (default: of the notebook of the newest record), oldest first.

    Raises:
        PipelineError: fewer than two runs.
    """
    found: list[dict[str, Any]] = []
    wanted = notebook
    for record in recent_records(store, notebook, LAST_SCAN):
        if wanted is None:
            wanted = str(record.get("notebook", ""))
        if os.path.basename(str(record.get("notebook", ""))) == os.path.basename(wanted):
            found.append(record)
        if len(found) == 2:
            return found[1], found[0]
    what = f" of {os.path.basename(wanted)}" if wanted else ""
    raise PipelineError(
        f"--last needs two runs{what} in the store {store.url}; it has {len(found)}",
        hint="run the pipeline again (nbpipe run NB), or name two runs: nbpipe runs diff RUN_A RUN_B",
    )


def _params(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    old, new = _mapping(a.get("params")), _mapping(b.get("params"))
    changed = {}
    for name in [*old, *(n for n in new if n not in old)]:
        before, after = old.get(name, _ABSENT), new.get(name, _ABSENT)
        if before != after or type(before) is not type(after):
            changed[name] = (before, after)
    return changed


def _stages(a: dict[str, Any], b: dict[str, Any]) -> list[StageDiff]:
    old, new = _by_name(a), _by_name(b)
    found = []
    for name in [*new, *(n for n in old if n not in new)]:
        before, after = old.get(name, {}), new.get(name, {})
        found.append(
            StageDiff(
                name,
                before.get("status"),
                after.get("status"),
                str(after.get("reason", "")) if after.get("status") != "cached" else "",
                after.get("error"),
            )
        )
    return found


def _outputs(a: dict[str, Any], b: dict[str, Any], threshold: float) -> list[OutputDiff]:
    old, new = dict(_output_infos(a)), dict(_output_infos(b))
    stage_of = {name: stage for stage, name, _ in (*_each_output(a), *_each_output(b))}
    failed = {s["name"]: s.get("error") or "failed" for s in _by_name(b).values() if s.get("status") == "failed"}
    found = []
    for name in [*new, *(n for n in old if n not in new)]:
        before, after = old.get(name), new.get(name)
        diff = OutputDiff(name, stage_of[name], _fp(before), _fp(after))
        if stage_of[name] in failed:  # outputs of a failed --check gate are recorded, never cached
            diff.note = (
                f"stage {stage_of[name]!r} failed: {failed[stage_of[name]]}"
                if after is None
                else f"failed the check of {stage_of[name]!r}; not cached"
            )
        _compare(diff, _summary(before), _summary(after), threshold)
        found.append(diff)
    return found


def _compare(diff: OutputDiff, old: dict[str, Any] | None, new: dict[str, Any] | None, threshold: float) -> None:
    """Fill in the schema, row, drift and value changes that the two summaries show."""
    if (old is not None and "value" in old) or (new is not None and "value" in new):
        diff.value = ((old or {}).get("value"), (new or {}).get("value"))
    if old is None or new is None or not diff.changed:
        return
    if old.get("type") != new.get("type"):
        diff.schema.append(f"type {old.get('type')} → {new.get('type')}")
        return
    rows = (_rows(old), _rows(new))
    if rows[0] is not None and rows[1] is not None and rows[0] != rows[1]:
        diff.rows = (rows[0], rows[1])
    if "dtype" in old and old.get("dtype") != new.get("dtype"):
        diff.schema.append(f"dtype {old.get('dtype')} → {new.get('dtype')}")
    if "shape" in old and list(old["shape"])[1:] != list(new.get("shape", []))[1:]:
        diff.schema.append(f"shape {_shape(old)} → {_shape(new)}")
    if isinstance(old.get("columns"), list) and isinstance(new.get("columns"), list):
        _columns(diff, _column_map(old), _column_map(new), threshold)


def _columns(diff: OutputDiff, old: dict[str, Any], new: dict[str, Any], threshold: float) -> None:
    for name in old:
        if name not in new:
            diff.schema.append(f"column {name!r} removed")
        elif old[name].get("dtype") != new[name].get("dtype"):
            diff.schema.append(f"column {name!r} dtype {old[name].get('dtype')} → {new[name].get('dtype')}")
        else:
            _drift(diff, name, old[name], new[name], threshold)
    diff.schema.extend(f"column {name!r} added ({new[name].get('dtype')})" for name in new if name not in old)


def _drift(diff: OutputDiff, column: str, old: dict[str, Any], new: dict[str, Any], threshold: float) -> None:
    """Flag a column whose mean moved by more than ``threshold`` standard deviations."""
    before, after = _float(old.get("mean")), _float(new.get("mean"))
    if before is None or after is None or before == after:
        return
    std = next((s for s in (_float(old.get("std")), _float(new.get("std"))) if s), None)
    sigmas = abs(after - before) / std if std else math.inf
    if sigmas > threshold:
        diff.drift.append(
            {
                "column": column,
                "before": before,
                "after": after,
                "std": std,
                "sigmas": round(sigmas, 3) if math.isfinite(sigmas) else None,
            }
        )


def _text(diff: RunDiff) -> Iterator[str]:
    yield f"run {diff.a.get('run_id')} → {diff.b.get('run_id')} ({os.path.basename(str(diff.b.get('notebook', '')))})"
    yield "parameters:" if diff.params else "parameters: unchanged"
    for name, (old, new) in diff.params.items():
        yield f"  {name}: {_param(old)} → {_param(new)}"
    width = max([len(s.name) for s in diff.stages] + [5])
    yield "stages:"
    for stage in diff.stages:
        why = f"  ({stage.reason})" if stage.reason and stage.after in ("ran", "failed") else ""
        line = f"  {stage.name:<{width}}  {stage.before or '-'} → {stage.after or '-'}{why}"
        yield line + (f"\n  {'':<{width}}  error: {stage.error}" if stage.error else "")
    changed = [o for o in diff.outputs if o.changed or o.value is not None]
    yield "outputs:" if changed else "outputs: unchanged"
    for out in changed:
        yield f"  {out.name} ({out.stage}): " + "; ".join(_output_notes(out))
    flags = [f for f, on in (("schema changed", diff.schema_changed), ("drift", diff.drifted)) if on]
    if flags:
        yield "flagged: " + ", ".join(flags) + f" (drift threshold {diff.threshold:g}σ)"


def _output_notes(out: OutputDiff) -> list[str]:
    notes = []
    if out.value is not None:
        before, after = out.value
        notes.append(f"{_show(before)} → {_show(after)}" if out.changed else f"{_show(after)} (unchanged)")
    if out.before is None:
        notes.append("new output")
    elif out.after is None:
        notes.append(out.note or "not in the second run")
    elif out.changed and out.value is None:
        notes.append("changed")
    if out.rows is not None:
        before, after = out.rows
        share = f" ({(after - before) / before:+.0%})" if before else ""
        notes.append(f"rows {before:,} → {after:,}{share}")
    notes.extend(f"schema: {change}" for change in out.schema)
    for d in out.drift:
        sigmas = f"{d['sigmas']:g}σ" if d["sigmas"] is not None else "std 0"
        notes.append(f"drift: column {d['column']!r} mean {d['before']:.4g} → {d['after']:.4g} ({sigmas})")
    if out.after is not None and out.note:
        notes.append(out.note)
    return notes


def _param(value: Any) -> str:
    return "(absent)" if value is _ABSENT else repr(value)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _by_name(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stages = record.get("stages")
    return {str(s.get("name")): s for s in stages if isinstance(s, dict)} if isinstance(stages, list) else {}


def _each_output(record: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for stage in _by_name(record).values():
        for name, info in _mapping(stage.get("outputs")).items():
            yield str(stage.get("name")), name, info


def _output_infos(record: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for _stage, name, info in _each_output(record):
        yield name, _mapping(info)


def _fp(info: dict[str, Any] | None) -> str | None:
    return None if info is None else str(info.get("fingerprint"))


def _summary(info: dict[str, Any] | None) -> dict[str, Any] | None:
    summary = (info or {}).get("summary")
    return summary if isinstance(summary, dict) else None


def _rows(summary: dict[str, Any]) -> int | None:
    if isinstance(summary.get("rows"), int):
        return int(summary["rows"])
    shape = summary.get("shape")
    if isinstance(shape, list) and shape and isinstance(shape[0], int):
        return int(shape[0])
    return summary["length"] if isinstance(summary.get("length"), int) else None


def _shape(summary: dict[str, Any]) -> str:
    return "(" + ", ".join(str(n) for n in summary.get("shape", [])) + ")"


def _column_map(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("name")): c for c in summary["columns"] if isinstance(c, dict)}


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
