"""Exports of hostile notebooks (issue 11 §4): stage names thousands of characters long, parameters
that are bytes, ``1e309`` (inf), tuples, complex numbers and sets. The papermill pipeline and the
script run in real kernels and processes and mean what ``nbpipe run`` means (they share its cache)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from nbpipe.errors import HeaderError
from nbpipe.export.papermill import stage_file
from nbpipe.header import parse_header
from nbpipe.runtime.runner import run_notebook
from tests.notebooks import write_nb

pytestmark = [pytest.mark.slow, pytest.mark.kernel, pytest.mark.usefixtures("kernel_env")]

LONG = "stage_" + "x" * 3000  # a legal identifier: the grammar bounds no name's length
PARAMS = "b = b'\\x00\"q\"\\n'\nf = 1e309\ng = -1e309\nt = (1, (2,), 'three')\nz = 1j\ns = {1, 2}\nk = {(1, 2): [b'']}"
EXPECTED = {"b": b'\x00"q"\n', "f": float("inf"), "g": float("-inf"), "t": (1, (2,), "three"), "z": 1j, "s": {1, 2}}


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return write_nb(
        tmp_path / "hostile.ipynb",
        "%load_ext nbpipe",
        (PARAMS, "parameters"),
        f"%%stage {LONG} --out values\nvalues = dict(b=b, f=f, g=g, t=t, z=z, s=s, k=k)",
        f"%%stage {LONG[:-1]}y --in values --out kinds\nkinds = sorted(type(v).__name__ for v in values.values())",
    )


def test_a_long_identifier_is_a_legal_stage_name_and_files_stay_bounded() -> None:
    assert parse_header(f"{LONG} --out x").name == LONG
    with pytest.raises(HeaderError, match="is not a Python identifier"):  # names must be identifiers, any length
        parse_header(f"{LONG}-y --out x")
    first, second = stage_file(1, LONG), stage_file(2, LONG[:-1] + "y")
    assert len(first.encode()) < 120 and first.startswith("01_stage_xxx") and first.endswith(".ipynb")
    assert first[3:] != second[3:]  # the hash of the whole name tells names with one beginning apart
    wide = "é" * 200  # two bytes each: cut on a character boundary
    assert len(stage_file(3, wide).encode()) < 120 and stage_file(3, wide).encode().decode() == stage_file(3, wide)
    assert stage_file(4, "load") == "04_load.ipynb"


def test_papermill_pipeline_runs_and_shares_the_notebook_cache(hostile: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pm"
    assert main(["export", str(hostile), "--to", "papermill", "-o", str(folder)]) == 0
    manifest = json.loads((folder / "pipeline.json").read_text())  # strict JSON: no Infinity, no bytes
    json.dumps(manifest, allow_nan=False)
    assert all(len(name.encode()) < 120 for name in manifest["notebooks"].values())
    assert main(["run", str(folder)]) == 0
    again = run_notebook(hostile)  # the batch run hits what the papermill kernels stored: the same keys
    assert {r.status for r in again.stages} == {"cached"}
    values = again.outputs(["values"])["values"]
    assert {name: values[name] for name in EXPECTED} == EXPECTED and values["k"] == {(1, 2): [b""]}


def test_papermill_refuses_an_override_it_would_pass_as_a_string(hostile: Path, tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "pm"
    assert main(["export", str(hostile), "--to", "papermill", "-o", str(folder)]) == 0
    assert main(["run", str(folder), "-p", "b=!!binary aGk="]) == 2  # YAML's bytes
    err = capsys.readouterr().err
    assert "parameter 'b'" in err and "papermill cannot pass bytes b'hi'" in err and "Traceback" not in err


def test_script_runs_and_shares_the_notebook_cache(hostile: Path, tmp_path: Path) -> None:
    script = tmp_path / "hostile_pipeline.py"
    assert main(["export", str(hostile), "--to", "script", "-o", str(script)]) == 0
    compile(script.read_text(), str(script), "exec")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    again = run_notebook(hostile)
    assert {r.status for r in again.stages} == {"cached"}
    assert again.outputs(["kinds"])["kinds"] == sorted(["bytes", "float", "float", "tuple", "complex", "set", "dict"])
