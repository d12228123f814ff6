"""The example notebooks run end to end in a real kernel with the ``%%stage`` magic.

Each test copies ``example_notebooks/`` to a temporary folder (so no output file or
cache lands in the repository), executes a notebook there with nbclient in a fresh
``python3`` kernel whose working directory is the copy, and checks real stage
outputs: the values in the kernel, the files the stages wrote, and the stage display
bundles, against results computed directly in the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd  # type: ignore[import-untyped]
import pytest
from nbclient import NotebookClient

from nbpipe.analysis import analyze
from nbpipe.cli import main
from nbpipe.notebook import read
from nbpipe.source import source_hash

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_notebooks"
STAGE_MIME = "application/vnd.nbpipe.stage+json"
IRIS_STAGES = ["load", "split", "scale", "train", "evaluate"]
SALES_STAGES = ["load", "clean", "by_region", "by_month", "report"]


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``example_notebooks/``; kernels started from here import this checkout's nbpipe."""
    copy = tmp_path / "example_notebooks"
    ignore = shutil.ignore_patterns("output", ".nbpipe", ".ipynb_checkpoints", "__pycache__")
    shutil.copytree(EXAMPLES, copy, ignore=ignore)
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    return copy


def execute(path: Path, probe: str = "", allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in a fresh kernel, then ``probe``; raise on a cell error unless allowed."""
    nb = nbformat.read(path, as_version=4)
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(probe, id="test-probe"))
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors, resources=resources).execute()
    return nb


def probe_output(nb: nbformat.NotebookNode) -> str:
    """What the appended probe cell printed."""
    outputs = nb.cells[-1].outputs
    return "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def stage_bundles(nb: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """The last ``application/vnd.nbpipe.stage+json`` bundle of each stage cell, by stage name."""
    bundles: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.startswith("%%stage"):
            continue
        found = [o["data"][STAGE_MIME] for o in cell.outputs if STAGE_MIME in o.get("data", {})]
        assert found, f"stage cell {cell.source.splitlines()[0]!r} published no {STAGE_MIME} bundle"
        bundles[cell.source.split()[1]] = found[-1]
    return bundles


def assert_bundles(path: Path, nb: nbformat.NotebookNode, stages: list[str], status: str) -> dict[str, dict[str, Any]]:
    """Every stage published a bundle with ``status`` and the source hash the analyzer computes."""
    bundles = stage_bundles(nb)
    assert list(bundles) == stages
    hashes = {c.header.name: source_hash(c.header.canonical(), c.body) for c in read(path).stage_cells if c.header}
    for name, bundle in bundles.items():
        assert bundle["stage"] == name
        assert bundle["status"] == status, f"stage {name!r}: {bundle}"
        assert isinstance(bundle["key"], str) and bundle["key"]
        assert bundle["source_hash"] == hashes[name]
        assert isinstance(bundle["seconds"], (int, float)) and bundle["seconds"] >= 0
    return bundles


def direct_iris_accuracy(test_size: float = 0.2, C: float = 1.0, seed: int = 42) -> float:
    """The iris pipeline computed with scikit-learn directly, without nbpipe."""
    from sklearn.datasets import load_iris  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    model = LogisticRegression(C=C, max_iter=500, random_state=seed).fit(scaler.transform(X_train), y_train)
    return float(model.score(scaler.transform(X_test), y_test))


def direct_sales_report(csv_path: Path, min_units: int = 1) -> pd.DataFrame:
    """The regional report computed from the raw CSV with plain pandas, indexed by region."""
    raw = pd.read_csv(csv_path, dtype={"date": str})
    ok = raw[(raw["units"] >= min_units) & (raw["unit_price"] > 0)].copy()  # NaN units compare False
    ok["revenue"] = (ok["units"] * ok["unit_price"]).round(2)
    ok["month"] = ok["date"].str[:7]
    per_month = ok.pivot_table(index="region", columns="month", values="revenue", aggfunc="sum")
    grouped = ok.groupby("region")
    return pd.DataFrame(
        {
            "orders": grouped.size(),
            "units": grouped["units"].sum().astype(int),
            "revenue": grouped["revenue"].sum(),
            "best_month": per_month.idxmax(axis=1),
        }
    )


def test_iris_classifier_runs_every_stage_and_matches_sklearn(examples: Path) -> None:
    path = examples / "iris_classifier.ipynb"
    nb = execute(path, "print(repr(accuracy))")

    accuracy = float(probe_output(nb))
    assert accuracy > 0.8
    assert accuracy == direct_iris_accuracy()
    assert_bundles(path, nb, IRIS_STAGES, "ran")
    explore = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    assert f"test accuracy: {accuracy:.3f}" in explore


def test_iris_classifier_second_kernel_restores_every_stage_from_the_cache(examples: Path) -> None:
    path = examples / "iris_classifier.ipynb"
    first = assert_bundles(path, execute(path, "print(repr(accuracy))"), IRIS_STAGES, "ran")

    nb = execute(path, "print(repr(accuracy))")

    assert float(probe_output(nb)) == direct_iris_accuracy()
    second = assert_bundles(path, nb, IRIS_STAGES, "cached")
    assert {n: b["key"] for n, b in second.items()} == {n: b["key"] for n, b in first.items()}


def test_nbpipe_run_after_the_kernel_restores_every_stage_from_the_kernels_cache(
    examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = examples / "iris_classifier.ipynb"
    kernel = assert_bundles(path, execute(path, "print(repr(accuracy))"), IRIS_STAGES, "ran")
    monkeypatch.chdir(examples)

    assert main(["run", path.name]) == 0

    (record_path,) = (examples / ".nbpipe" / "runs").glob("*.json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert record["status"] == "ok"
    assert [(s["name"], s["status"], s["key"]) for s in record["stages"]] == [
        (name, "cached", kernel[name]["key"]) for name in IRIS_STAGES
    ]


def test_sales_etl_writes_the_report_that_pandas_computes(examples: Path) -> None:
    path = examples / "sales_etl.ipynb"
    nb = execute(path, 'print(summary.to_json(orient="records"))')

    assert_bundles(path, nb, SALES_STAGES, "ran")
    report = pd.read_csv(examples / "output" / "report.csv", dtype={"best_month": str})
    expected = direct_sales_report(examples / "data" / "sales.csv")
    assert sorted(report["region"]) == ["East", "North", "South", "West"]
    assert list(report["region"]) == list(expected["revenue"].sort_values(ascending=False).index)
    for row in report.itertuples(index=False):
        want = expected.loc[row.region]
        assert (row.orders, row.units, row.best_month) == (want["orders"], want["units"], want["best_month"])
        assert row.revenue == pytest.approx(want["revenue"], abs=0.005)
        assert row.share == pytest.approx(want["revenue"] / expected["revenue"].sum(), abs=5e-5)
        assert row.currency == "EUR"
    kernel_summary = pd.DataFrame(json.loads(probe_output(nb)))
    pd.testing.assert_frame_equal(kernel_summary, report, check_dtype=False)


@pytest.mark.parametrize("name", ["iris_classifier", "sales_etl"])
def test_working_examples_are_clean_for_the_analyzer(name: str) -> None:
    graph = analyze(EXAMPLES / f"{name}.ipynb")

    assert [d.to_dict() for d in graph.diagnostics] == []
    assert list(graph.order) == {"iris_classifier": IRIS_STAGES, "sales_etl": SALES_STAGES}[name]


def test_hidden_state_reports_each_documented_hazard_where_the_notes_say() -> None:
    path = EXAMPLES / "hidden_state.ipynb"
    cells = {c.id: i for i, c in enumerate(nbformat.read(path, as_version=4).cells)}
    expected = {
        ("NBP206", "load", cells["hidden-load"], ("data/sales.csv",)),
        ("NBP201", "clean", cells["hidden-clean"], ("raw",)),
        ("NBP202", None, cells["hidden-threshold"], ("threshold",)),
        ("NBP101", "big_orders", cells["hidden-big-orders"], ("threshold",)),
        ("NBP101", "report", cells["hidden-report"], ("sales",)),
        ("NBP208", None, cells["hidden-describe-use"], ("describe",)),
        ("NBP203", None, cells["hidden-describe-def"], ()),
    }

    graph = analyze(path)

    assert {(d.code, d.stage, d.cell, tuple(d.names)) for d in graph.diagnostics} == expected
    documented = set(re.findall(r"NBP\d{3}", read(path).cells[0].source))
    assert documented == {code for code, *_ in expected}


def test_hidden_state_in_the_kernel_fails_the_mutation_and_its_descendants(examples: Path) -> None:
    nb = execute(examples / "hidden_state.ipynb", allow_errors=True)

    cells = {c.id: c for c in nb.cells}
    statuses = {name: bundle["status"] for name, bundle in stage_bundles(nb).items()}
    assert statuses == {"load": "ran", "clean": "failed", "big_orders": "failed", "report": "failed"}
    clean_text = "".join(o.get("text", "") for o in cells["hidden-clean"].outputs)
    assert "NBP201: stage 'clean' changed its input 'raw' in place" in clean_text  # the rule of every target
    assert "needs input 'sales'" in "".join(o.get("text", "") for o in cells["hidden-big-orders"].outputs)
    # the failure cascades: report's undeclared read of 'sales' (NBP101) is flagged by `nbpipe check`
    assert "needs input 'big'" in "".join(o.get("text", "") for o in cells["hidden-report"].outputs)
    (use_error,) = [o for o in cells["hidden-describe-use"].outputs if o["output_type"] == "error"]
    assert (use_error["ename"], "'describe'" in use_error["evalue"]) == ("NameError", True)
