"""nbpipe.ipynb against nbformat: old versions upgrade to the same v4 dict, v4 is written to the same text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v2, v3

from nbpipe.ipynb import dumps, upgrade
from nbpipe.notebook import load, read

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "example_notebooks").glob("*.ipynb"))
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def v3_notebook() -> str:
    """A v3 notebook with every kind of cell and output, as IPython 2 wrote them."""
    cells = [
        v3.new_heading_cell("Title\nover two lines", level=2),
        v3.new_text_cell("markdown", source="Some *text*.\nTwo lines."),
        v3.new_code_cell(
            input="%load_ext nbpipe",
            prompt_number=1,
            collapsed=True,
            metadata={"trusted": True, "tags": ["keep"]},
        ),
        v3.new_code_cell(
            input="%%stage load --out xs\nxs = [1, 2]\nxs",
            prompt_number=2,
            outputs=[
                v3.new_output("stream", output_text="loading\nmore\n", stream="stderr"),
                v3.new_output("pyout", output_text="[1, 2]", output_html="<b>[1, 2]</b>", prompt_number=2),
                v3.new_output("display_data", output_png=PNG, output_json='{"a": 1}', output_svg="<svg>\n</svg>"),
                v3.new_output("pyerr", ename="ValueError", evalue="bad", traceback=["line 1", "line 2"]),
            ],
        ),
        v3.new_text_cell("raw", source="raw text"),
    ]
    nb = v3.new_notebook(name="old", worksheets=[v3.new_worksheet(cells=cells)], metadata={"signature": "sha256:x"})
    return v3.writes_json(nb)


def v2_notebook() -> str:
    """A v2 notebook (IPython 0.12), with an image output."""
    cells = [
        v2.new_text_cell("markdown", source="# Old"),
        v2.new_code_cell(input="x = 1\nx", prompt_number=1, outputs=[v2.new_output("pyout", output_text="1")]),
        v2.new_code_cell(input="plot()", outputs=[v2.new_output("display_data", output_png=PNG.encode())]),
    ]
    return v2.writes_json(
        v2.new_notebook(metadata=v2.new_metadata(name="older"), worksheets=[v2.new_worksheet(cells=cells)])
    )


def without_ids(nb: Any) -> Any:
    """A JSON copy of ``nb`` with the (random) cell ids blanked."""
    copy = json.loads(json.dumps(nb))
    for cell in copy["cells"]:
        assert cell.pop("id")
    return copy


@pytest.mark.parametrize("text", [v3_notebook(), v2_notebook()], ids=["v3", "v2"])
def test_an_old_notebook_upgrades_as_nbformat_upgrades_it(text: str) -> None:
    ours = upgrade(json.loads(text))
    theirs = nbformat.reads(text, as_version=4)
    assert without_ids(ours) == without_ids(theirs)
    assert without_ids(json.loads(dumps(ours))) == without_ids(json.loads(nbformat.writes(theirs)))


def test_upgrade_leaves_its_input_alone_and_gives_unique_ids() -> None:
    data = json.loads(v3_notebook())
    before = json.dumps(data)
    ids = [cell["id"] for cell in upgrade(data)["cells"]]
    assert json.dumps(data) == before
    assert len(set(ids)) == len(ids) == 5


def test_the_read_notebook_of_a_v3_file_is_the_v4_one(tmp_path: Path) -> None:
    old = tmp_path / "old.ipynb"
    old.write_text(v3_notebook(), encoding="utf-8")
    new = tmp_path / "new.ipynb"
    nbformat.write(nbformat.reads(v3_notebook(), as_version=4), new)
    assert _shape(read(old)) == _shape(read(new))
    assert read(old).stage_cells[0].header.name == "load"  # type: ignore[union-attr]


def _shape(nb: Any) -> list[tuple[object, ...]]:
    """What nbpipe reads of each cell (outputs by kind: v4 files keep their text split in lines)."""
    kinds = lambda c: [o["output_type"] for o in c.outputs]
    return [(c.cell_type, c.source, c.tags, c.execution_count, kinds(c), c.header) for c in nb.cells]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_dumps_writes_what_nbformat_writes(path: Path) -> None:
    nb = load(path)
    assert dumps(nb) == nbformat.writes(nbformat.from_dict(nb)) + "\n"


def test_dumps_splits_lines_and_drops_transient_fields_as_nbformat_does() -> None:
    nb = nbformat.reads(v3_notebook(), as_version=4)
    nb.metadata["orig_nbformat"] = 3
    nb.cells[2].metadata["trusted"] = True
    nb.cells[0]["attachments"] = {"a.png": {"image/png": PNG, "text/plain": "one\ntwo\n"}}
    expected = nbformat.writes(nb) + "\n"
    assert dumps(json.loads(json.dumps(nb))) == expected
    assert '"trusted"' not in expected and '"orig_nbformat"' not in expected


def test_dumps_survives_malformed_parts() -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": [], "cells": [3, {"metadata": "x", "source": "a\nb"}]}
    assert json.loads(dumps(nb))["cells"][1]["source"] == ["a\n", "b"]


def test_an_old_notebook_without_worksheets_is_refused_by_name(tmp_path: Path) -> None:
    from nbpipe.errors import NotebookReadError

    path = tmp_path / "broken.ipynb"
    path.write_text('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}}', encoding="utf-8")
    with pytest.raises(NotebookReadError, match=r"broken\.ipynb: not a valid notebook: .*'worksheets'"):
        read(path)


def test_reading_an_old_notebook_never_imports_nbformat(tmp_path: Path) -> None:
    """nbformat's import (its validator: jsonschema and its grammars) cost ~1 s: 17x a v4 check."""
    path = tmp_path / "old.ipynb"
    path.write_text(v3_notebook(), encoding="utf-8")
    code = (
        "import sys\nfrom nbpipe.analysis import analyze\nfrom nbpipe.ipynb import dumps\n"
        f"from nbpipe.notebook import load\ng = analyze({str(path)!r})\ndumps(load({str(path)!r}))\n"
        "assert g.order == ('load',), g.order\nprint(sorted(m for m in sys.modules if m.split('.')[0] "
        "in {'nbformat', 'jsonschema'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _v3_strategy() -> Any:
    from hypothesis import strategies as st

    from tests.unit.test_notebook_fuzz import ANY

    output = st.one_of(
        st.fixed_dictionaries(
            {"output_type": st.one_of(st.sampled_from(["pyout", "display_data", "pyerr", "stream"]), ANY)},
            optional={"text": ANY, "png": ANY, "json": ANY, "metadata": ANY, "prompt_number": ANY, "stream": ANY},
        ),
        ANY,
    )
    cell = st.fixed_dictionaries(
        {"cell_type": st.one_of(st.sampled_from(["code", "markdown", "heading", "html", "raw"]), ANY)},
        optional={
            "input": st.one_of(st.text(max_size=20), st.lists(st.text(max_size=8), max_size=3), ANY),
            "source": st.one_of(st.text(max_size=20), st.lists(st.text(max_size=8), max_size=3), ANY),
            "level": ANY,
            "collapsed": ANY,
            "prompt_number": ANY,
            "metadata": ANY,
            "outputs": st.one_of(st.lists(output, max_size=3), ANY),
        },
    )
    worksheet = st.one_of(st.fixed_dictionaries({"cells": st.one_of(st.lists(cell, max_size=4), ANY)}), ANY)
    return st.fixed_dictionaries(
        {
            "nbformat": st.sampled_from([2, 3]),
            "nbformat_minor": ANY,
            "metadata": st.one_of(st.fixed_dictionaries({"name": ANY, "signature": ANY}), ANY),
            "worksheets": st.one_of(st.lists(worksheet, max_size=2), ANY),
        }
    )


def test_old_notebooks_of_any_shape_read_or_are_refused_clearly() -> None:
    from hypothesis import HealthCheck, example, given, settings

    from nbpipe.analysis import analyze
    from nbpipe.analysis.annotate import propose
    from nbpipe.errors import NotebookReadError

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_v3_strategy())
    @example(  # found by CI: an unhashable output_type was tested for membership in a set
        {
            "nbformat": 2,
            "metadata": None,
            "worksheets": [{"cells": [{"cell_type": "code", "outputs": [{"output_type": []}]}]}],
        }
    )
    @example({"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "outputs": [{"output_type": {}}]}]}]})
    def check(data: dict[str, Any]) -> None:
        text = json.dumps(data)
        try:
            nb = read("old.ipynb", text)
        except NotebookReadError as exc:
            assert exc.message.startswith("old.ipynb: ")
            return
        analyze(nb)
        assert json.loads(dumps(propose(load("old.ipynb", text)).notebook))["nbformat"] == 4

    check()
