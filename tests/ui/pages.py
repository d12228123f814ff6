"""Shared page helpers of the sidebar's browser tests: open a notebook, find cells and nodes, save."""

from __future__ import annotations

import json
import re
import shutil
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator, Page, expect

if TYPE_CHECKING:
    from tests.ui.conftest import Lab

SIDEBAR = "#nbpipe-pipeline"
VISIBLE_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def copy_example(lab: Lab, example: str, name: str) -> str:
    """Copy an example notebook under a fresh name (each test edits its own file)."""
    shutil.copy(lab.root / example, lab.root / name)
    return name


def open_notebook(page: Page, lab: Lab, name: str) -> None:
    """Open ``name`` in Lab with the Pipeline sidebar shown and its graph drawn."""
    page.goto(lab.open_url(name))
    expect(page.locator(f"{VISIBLE_NOTEBOOK} .jp-Cell").first).to_be_visible(timeout=30_000)
    tab = page.locator('li.lm-TabBar-tab[data-id="nbpipe-pipeline"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    expect(page.locator(f"{SIDEBAR} .jp-nbpipe-view")).to_be_visible(timeout=15_000)
    path = page.locator(f"{SIDEBAR} .jp-nbpipe-path")
    expect(path).to_have_text(name, timeout=15_000)  # the sidebar follows this notebook
    done = page.locator(f"{SIDEBAR} .jp-nbpipe-view[data-loading='false']")
    expect(done).to_have_count(1, timeout=30_000)  # its analysis has answered
    error = page.locator(f"{SIDEBAR} .jp-nbpipe-view > .jp-nbpipe-error")  # the analysis failed
    assert not error.count(), f"the sidebar could not analyse {name}: {error.first.inner_text()}"


def node(page: Page, stage: str) -> Locator:
    """The graph node of ``stage``."""
    return page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:{stage}"]')


def cells(page: Page) -> Locator:
    """The cells of the visible notebook."""
    return page.locator(f"{VISIBLE_NOTEBOOK} .jp-Cell")


def active_cell(page: Page) -> int:
    """The index of the visible notebook's active cell."""
    return int(
        page.evaluate(
            """sel => [...document.querySelectorAll(sel + ' .jp-Cell')]
                    .findIndex(c => c.classList.contains('jp-mod-active'))""",
            VISIBLE_NOTEBOOK,
        )
    )


def wait_active(page: Page, index: int) -> None:
    """Wait until cell ``index`` of the visible notebook is the active cell."""
    page.wait_for_function(
        """([sel, i]) => [...document.querySelectorAll(sel + ' .jp-Cell')]
                .findIndex(c => c.classList.contains('jp-mod-active')) === i""",
        arg=[VISIBLE_NOTEBOOK, index],
        timeout=5_000,
    )


def in_command_mode(page: Page) -> bool:
    """True when the visible notebook is in command mode (keys are commands, not text)."""
    return bool(page.locator(f"{VISIBLE_NOTEBOOK}.jp-mod-commandMode").count())


def save_and_read(page: Page, lab: Lab, name: str) -> list[dict[str, Any]]:
    """Save the notebook with Ctrl+S, as a person would, and return its cells from disk."""
    tab = page.locator(".lm-TabBar-tab.jp-mod-current", has_text=name)
    page.keyboard.press("Control+s")
    expect(tab).not_to_have_class(re.compile(r"\bjp-mod-dirty\b"), timeout=10_000)
    return list(json.loads((lab.root / name).read_text())["cells"])


def sources(cells_json: list[dict[str, Any]]) -> list[str]:
    """The source text of each cell."""
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells_json]


def is_dirty(page: Page, name: str) -> bool:
    """True when the notebook's tab shows unsaved changes."""
    tab = page.locator(".lm-TabBar-tab", has_text=name).first
    return "jp-mod-dirty" in (tab.get_attribute("class") or "")
