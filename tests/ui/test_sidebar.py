"""The Pipeline sidebar in real Chromium against a real ``jupyter lab`` (see conftest)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from nbpipe import analyze
from nbpipe.notebook import read

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect

    from tests.ui.conftest import Lab

SIDEBAR = "#nbpipe-pipeline"
IRIS = "iris_classifier.ipynb"


def _copy(lab: Lab, name: str) -> str:
    shutil.copy(lab.root / IRIS, lab.root / name)
    return name


def _expected(path: Path) -> tuple[list[str], set[tuple[str, str]]]:
    """Stages and dependencies straight from the ``%%stage`` headers (an oracle independent of the analyzer)."""
    cells = read(path).stage_cells
    stages = [c.header.name for c in cells if c.header]
    producers = {out: c.header.name for c in cells if c.header for out in c.header.outputs}
    edges = {(producers[i], c.header.name) for c in cells if c.header for i in c.header.inputs if i in producers}
    return stages, edges


def _open(page: Page, lab: Lab, name: str) -> None:
    page.goto(lab.open_url(name))
    expect(page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first).to_be_visible(timeout=30_000)
    tab = page.locator('li.lm-TabBar-tab[data-id="nbpipe-pipeline"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    expect(page.locator(f"{SIDEBAR} .jp-nbpipe-graph")).to_be_visible(timeout=15_000)


def _cell(page: Page, index: int):  # type: ignore[no-untyped-def]
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index)


def _active_cell(page: Page) -> int:
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
                    .findIndex(c => c.classList.contains('jp-mod-active'))"""
        )
    )


def test_sidebar_shows_one_node_per_stage_and_one_edge_per_dependency(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _copy(lab, "graph.ipynb")
    stages, edges = _expected(lab.root / name)
    _open(page, lab, name)
    nodes = page.locator(f"{SIDEBAR} .react-flow__node-stage")
    expect(nodes).to_have_count(len(stages))
    drawn = sorted(n.get_attribute("data-id") or "" for n in nodes.all())
    assert drawn == sorted(f"stage:{s}" for s in stages)
    expect(page.locator(f"{SIDEBAR} .react-flow__edge.jp-nbpipe-edge")).to_have_count(len(edges))
    for source, target in edges:
        expect(page.locator(f'{SIDEBAR} .react-flow__edge[data-id="edge:{source}->{target}"]')).to_have_count(1)
    page.screenshot(path=str(artifacts / "sidebar-light.png"))
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "sidebar-only-light.png"))


def _smallest_label_px(page: Page) -> float:
    """The smallest on-screen font size of the graph's labels: CSS font size times the zoom."""
    return float(
        page.evaluate(
            """sel => {
                const root = document.querySelector(sel);
                const zoom = new DOMMatrix(getComputedStyle(root.querySelector('.react-flow__viewport')).transform).a;
                const labels = root.querySelectorAll(['.jp-nbpipe-stage-name', '.jp-nbpipe-stage-meta',
                  '.jp-nbpipe-param', '.jp-nbpipe-file', '.react-flow__edge-text'].join(', '));
                return Math.min(...[...labels].map(l => parseFloat(getComputedStyle(l).fontSize) * zoom));
            }""",
            SIDEBAR,
        )
    )


def _inside(box: FloatRect, b: FloatRect | None) -> bool:
    return b is not None and (
        box["x"] <= b["x"] and b["x"] + b["width"] <= box["x"] + box["width"]
        and box["y"] <= b["y"] and b["y"] + b["height"] <= box["y"] + box["height"]
    )  # fmt: skip


