"""NBP208: a cell reads a name that only a later cell binds — the notebook fails top to bottom.

Checked for every code cell, stage or not. A read counts when it runs as the cell
runs (module level, comprehensions, class bodies), and also inside a function the
cell calls at module level (the function's globals are read then). For stages,
names other stages produce are left to NBP101/NBP107, which say more.

Each name is reported once, at its first read, naming the cell that binds it (a
notebook whose twenty cells read a ``df`` bound at the bottom has one problem, not
twenty). A star import or a magic that can bind any name (``%run``, ``%load``,
``%store -r``) ends the check at its line: whatever follows may be bound by it.
"""

from __future__ import annotations

from collections.abc import Iterator

from nbpipe.analysis.checks_stage import diag
from nbpipe.analysis.defuse import FunctionInfo
from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.model import Diagnostic

_NEVER = 1 << 30  # a line after every line of a cell
_Read = tuple[str, int, tuple[int, int], str]  # (name, binding cell, location, " through 'f', called here,")


def check_top_to_bottom(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP208 for every code cell, in notebook order: each name once, at its first read."""
    first_bind: dict[str, int] = {}
    functions: dict[str, tuple[int, FunctionInfo]] = {}
    for facts in nbf.cells:
        for name in facts.info.binds:
            first_bind.setdefault(name, facts.index)
        for name, fn in facts.info.functions.items():
            functions.setdefault(name, (facts.index, fn))
    first: dict[str, tuple[CellFacts, _Read]] = {}
    readers: dict[str, int] = {}  # name -> number of cells reading it before its binder
    for facts in nbf.cells:
        unknown_from = _unknown_from(facts)
        names = set()
        for read in (*_direct(nbf, facts, first_bind), *_through_calls(facts, first_bind, functions)):
            if read[2][0] > unknown_from or read[0] in names:
                continue  # after a star import or %run on an earlier line: the name may come from it
            names.add(read[0])
            first.setdefault(read[0], (facts, read))
            readers[read[0]] = readers.get(read[0], 0) + 1
        if unknown_from != _NEVER:
            break  # every later cell may read names the star import or the magic bound
    for facts, (name, binder, loc, via) in first.values():
        yield _diag(facts, name, binder, loc, via, readers[name])


def _unknown_from(facts: CellFacts) -> int:
    """The first line of the cell after which any name may be bound (star import, %run, …)."""
    lines = [line for _, line, _ in (*facts.info.star_imports, *facts.info.wildcards)]
    return min(lines, default=_NEVER)


def _later(name: str, index: int, first_bind: dict[str, int]) -> int | None:
    """The cell that first binds ``name`` if that is after cell ``index``, else None."""
    binder = first_bind.get(name)
    return binder if binder is not None and binder > index else None


def _direct(nbf: NotebookFacts, facts: CellFacts, first_bind: dict[str, int]) -> Iterator[_Read]:
    reads = facts.reads if facts.role == "stage" else facts.info.reads
    for name, loc in reads.items():
        binder = _later(name, facts.index, first_bind)
        if binder is None:
            continue
        if facts.role == "stage" and name in nbf.stage_binds:
            continue  # NBP101 / NBP107 explain it in stage terms
        yield name, binder, loc, ""


def _through_calls(
    facts: CellFacts, first_bind: dict[str, int], functions: dict[str, tuple[int, FunctionInfo]]
) -> Iterator[_Read]:
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
            yield name, binder, loc, f" through {via!r}, called here,"


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


def _diag(facts: CellFacts, name: str, binder: int, loc: tuple[int, int], via: str, readers: int) -> Diagnostic:
    more = {1: "", 2: " (1 more cell reads it before then)"}.get(
        readers, f" ({readers - 1} more cells read it before then)"
    )
    message = f"cell {facts.index} reads {name!r}{via} but only cell {binder}, further down, binds it{more}: running the notebook top to bottom fails here"  # noqa: E501
    hint = f"move the cell that binds {name!r} (cell {binder}) above cell {facts.index}, or bind it earlier"
    return diag("NBP208", message, hint, facts, loc, names=(name,))
