"""Stage keys change exactly when an ingredient changes; miss reasons name the first change."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

from nbpipe.cache.keys import FORMAT_VERSION, KeyInputs, file_hash, miss_reason, stage_key

BASE = KeyInputs(
    stage="train",
    code="Module([Assign(...)])",
    header="train --in X y --out model",
    helpers={"clean_text": "def clean_text(s): ..."},
    inputs={"X": "a" * 32, "y": "b" * 32},
    params={"C": 1.0, "labels": ["a", "b"]},
    files={"data.csv": "c" * 32},
    source="model = fit(X, y)\nscore = 1\n",
)

KEY_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("code", {"code": "Module([])"}),
    ("header", {"header": "train --in X --out model"}),
    ("helper", {"helpers": {"clean_text": "def clean_text(s): return s"}}),
    ("input", {"inputs": {"X": "d" * 32, "y": "b" * 32}}),
    ("parameter", {"params": {"C": 0.5, "labels": ["a", "b"]}}),
    ("parameter int vs float", {"params": {"C": 1, "labels": ["a", "b"]}}),
    ("file", {"files": {"data.csv": "e" * 32}}),
    ("format", {"format": FORMAT_VERSION + 1}),
    ("python", {"python": "2.7"}),
]


@pytest.mark.parametrize(("label", "change"), KEY_CHANGES, ids=[case[0] for case in KEY_CHANGES])
def test_every_ingredient_changes_the_key(label: str, change: dict[str, Any]) -> None:
    assert stage_key(dataclasses.replace(BASE, **change)) != stage_key(BASE)


def test_source_text_alone_does_not_change_the_key() -> None:
    assert stage_key(dataclasses.replace(BASE, source="# a comment\n" + BASE.source)) == stage_key(BASE)


def test_dict_order_does_not_change_the_key() -> None:
    reordered = dataclasses.replace(BASE, inputs={"y": "b" * 32, "X": "a" * 32})
    assert stage_key(reordered) == stage_key(BASE)


@pytest.mark.parametrize("value", [1.0, [1, 2], {"a": None}, (1, 2), np.arange(3), {1, 2}, float("nan")])
def test_key_survives_a_json_round_trip_of_its_inputs(value: object) -> None:
    inputs = dataclasses.replace(BASE, params={"p": value})
    assert stage_key(KeyInputs.from_dict(inputs.to_dict())) == stage_key(inputs)


def test_non_json_parameter_keeps_a_readable_repr() -> None:
    stored = KeyInputs.from_dict(dataclasses.replace(BASE, params={"p": np.arange(3)}).to_dict())
    reason = miss_reason(stored, dataclasses.replace(BASE, params={"p": np.arange(4)}))
    assert reason == "parameter 'p' array([0, 1, 2]) → array([0, 1, 2, 3])"


REASONS: list[tuple[str, KeyInputs | None, KeyInputs, str]] = [
    ("never run", None, BASE, "never run"),
    (
        "code with line",
        BASE,
        dataclasses.replace(BASE, code="other", source="model = fit(X, y)\nscore = 2\n"),
        "code changed (line 3)",
    ),
    ("code without source", BASE, dataclasses.replace(BASE, code="other", source=""), "code changed"),
    ("header", BASE, dataclasses.replace(BASE, header="train --out model"), "header changed"),
    (
        "helper",
        BASE,
        dataclasses.replace(BASE, helpers={"clean_text": "changed"}),
        "helper 'clean_text' changed",
    ),
    ("helper added", BASE, dataclasses.replace(BASE, helpers={**BASE.helpers, "tok": "x"}), "helper 'tok' added"),
    ("input", BASE, dataclasses.replace(BASE, inputs={"X": "a" * 32, "y": "f" * 32}), "input 'y' changed"),
    ("parameter", BASE, dataclasses.replace(BASE, params={"C": 0.5, "labels": ["a", "b"]}), "parameter 'C' 1.0 → 0.5"),
    ("parameter new", BASE, dataclasses.replace(BASE, params={**BASE.params, "k": 3}), "parameter 'k' now read"),
    ("file", BASE, dataclasses.replace(BASE, files={"data.csv": "0" * 32}), "file data.csv changed"),
    ("format", BASE, dataclasses.replace(BASE, format=FORMAT_VERSION + 1), "cache format or Python changed"),
    ("python", BASE, dataclasses.replace(BASE, python="3.99"), "cache format or Python changed"),
    ("evicted", BASE, BASE, "cache entry missing or evicted"),
    (
        "code before parameter",
        BASE,
        dataclasses.replace(BASE, code="x", source="model = fit(X, y)\n\nscore = 9\n", params={}),
        "code changed (line 4)",
    ),
]


@pytest.mark.parametrize(("label", "before", "after", "reason"), REASONS, ids=[case[0] for case in REASONS])
def test_miss_reason(label: str, before: KeyInputs | None, after: KeyInputs, reason: str) -> None:
    assert miss_reason(before, after) == reason


def test_miss_reason_after_storage_round_trip() -> None:
    stored = KeyInputs.from_dict(BASE.to_dict())
    assert miss_reason(stored, dataclasses.replace(BASE, params={"C": 2.0, "labels": ["a", "b"]})) == (
        "parameter 'C' 1.0 → 2.0"
    )


def test_code_changed_line_ignores_comments() -> None:
    before = dataclasses.replace(BASE, source="a = 1\n# note\nb = 2\n")
    after = dataclasses.replace(BASE, code="x", source="a = 1\nb = 3\n")
    assert miss_reason(before, after) == "code changed (line 3)"


def test_code_changed_line_for_ipython_syntax() -> None:
    before = dataclasses.replace(BASE, source="!ls\na = 1\n")
    after = dataclasses.replace(BASE, code="x", source="!ls\na = 2\n")
    assert miss_reason(before, after) == "code changed (line 3)"


def test_file_hash_streams_the_content(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 50_000
    path.write_bytes(data)
    assert file_hash(path, chunk=4096) == xxhash.xxh3_128_hexdigest(data)
    path.write_bytes(data[:-1] + b"\x00")
    assert file_hash(path) != xxhash.xxh3_128_hexdigest(data)
