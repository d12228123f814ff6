"""The round trip of issue 10 on the fixtures, with a real kernel (nbclient): the measure of bench/roundtrip.py.

annotate -> check -> Run All cold and warm (text outputs equal to a fresh run of the
original) -> ``nbpipe run`` twice (the second all cached) -> the exported script, with
every output's fingerprint equal to the kernel's. Only fixtures whose failure class
involves the kernel run here (CI has two cores); the mixed-cells, rebinding,
mutation-only and modules fixtures are held statically in
tests/unit/analysis/test_annotate.py.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "roundtrip"

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_roundtrip", ROOT / "bench" / "roundtrip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name",
    [
        "steps",  # 6: load -> clean -> features -> train -> evaluate; exploration plain; warm equals cold
        "late_mutation",  # 5: a column added further down does not show up earlier
        "raises",  # 10: the raising line stays a plain cell; the error is the original's
    ],
)
def test_fixture_round_trips(name: str, tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(FIXTURES / f"{name}.ipynb", folder)
    row = _bench().roundtrip(folder / f"{name}.ipynb", tmp_path / "work", timeout=300, twice=False)
    assert row.original == "clean", row
    assert row.check == "clean" or row.check.endswith("warnings"), row
    assert row.cold == "equal", row
    assert row.stages
    assert row.run == "ok, 2nd all cached", row
    assert row.script == "ok", row
    assert row.fingerprints.startswith("equal"), row
    assert row.warm == "equal", row  # a restored stage shows its outputs again (issue 10, item 8)
    assert row.ok, row.reasons
