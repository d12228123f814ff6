"""Exports of a pipeline across notebooks: one script per notebook, one shared cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbpipe.cli import main
from nbpipe.export import export_notebook
from nbpipe.runtime.runner import run_notebook
from tests.projects import prep, train

ROOT = Path(__file__).resolve().parents[2]


def _script(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NBPIPE_STORE", None)
    return subprocess.run(
        [sys.executable, str(path), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_script_of_a_reader_runs_the_upstream_script_first_in_one_cache(tmp_path: Path) -> None:
    prep(tmp_path)
    reader = train(tmp_path)
    out = tmp_path / "out"
    export_notebook(reader, "script", out / "train_pipeline.py")
    assert sorted(p.name for p in out.iterdir()) == ["prep_pipeline.py", "train_pipeline.py"]
    done = _script(out / "train_pipeline.py")
    assert done.returncode == 0, done.stderr
    assert {r.status for r in run_notebook(reader).stages} == {"cached"}  # the script filled the one store
    prep(tmp_path, factor="3")
    export_notebook(reader, "script", out / "train_pipeline.py")  # nbpipe's own files: replaced
    done = _script(out / "train_pipeline.py")
    assert done.returncode == 0, done.stderr
    assert run_notebook(reader).outputs(["text"]) == {"text": "model 135"}
    assert {r.status for r in run_notebook(reader).stages} == {"cached"}


def test_a_standalone_script_cannot_read_another_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prep(tmp_path)
    reader = train(tmp_path)
    code = main(["export", str(reader), "--to", "script", "--standalone", "-o", str(tmp_path / "s.py")])
    assert code != 0
    assert "cannot run a pipeline across notebooks" in capsys.readouterr().err
    assert not (tmp_path / "s.py").exists()


def test_an_upstream_script_nbpipe_did_not_write_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prep(tmp_path)
    reader = train(tmp_path)
    (tmp_path / "out").mkdir()
    mine = tmp_path / "out" / "prep_pipeline.py"
    mine.write_text("print('my own file')\n")
    assert main(["export", str(reader), "--to", "script", "-o", str(tmp_path / "out" / "train_pipeline.py")]) != 0
    assert "prep_pipeline.py" in capsys.readouterr().err
    assert mine.read_text() == "print('my own file')\n"


def test_papermill_runs_a_notebook_read_back_by_the_one_it_feeds_in_two_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.projects import write

    reader = write(
        tmp_path / "prep.py",
        "%%stage load --out raw\nraw = list(range(10))",
        "%%stage review --in model@train.ipynb --out note\nnote = f'model is {model}'",
    )
    write(tmp_path / "train.ipynb", "%%stage fit --in raw@prep.py --out model\nmodel = sum(raw)")
    folder = tmp_path / "out"
    assert main(["export", str(reader), "--to", "papermill", "-o", str(folder)]) == 0
    capsys.readouterr()
    assert main(["run", str(folder)]) == 0  # prep.py's load, then train.ipynb's fit, then prep.py's review
    out = capsys.readouterr().out
    assert out.index("ran     load") < out.index("ran     fit") < out.index("ran     review")
    again = run_notebook(reader)  # the same keys as nbpipe run, in the one store
    assert {r.name: r.status for r in again.stages} == {
        "prep.py:load": "cached",
        "train.ipynb:fit": "cached",
        "load": "cached",
        "review": "cached",
    }
    assert again.outputs(["note"]) == {"note": "model is 45"}
