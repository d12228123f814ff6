"""NBP211 in a real kernel: without ``%load_ext nbpipe`` Run All fails where ``check`` warns; the hint fixes it.

``nbpipe run`` and the script export read the headers themselves and keep working
on such a notebook: only Jupyter needs the magic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from nbpipe.cli import main
from tests.notebooks import write_nb

ROOT = Path(__file__).resolve().parents[2]
CELLS = (
    "import math",
    "%%stage load --out xs\nxs = [1, 4, 9]",
    "%%stage roots --in xs --out rs\nrs = [math.sqrt(x) for x in xs]",
)


@pytest.fixture(autouse=True)
def _kernel_imports_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def run_all(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def nbp211(path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    main(["check", "--format", "json", str(path)])
    return [d for d in json.loads(capsys.readouterr().out)["diagnostics"] if d["code"] == "NBP211"]


def test_check_warns_where_run_all_fails_and_its_hint_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_nb(tmp_path / "bare.ipynb", *CELLS)
    (warning,) = nbp211(path, capsys)
    assert warning["cell"] == 1 and warning["severity"] == "warning"
    with pytest.raises(CellExecutionError, match="Cell magic `%%stage` not found"):
        run_all(path)

    fixed = write_nb(tmp_path / "fixed.ipynb", "%load_ext nbpipe", *CELLS)  # what the hint says
    assert nbp211(fixed, capsys) == []
    outputs = run_all(fixed).cells[-1].outputs
    assert all(o["output_type"] != "error" for o in outputs)


def test_nbpipe_run_and_the_script_export_need_no_magic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_nb(tmp_path / "bare.ipynb", *CELLS)
    assert main(["run", str(path)]) == 0
    script = tmp_path / "bare_pipeline.py"
    assert main(["export", str(path), "--to", "script", "-o", str(script)]) == 0
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
