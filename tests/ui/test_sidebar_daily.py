"""The sidebar a data scientist keeps open all day (issue 12), in real Chromium against a real ``jupyter lab``.

Every check reads what a person sees (the DOM, the saved file on disk), never the extension's internals.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import ARTIFACTS
from tests.ui.pages import (
    SIDEBAR,
    active_cell,
    cells,
    copy_example,
    in_command_mode,
    is_dirty,
    node,
    open_notebook,
    save_and_read,
    sources,
    wait_active,
)

if TYPE_CHECKING:
    from tests.ui.conftest import Lab

HIDDEN = "hidden_state.ipynb"
IRIS = "iris_classifier.ipynb"


def _disk_sources(lab: Lab, name: str) -> list[str]:
    return sources(json.loads((lab.root / name).read_text())["cells"])


def test_diagnostic_click_then_b_inserts_a_cell_below_and_changes_no_source(
    page: Page, lab: Lab, artifacts: Path
) -> None:
    name = copy_example(lab, HIDDEN, "jump-diagnostic.ipynb")
    before = _disk_sources(lab, name)
    open_notebook(page, lab, name)
    diagnostic = page.locator(f'{SIDEBAR} .jp-nbpipe-diagnostic[data-code="NBP101"]').last
    target = int(diagnostic.get_attribute("data-cell") or -1)
    cells(page).nth(1).click()  # start elsewhere, with the notebook focused
    diagnostic.click()
    wait_active(page, target)
    assert in_command_mode(page)
    page.screenshot(path=str(artifacts / "daily-jump-to-diagnostic.png"))
    page.keyboard.press("b")
    expect(cells(page)).to_have_count(len(before) + 1)
    after = sources(save_and_read(page, lab, name))
    assert after == [*before[: target + 1], "", *before[target + 1 :]]


def test_enter_on_a_focused_node_jumps_to_its_cell_and_changes_no_source(page: Page, lab: Lab) -> None:
    name = copy_example(lab, IRIS, "jump-enter.ipynb")
    before = _disk_sources(lab, name)
    open_notebook(page, lab, name)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)
    page.wait_for_timeout(500)
    assert not is_dirty(page, name)  # the example opens clean (its language_info is the kernel's)
    train = node(page, "train")
    expect(train).to_be_visible()
    train.focus()
    page.keyboard.press("Enter")
    target = before.index(next(s for s in before if s.startswith("%%stage train")))
    wait_active(page, target)
    assert active_cell(page) == target
    assert in_command_mode(page)
    page.keyboard.press("Enter")  # a second Enter: now in the notebook, it enters edit mode, types nothing
    page.wait_for_timeout(300)
    assert not is_dirty(page, name)
    assert sources(save_and_read(page, lab, name)) == before


def _stage_title(page: Page, stage: str) -> str:
    return node(page, stage).locator(".jp-nbpipe-stage").get_attribute("title") or ""


def test_an_edit_upstream_turns_downstream_stale_with_the_reason(page: Page, lab: Lab, artifacts: Path) -> None:
    name = copy_example(lab, IRIS, "status-edit.ipynb")
    subprocess.run([sys.executable, "-m", "nbpipe.cli", "run", str(lab.root / name)], check=True, capture_output=True)
    before = _disk_sources(lab, name)
    open_notebook(page, lab, name)
    for stage in ("load", "split", "scale", "train", "evaluate"):  # a CLI run: every node fresh
        expect(node(page, stage).locator(".jp-nbpipe-status-fresh")).to_have_count(1, timeout=15_000)
    split = before.index(next(s for s in before if s.startswith("%%stage split")))
    cells(page).nth(split).locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nn_split = len(X_train)")  # unsaved: the sidebar analyses the live content
    lines = before[split].count("\n") + 2
    expect(node(page, "split").locator(".jp-nbpipe-status-stale")).to_have_count(1, timeout=10_000)
    expect(node(page, "split").locator(".jp-nbpipe-stage")).to_have_attribute(
        "title", re.compile(rf"code changed \(line {lines}\)")
    )
    for stage in ("scale", "train", "evaluate"):
        expect(node(page, stage).locator(".jp-nbpipe-status-stale")).to_have_count(1)
        assert re.search(r"upstream '\w+' is stale", _stage_title(page, stage)), _stage_title(page, stage)
    expect(node(page, "load").locator(".jp-nbpipe-status-fresh")).to_have_count(1)
    expect(node(page, "scale").locator(".jp-nbpipe-stage-reason")).to_contain_text("upstream 'split' is stale")
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "daily-stale-after-upstream-edit.png"))


def test_run_to_here_on_a_failing_stage_shows_that_stage_and_its_traceback(
    page: Page, lab: Lab, artifacts: Path
) -> None:
    """hidden_state's 'clean' changes its input in place: a run to 'report' fails there (NBP201), not at 'report'."""
    name = copy_example(lab, HIDDEN, "run-fails.ipynb")
    before = _disk_sources(lab, name)
    clean = before.index(next(s for s in before if s.startswith("%%stage clean")))
    open_notebook(page, lab, name)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)
    page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select").select_option("report")
    page.locator(f"{SIDEBAR} .jp-nbpipe-run").click()
    report = page.locator(f"{SIDEBAR} .jp-nbpipe-run-report")
    try:
        head = report.locator(".jp-nbpipe-run-head")
        expect(head).to_have_text(
            re.compile(r"^clean failed: 2 stages \(1 ran, 1 failed\) in [\d.]+ s$"), timeout=120_000
        )
        expect(report.locator(".jp-nbpipe-run-error")).to_contain_text("Stage 'clean' failed: NBP201: stage 'clean'")
        expect(report.locator(".jp-nbpipe-hint")).to_contain_text("work on a copy")
        expect(report.locator(".jp-nbpipe-traceback pre")).to_contain_text("NBP201")
        for stage, status in (("load", "ran"), ("clean", "failed"), ("big_orders", "not run"), ("report", "not run")):
            row = report.locator(".jp-nbpipe-run-stage", has_text=re.compile(f"^{stage}")).first
            expect(row.locator(".jp-nbpipe-run-status")).to_have_text(status)
        link = report.locator(".jp-nbpipe-run-goto")
        expect(link).to_have_text(f"Go to cell {clean + 1}")  # JupyterLab's 1-based numbering
    finally:
        page.locator(SIDEBAR).screenshot(path=str(artifacts / "daily-run-to-here-failed.png"))
    link.click()
    wait_active(page, clean)
    assert in_command_mode(page)


