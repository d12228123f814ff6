"""``nbpipe run`` across notebooks (``--in NAME@NOTEBOOK``): upstream first, one store, Merkle keys, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbpipe.cli import main
from nbpipe.notebook import read
from nbpipe.runtime.runner import run_notebook
from nbpipe.runtime.status import notebook_status
from tests.projects import prep as _prep
from tests.projects import train as _train
from tests.projects import write as _write


def _statuses(result: object) -> dict[str, str]:
    return {r.name: r.status for r in result.stages}  # type: ignore[attr-defined]


def test_run_runs_the_upstream_notebook_first_then_restores_it(tmp_path: Path) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    first = run_notebook(train)
    assert first.status == "ok"
    assert _statuses(first) == {
        "prep.py:load": "ran",
        "prep.py:featurize": "ran",  # only what train needs: 'unused' is not run
        "fit": "ran",
        "report": "ran",
    }
    assert first.outputs(["text"]) == {"text": "model 90"}
    again = run_notebook(train)
    assert set(_statuses(again).values()) == {"cached"}
    assert (tmp_path / ".nbpipe").is_dir() and not (tmp_path / "prep" / ".nbpipe").exists()  # one store


def test_an_edit_upstream_makes_the_reader_stale_naming_the_notebook(tmp_path: Path) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    run_notebook(train)
    _prep(tmp_path, factor="3")
    statuses = notebook_status(read(str(train)))
    assert (statuses["fit"].status, statuses["fit"].reason) == (
        "stale",
        "upstream stage 'featurize' of prep.py is stale",
    )
    result = run_notebook(train)
    reasons = {r.name: r.reason for r in result.stages}
    assert reasons["fit"] == "input 'features' from prep.py changed"
    assert result.outputs(["model"]) == {"model": 135}
    assert {s.status for s in notebook_status(read(str(train))).values()} == {"fresh"}


def test_an_upstream_edit_that_keeps_the_output_keeps_the_reader(tmp_path: Path) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    run_notebook(train)
    _prep(tmp_path, body="unused_local = 1\n")  # the code changes, the output does not (Merkle: by fingerprint)
    assert _statuses(run_notebook(train))["fit"] == "cached"


def test_a_failure_upstream_skips_the_readers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path, body="raise ValueError('bad rows')\n")
    train = _train(tmp_path)
    assert main(["run", str(train)]) == 1
    err = capsys.readouterr().err
    assert "stage 'prep.py:featurize' failed: ValueError: bad rows" in err
    result = run_notebook(train)
    records = {r.name: r for r in result.stages}
    assert records["fit"].status == "skipped"
    assert records["fit"].reason == "upstream stage 'featurize' of prep.py failed"
    assert result.status == "failed"  # the reading notebook's run (and its record) did not succeed either
    assert result.record_path is not None and json.loads(Path(result.record_path).read_text())["status"] == "failed"


def test_explain_says_the_upstream_notebook_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    assert main(["run", str(train), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "upstream stage 'featurize' of prep.py will run" in out
    assert not list((tmp_path / ".nbpipe").glob("entries/*/*"))


def test_a_missing_output_is_refused_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    train = _write(tmp_path / "train.ipynb", "%%stage fit --in feature@prep.py --out model\nmodel = sum(feature)")
    assert main(["run", str(train)]) != 0
    err = capsys.readouterr().err
    assert "NBP103" in err and "'feature'" in err and "--in features@prep.py" in err
    assert not (tmp_path / ".nbpipe" / "runs").exists() or not list((tmp_path / ".nbpipe" / "runs").iterdir())


def test_the_run_record_of_each_notebook(tmp_path: Path) -> None:
    _prep(tmp_path)
    result = run_notebook(_train(tmp_path))
    record = json.loads(Path(result.record_path or "").read_text())
    assert record["notebook"].endswith("train.ipynb")
    assert [s["name"] for s in record["stages"]] == ["fit", "report"]
    runs = [json.loads(p.read_text())["notebook"] for p in (tmp_path / ".nbpipe" / "runs").glob("*.json")]
    assert sorted(Path(n).name for n in runs) == ["prep.py", "train.ipynb"]


def test_the_forecast_example_is_its_builders_output_and_checks_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import subprocess
    import sys

    examples = Path(__file__).resolve().parents[2] / "example_notebooks"
    copy = tmp_path / "example_notebooks"
    shutil.copytree(examples, copy, ignore=shutil.ignore_patterns(".nbpipe", "output", "__pycache__"))
    for name in ("ingest.ipynb", "features.py", "train.ipynb"):
        (copy / "forecast" / name).unlink()
    subprocess.run([sys.executable, str(copy / "forecast" / "build_forecast.py")], check=True, timeout=120)
    for name in ("ingest.ipynb", "features.py", "train.ipynb"):
        assert (copy / "forecast" / name).read_bytes() == (examples / "forecast" / name).read_bytes(), name
    assert main(["check", str(copy / "forecast")]) == 0
    result = run_notebook(copy / "forecast" / "train.ipynb")
    assert result.status == "ok" and len(result.stages) == 5
    metrics = result.outputs(["metrics"])["metrics"]
    assert metrics["mae"] < metrics["naive_mae"]  # the model beats a naive forecast on the held-out days


def test_notebooks_may_read_each_other_when_the_stages_do_not_cycle(tmp_path: Path) -> None:
    _write(
        tmp_path / "prep.py",
        "%%stage load --out raw\nraw = list(range(10))",
        "%%stage review --in model@train.ipynb --out note\nnote = f'model is {model}'",
    )
    reader = _write(tmp_path / "train.ipynb", "%%stage fit --in raw@prep.py --out model\nmodel = sum(raw)")
    result = run_notebook(reader)
    assert _statuses(result) == {"prep.py:load": "ran", "fit": "ran"}  # review is not needed by train
    back = run_notebook(tmp_path / "prep.py")  # prep.py runs in two parts around train.ipynb's fit
    assert _statuses(back) == {"prep.py:load": "cached", "train.ipynb:fit": "cached", "load": "cached", "review": "ran"}
    assert back.outputs(["note"]) == {"note": "model is 45"}
