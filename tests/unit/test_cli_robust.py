"""The command line answers with a message and an exit code, never a traceback (issue 11 §4)."""

from __future__ import annotations

import io
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
    """fsspec knows the protocol but not its package (as s3:// without s3fs): the message names the package."""
    import fsspec

    fsspec.register_implementation(
        "nbpipemissing", "nbpipe_no_such_module.FS", clobber=True, errtxt="Install nbpipe-missing to access it"
    )
    path = write_nb(tmp_path / "s.ipynb", "%%stage a --out x\nx = 1")
    assert main(["run", str(path), "--store", "nbpipemissing://bucket/store"]) == 1
    err = capsys.readouterr().err
    assert "needs a package that is not installed: Install nbpipe-missing" in err and "Traceback" not in err
