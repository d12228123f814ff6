"""Re-analysis with warm caches gives exactly what a cold analysis gives, edit after edit.

The analyzer memoises per-cell def/use, stages, edges and topological orders across
calls. These tests edit notebooks (one cell at a time, as the sidebar does, and
also inserting and deleting cells) and compare each warm result with the result
of :func:`analyze` after :func:`clear_caches`.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from nbpipe.analysis import analyze, clear_caches, incremental
from nbpipe.model import Graph
from nbpipe.notebook import Cell, Notebook, read
from nbpipe.source import split_stage
from tests.analysis_notebooks.build import CellSpec, notebook
from tests.analysis_notebooks.cases import CLEAN, NEAR_MISSES, TRIGGERS
from tests.analysis_notebooks.plain import PLAIN

BASES: list[list[CellSpec]] = [
    *TRIGGERS.values(),
    *CLEAN.values(),
    *(cells for cells, _ in NEAR_MISSES.values()),
    *(cells for cells, _ in PLAIN.values()),
]

#: Snippets chosen to move names between cells, roles and stages.
SNIPPETS = [
    "later = 1",
    "print(later)",
    "raw = 5",
    "raw.append(1)",
    "n = 11",
    "import numpy as np",
    "SCALE = 3",
    "def helper(xs):\n    return [x * late_global for x in xs]",
    "late_global = 2",
    "out = helper([1])",
    "from os.path import *",
    "%run other.py",
    "x = (1,",
    "df = pd.read_csv('data/in.csv')",
    "%%stage extra --in raw --out raw2\nraw2 = raw",
    "%%stage load --out raw\nraw = [1, 2]",
    "%%stage load --in raw --out total\ntotal = sum(raw) + SCALE",
    "%%stage report --in total\nprint(total, later)",
    "%%stage bad name\nx = 1",
    "def f():\n    return later",
    "y = f()",
    "cleaned = raw",
    "unused_here = 1",
    "",
]


def _with_source(cell: Cell, source: str) -> Cell:
    """``cell`` with a new source, its header and body re-read the way ``read`` does."""
    fresh = read("edit.ipynb", notebook(source)).cells[0]
    return replace(cell, cell_type="code", source=source, header=fresh.header,
                   header_error=fresh.header_error, body=fresh.body)  # fmt: skip


def _renumbered(nb: Notebook, cells: list[Cell]) -> Notebook:
    return replace(nb, cells=tuple(replace(c, index=i) if c.index != i else c for i, c in enumerate(cells)))


def edit(nb: Notebook, op: str, where: int, snippet: str) -> Notebook:
    """One edit: append a line to a cell, replace its source, insert or delete a cell, or re-run it."""
    cells = list(nb.cells)
    if not cells:
        op = "insert"
    at = where % max(len(cells), 1)
    if op == "append":
        cells[at] = _with_source(cells[at], (cells[at].source + "\n" + snippet).strip("\n"))
    elif op == "replace":
        cells[at] = _with_source(cells[at], snippet)
    elif op == "insert":
        cells.insert(at, _with_source(read("new.ipynb", notebook("")).cells[0], snippet))
    elif op == "delete":
        del cells[at]
    else:  # "run": a new execution count
        cells[at] = replace(cells[at], execution_count=where % 7 if cells[at].is_code else None)
    return _renumbered(nb, cells)


def cold(nb: Notebook) -> Graph:
    clear_caches()
    return analyze(nb)


def assert_warm_equals_cold(nb: Notebook) -> None:
    warm = analyze(nb)
    assert warm == cold(nb)


def test_edit_keeps_header_and_body_consistent() -> None:
    nb = read("t.ipynb", notebook("a = 1"))
    edited = edit(nb, "replace", 0, "%%stage s --out a\na = 1")
    assert edited.cells[0].header is not None and edited.cells[0].header.name == "s"
    assert edited.cells[0].body == split_stage(edited.cells[0].source)[1]


def test_every_test_notebook_edited_one_cell_at_a_time() -> None:
    for cells in BASES:
        nb = read("t.ipynb", notebook(*cells))
        assert_warm_equals_cold(nb)
        for step, snippet in enumerate(SNIPPETS):
            nb = edit(nb, ("append", "replace", "insert", "delete", "run")[step % 5], step * 3, snippet)
            assert_warm_equals_cold(nb)


def test_a_large_notebook_edited_in_the_middle() -> None:
    """Many stages, helpers and setup cells: the memoised stages and orders are really reused."""
    cells: list[CellSpec] = []
    for part in (*CLEAN.values(), *(c for c, _ in PLAIN.values()), *TRIGGERS.values()):
        cells.extend(part)
    nb = read("big.ipynb", notebook(*cells))
    analyze(nb)
    middle = len(nb.cells) // 2
    for step, snippet in enumerate(SNIPPETS):
        nb = edit(nb, "append", middle + step % 3, snippet)
        assert_warm_equals_cold(nb)


@settings(max_examples=60, deadline=None)
@given(
    base=st.sampled_from(BASES),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["append", "replace", "insert", "delete", "run"]),
            st.integers(min_value=0, max_value=50),
            st.sampled_from(SNIPPETS),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_random_edits(base: list[CellSpec], edits: list[tuple[str, int, str]]) -> None:
    nb = read("t.ipynb", notebook(*base))
    analyze(nb)
    for op, where, snippet in edits:
        nb = edit(nb, op, where, snippet)
        assert_warm_equals_cold(nb)


def _stage_notebook() -> Notebook:
    cells = [*CLEAN["diamond"]]
    return read("cut.ipynb", notebook(*cells))


def _last_stage(nb: Notebook) -> int:
    return max(c.index for c in nb.cells if c.is_stage)


def test_an_edit_no_other_cell_can_see_reuses_the_previous_graph() -> None:
    nb = _stage_notebook()
    first = cold(nb)
    before = incremental.hits
    edited = edit(nb, "append", _last_stage(nb), "scratch_only_here = 41")
    warm = analyze(edited)
    assert incremental.hits == before + 1
    assert warm == first == cold(edited)


def test_an_edit_that_uses_a_shared_name_is_analysed_in_full() -> None:
    nb = _stage_notebook()
    cold(nb)
    before = incremental.hits
    edited = edit(nb, "append", _last_stage(nb), "print(undeclared_total)\nnp.mean([1])")
    for snippet in ("n = 3", "raw = 1", "%%stage other --out x\nx = 1"):
        edited = edit(edited, "append", 1, snippet)
        assert_warm_equals_cold(edited)
    assert incremental.hits == before


def test_a_stage_binding_its_own_declared_output_is_analysed_again() -> None:
    nb = read("own.ipynb", notebook("import numpy as np", "%%stage load --out raw cleaned\nraw = np.zeros(3)"))
    assert "NBP104" in [d.code for d in cold(nb).diagnostics]
    edited = edit(nb, "append", 1, "cleaned = raw")
    assert "NBP104" not in [d.code for d in analyze(edited).diagnostics]
    assert_warm_equals_cold(edited)


def test_a_new_call_of_the_cells_own_function_is_analysed_again() -> None:
    nb = read("call.ipynb", notebook("def f():\n    return later\nx = 1", "later = 2"))
    assert cold(nb).diagnostics == ()
    edited = edit(nb, "append", 0, "y = f()")
    assert "NBP208" in [d.code for d in analyze(edited).diagnostics]
    assert_warm_equals_cold(edited)


def test_analyses_in_threads_equal_cold_ones() -> None:
    """The server analyses in worker threads: interleaved edits of two notebooks stay exact."""
    from concurrent.futures import ThreadPoolExecutor

    versions: list[Notebook] = []
    for name, cells in (("a.ipynb", CLEAN["diamond"]), ("b.ipynb", TRIGGERS["NBP208"])):
        nb = read(name, notebook(*cells))
        for step, snippet in enumerate(SNIPPETS):
            nb = edit(nb, "append", step, snippet)
            versions.append(nb)
    with ThreadPoolExecutor(max_workers=4) as pool:
        warm = list(pool.map(analyze, versions))
    assert warm == [cold(nb) for nb in versions]


def test_the_mention_index_has_exactly_the_names_of_the_facts() -> None:
    """The cut-off counts mentions with set unions; they must match the facts it compares."""
    from nbpipe.analysis.incremental import _cell_names_of, _facts, _names

    for cells in BASES:
        for cell in read("t.ipynb", notebook(*cells)).cells:
            if cell.is_code:
                text = cell.body if cell.is_stage else cell.source
                assert _cell_names_of(text, None) == {name for fact in _facts(text) for name in _names(fact)}
