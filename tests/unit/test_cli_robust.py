"""The command line answers with a message and an exit code, never a traceback (issue 11 §4)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from nbpipe.cli import main
from tests.notebooks import write_nb


class _Gone(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_leaves_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nbpipe graph NB | head``: the pipe closes early; exit 0, no traceback."""
    path = write_nb(tmp_path / "p.ipynb", "%%stage a --out x\nx = 1")
    monkeypatch.setattr(sys, "stdout", _Gone())
    assert main(["graph", str(path)]) == 0


def test_a_store_url_whose_package_is_missing_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("fsspec")
    if subprocess.run([sys.executable, "-c", "import s3fs"], capture_output=True).returncode == 0:
        pytest.skip("s3fs is installed here")
    path = write_nb(tmp_path / "s.ipynb", "%%stage a --out x\nx = 1")
    assert main(["run", str(path), "--store", "s3://bucket/store"]) == 1
    assert "pip install s3fs" in capsys.readouterr().err
