"""``--in NAME@NOTEBOOK``: one graph across notebooks, its diagnostics, ``nbpipe check/graph`` of several notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbpipe.analysis.project import analyze_project
from nbpipe.cli import main
from nbpipe.errors import HeaderError
from nbpipe.header import parse_header
from tests.projects import write


def _prep(folder: Path, name: str = "prep.ipynb") -> Path:
    return write(
        folder / name,
        "%%stage load --out raw\nraw = list(range(10))",
        "%%stage featurize --in raw --out features\nfeatures = [x * 2 for x in raw]",
    )


def _train(folder: Path, header: str = "--in features@prep.ipynb") -> Path:
    return write(folder / "train.ipynb", f"%%stage fit {header} --out model\nmodel = sum(features)")


def test_grammar_keeps_the_notebook_of_an_input() -> None:
    header = parse_header("fit --in features@../prep/prep.ipynb y --out model")
    assert header.inputs == ("features", "y")
    assert header.notebook_inputs == (("features", "../prep/prep.ipynb"),)
    assert parse_header(header.canonical()) == header
    with pytest.raises(HeaderError, match=r"'prep\.csv' is not a notebook path"):
        parse_header("fit --in features@prep.csv --out model")


def test_one_graph_across_notebooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = _train(tmp_path)
    _prep(tmp_path)
    project, unreadable = analyze_project([str(train)])
    assert unreadable == []
    assert [(link.source, link.target, link.name) for link in project.links] == [("featurize", "fit", "features")]
    prep = str(tmp_path / "prep.ipynb")
    assert project.dag.order == (f"{prep}::load", f"{prep}::featurize", f"{train}::fit")
    assert main(["check", str(train)]) == 0
    assert capsys.readouterr().out == f"{train}: clean (1 stage)\n{prep}: clean (2 stages)\n"


def test_upstream_percent_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path, "prep.py")
    train = _train(tmp_path, "--in features@prep.py")
    assert main(["check", str(train)]) == 0
    assert f"{tmp_path / 'prep.py'}: clean (2 stages)" in capsys.readouterr().out


def test_missing_notebook_is_nbp103_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = _train(tmp_path, "--in features@nope.ipynb")
    assert main(["check", str(train)]) == 1
    out = capsys.readouterr().out
    assert f"{train}:cell 2:1:0: NBP103 error stage 'fit' reads 'features' from notebook 'nope.ipynb" in out
    assert f"({tmp_path / 'nope.ipynb'})', which cannot be read" in out and "no such file" in out
    assert f"relative to the folder of {train}" in out


def test_missing_output_is_nbp103_at_the_reading_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    train = _train(tmp_path, "--in model_weights@prep.ipynb")
    assert main(["check", str(train)]) == 1
    out = capsys.readouterr().out
    assert "NBP103 error stage 'fit' reads 'model_weights' from notebook 'prep.ipynb', but no stage of" in out
    assert "'prep.ipynb' outputs 'raw', 'features'" in out


def test_renamed_output_upstream_names_the_new_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    assert main(["check", str(train)]) == 0
    capsys.readouterr()
    prep = tmp_path / "prep.ipynb"
    prep.write_text(prep.read_text().replace("features", "feature_table"))  # renamed upstream
    assert main(["check", str(train), "--format", "json"]) == 1
    reader = json.loads(capsys.readouterr().out)[0]
    assert reader["notebook"] == str(train)
    (found,) = reader["diagnostics"]
    assert (found["code"], found["stage"], found["cell"]) == ("NBP103", "fit", 1)
    assert "was it renamed? stage 'featurize' of 'prep.ipynb' outputs 'feature_table'" in found["hint"]
    assert "--in feature_table@prep.ipynb" in found["hint"]


def test_cycle_across_notebooks_is_nbp106_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write(tmp_path / "one.ipynb", "%%stage a --in y@two.ipynb --out x\nx = y + 1")
    write(tmp_path / "two.ipynb", "%%stage b --in x@one.ipynb --out y\ny = x + 1")
    assert main(["check", str(one)]) == 1
    out = capsys.readouterr().out
    two = tmp_path / "two.ipynb"
    assert f"NBP106 error the stage graph across notebooks has a cycle: {one}:a -> {two}:b -> {one}:a" in out


def test_check_and_graph_take_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prep(tmp_path)
    _train(tmp_path)
    (tmp_path / "helpers.py").write_text("def f():\n    return 1\n")  # not a percent script: not a notebook
    assert main(["check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("clean") == 2 and "helpers" not in out
    assert main(["graph", str(tmp_path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [Path(g["notebook"]).name for g in doc["notebooks"]] == ["prep.ipynb", "train.ipynb"]
    assert [(k["source"], k["target"], k["names"]) for k in doc["links"]] == [("featurize", "fit", ["features"])]
    assert [s for _, s in doc["order"]] == ["load", "featurize", "fit"]
    assert main(["graph", str(tmp_path / "train.ipynb"), "--format", "mermaid"]) == 0
    assert '-.->|"features"|' in capsys.readouterr().out


def test_a_target_that_cannot_run_across_notebooks_refuses_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    assert main(["run", str(train)]) == 0
    out = tmp_path / "train_standalone.py"
    assert main(["export", str(train), "--to", "script", "--standalone", "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "stage 'fit' reads 'features' from notebook 'prep.ipynb'" in err and "cannot run a pipeline across" in err
    assert f"nbpipe run {train}" in err


def test_a_recheck_analyses_only_the_notebook_that_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbpipe.analysis import project

    _prep(tmp_path)
    train = _train(tmp_path)
    analyze_project([str(tmp_path)])
    analysed: list[str] = []
    real = project.analyze
    monkeypatch.setattr(project, "analyze", lambda path, *rest: analysed.append(str(path)) or real(path, *rest))
    assert analyze_project([str(tmp_path)])[0].links  # unchanged bytes: nothing analysed again
    assert analysed == []
    _train(tmp_path, "--in feature@prep.ipynb")  # the reader changes: it alone is analysed, and NBP103 appears
    found, _ = analyze_project([str(tmp_path)])
    assert analysed == [str(train)]
    assert [d.code for d in found.graph(str(train)).errors] == ["NBP103"]
