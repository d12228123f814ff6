"""The details panel of the selected stage (issue 12 §5), in real Chromium against a real ``jupyter lab``.

A real ``nbpipe run`` (a process) writes the run records; the panel and the edges' tooltips show
what they say: types, shapes and sizes of inputs and outputs, the last run, the cache entry, recent runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from tests.ui.pages import SIDEBAR, copy_example, open_notebook

if TYPE_CHECKING:
    from tests.ui.conftest import Lab

IRIS = "iris_classifier.ipynb"


def _own_folder(lab: Lab, folder: str) -> str:
    """A copy of iris in a folder of its own: its store (``folder/.nbpipe``) is not the other tests' store."""
    (lab.root / folder).mkdir()
    return copy_example(lab, IRIS, f"{folder}/details.ipynb")


def _cli_run(lab: Lab, name: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "nbpipe.cli", "run", str(lab.root / name), *args], check=True)


def test_details_panel_shows_types_shapes_sizes_and_runs_after_a_cli_run(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _own_folder(lab, "details-run")
    _cli_run(lab, name)
    _cli_run(lab, name, "-p", "C=0.5")  # a second run: train and evaluate run again
    open_notebook(page, lab, name)
    page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select").select_option("train")
    panel = page.locator(f'{SIDEBAR} .jp-nbpipe-details[data-stage="train"]')
    expect(panel).to_be_visible(timeout=10_000)
    expect(panel.locator(".jp-nbpipe-details-title")).to_contain_text("fresh")
    x_train = panel.locator('li[data-name="X_train_s"] .jp-nbpipe-details-type')
    expect(x_train).to_have_text(re.compile(r"^numpy\.ndarray float64 1\d\d × 4 · \d+(\.\d)? kB$"), timeout=10_000)
    expect(panel.locator('li[data-name="y_train"]')).to_contain_text("numpy.ndarray")
    expect(panel.locator('li[data-name="model"] .jp-nbpipe-details-type')).to_contain_text("LogisticRegression")
    expect(panel.locator(".jp-nbpipe-details-last")).to_have_text(re.compile(r"^Last run: ran in \d+\.\d+ s, "))
    expect(panel.locator(".jp-nbpipe-details-entry")).to_have_text(re.compile(r"^Cache entry: \d+(\.\d)? [kM]?B"))
    runs = panel.locator(".jp-nbpipe-details-runs li")
    expect(runs).to_have_count(2)
    expect(runs.first).to_have_text(re.compile(r"^ran \d+\.\d+ s · .+ · via run$"))
    # An edge's tooltip names the variables it carries with their types and shapes.
    edge = page.locator(f'{SIDEBAR} .react-flow__edge[data-id="edge:scale->train"] title')
    expect(edge).to_have_text(re.compile(r"^X_train_s: numpy\.ndarray float64 1\d\d × 4 · "))
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "details-train-after-cli-run.png"))


def test_details_panel_of_a_stale_stage_says_why(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _own_folder(lab, "details-stale")
    _cli_run(lab, name)
    text = (lab.root / name).read_text().replace("C = 1.0", "C = 0.25")
    (lab.root / name).write_text(text)
    open_notebook(page, lab, name)
    page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select").select_option("evaluate")
    panel = page.locator(f'{SIDEBAR} .jp-nbpipe-details[data-stage="evaluate"]')
    expect(panel.locator(".jp-nbpipe-details-reason")).to_have_text("upstream 'train' is stale", timeout=10_000)
    expect(panel.locator('li[data-name="accuracy"]')).to_contain_text(re.compile(r"float = 0\.\d+"))
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "details-evaluate-stale.png"))