OUT_OF_VIEW = """sel => {
    const box = document.querySelector(sel + ' .jp-nbpipe-graph').getBoundingClientRect();
    return [...document.querySelectorAll(sel + ' .react-flow__node-stage')].filter(n => {
        const r = n.getBoundingClientRect();
        return r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
    }).map(n => n.dataset.id);
}"""


def _out_of_view(page: Page) -> list[str]:
    """The stages drawn outside the graph's box (empty when every stage is in view)."""
    return list(page.evaluate(OUT_OF_VIEW, SIDEBAR))


def _wait_all_in_view(page: Page) -> None:
    try:
        page.wait_for_function(f"sel => ({OUT_OF_VIEW})(sel).length === 0", arg=SIDEBAR, timeout=5_000)
    except Exception as exc:
        page.locator(SIDEBAR).screenshot(path=str(ARTIFACTS / "daily-out-of-view.png"))
        width = page.locator(SIDEBAR).bounding_box()["width"]  # type: ignore[index]
        raise AssertionError(f"stages out of view at {width} px: {_out_of_view(page)}") from exc


def _drag_sidebar_to(page: Page, width: int) -> None:
    """Drag the split handle beside the left area, as a person resizes the panel."""
    sidebar = page.locator(SIDEBAR).bounding_box()
    assert sidebar is not None
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:visible").first
    hb = handle.bounding_box()
    assert hb is not None
    x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + width - sidebar["width"], y, steps=8)
    page.mouse.up()
    page.wait_for_function(
        "([sel, w]) => Math.abs(document.querySelector(sel).getBoundingClientRect().width - w) <= 3",
        arg=[SIDEBAR, width],
        timeout=5_000,
    )


