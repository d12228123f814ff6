"""Exports never clobber user files: only files nbpipe generated (they carry a marker) are replaced, unless forced.

Every written file goes through a temporary name in the same folder and ``os.replace``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbpipe.cli import main
from nbpipe.errors import ExportError, OutputExistsError
from nbpipe.export import export_notebook
from nbpipe.export.files import PY_MARKER, is_generated, write_text
from tests.notebooks import write_nb

USER_SCRIPT = "# my hand-written pipeline\nprint('mine')\n"


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return write_nb(
        tmp_path / "sales_etl.ipynb",
        "%load_ext nbpipe",
        ("n = 3", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        "%%stage total --in xs --out t\nt = sum(xs)",
    )


def user_notebook(path: Path) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("my notes")])
    nbformat.write(nb, path)
    return path.read_text()


def refused(capsys: Any, path: Path) -> str:
    err = capsys.readouterr().err
    assert f"{str(path)!r} exists and was not written by nbpipe" in err  # the file
    assert "export only overwrites files it generated itself" in err  # the rule
    assert "--force" in err and "-o" in err  # the fix
    return err


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*.tmp")]


def test_default_output_does_not_replace_a_hand_written_script(notebook: Path, capsys: Any) -> None:
    mine = notebook.with_suffix(".py")
    mine.write_text(USER_SCRIPT)
    assert main(["export", str(notebook), "--to", "script"]) == 1  # what the sidebar does: no output path
    refused(capsys, mine)
    assert mine.read_text() == USER_SCRIPT
    assert main(["export", str(notebook), "--to", "script", "--force"]) == 0
    assert mine.read_text().startswith(PY_MARKER + "\n")
    assert no_temp_files(notebook.parent)


def test_output_is_never_the_notebook_itself(notebook: Path, capsys: Any) -> None:
    before = notebook.read_text()
    for flags in ([], ["--force"]):
        assert main(["export", str(notebook), "--to", "script", "-o", str(notebook), *flags]) == 1
        assert "is the notebook itself" in capsys.readouterr().err
    assert notebook.read_text() == before


def test_airflow_does_not_overwrite_a_notebook(notebook: Path, tmp_path: Path, capsys: Any) -> None:
    other = tmp_path / "analysis.ipynb"
    before = user_notebook(other)
    assert main(["export", str(notebook), "--to", "airflow", "-o", str(other)]) == 1
    refused(capsys, other)
    assert other.read_text() == before


def test_re_export_replaces_its_own_files(notebook: Path, tmp_path: Path) -> None:
    for target, name in (("script", "p.py"), ("airflow", "dag.py")):
        out = tmp_path / name
        assert main(["export", str(notebook), "--to", target, "-o", str(out)]) == 0
        assert out.read_text().splitlines()[0] == PY_MARKER and is_generated(str(out))
        os.chmod(out, 0o755)
        assert main(["export", str(notebook), "--to", target, "-o", str(out)]) == 0
        assert os.stat(out).st_mode & 0o777 == 0o755  # the replaced file keeps its mode
    assert no_temp_files(tmp_path)


def test_papermill_folder_keeps_user_notebooks(notebook: Path, tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "pm"
    folder.mkdir()
    mine = folder / "01_load.ipynb"
    before = user_notebook(mine)
    (folder / "notes.txt").write_text("keep me")
    assert main(["export", str(notebook), "--to", "papermill", "-o", str(folder)]) == 1
    refused(capsys, mine)
    assert mine.read_text() == before
    assert not (folder / "pipeline.json").exists()  # refused before writing anything

    mine.rename(folder / "mine.ipynb")
    assert main(["export", str(notebook), "--to", "papermill", "-o", str(folder)]) == 0
    manifest = json.loads((folder / "pipeline.json").read_text())
    assert manifest["generated_by"] == "nbpipe"
    stage_nb = nbformat.read(folder / "01_load.ipynb", as_version=4)
    assert stage_nb.metadata["nbpipe"]["generated"] is True
    assert (folder / "notes.txt").read_text() == "keep me" and (folder / "mine.ipynb").read_text() == before
    assert main(["export", str(notebook), "--to", "papermill", "-o", str(folder)]) == 0  # its own files: fine
    assert no_temp_files(folder)


def test_papermill_re_export_removes_only_its_stale_notebooks(notebook: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pm"
    assert main(["export", str(notebook), "--to", "papermill", "-o", str(folder)]) == 0
    renamed = write_nb(
        notebook,
        "%load_ext nbpipe",
        ("n = 3", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        "%%stage sum_up --in xs --out t\nt = sum(xs)",
    )
    user_notebook(folder / "03_mine.ipynb")
    assert main(["export", str(renamed), "--to", "papermill", "-o", str(folder)]) == 0
    assert sorted(p.name for p in folder.glob("*.ipynb")) == ["01_load.ipynb", "02_sum_up.ipynb", "03_mine.ipynb"]


def test_python_api_refuses_unless_forced(notebook: Path, tmp_path: Path) -> None:
    out = tmp_path / "pipeline.py"
    out.write_text(USER_SCRIPT)
    with pytest.raises(OutputExistsError) as info:
        export_notebook(notebook, "script", out)
    assert isinstance(info.value, ExportError)
    assert out.read_text() == USER_SCRIPT
    export_notebook(notebook, "script", out, overwrite=True)
    assert is_generated(str(out))
    out.write_text(USER_SCRIPT)
    export_notebook(notebook, "script", out, force=True)
    assert is_generated(str(out))


def test_a_folder_is_not_a_script_output(notebook: Path, tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "dir.py").mkdir()
    assert main(["export", str(notebook), "--to", "script", "-o", str(tmp_path / "dir.py"), "--force"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "p.py"
    write_text(str(out), PY_MARKER + "\nold = 1\n", overwrite=False)

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_text(str(out), PY_MARKER + "\nnew = 2\n", overwrite=False)
    assert out.read_text() == PY_MARKER + "\nold = 1\n"
    assert os.listdir(tmp_path) == ["p.py"]


@pytest.mark.parametrize(
    ("content", "generated"),
    [
        (PY_MARKER + "\nx = 1\n", True),
        ("# ruff: noqa: E501\n" + PY_MARKER + "\n", True),
        ("\n" * 6 + PY_MARKER + "\n", False),  # too far down: not a header
        (json.dumps({"generated_by": "nbpipe", "version": 1}), True),
        (json.dumps({"metadata": {"nbpipe": {"generated": True}}, "cells": []}), True),
        (json.dumps({"metadata": {"nbpipe": {"stage": "load"}}, "cells": []}), True),  # exported by nbpipe 0.1
        (json.dumps({"metadata": {}, "cells": []}), False),
        ('{"broken": ', False),
        ("", False),
    ],
)
def test_marker_recognition(tmp_path: Path, content: str, generated: bool) -> None:
    path = tmp_path / "f"
    path.write_text(content)
    assert is_generated(str(path)) is generated
