"""Upstream notebooks in the sidebar (issue 13), in real Chromium against a real ``jupyter lab``.

``train.ipynb`` of the forecast example reads ``table@features.py``: the sidebar shows
``features.py`` as one collapsed group with edges to the reading stages, and opens it on
click or Enter.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import REPO
from tests.ui.pages import SIDEBAR, open_notebook

if TYPE_CHECKING:
    from tests.ui.conftest import Lab


def _forecast(lab: Lab, folder: str) -> str:
    """A copy of the forecast example (ingest.ipynb → features.py → train.ipynb) in ``folder``."""
    target = lab.root / folder
    target.mkdir()
    for name in ("ingest.ipynb", "features.py", "train.ipynb"):
        shutil.copy(REPO / "example_notebooks" / "forecast" / name, target / name)
    return f"{folder}/train.ipynb"


def _group(page: Page, notebook: str) -> Locator:
    return page.locator(f'{SIDEBAR} .react-flow__node[data-id="notebook:{notebook}"]')


def _current_tab(page: Page, name: str) -> Locator:
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab.jp-mod-current", has_text=name)


def test_upstream_notebook_is_a_group_that_opens_it(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _forecast(lab, "upstream-click")
    open_notebook(page, lab, name)
    group = _group(page, "features.py")
    expect(group).to_be_visible(timeout=15_000)
    expect(group).to_contain_text("features.py")
    expect(group).to_contain_text("2 stages")
    assert "open it" in (group.locator(".jp-nbpipe-node").get_attribute("title") or "")
    for stage in ("train", "report"):  # an edge from the group to each reading stage, labelled 'table'
        edge = page.locator(f'{SIDEBAR} .react-flow__edge[data-id="notebook:features.py->stage:{stage}"]')
        expect(edge).to_have_count(1)
        expect(edge).to_contain_text("table")
    page.screenshot(path=str(artifacts / "upstream-group.png"))
    group.click()
    expect(_current_tab(page, "features.py")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(artifacts / "upstream-opened.png"))


def test_enter_on_the_group_opens_the_notebook(page: Page, lab: Lab) -> None:
    name = _forecast(lab, "upstream-enter")
    open_notebook(page, lab, name)
    group = _group(page, "features.py")
    expect(group).to_be_visible(timeout=15_000)
    group.focus()
    page.keyboard.press("Enter")
    expect(_current_tab(page, "features.py")).to_be_visible(timeout=15_000)