@pytest.mark.parametrize("notebook", [IRIS, "sales_etl.ipynb"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_graph_is_readable_at_the_default_sidebar_width(
    page: Page, lab: Lab, artifacts: Path, notebook: str, theme: str
) -> None:
    stem = notebook.removesuffix(".ipynb")
    name = f"readable-{stem}-{theme}.ipynb"
    shutil.copy(lab.root / notebook, lab.root / name)
    params = {p for s in analyze(lab.root / name).to_dict()["stages"] for p in s["params"]}
    assert params  # both notebooks have parameters: the chips are part of the check
    _open(page, lab, name)
    if theme == "dark":
        _theme(page, "JupyterLab Dark")
        expect(page.locator('body[data-jp-theme-light="false"]')).to_have_count(1, timeout=10_000)
    graph = page.locator(f"{SIDEBAR} .jp-nbpipe-graph")
    expect(graph).to_have_attribute("data-direction", "TB")  # narrow panel: stages in a column
    expect(page.locator(f"{SIDEBAR} .react-flow__edge-text").first).to_be_visible()
    page.wait_for_timeout(500)
    shot = "sidebar-default-width" if notebook == IRIS else f"sidebar-default-width-{stem}"
    page.locator(SIDEBAR).screenshot(path=str(artifacts / f"{shot}-{theme}.png"))
    assert page.locator(SIDEBAR).bounding_box()["width"] >= 300  # type: ignore[index]
    assert _smallest_label_px(page) >= 11
    box = graph.bounding_box()
    assert box is not None
    stages = page.locator(f"{SIDEBAR} .react-flow__node-stage").all()
    chips = page.locator(f"{SIDEBAR} .react-flow__node-param").all()
    assert sorted(c.get_attribute("data-id") or "" for c in chips) == sorted(f"param:{p}" for p in params)
    for node in stages + chips:  # the whole first view: every stage and parameter in the box, none cut off
        assert _inside(box, node.bounding_box()), node.get_attribute("data-id")
    boxes = [b for b in (n.bounding_box() for n in stages) if b]
    left, right = min(b["x"] for b in boxes), max(b["x"] + b["width"] for b in boxes)
    assert abs((left + right) / 2 - (box["x"] + box["width"] / 2)) <= 6  # the stage column is centred
    if theme == "dark":
        _theme(page, "JupyterLab Light")
        expect(page.locator('body[data-jp-theme-light="true"]')).to_have_count(1, timeout=10_000)


def test_undeclared_read_shows_nbp101_and_click_selects_the_cell(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _copy(lab, "typing.ipynb")
    _open(page, lab, name)
    nb = read(lab.root / name)
    scale = next(c for c in nb.stage_cells if c.header and c.header.name == "scale")
    assert "y_test" not in scale.header.inputs  # type: ignore[union-attr]
    expect(page.locator(f'{SIDEBAR} .jp-nbpipe-diagnostic[data-code="NBP101"]')).to_have_count(0)
    editor = _cell(page, scale.index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nn_test = len(y_test)")
    diagnostic = page.locator(f'{SIDEBAR} .jp-nbpipe-diagnostic[data-code="NBP101"]')
    expect(diagnostic.first).to_be_visible(timeout=2_000)
    assert diagnostic.first.get_attribute("data-cell") == str(scale.index)
    expect(page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:scale"] .jp-nbpipe-has-error')).to_have_count(1)
    _cell(page, 1).click()  # move away, then let the diagnostic bring us back
    assert _active_cell(page) == 1
    diagnostic.first.click()
    page.wait_for_function(
        """i => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
                .findIndex(c => c.classList.contains('jp-mod-active')) === i""",
        arg=scale.index,
        timeout=2_000,
    )
    page.screenshot(path=str(artifacts / "sidebar-nbp101.png"))


def test_running_a_stage_turns_it_fresh_and_renders_the_chip(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _copy(lab, "running.ipynb")
    load = next(c for c in read(lab.root / name).stage_cells if c.header and c.header.name == "load")
    _open(page, lab, name)
    expect(page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:load"] .jp-nbpipe-status-fresh')).to_have_count(0)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)  # kernel ready
    _cell(page, 1).click()
    for _ in range(1, load.index + 1):  # run %load_ext, parameters, setup and the load stage, top to bottom
        page.keyboard.press("Shift+Enter")
    chip = _cell(page, load.index).locator(".jp-nbpipe-chip")
    try:
        expect(chip).to_be_visible(timeout=60_000)
    finally:
        page.screenshot(path=str(artifacts / "sidebar-ran-load.png"))
    expect(chip).to_contain_text("load")
    fresh = page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:load"] .jp-nbpipe-status-fresh')
    expect(fresh).to_have_count(1, timeout=5_000)
    page.screenshot(path=str(artifacts / "sidebar-ran-load.png"))


def test_export_writes_a_script(page: Page, lab: Lab) -> None:
    name = _copy(lab, "export.ipynb")
    _open(page, lab, name)
    page.locator(f"{SIDEBAR} .jp-nbpipe-export-target").select_option("script")
    page.locator(f"{SIDEBAR} .jp-nbpipe-export").click()
    message = page.locator(f"{SIDEBAR} .jp-nbpipe-message-line")
    expect(message).to_have_text(re.compile(r"^Exported to \S+\.py$"), timeout=30_000)
    written = Path(message.inner_text().removeprefix("Exported to ").strip())
    script = written if written.is_absolute() else lab.root / written
    assert script.is_file(), script
    text = script.read_text()
    compile(text, str(script), "exec")  # a Python script, not a notebook
    for stage in _expected(lab.root / name)[0]:
        assert stage in text, f"stage {stage} missing from {script}"


def _node_status(page: Page, stage: str) -> str:
    return (
        page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:{stage}"] .jp-nbpipe-stage').get_attribute("class")
        or ""
    )


def test_run_to_here_runs_the_stage_and_its_upstream_in_the_kernel(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _copy(lab, "runto.ipynb")
    stages, edges = _expected(lab.root / name)
    target = "evaluate"
    upstream = {target}
    while True:  # everything `evaluate` depends on, from the headers
        more = {s for s, t in edges if t in upstream} - upstream
        if not more:
            break
        upstream |= more
    assert len(upstream) > 1 and upstream <= set(stages), upstream  # a downstream stage
    _open(page, lab, name)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)  # kernel ready
    for stage in upstream:
        assert "jp-nbpipe-status-fresh" not in _node_status(page, stage)
    # Select the stage with the keyboard: focus its node and press Enter, as a keyboard user would.
    page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:{target}"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select")).to_have_value(target)
    page.locator(f"{SIDEBAR} .jp-nbpipe-run").click()
    message = page.locator(f"{SIDEBAR} .jp-nbpipe-run-head")
    try:
        summary = rf"^{target} done: {len(upstream)} stages \(\d+ (ran|cached)(, \d+ (ran|cached))?\) in [\d.]+ s$"
        expect(message).to_have_text(re.compile(summary), timeout=120_000)
        for stage in upstream:
            fresh = page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:{stage}"] .jp-nbpipe-status-fresh')
            expect(fresh).to_have_count(1, timeout=5_000)
        # Each stage cell shows its status chip, as if it had been run by hand.
        expect(page.locator(".jp-NotebookPanel:visible .jp-nbpipe-chip")).to_have_count(len(upstream))
    finally:
        page.locator(SIDEBAR).screenshot(path=str(artifacts / "sidebar-run-to-evaluate.png"))


def test_layout_restorer_keeps_the_sidebar_open_across_a_reload(page: Page, lab: Lab) -> None:
    name = _copy(lab, "restore.ipynb")
    _open(page, lab, name)
    page.wait_for_timeout(1_500)  # Lab saves the workspace after a short debounce
    page.goto(f"{lab.url}lab/tree/{name}?token={lab.token}")
    tab = page.locator('li.lm-TabBar-tab[data-id="nbpipe-pipeline"]')
    expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"), timeout=30_000)
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage").first).to_be_visible(timeout=15_000)


def _contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio between an element's text colour and its background."""
    return float(
        page.evaluate(
            """sel => {
                const el = document.querySelector(sel);
                const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
                const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
                    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
                    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
                let bg = el; let color = getComputedStyle(el).backgroundColor;
                while (bg && (color === 'rgba(0, 0, 0, 0)' || color === 'transparent')) {
                    bg = bg.parentElement; color = bg ? getComputedStyle(bg).backgroundColor : 'rgb(255,255,255)';
                }
                const a = lum(rgb(getComputedStyle(el).color)); const b = lum(rgb(color));
                return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            }""",
            selector,
        )
    )


def _theme(page: Page, name: str) -> None:
    """Pick a theme from the Settings menu, as a person would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{name}$")).click()


def test_dark_theme_stays_readable(page: Page, lab: Lab, artifacts: Path) -> None:
    name = _copy(lab, "dark.ipynb")
    _open(page, lab, name)
    _theme(page, "JupyterLab Dark")
    expect(page.locator('body[data-jp-theme-light="false"]')).to_have_count(1, timeout=10_000)
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage").first).to_be_visible()
    page.wait_for_timeout(500)  # let the theme's CSS variables settle before measuring
    for selector in (
        f"{SIDEBAR} .jp-nbpipe-stage-name",
        f"{SIDEBAR} .jp-nbpipe-path",
        f"{SIDEBAR} .jp-nbpipe-diagnostic .jp-nbpipe-message",
    ):
        if page.locator(selector).count():
            assert _contrast(page, selector) >= 4.5, selector
    page.screenshot(path=str(artifacts / "sidebar-dark.png"))
    _theme(page, "JupyterLab Light")
    expect(page.locator('body[data-jp-theme-light="true"]')).to_have_count(1, timeout=10_000)


def test_a_batch_run_makes_the_sidebar_fresh_and_an_edit_upstream_makes_it_stale(
    page: Page, lab: Lab, artifacts: Path
) -> None:
    """The sidebar shows the one status function: entries any target wrote count, staleness flows downstream."""
    import json
    import subprocess
    import sys

    name = _copy(lab, "batch.ipynb")
    subprocess.run([sys.executable, "-m", "nbpipe.cli", "run", str(lab.root / name)], check=True, capture_output=True)
    stages, _ = _expected(lab.root / name)
    _open(page, lab, name)
    for stage in stages:
        fresh = page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:{stage}"] .jp-nbpipe-status-fresh')
        expect(fresh).to_have_count(1, timeout=15_000)
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "sidebar-after-batch-run.png"))
    # Change the parameter C on disk and reopen: train reads it, evaluate reads train's output.
    data = json.loads((lab.root / name).read_text())
    for cell in data["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = "".join(cell["source"]).replace("C = 1.0", "C = 0.5")
    (lab.root / name).write_text(json.dumps(data))
    _open(page, lab, name)
    for stage, status in (("split", "fresh"), ("train", "stale"), ("evaluate", "stale")):
        node = page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:{stage}"] .jp-nbpipe-status-{status}')
        expect(node).to_have_count(1, timeout=15_000)
    train = page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:train"] .jp-nbpipe-stage')
    expect(train).to_have_attribute("title", re.compile(r"parameter 'C' 1\.0 → 0\.5"))
    evaluate = page.locator(f'{SIDEBAR} .react-flow__node[data-id="stage:evaluate"] .jp-nbpipe-stage')
    expect(evaluate).to_have_attribute("title", re.compile(r"upstream 'train' is stale"))
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "sidebar-stale-after-parameter-edit.png"))
