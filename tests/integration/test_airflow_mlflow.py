"""``nbpipe export --to airflow --mlflow``: one MLflow run per DAG run (Airflow's ``dag.test()``, a real sqlite store).

Each stage task writes its own run record naming its DAG run; a last task (an Airflow teardown:
run when all are done, not deciding the DAG run's state) gathers them and logs one MLflow run,
read back here with ``MlflowClient``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from tests.conftest import EXAMPLES
from tests.integration.test_airflow import load_module

pytestmark = pytest.mark.slow


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _only_run(client: Any, experiment: str) -> Any:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    (run,) = client.search_runs([found.experiment_id])
    return run


def test_each_dag_run_is_one_mlflow_run_with_params_metrics_and_checks(
    tmp_path: Path, airflow_dags: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    nb = Path(shutil.copy(EXAMPLES / "iris_classifier.ipynb", tmp_path / "iris_classifier.ipynb"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dag_file = airflow_dags / "test_airflow_mlflow_iris.py"
    dag_id = "nbpipe_test_airflow_mlflow_iris"
    args = ["export", str(nb), "--to", "airflow", "-o", str(dag_file), "--dag-id", dag_id, "--mlflow"]
    assert main([*args, "--mlflow-experiment", "iris-dag"]) == 0  # the URI is found when the DAG runs
    text = dag_file.read_text()
    assert "nbpipe_mlflow_uri" in text.split('"""')[1] and str(tmp_path) not in text
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        module = load_module(dag_file)
        ok = module.dag.test()
        monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the second run names the store as a DAG param
        gate = module.dag.test(run_conf={"C": 0.01, "nbpipe_mlflow_uri": uri, "nbpipe_mlflow_experiment": "iris-gate"})
    finally:
        dag_file.unlink()
    assert "success" in str(ok.state).lower()
    assert "failed" in str(gate.state).lower()  # evaluate failed its check: the MLflow task does not hide it
    assert module.MLFLOW_TASK_ID == "nbpipe_mlflow" and module.dag.get_task("nbpipe_mlflow").is_teardown
    client = _client(uri)

    first = _only_run(client, "iris-dag")
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / ".nbpipe" / "runs").glob("*.json"))]
    group = f"airflow:{dag_id}:{ok.run_id}"
    tasks = [r for r in records if r.get("group") == group]
    assert len(tasks) == 5 and {r["target"] for r in tasks} == {"airflow"}  # one record per stage task
    assert first.info.status == "FINISHED" and first.data.tags["nbpipe.run_id"] == group
    assert first.data.params == {"test_size": "0.2", "C": "1.0", "seed": "42"}
    assert first.data.metrics["accuracy"] == pytest.approx(0.9333, abs=1e-3)
    assert first.data.metrics["check.evaluate"] == 1.0 and "seconds.train" in first.data.metrics
    assert first.data.tags["nbpipe.target"] == "airflow"
    assert {n: first.data.tags[f"nbpipe.stage_key.{n}"] for n in ("load", "train", "evaluate")} == {
        r["stages"][-1]["name"]: r["stages"][-1]["key"]
        for r in tasks
        if r["stages"][-1]["name"] in ("load", "train", "evaluate")
    }
    artifact = json.loads(
        Path(client.download_artifacts(first.info.run_id, "nbpipe-run.json", str(tmp_path))).read_text()
    )
    assert sorted(artifact["runs"]) == sorted(r["run_id"] for r in tasks)
    assert [s["status"] for s in artifact["stages"]] == ["ran"] * 5

    second = _only_run(client, "iris-gate")
    assert second.info.status == "FAILED" and second.data.params["C"] == "0.01"
    assert second.data.metrics["accuracy"] == pytest.approx(0.8)  # the value that failed the gate
    assert second.data.metrics["check.evaluate"] == 0.0
    assert "seconds.train" in second.data.metrics and "seconds.load" not in second.data.metrics  # load: cached


def test_a_stage_that_fails_skips_its_readers_in_the_logged_run(
    tmp_path: Path, airflow_dags: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.notebooks import write_nb

    nb = write_nb(
        tmp_path / "broken.ipynb",
        "%load_ext nbpipe",
        ("fail = True", "parameters"),
        "%%stage make --out x\nx = 1\nif fail:\n    raise ValueError('no x today')",
        "%%stage use --in x --out y\ny = x + 1",
        "%%stage other --out z\nz = 3",
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dag_file = airflow_dags / "test_airflow_mlflow_broken.py"
    args = ["export", str(nb), "--to", "airflow", "-o", str(dag_file), "--dag-id", "nbpipe_test_mlflow_broken"]
    assert main([*args, "--mlflow", uri]) == 0
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        dagrun = load_module(dag_file).dag.test()
    finally:
        dag_file.unlink()
    assert "failed" in str(dagrun.state).lower()
    run = _only_run(_client(uri), "broken")
    assert run.info.status == "FAILED" and run.data.metrics["z"] == 3.0
    artifact = json.loads(
        Path(_client(uri).download_artifacts(run.info.run_id, "nbpipe-run.json", str(tmp_path))).read_text()
    )
    stages = {s["name"]: s for s in artifact["stages"]}
    assert stages["make"]["status"] == "failed" and "no x today" in stages["make"]["error"]
    assert stages["use"]["status"] == "skipped" and stages["use"]["reason"] == "upstream stage 'make' failed"
    assert stages["other"]["status"] == "ran"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--to", "script", "--mlflow", "sqlite:///x.db"], 2, "--mlflow applies to --to airflow, not --to script"),
        (["--to", "kubeflow", "--mlflow-experiment", "x"], 2, "--mlflow applies to --to airflow"),
        (["--to", "airflow", "--mlflow-experiment", "x"], 1, "--mlflow-experiment needs --mlflow"),
    ],
)
def test_mlflow_export_options_are_checked(
    tmp_path: Path, capsys: Any, args: list[str], code: int, message: str
) -> None:
    nb = Path(shutil.copy(EXAMPLES / "iris_classifier.ipynb", tmp_path / "iris_classifier.ipynb"))
    assert main(["export", str(nb), "-o", str(tmp_path / "out.py"), *args]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.py").exists()