def test_resizing_the_panel_320_700_320_keeps_every_stage_in_view(page: Page, lab: Lab, artifacts: Path) -> None:
    name = copy_example(lab, IRIS, "resize.ipynb")
    open_notebook(page, lab, name)
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage")).to_have_count(5)
    for width in (320, 700, 320):
        _drag_sidebar_to(page, width)
        page.wait_for_timeout(300)  # the view follows the resize on the next frame
        _wait_all_in_view(page)
        page.locator(SIDEBAR).screenshot(path=str(artifacts / f"daily-resize-{width}.png"))


def _chain_notebook(path: Path, stages: int) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3 (ipykernel)"}
    nb.cells.append(nbformat.v4.new_code_cell("%load_ext nbpipe"))
    nb.cells.append(nbformat.v4.new_code_cell("%%stage s0 --out v0\nv0 = 0"))
    for i in range(1, stages):
        nb.cells.append(nbformat.v4.new_code_cell(f"%%stage s{i} --in v{i - 1} --out v{i}\nv{i} = v{i - 1} + 1"))
    nbformat.write(nb, str(path))


def test_selecting_stage_77_of_100_brings_it_into_view(page: Page, lab: Lab, artifacts: Path) -> None:
    _chain_notebook(lab.root / "chain100.ipynb", 100)
    open_notebook(page, lab, "chain100.ipynb")
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage")).to_have_count(100, timeout=15_000)
    graph = page.locator(f"{SIDEBAR} .jp-nbpipe-graph")
    target = node(page, "s77")
    assert not _inside_box(graph, target)  # the first view shows the pipeline's start, not stage 77
    page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select").select_option("s77")
    page.wait_for_function(
        """([sel, id]) => {
            const box = document.querySelector(sel + ' .jp-nbpipe-graph').getBoundingClientRect();
            const n = document.querySelector(`${sel} .react-flow__node[data-id="${id}"]`);
            if (!n) return false;
            const r = n.getBoundingClientRect();
            return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
        }""",
        arg=[SIDEBAR, "stage:s77"],
        timeout=5_000,
    )
    expect(target.locator(".jp-nbpipe-selected")).to_have_count(1)
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "daily-select-77-of-100.png"))


def _inside_box(outer: Locator, inner: Locator) -> bool:
    a, b = outer.bounding_box(), inner.bounding_box()
    assert a is not None
    return b is not None and (
        a["x"] <= b["x"] and b["x"] + b["width"] <= a["x"] + a["width"]
        and a["y"] <= b["y"] and b["y"] + b["height"] <= a["y"] + a["height"]
    )  # fmt: skip


def test_export_refuses_to_overwrite_a_hand_written_file_without_confirmation(
    page: Page, lab: Lab, artifacts: Path
) -> None:
    name = copy_example(lab, IRIS, "export-guard.ipynb")
    mine = lab.root / "export-guard.py"  # where the script export goes by default
    mine.write_text("print('my own script')\n")
    open_notebook(page, lab, name)
    page.locator(f"{SIDEBAR} .jp-nbpipe-export-target").select_option("script")
    page.locator(f"{SIDEBAR} .jp-nbpipe-export").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("'export-guard.py' already exists and was not written by nbpipe", timeout=30_000)
    page.screenshot(path=str(artifacts / "daily-export-confirm.png"))
    dialog.get_by_role("button", name="Cancel").click()
    message = page.locator(f"{SIDEBAR} .jp-nbpipe-message-line")
    expect(message).to_have_text("Export cancelled: the existing file was left as it is.")
    assert mine.read_text() == "print('my own script')\n"
    page.locator(f"{SIDEBAR} .jp-nbpipe-export").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Replace").click()
    expect(message).to_have_text("Exported to export-guard.py", timeout=30_000)
    assert "def run(" in mine.read_text()
    message.locator(".jp-nbpipe-written").click()  # the written path is a link that opens the file
    expect(page.locator(".lm-TabBar-tab.jp-mod-current", has_text="export-guard.py")).to_be_visible(timeout=10_000)
