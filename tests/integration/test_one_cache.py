"""One cache for notebook and batch: a stage computed in the kernel is a hit for `nbpipe run`, and back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from nbpipe.cli import main
from nbpipe.model import STAGE_MIME

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_env")]


def kernel_run(path: Path, *extra: str) -> Any:
    nb = nbformat.read(path, as_version=4)
    nb.cells.extend(nbformat.v4.new_code_cell(s) for s in extra)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def statuses(nb: Any) -> dict[str, str]:
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if STAGE_MIME in out.get("data", {}):
                bundle = out["data"][STAGE_MIME]
                found[bundle["stage"]] = bundle["status"]
    return found


def last_record(folder: Path) -> dict[str, Any]:
    return json.loads(sorted((folder / ".nbpipe" / "runs").glob("*.json"))[-1].read_text())


def test_kernel_first_then_batch_is_all_hits(examples: Path) -> None:
    nb = kernel_run(examples / "iris_classifier.ipynb")
    assert set(statuses(nb).values()) == {"ran"}
    assert main(["run", str(examples / "iris_classifier.ipynb")]) == 0
    assert {s["status"] for s in last_record(examples)["stages"]} == {"cached"}


def test_batch_first_then_kernel_restores(examples: Path) -> None:
    assert main(["run", str(examples / "sales_etl.ipynb")]) == 0
    nb = kernel_run(examples / "sales_etl.ipynb")
    assert set(statuses(nb).values()) == {"cached"}


def test_kernel_loads_the_inputs_a_failed_batch_stage_saw(tmp_path: Path) -> None:
    cells = [
        nbformat.v4.new_code_cell("%load_ext nbpipe"),
        nbformat.v4.new_code_cell("%%stage load --out xs\nxs = [5, 0]"),
        nbformat.v4.new_code_cell("%%stage ratio --in xs --out r\nr = xs[0] / xs[1]"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "f.ipynb"
    nbformat.write(nb, path)
    assert main(["run", str(path)]) == 1
    debug = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext nbpipe"),
            nbformat.v4.new_code_cell(f"%nbpipe config notebook={path}"),
            nbformat.v4.new_code_cell("%nbpipe inputs ratio"),
            nbformat.v4.new_code_cell("print(xs)"),
        ]
    )
    debug.metadata = nb.metadata
    NotebookClient(debug, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "loaded xs for stage 'ratio'" in debug.cells[2].outputs[0]["text"]
    assert debug.cells[3].outputs[0]["text"].strip() == "[5, 0]"


def test_instances_of_setup_classes_are_shared_both_ways(tmp_path: Path) -> None:
    """A setup class pickles as __main__.X in the kernel; batch runs must make it the same."""
    from tests.notebooks import write_nb

    path = write_nb(
        tmp_path / "cls.ipynb",
        "%load_ext nbpipe",
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Point:\n    x: int\n    y: int",
        "%%stage make --out p\np = Point(1, 2)",
        "%%stage use --in p --out s\ns = p.x + p.y",
    )
    assert main(["run", str(path), "--jobs", "2"]) == 0
    nb = kernel_run(path, "print(s, type(p).__name__)")
    assert statuses(nb) == {"make": "cached", "use": "cached"}
    assert nb.cells[-1].outputs[0]["text"].strip() == "3 Point"
    (tmp_path / ".nbpipe").rename(tmp_path / "old")
    kernel_run(path)
    assert main(["run", str(path)]) == 0
    assert {s["status"] for s in last_record(tmp_path)["stages"]} == {"cached"}
