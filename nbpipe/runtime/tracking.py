"""Log a pipeline run to MLflow (``nbpipe run --mlflow [URI]``, the exported script's ``--mlflow``).

One MLflow run per pipeline run, built from the run record alone: the parameters; numeric scalar
outputs (their summaries' values) as metrics, also those of a stage that failed its ``--check`` gate
(the value that failed it); per-stage ``seconds.STAGE``, ``cpu_seconds.STAGE``
and ``peak_memory.STAGE``; ``--check`` results as ``check.STAGE`` (1 passed, 0 failed) with the
expressions in tags; tags for the notebook path, the git commit, the nbpipe run id, the target,
the status and each stage's key; the run record itself as the artifact ``nbpipe-run.json``.
The experiment is named after the notebook (file name without ``.ipynb``) unless one is given.

MLflow is an optional extra, imported only here and only when asked for: :func:`require` gives a
clear message when it is missing. Logging never fails a run: a tracking failure is one warning.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbpipe.errors import OptionError

#: The tracking URI used when ``--mlflow`` is given without one (and this variable is set).
URI_ENV = "MLFLOW_TRACKING_URI"
#: The experiment of an exported DAG's run when its DAG param is empty (MLflow's own variable).
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
ARTIFACT = "nbpipe-run.json"
_MAX_PARAM = 500  # characters of a parameter value kept (MLflow's limit is higher on recent servers)


@dataclass(frozen=True)
class Tracking:
    """Where to log: the tracking URI and the experiment (None: named after the notebook)."""

    uri: str
    experiment: str | None = None


def add_options(parser: Any, what: str = "log the run to MLflow") -> None:
    """``--mlflow [TRACKING_URI]`` and ``--mlflow-experiment NAME``: nbpipe run, exported scripts, Airflow exports.

    Args:
        parser: the command's parser.
        what: the help of ``--mlflow`` before its default URI.
    """
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="TRACKING_URI",
        help=f"{what} (default URI: ${URI_ENV}), e.g. sqlite:///$PWD/mlflow.db",
    )
    parser.add_argument("--mlflow-experiment", metavar="NAME", help="MLflow experiment (default: the notebook's name)")


def from_args(args: Any) -> Tracking | None:
    """The settings of parsed ``--mlflow``/``--mlflow-experiment`` (checked before the run starts), or None.

    Raises:
        OptionError: ``--mlflow-experiment`` without ``--mlflow``, no URI, or MLflow missing.
    """
    if getattr(args, "mlflow", None) is None:
        if getattr(args, "mlflow_experiment", None):
            raise OptionError("--mlflow-experiment needs --mlflow", hint="add --mlflow [TRACKING_URI]")
        return None
    return resolve(args.mlflow, args.mlflow_experiment)


def resolve(uri: str | None, experiment: str | None = None) -> Tracking:
    """The tracking settings of ``--mlflow [URI]``: the URI given, else ``$MLFLOW_TRACKING_URI``.

    Raises:
        OptionError: no URI anywhere, or MLflow is not installed.
    """
    found = uri or os.environ.get(URI_ENV, "")
    if not found:
        raise OptionError(
            "--mlflow needs a tracking URI",
            hint=f"pass one (--mlflow sqlite:///$PWD/mlflow.db or --mlflow http://host:5000) or set {URI_ENV}",
        )
    require()
    return Tracking(found, experiment)


def require() -> None:
    """Check that MLflow can be imported.

    Raises:
        OptionError: MLflow is missing, with the pip command.
    """
    try:
        import mlflow  # noqa: F401 - here, so that a missing extra stops the run before it starts
    except ImportError:
        raise OptionError(
            "--mlflow needs MLflow, which is not installed", hint="pip install 'jupyter-nbpipe[mlflow]'"
        ) from None


def log_run(
    record: Mapping[str, Any], tracking: Tracking, checks: Mapping[str, Sequence[str]] | None = None
) -> str | None:
    """Log one pipeline run; returns the MLflow run id, or None after one warning if tracking failed.

    Args:
        record: the run record (DESIGN §7).
        tracking: where to log.
        checks: stage -> its ``--check`` expressions (their results are logged).
    """
    try:
        return _log(record, tracking, checks or {})
    except Exception as exc:  # the tracking server, the database, MLflow itself: never the run's fault
        warnings.warn(
            f"nbpipe: the run was not logged to MLflow at {tracking.uri}: {type(exc).__name__}: {exc}; "
            "the run itself is unaffected",
            stacklevel=2,
        )
        return None


def task_tracking(
    uri: str = "", experiment: str = "", exported_uri: str | None = None, exported_experiment: str | None = None
) -> Tracking | None:
    """Where an exported DAG's tracking task logs, decided when it runs (portable, like the store).

    The URI is ``uri`` (a DAG param), else ``$MLFLOW_TRACKING_URI``, else the exported one; the
    experiment is ``experiment``, else ``$MLFLOW_EXPERIMENT_NAME``, else the exported one, else
    the notebook's name. Returns None after one warning when there is no URI or no MLflow:
    a run never fails because it could not be tracked.
    """
    found = uri or os.environ.get(URI_ENV) or exported_uri or ""
    name = experiment or os.environ.get(EXPERIMENT_ENV) or exported_experiment or None
    try:
        if not found:
            raise OptionError(
                "no MLflow tracking URI",
                hint=f"set the DAG param nbpipe_mlflow_uri, or {URI_ENV} where the tasks run, "
                "or export with --mlflow URI",
            )
        return resolve(found, name)
    except OptionError as exc:
        warnings.warn(f"nbpipe: the run is not logged to MLflow: {exc}", stacklevel=2)
        return None


def log_group(data: Mapping[str, Any], group: str, store: str | None, tracking: Tracking) -> str | None:
    """Log the tasks of one orchestrated run (an Airflow DAG run) as one MLflow run.

    Gathers the run records the tasks wrote with ``group`` (:func:`nbpipe.runtime.records.group_records`),
    joins them into one record (:func:`nbpipe.runtime.records.group_record`) and logs it with
    :func:`log_run`; returns the MLflow run id, or None after one warning.

    Args:
        data: the pipeline data embedded in the export (its ``base_dir`` resolved).
        group: the group the tasks wrote into their records.
        store: the store URL the tasks shared (None: the notebook's ``.nbpipe/``).
        tracking: where to log.
    """
    from nbpipe.cache.store import Store
    from nbpipe.runtime.records import group_record, group_records
    from nbpipe.runtime.script_api import plan_from_data

    plan = plan_from_data(data)
    located = Store.for_notebook(plan.notebook, store or None, base_dir=plan.base_dir)
    tasks = group_records(located, plan.notebook, group)
    if not tasks:
        warnings.warn(
            f"nbpipe: the run {group!r} was not logged to MLflow: none of its tasks wrote a run record "
            f"in {located.url}",
            stacklevel=2,
        )
        return None
    record = group_record(tasks, list(plan.order), plan.parents, group)
    return log_run(record, tracking, {name: list(s.header.checks) for name, s in plan.stages.items()})


def experiment_name(record: Mapping[str, Any], tracking: Tracking) -> str:
    """The experiment: the one given, else the notebook's file name without its extension."""
    if tracking.experiment:
        return tracking.experiment
    name = os.path.basename(str(record.get("notebook", ""))) or "nbpipe"
    return name[: -len(".ipynb")] if name.endswith(".ipynb") else name


def _log(record: Mapping[str, Any], tracking: Tracking, checks: Mapping[str, Sequence[str]]) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking.uri)
    name = experiment_name(record, tracking)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = client.create_experiment(name, artifact_location=_artifact_root(tracking.uri, name))
    else:
        experiment_id = experiment.experiment_id
    run = client.create_run(experiment_id, run_name=str(record.get("run_id")), tags=dict(tags(record, checks)))
    run_id = run.info.run_id
    stamp = _millis(record)
    client.log_batch(
        run_id,
        metrics=[Metric(key, value, stamp, 0) for key, value in metrics(record, checks).items()],
        params=[Param(key, value) for key, value in params(record).items()],
    )
    client.log_text(run_id, json.dumps(record, indent=2, default=str), ARTIFACT)
    client.set_terminated(run_id, status="FINISHED" if record.get("status") == "ok" else "FAILED")
    return str(run_id)


