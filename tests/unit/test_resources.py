"""``--resources`` in the ``%%stage`` header: the grammar, its rules (NBP002) and the amounts targets use."""

from __future__ import annotations

import nbformat
import pytest

from nbpipe.analysis.core import analyze
from nbpipe.errors import HeaderError
from nbpipe.header import parse_header, resource_amount

GOOD = [
    ("fit --resources cpu=2 memory=4Gi gpu=1", (("cpu", "2"), ("gpu", "1"), ("memory", "4Gi"))),
    ("fit --resources cpu=500m", (("cpu", "500m"),)),
    ("fit --resources cpu=0.5 memory=512M", (("cpu", "0.5"), ("memory", "512M"))),
    ("fit --resources gpu=2 accelerator=nvidia.com/gpu", (("accelerator", "nvidia.com/gpu"), ("gpu", "2"))),
    ("fit --in x --resources memory=1000 --out y", (("memory", "1000"),)),
]

BAD = [
    ("fit --resources cpu", "cpu needs a value"),
    ("fit --resources cpu=0", "cpu must be a positive number of cores"),
    ("fit --resources cpu=two", "cpu must be a positive number of cores"),
    ("fit --resources memory=4GB", "memory must be a whole number of bytes"),
    ("fit --resources memory=0Gi", "memory must be a whole number of bytes"),
    ("fit --resources gpu=0.5", "gpu must be a positive whole number"),
    ("fit --resources disk=10Gi", "'disk' is not a resource"),
    ("fit --resources cpu=1 cpu=2", "cpu is given more than once"),
    ("fit --resources accelerator=nvidia.com/gpu", "needs a count: add gpu=N"),
    ("fit --resources accelerator='a b' gpu=1", "accelerator must be an accelerator type"),
    ("fit --resources", "expected at least one argument"),
]


@pytest.mark.parametrize(("line", "pairs"), GOOD)
def test_resources_parse_sorted_and_round_trip(line: str, pairs: tuple[tuple[str, str], ...]) -> None:
    header = parse_header(line)
    assert header.resources == pairs
    assert parse_header(header.canonical()) == header


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_resources_are_nbp002_with_the_rule(line: str, message: str) -> None:
    with pytest.raises(HeaderError) as info:
        parse_header(line)
    assert message in str(info.value)
    assert info.value.code == "NBP002"


def test_a_header_without_resources_keeps_its_canonical_text() -> None:
    assert parse_header("fit --in x --out y").canonical() == "fit --in x --out y"


@pytest.mark.parametrize(
    ("key", "value", "amount"),
    [
        ("cpu", "2", 2.0),
        ("cpu", "250m", 0.25),
        ("memory", "4Gi", 4 * 2**30),
        ("memory", "3M", 3e6),
        ("memory", "1Ki", 1024.0),
        ("memory", "123", 123.0),
        ("gpu", "2", 2.0),
    ],
)
def test_resource_amounts(key: str, value: str, amount: float) -> None:
    assert resource_amount(key, value) == amount


def test_the_analyzer_reports_bad_resources_as_nbp002(tmp_path: object) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext nbpipe"),
        nbformat.v4.new_code_cell("%%stage load --out x --resources memory=lots\nx = 1"),
    ]
    path = f"{tmp_path}/bad.ipynb"
    nbformat.write(nb, path)
    found = [d for d in analyze(path).diagnostics if d.code == "NBP002"]
    assert len(found) == 1
    assert "memory must be a whole number of bytes" in found[0].message
    assert found[0].stage == "load" or found[0].cell == 1
