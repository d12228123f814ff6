"""A plain notebook (no stage) in the sidebar (issue 12 §7), in real Chromium against a real ``jupyter lab``:
its hazards come first, and "Annotate a copy" writes a new notebook with stages and opens it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from playwright.sync_api import Page, expect

from tests.ui.pages import SIDEBAR, open_notebook

if TYPE_CHECKING:
    from tests.ui.conftest import Lab

CELLS = (
    "# Sales",
    "raw = [3, 1, 2]",
    "print(total)",  # NBP208: total is bound only by a later cell
    "ordered = sorted(raw)",
    "total = sum(ordered)",
    "print(total, ordered)",
)


def _plain(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_markdown_cell(CELLS[0]), *(nbformat.v4.new_code_cell(s) for s in CELLS[1:])]
    nbformat.write(nb, str(path))


def test_plain_notebook_shows_hazards_first_and_annotates_a_copy(page: Page, lab: Lab, artifacts: Path) -> None:
    _plain(lab.root / "plain.ipynb")
    before = json.loads((lab.root / "plain.ipynb").read_text())["cells"]
    open_notebook(page, lab, "plain.ipynb")
    hazard = page.locator(f'{SIDEBAR} .jp-nbpipe-hazards .jp-nbpipe-diagnostic[data-code="NBP208"]')
    expect(hazard).to_be_visible(timeout=15_000)
    tutorial = page.locator(f"{SIDEBAR} .jp-nbpipe-empty")
    hazard_box, tutorial_box = hazard.bounding_box(), tutorial.bounding_box()
    assert hazard_box and tutorial_box and hazard_box["y"] < tutorial_box["y"]  # hazards above the tutorial text
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "plain-hazards-and-annotate.png"))
    page.locator(f"{SIDEBAR} .jp-nbpipe-annotate").click()
    copy = lab.root / "plain.staged.ipynb"
    expect(page.locator(".lm-TabBar-tab.jp-mod-current", has_text="plain.staged.ipynb")).to_be_visible(timeout=15_000)
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage").first).to_be_visible(timeout=15_000)
    stages = json.loads(copy.read_text())["cells"]
    assert any("".join(c["source"]).startswith("%%stage") for c in stages)
    # The plain notebook's cells are unchanged (a notebook the kernel made dirty is saved first, as it says).
    assert json.loads((lab.root / "plain.ipynb").read_text())["cells"] == before
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "plain-annotated-copy-opened.png"))
    # A second annotate never replaces the first copy: it takes the next free name.
    open_notebook(page, lab, "plain.ipynb")
    page.locator(f"{SIDEBAR} .jp-nbpipe-annotate").click()
    expect(page.locator(".lm-TabBar-tab.jp-mod-current", has_text="plain.staged-2.ipynb")).to_be_visible(timeout=15_000)
    assert json.loads(copy.read_text())["cells"] == stages