def params(record: Mapping[str, Any]) -> dict[str, str]:
    """The run's parameters as MLflow parameters (text, capped)."""
    found = record.get("params")
    return {str(k): json.dumps(v, default=str)[:_MAX_PARAM] for k, v in (found or {}).items()}


def metrics(record: Mapping[str, Any], checks: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Numeric scalar outputs, per-stage seconds, CPU seconds and peak memory, and check results."""
    found: dict[str, float] = {}
    for stage in _stages(record):
        name = str(stage.get("name"))
        for output, info in (stage.get("outputs") or {}).items():
            value = (info.get("summary") or {}).get("value") if isinstance(info, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found[str(output)] = float(value)
        if stage.get("status") == "ran":
            found[f"seconds.{name}"] = float(stage.get("seconds") or 0.0)
            found[f"cpu_seconds.{name}"] = float(stage.get("cpu_seconds") or 0.0)
            if isinstance(stage.get("peak_memory"), int):
                found[f"peak_memory.{name}"] = float(stage["peak_memory"])
        result = _check_result(stage, checks.get(name, ()))
        if result is not None:
            found[f"check.{name}"] = 1.0 if result else 0.0
    return found


def tags(record: Mapping[str, Any], checks: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Provenance: notebook, git commit, nbpipe run id, target, status, stage keys and check expressions."""
    found = {
        "nbpipe.notebook": str(record.get("notebook", "")),
        "nbpipe.run_id": str(record.get("run_id", "")),
        "nbpipe.target": str(record.get("target", "")),
        "nbpipe.status": str(record.get("status", "")),
    }
    if record.get("git_commit"):
        found["nbpipe.git_commit"] = found["mlflow.source.git.commit"] = str(record["git_commit"])
    for stage in _stages(record):
        name = str(stage.get("name"))
        if stage.get("key"):
            found[f"nbpipe.stage_key.{name}"] = str(stage["key"])
        if checks.get(name):
            found[f"nbpipe.check.{name}"] = " and ".join(checks[name])[:_MAX_PARAM]
    return found


def _check_result(stage: Mapping[str, Any], expressions: Sequence[str]) -> bool | None:
    """True if the stage's checks passed, False if one failed, None if it has none or they did not run."""
    if not expressions:
        return None
    if stage.get("status") in ("ran", "cached"):
        return True
    error = str(stage.get("error") or "")  # "check …" (nbpipe run) or "CheckFailed: check …" (exported script)
    return False if error.startswith(("check ", "CheckFailed: ")) else None


def _stages(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    stages = record.get("stages")
    return [s for s in stages if isinstance(s, dict)] if isinstance(stages, list) else []


def _millis(record: Mapping[str, Any]) -> int:
    import datetime as dt

    try:
        return int(dt.datetime.fromisoformat(str(record.get("finished"))).timestamp() * 1000)
    except ValueError:
        return int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)


def _artifact_root(uri: str, experiment: str) -> str | None:
    """Artifacts of a local sqlite store go beside the database (``mlartifacts/``), not into the working directory."""
    if not uri.startswith("sqlite:///"):
        return None  # the server or store decides
    from pathlib import Path

    database = Path(uri[len("sqlite:///") :]).resolve()
    return (database.parent / "mlartifacts" / experiment).as_uri()
