"""``nbpipe runs diff`` and ``%nbpipe runs`` on real runs (issue 14 §2, §4); run record fields of minors 1 and 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from IPython.utils.capture import capture_output

from nbpipe.cli import main
from tests.conftest import EXAMPLES
from tests.notebooks import write_nb

pytestmark = pytest.mark.usefixtures("kernel_env")


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((folder / ".nbpipe" / "runs").glob("*.json"))]


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLES / "iris_classifier.ipynb", tmp_path / "iris_classifier.ipynb"))


def test_iris_diff_shows_the_parameter_the_reruns_and_the_accuracy(iris: Path, capsys: Any) -> None:
    """Issue 14's Done-when: run, run -p C=0.01, runs diff --last (accuracy 0.8 fails the gate `accuracy > 0.8`)."""
    assert main(["run", str(iris)]) == 0
    assert main(["run", str(iris), "-p", "C=0.01"]) == 1
    capsys.readouterr()
    assert main(["runs", "diff", "--last", str(iris)]) == 0
    out = capsys.readouterr().out
    assert "C: 1.0 → 0.01" in out
    assert "train     ran → ran  (parameter 'C' 1.0 → 0.01)" in out
    assert "evaluate  ran → failed  (input 'model' changed)" in out
    assert "error: check failed for stage 'evaluate': accuracy > 0.8 (accuracy = 0.8)" in out
    assert "load      ran → cached" in out and "model (train): changed" in out
    assert "accuracy (evaluate): 0.9333 → 0.8; failed the check of 'evaluate'; not cached" in out
    first, second = records(iris.parent)
    capsys.readouterr()  # the same two runs named by id and by a prefix
    assert main(["runs", "diff", first["run_id"], second["run_id"][:20], str(iris), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == {"C": {"before": 1.0, "after": 0.01}}
    stages = {s["name"]: s for s in data["stages"]}
    assert stages["train"]["after"] == "ran" and stages["train"]["reason"].startswith("parameter 'C'")
    assert stages["evaluate"]["after"] == "failed" and stages["split"]["after"] == "cached"
    accuracy = next(o for o in data["outputs"] if o["name"] == "accuracy")
    assert accuracy["value"] == {"before": pytest.approx(0.9333, abs=1e-3), "after": pytest.approx(0.8)}
    assert accuracy["changed"] and accuracy["note"] == "failed the check of 'evaluate'; not cached"


@pytest.mark.parametrize("workers", [["--jobs", "2"], ["--executor", "dask"]], ids=["pool", "dask"])
def test_a_failed_gate_records_its_outputs_and_is_never_a_cache_hit(iris: Path, workers: list[str]) -> None:
    assert main(["run", str(iris), "-p", "C=0.01"]) == 1
    assert main(["run", str(iris), "-p", "C=0.01", *workers]) == 1  # a pool or Dask worker records them too
    first, second = records(iris.parent)
    for record in (first, second):
        evaluate = next(s for s in record["stages"] if s["name"] == "evaluate")
        assert evaluate["status"] == "failed" and evaluate["error"].startswith("check failed")
        (accuracy,) = evaluate["outputs"].values()
        assert accuracy["summary"] == {"type": "float", "value": 0.8} and accuracy["bytes"] == 0
        assert evaluate["seconds"] > 0 and evaluate["cpu_seconds"] >= 0
    assert second["stages"][-1]["outputs"] == first["stages"][-1]["outputs"]  # the same fingerprint
    assert [s["status"] for s in second["stages"]] == ["cached"] * 4 + ["failed"]  # ran again, not a hit
    from nbpipe.cache.store import Store

    assert Store(str(iris.parent / ".nbpipe")).lookup(second["stages"][-1]["key"]) is None


def test_the_exported_script_records_a_failed_gate_outputs(iris: Path) -> None:
    import subprocess
    import sys

    script = iris.parent / "pipeline.py"
    assert main(["export", str(iris), "--to", "script", "-o", str(script)]) == 0
    done = subprocess.run(
        [sys.executable, str(script), "-p", "C=0.01"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1 and "check failed for stage 'evaluate'" in done.stderr
    (record,) = records(iris.parent)
    evaluate = next(s for s in record["stages"] if s["name"] == "evaluate")
    assert record["target"] == "script" and evaluate["status"] == "failed"
    assert evaluate["outputs"]["accuracy"]["summary"] == {"type": "float", "value": 0.8}


def test_papermill_stage_notebooks_record_summaries_and_a_failed_gate_outputs(iris: Path) -> None:
    folder = iris.parent / "papermill"
    assert main(["export", str(iris), "--to", "papermill", "-o", str(folder)]) == 0
    assert main(["run", str(folder), "-p", "C=0.01"]) == 1
    (record,) = records(iris.parent)
    stages = {s["name"]: s for s in record["stages"]}
    assert record["target"] == "papermill" and stages["evaluate"]["status"] == "failed"
    assert stages["evaluate"]["outputs"]["accuracy"]["summary"] == {"type": "float", "value": 0.8}
    assert stages["evaluate"]["outputs"]["accuracy"]["bytes"] == 0
    assert stages["load"]["outputs"]["X"]["summary"] == {"type": "numpy.ndarray", "shape": [150, 4], "dtype": "float64"}
    from nbpipe.cache.store import Store

    assert Store(str(iris.parent / ".nbpipe")).lookup(stages["evaluate"]["key"]) is None  # never a cache hit


def test_records_have_minor_2_resources_and_summaries(iris: Path) -> None:
    assert main(["run", str(iris)]) == 0
    assert main(["run", str(iris)]) == 0
    ran, cached = records(iris.parent)
    assert ran["version"] == 1 and ran["minor"] == 2 and "group" not in ran
    train = next(s for s in ran["stages"] if s["name"] == "train")
    assert isinstance(train["cpu_seconds"], float) and train["cpu_seconds"] > 0
    assert train["peak_memory"] is None or train["peak_memory"] > 10_000_000
    assert train["outputs"]["model"]["summary"]["type"] == "sklearn.linear_model.LogisticRegression"
    load = next(s for s in ran["stages"] if s["name"] == "load")
    assert load["outputs"]["X"]["summary"] == {"type": "numpy.ndarray", "shape": [150, 4], "dtype": "float64"}
    assert {s["status"] for s in cached["stages"]} == {"cached"}
    for before, after in zip(ran["stages"], cached["stages"]):  # a hit carries the summaries of its run
        assert after["cpu_seconds"] == 0.0 and after["peak_memory"] is None
        assert {n: o["summary"] for n, o in after["outputs"].items()} == {
            n: o["summary"] for n, o in before["outputs"].items()
        }


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    return write_nb(
        tmp_path / "frames.ipynb",
        "%load_ext nbpipe",
        "import pandas as pd",
        ("shrink = False", "parameters"),
        "%%stage make --out df\n"
        "df = pd.DataFrame({'a': range(100), 'b': [x * 0.5 for x in range(100)], 'c': ['x'] * 100})\n"
        "if shrink:\n"
        "    df = df.drop(columns='c').iloc[:50]",
        "%%stage count --in df --out rows\nrows = len(df)",
    )


def test_a_frame_losing_a_column_and_half_its_rows(frames: Path, capsys: Any) -> None:
    assert main(["run", str(frames)]) == 0
    assert main(["run", str(frames), "-p", "shrink=True"]) == 0
    capsys.readouterr()
    assert main(["runs", "diff", "--last", str(frames)]) == 0  # without --fail-on: a report, exit 0
    out = capsys.readouterr().out
    assert "shrink: False → True" in out
    assert "df (make): changed; rows 100 → 50 (-50%); schema: column 'c' removed" in out
    assert "drift: column 'a' mean 49.5 → 24.5" in out and "rows (count): 100 → 50" in out
    assert main(["runs", "diff", "--last", str(frames), "--fail-on", "schema"]) == 1
    assert main(["runs", "diff", "--last", str(frames), "--fail-on", "drift", "--drift-threshold", "5"]) == 0
    assert main(["runs", "diff", "--last", str(frames), "--fail-on", "drift"]) == 1
    assert main(["run", str(frames), "-p", "shrink=True"]) == 0  # all cached: nothing changed
    assert main(["runs", "diff", "--last", str(frames), "--fail-on", "schema", "--fail-on", "drift"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--last", "a", "b"], "runs diff takes two run ids"),
        (["onlyone"], "runs diff takes two run ids"),
        (["nope1", "nope2"], "no run record match 'nope1'"),
    ],
)
def test_bad_diff_arguments_are_messages(frames: Path, capsys: Any, args: list[str], message: str) -> None:
    assert main(["run", str(frames)]) == 0
    assert main(["runs", "diff", *args, "--store", str(frames.parent / ".nbpipe")]) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_last_needs_two_runs(frames: Path, capsys: Any) -> None:
    assert main(["run", str(frames)]) == 0
    assert main(["runs", "diff", "--last", str(frames)]) == 1
    assert "--last needs two runs of frames.ipynb" in capsys.readouterr().err


def test_magic_runs_lists_and_diffs(shell: Any, frames: Path) -> None:
    assert main(["run", str(frames)]) == 0
    assert main(["run", str(frames), "-p", "shrink=True"]) == 0
    shell.run_line_magic("nbpipe", f"config notebook={frames}")
    with capture_output() as cap:
        result = shell.run_cell("%nbpipe runs")
    assert result.success, result.error_in_exec
    lines = cap.stdout.strip().splitlines()
    assert len(lines) == 2 and all("ok" in line for line in lines) and lines[1].endswith("shrink: False → True")
    with capture_output() as cap:
        result = shell.run_cell("%nbpipe runs diff --last")
    assert result.success, result.error_in_exec
    assert "shrink: False → True" in cap.stdout and "column 'c' removed" in cap.stdout
    with capture_output() as cap:
        result = shell.run_cell("%nbpipe runs diff --last --fail-on bogus")
    assert type(result.error_in_exec).__name__ == "UsageError"
