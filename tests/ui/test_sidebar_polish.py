"""Polish with measurable cost (issue 12 §9), in real Chromium against a real ``jupyter lab``: analyze requests
without outputs, one tab stop for the graph and one for the diagnostics, key bindings for the sidebar's commands."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Page, Request, expect

from tests.ui.pages import SIDEBAR, VISIBLE_NOTEBOOK, copy_example, node, open_notebook

if TYPE_CHECKING:
    from tests.ui.conftest import Lab

IRIS = "iris_classifier.ipynb"
HIDDEN = "hidden_state.ipynb"
#: A figure as a notebook stores it: ~400 kB of base64 PNG.
FIGURE = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1200).decode()


def _with_figures(lab: Lab, name: str) -> int:
    """Give every code cell of ``name`` a figure output, as a notebook with plots has; return the file size."""
    path = lab.root / name
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "display_data", "data": {"image/png": FIGURE}, "metadata": {}}]
    path.write_text(json.dumps(data))
    return path.stat().st_size


def test_analyze_requests_carry_sources_and_metadata_but_no_outputs(page: Page, lab: Lab, artifacts: Path) -> None:
    name = copy_example(lab, IRIS, "figures.ipynb")
    size = _with_figures(lab, name)
    sent: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.split("?")[0].endswith("/nbpipe/api/analyze") and "content" in (request.post_data or ""):
            sent.append(request.post_data or "")

    page.on("request", on_request)
    open_notebook(page, lab, name)
    expect(node(page, "train")).to_be_visible(timeout=15_000)
    editor = page.locator(f"{VISIBLE_NOTEBOOK} .jp-CodeCell").last.locator(".cm-content")
    editor.click()
    page.keyboard.press("End")
    with page.expect_request(lambda r: "# edited" in (r.post_data or ""), timeout=10_000):
        page.keyboard.type("  # edited")  # the sidebar analyses the unsaved content after a pause
    body = json.loads(sent[-1])
    assert "# edited" in "".join("".join(c["source"]) for c in body["content"]["cells"])
    assert "image/png" not in sent[-1]
    assert all(not c.get("outputs") for c in body["content"]["cells"])
    assert body["content"]["metadata"]["kernelspec"]["name"] == "python3"
    print(f"analyze request: {len(sent[-1].encode())} bytes for a {size} byte notebook with figures")
    assert len(sent[-1].encode()) * 20 < size


def test_the_graph_and_the_diagnostics_are_one_tab_stop_each(page: Page, lab: Lab) -> None:
    name = copy_example(lab, HIDDEN, "roving.ipynb")
    open_notebook(page, lab, name)
    expect(page.locator(f"{SIDEBAR} .jp-nbpipe-diagnostic").first).to_be_visible(timeout=15_000)
    stops = page.evaluate(
        """sel => [...document.querySelectorAll(sel + ' .react-flow__node, ' + sel + ' .react-flow__edge, '
                   + sel + ' .jp-nbpipe-diagnostic')].filter(e => e.tabIndex >= 0).map(e => e.className)""",
        SIDEBAR,
    )
    assert len(stops) == 2, stops  # one node, one diagnostic: no edge, no other node, no other diagnostic
    first = page.locator(f"{SIDEBAR} .react-flow__node[tabindex='0']")
    first_id = first.get_attribute("data-id")
    first.focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("() => document.activeElement.getAttribute('data-id')")
    assert focused and focused != first_id and focused.startswith("stage:"), (first_id, focused)
    expect(page.locator(f"{SIDEBAR} .react-flow__node[tabindex='0']")).to_have_attribute("data-id", focused)
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.getAttribute('data-id')") == first_id
    diagnostics = page.locator(f"{SIDEBAR} .jp-nbpipe-diagnostic")
    if diagnostics.count() > 1:
        diagnostics.first.focus()
        page.keyboard.press("ArrowDown")
        expect(diagnostics.nth(1)).to_be_focused()
        expect(diagnostics.nth(1)).to_have_attribute("tabindex", "0")
        expect(diagnostics.first).to_have_attribute("tabindex", "-1")


def test_key_bindings_show_the_sidebar_and_check(page: Page, lab: Lab) -> None:
    name = copy_example(lab, IRIS, "keys.ipynb")
    open_notebook(page, lab, name)
    page.locator('li.lm-TabBar-tab[data-id="filebrowser"]').click()
    expect(page.locator(SIDEBAR)).to_be_hidden()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+Y")
    expect(page.locator(SIDEBAR)).to_be_visible(timeout=5_000)
    page.keyboard.press("Control+Alt+C")
    expect(page.locator(f"{SIDEBAR} .jp-nbpipe-message-line")).to_have_text(
        re.compile(r"^Check: 5 stages, no problems$"), timeout=10_000
    )
