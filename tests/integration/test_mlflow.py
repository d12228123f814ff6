"""``nbpipe run --mlflow``: pipeline runs logged to a real MLflow sqlite store, read back with MlflowClient."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs of the iris example logged to one sqlite store (the first use migrates the database)."""
    folder = tmp_path_factory.mktemp("mlflow")
    nb = Path(shutil.copy(EXAMPLES / "iris_classifier.ipynb", folder / "iris_classifier.ipynb"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("NBPIPE_STORE", raising=False)
        codes = [main(["run", str(nb), "--mlflow", uri]), main(["run", str(nb), "-p", "C=0.05", "--mlflow", uri])]
    runs = [json.loads(p.read_text()) for p in sorted((folder / ".nbpipe" / "runs").glob("*.json"))]
    return {"folder": folder, "nb": nb, "uri": uri, "codes": codes, "records": runs}


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_both_runs_are_in_mlflow_with_params_metrics_tags_and_the_record(tracked: dict[str, Any]) -> None:
    assert tracked["codes"] == [0, 0]
    client = _client(tracked["uri"])
    experiment = client.get_experiment_by_name("iris_classifier")
    assert experiment is not None and experiment.artifact_location.startswith(
        (tracked["folder"] / "mlartifacts").as_uri()
    )
    found = {r.data.tags["nbpipe.run_id"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(found) == {r["run_id"] for r in tracked["records"]}
    first, second = (found[r["run_id"]] for r in tracked["records"])
    assert first.data.params == {"test_size": "0.2", "C": "1.0", "seed": "42"} and second.data.params["C"] == "0.05"
    assert first.data.metrics["accuracy"] == pytest.approx(0.9333, abs=1e-3)
    assert second.data.metrics["accuracy"] == pytest.approx(0.8667, abs=1e-3)
    assert first.data.metrics["check.evaluate"] == 1.0 and first.data.tags["nbpipe.check.evaluate"] == "accuracy > 0.8"
    assert {"seconds.train", "cpu_seconds.train", "seconds.load"} <= set(first.data.metrics)
    assert "seconds.load" not in second.data.metrics  # cached in the second run: it cost nothing
    keys = {s["name"]: s["key"] for s in tracked["records"][1]["stages"]}
    assert {n: second.data.tags[f"nbpipe.stage_key.{n}"] for n in keys} == keys
    assert second.data.tags["nbpipe.notebook"].endswith("iris_classifier.ipynb")
    assert first.info.status == "FINISHED" and first.info.run_name == tracked["records"][0]["run_id"]
    artifact = client.download_artifacts(first.info.run_id, "nbpipe-run.json", str(tracked["folder"]))
    assert json.loads(Path(artifact).read_text()) == tracked["records"][0]


def test_a_failed_check_is_logged_as_a_failed_run(tracked: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tracked["folder"])
        assert main(["run", str(tracked["nb"]), "-p", "C=0.01", "--mlflow", tracked["uri"]]) == 1
    run_id = sorted((tracked["folder"] / ".nbpipe" / "runs").glob("*.json"))[-1].stem
    client = _client(tracked["uri"])
    (run,) = client.search_runs(
        [client.get_experiment_by_name("iris_classifier").experiment_id], f"tags.`nbpipe.run_id` = '{run_id}'"
    )
    assert run.info.status == "FAILED" and run.data.metrics["check.evaluate"] == 0.0
    assert run.data.metrics["accuracy"] == pytest.approx(0.8)  # the value that failed the gate
    assert run.data.params["C"] == "0.01" and "seconds.train" in run.data.metrics


def test_experiment_name_from_the_option_and_uri_from_the_environment(
    tracked: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tracked["folder"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracked["uri"])
    assert main(["run", str(tracked["nb"]), "--mlflow", "--mlflow-experiment", "iris-ci"]) == 0
    client = _client(tracked["uri"])
    (run,) = client.search_runs([client.get_experiment_by_name("iris-ci").experiment_id])
    assert run.data.params["C"] == "1.0"


def test_a_tracking_failure_is_one_warning_and_the_run_succeeds(tracked: dict[str, Any], capsys: Any) -> None:
    blocker = tracked["folder"] / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    with pytest.warns(UserWarning, match="the run was not logged to MLflow") as seen:
        assert main(["run", str(tracked["nb"]), "--mlflow", f"sqlite:///{blocker / 'mlflow.db'}"]) == 0
    assert len([w for w in seen if "MLflow" in str(w.message)]) == 1
    assert "run " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--mlflow"], {}, "--mlflow needs a tracking URI"),
        (["--mlflow-experiment", "x"], {}, "--mlflow-experiment needs --mlflow"),
        (["--mlflow", "sqlite:///x.db"], {"mlflow": None}, "pip install 'jupyter-nbpipe[mlflow]'"),
    ],
)
def test_bad_mlflow_options_stop_before_the_run(
    tracked: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any, args: list[str], env: Any, message: str
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name, module in env.items():
        monkeypatch.setitem(sys.modules, name, module)  # None: Python's own "cannot import" marker
    before = len(list((tracked["folder"] / ".nbpipe" / "runs").glob("*.json")))
    assert main(["run", str(tracked["nb"]), *args]) == 2
    assert message in capsys.readouterr().err
    assert len(list((tracked["folder"] / ".nbpipe" / "runs").glob("*.json"))) == before  # nothing ran


@pytest.mark.usefixtures("kernel_env")
def test_the_exported_script_logs_to_mlflow(tracked: dict[str, Any]) -> None:
    import subprocess

    script = tracked["folder"] / "pipeline.py"
    assert main(["export", str(tracked["nb"]), "--to", "script", "-o", str(script)]) == 0
    done = subprocess.run(
        [sys.executable, str(script), "-p", "C=0.5", "--mlflow", tracked["uri"], "--mlflow-experiment", "scripted"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    client = _client(tracked["uri"])
    (run,) = client.search_runs([client.get_experiment_by_name("scripted").experiment_id])
    assert run.data.params["C"] == "0.5" and run.data.tags["nbpipe.target"] == "script"
    assert run.data.metrics["accuracy"] == pytest.approx(0.9333, abs=1e-3)


def test_an_exported_dag_tracking_task_without_a_uri_or_mlflow_is_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nbpipe.runtime.tracking import Tracking, task_tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    with pytest.warns(UserWarning, match=r"no MLflow tracking URI\n  hint: set the DAG param nbpipe_mlflow_uri"):
        assert task_tracking("", "", None, None) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    assert task_tracking("", "", "sqlite:///exported.db", "exported") == Tracking("sqlite:///env.db", "from-env")
    assert task_tracking("sqlite:///param.db", "p", "sqlite:///x.db") == Tracking("sqlite:///param.db", "p")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # Python's own "cannot import" marker
    with pytest.warns(UserWarning, match=r"pip install 'jupyter-nbpipe\[mlflow\]'"):
        assert task_tracking("sqlite:///param.db") is None
