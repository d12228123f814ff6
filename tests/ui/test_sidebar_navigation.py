"""Navigation that scales (issue 12 §4), in real Chromium against a real ``jupyter lab``: search, the selected
stage's upstream and downstream, an overview for large graphs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import FloatRect, Page, expect

from tests.ui.notebooks import chain, fan
from tests.ui.pages import SIDEBAR, copy_example, node, open_notebook

if TYPE_CHECKING:
    from tests.ui.conftest import Lab

IRIS = "iris_classifier.ipynb"


def _classes(page: Page, stage: str) -> str:
    return node(page, stage).get_attribute("class") or ""


def test_selecting_a_stage_highlights_its_upstream_and_downstream(page: Page, lab: Lab, artifacts: Path) -> None:
    name = copy_example(lab, IRIS, "lineage.ipynb")
    open_notebook(page, lab, name)
    page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select").select_option("scale")
    expect(node(page, "load")).to_have_class(_has("jp-nbpipe-upstream"))
    expect(node(page, "split")).to_have_class(_has("jp-nbpipe-upstream"))
    expect(node(page, "train")).to_have_class(_has("jp-nbpipe-downstream"))
    expect(node(page, "evaluate")).to_have_class(_has("jp-nbpipe-downstream"))
    assert "jp-nbpipe-dimmed" not in _classes(page, "scale")
    expect(page.locator(f'{SIDEBAR} .react-flow__edge[data-id="edge:split->scale"]')).to_have_class(
        _has("jp-nbpipe-lineage")
    )
    expect(page.locator(f'{SIDEBAR} .react-flow__edge[data-id="edge:split->train"]')).to_have_class(
        _has("jp-nbpipe-dimmed")  # y_train bypasses scale: not its lineage
    )
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "navigation-lineage-scale.png"))


def test_search_highlights_matching_stages_and_enter_selects_the_first(page: Page, lab: Lab, artifacts: Path) -> None:
    name = copy_example(lab, IRIS, "search.ipynb")
    open_notebook(page, lab, name)
    search = page.locator(f"{SIDEBAR} .jp-nbpipe-search input")
    search.fill("TRA")
    expect(node(page, "train")).to_have_class(_has("jp-nbpipe-match"))
    expect(node(page, "load")).to_have_class(_has("jp-nbpipe-dimmed"))
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "navigation-search-tra.png"))
    search.press("Enter")
    expect(page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select")).to_have_value("train")
    search.press("Escape")
    expect(search).to_have_value("")
    expect(node(page, "train")).not_to_have_class(_has("jp-nbpipe-match"))


def test_large_graphs_have_an_overview_small_ones_do_not(page: Page, lab: Lab, artifacts: Path) -> None:
    chain(lab.root / "overview100.ipynb", 100)
    open_notebook(page, lab, "overview100.ipynb")
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage")).to_have_count(100, timeout=15_000)
    overview = page.locator(f"{SIDEBAR} .react-flow__minimap")
    expect(overview).to_be_visible()
    expect(overview.locator(".react-flow__minimap-node")).to_have_count(100)
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "navigation-overview-100.png"))
    name = copy_example(lab, IRIS, "no-overview.ipynb")
    open_notebook(page, lab, name)
    expect(node(page, "train")).to_be_visible()
    expect(page.locator(f"{SIDEBAR} .react-flow__minimap")).to_have_count(0)


def test_a_100_stage_fan_is_readable_in_the_narrow_sidebar(page: Page, lab: Lab, artifacts: Path) -> None:
    """The 98 parallel stages of a fan-out/fan-in wrap into a grid of the panel's width (see bench/README.md):
    the first view shows about twenty of them at a readable size, and selecting one far down brings it into view."""
    fan(lab.root / "fan100.ipynb", 100)
    open_notebook(page, lab, "fan100.ipynb")
    expect(page.locator(f"{SIDEBAR} .react-flow__node-stage")).to_have_count(100, timeout=15_000)
    expect(node(page, "source")).to_be_visible()
    graph = page.locator(f"{SIDEBAR} .jp-nbpipe-graph").bounding_box()
    assert graph is not None
    assert graph["width"] <= 320
    readable = _readable_in(page, graph, [f"part{i}" for i in range(98)])
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "navigation-fan-100.png"))
    assert len(readable) >= 20, f"only {readable} of the fan are in view at 80 px or wider"
    assert readable == [f"part{i}" for i in range(len(readable))], "the grid reads in notebook order"
    page.locator(f"{SIDEBAR} .jp-nbpipe-stage-select").select_option("part90")
    expect(node(page, "part90")).to_be_in_viewport()
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "navigation-fan-100-part90.png"))


def _readable_in(page: Page, graph: FloatRect, stages: list[str]) -> list[str]:
    """The stages drawn wholly inside the graph box and at least 80 px wide on screen."""
    shown = []
    for stage in stages:
        box = node(page, stage).bounding_box()
        if box is None or box["width"] < 80:
            continue
        inside = graph["x"] <= box["x"] and box["x"] + box["width"] <= graph["x"] + graph["width"]
        if inside and graph["y"] <= box["y"] and box["y"] + box["height"] <= graph["y"] + graph["height"]:
            shown.append(stage)
    return shown


def _has(cls: str):  # type: ignore[no-untyped-def]
    import re

    return re.compile(rf"(^|\s){re.escape(cls)}(\s|$)")
