"""``-p`` overrides: papermill's two spellings, and several NAME=VALUE pairs after one -p (as the usage says)."""

from __future__ import annotations

import pytest

from nbpipe.errors import ParameterError
from nbpipe.runtime.params import parse_overrides


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([["C", "0.5"]], {"C": 0.5}),
        ([["C=0.5"]], {"C": 0.5}),
        ([["C=0.5", "seed=3"], ["name", "a=b"]], {"C": 0.5, "seed": 3, "name": "a=b"}),
        ([["url=http://x?a=b"]], {"url": "http://x?a=b"}),
    ],
)
def test_overrides(pairs: list[list[str]], expected: dict[str, object]) -> None:
    assert parse_overrides(pairs) == expected


@pytest.mark.parametrize("pair", [["C=1", "D"], ["C", "1", "2"], ["C"]])
def test_ambiguous_overrides_are_refused_with_the_spellings(pair: list[str]) -> None:
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_overrides([pair])
