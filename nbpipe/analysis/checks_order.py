"""NBP208: a cell reads a name that only a later cell binds — the notebook fails top to bottom.

Checked for every code cell, stage or not. A read counts when it runs as the cell
runs (module level, comprehensions, class bodies), and also inside a function the
cell calls at module level (the function's globals are read then). For stages,
names other stages produce are left to NBP101/NBP107, which say more.
"""

from __future__ import annotations

from collections.abc import Iterator

from nbpipe.analysis.checks_stage import diag
from nbpipe.analysis.defuse import FunctionInfo
from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.model import Diagnostic


def check_top_to_bottom(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP208 for every code cell, in notebook order."""
    first_bind: dict[str, int] = {}
    functions: dict[str, tuple[int, FunctionInfo]] = {}
    star_from: float = float("inf")
    for facts in nbf.cells:
        for name in facts.info.binds:
            first_bind.setdefault(name, facts.index)
        for name, fn in facts.info.functions.items():
            functions.setdefault(name, (facts.index, fn))
        if facts.info.star_imports:
            star_from = min(star_from, facts.index)
    for facts in nbf.cells:
        if facts.index > star_from:
            break  # names may come from the star import; NBP205 says so
        yield from _direct(nbf, facts, first_bind)
        yield from _through_calls(facts, first_bind, functions)


def _later(name: str, index: int, first_bind: dict[str, int]) -> int | None:
    """The cell that first binds ``name`` if that is after cell ``index``, else None."""
    binder = first_bind.get(name)
    return binder if binder is not None and binder > index else None


def _direct(nbf: NotebookFacts, facts: CellFacts, first_bind: dict[str, int]) -> Iterator[Diagnostic]:
    reads = facts.reads if facts.role == "stage" else facts.info.reads
    for name, loc in reads.items():
        binder = _later(name, facts.index, first_bind)
        if binder is None:
            continue
        if facts.role == "stage" and name in nbf.stage_binds:
            continue  # NBP101 / NBP107 explain it in stage terms
        yield _diag(facts, name, binder, loc, "")


def _through_calls(
    facts: CellFacts, first_bind: dict[str, int], functions: dict[str, tuple[int, FunctionInfo]]
) -> Iterator[Diagnostic]:
    reported: set[str] = set()
    for called, loc in facts.info.calls.items():
        definer = functions.get(called)
        if definer is None or definer[0] > facts.index:
            continue
        for name, via in _closure(called, functions, facts.index):
            binder = _later(name, facts.index, first_bind)
            if binder is None or name in facts.info.binds or name in reported:
                continue
            reported.add(name)
            yield _diag(facts, name, binder, loc, f" through {via!r}, called here,")


def _closure(start: str, functions: dict[str, tuple[int, FunctionInfo]], index: int) -> list[tuple[str, str]]:
    """Global names read by ``start`` and the functions it reaches: (name, function reading it)."""
    found: list[tuple[str, str]] = []
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        for name in functions[current][1].reads:
            found.append((name, current))
            if name in functions and name not in seen and functions[name][0] <= index:
                seen.add(name)
                todo.append(name)
    return found


def _diag(facts: CellFacts, name: str, binder: int, loc: tuple[int, int], via: str) -> Diagnostic:
    message = f"cell {facts.index} reads {name!r}{via} but only cell {binder}, further down, binds it: running the notebook top to bottom fails here"  # noqa: E501
    hint = f"move the cell that binds {name!r} (cell {binder}) above cell {facts.index}, or bind it earlier"
    return diag("NBP208", message, hint, facts, loc, names=(name,))
