"""``nbpipe debug`` and ``nbpipe lineage`` across notebooks (``--in NAME@NOTEBOOK``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.cli import main
from nbpipe.notebook import read
from nbpipe.runtime.debug import stage_inputs
from nbpipe.runtime.runner import run_notebook
from tests.projects import prep as _prep
from tests.projects import train as _train
from tests.projects import write as _write


def _failing_train(folder: Path) -> Path:
    return _write(
        folder / "train.ipynb",
        "%%stage fit --in features@prep.py --out model\nif sum(features) > 100:\n"
        "    raise ValueError(f'too large: {sum(features)}')\nmodel = sum(features)",
        "%%stage report --in model --out text\ntext = f'model {model}'",
    )


def test_debug_loads_an_input_read_from_another_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path, factor="3")
    train = _failing_train(tmp_path)
    assert main(["run", str(train)]) == 1
    capsys.readouterr()
    assert main(["debug", str(train), "fit", "--no-pdb"]) == 1  # the stage fails again, with the run's input
    assert "ValueError: too large: 135" in capsys.readouterr().err
    values, _ = stage_inputs(read(str(train)), "fit", None)
    assert values["features"] == [x * 3 for x in range(10)]
    _prep(tmp_path, factor="2")
    assert main(["run", str(train)]) == 0
    capsys.readouterr()
    assert main(["debug", str(train), "fit", "--no-pdb"]) == 0
    assert "succeeded with its stored inputs: outputs model" in capsys.readouterr().out


def test_debug_loads_the_value_the_run_read_not_a_later_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    run_id = run_notebook(train).run_id
    _prep(tmp_path, factor="5")
    assert main(["run", str(tmp_path / "prep.py")]) == 0  # prep alone runs later: train's run read factor 2
    values, seen = stage_inputs(read(str(train)), "fit", run_id)
    assert values["features"] == [x * 2 for x in range(10)] and seen == run_id


def test_debug_says_when_the_upstream_entry_is_gone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    assert main(["run", str(train)]) == 0
    assert main(["cache", "clear", str(tmp_path / "prep.py"), "--stage", "featurize"]) == 0
    capsys.readouterr()
    assert main(["debug", str(train), "fit", "--no-pdb"]) == 1
    err = capsys.readouterr().err
    assert "input 'features' of stage 'fit': no run of prep.py before run" in err
    assert "Traceback" not in err


def test_lineage_follows_an_output_into_the_notebook_it_was_read_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    assert main(["run", str(train)]) == 0
    capsys.readouterr()
    assert main(["lineage", str(train), "text"]) == 0
    lines = capsys.readouterr().out.splitlines()
    stages = [line.split()[1] for line in lines if line.startswith("  stage ")]
    assert stages == ["report", "fit", "prep.py:featurize", "prep.py:load"]  # not 'unused': train does not read it
    assert "    input features (from prep.py)" in lines
    assert all("not cached" not in line for line in lines)
