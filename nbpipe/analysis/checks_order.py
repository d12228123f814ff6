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
from itertools import repeat

from nbpipe.analysis.checks_stage import diag
from nbpipe.analysis.defuse import FunctionInfo
from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.model import Diagnostic, cell_label

_NEVER = 1 << 30  # a line after every line of a cell
_Read = tuple[str, int, tuple[int, int], str]  # (name, binding cell, location, " through 'f', called here,")


def check_top_to_bottom(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP208 for every code cell, in notebook order: each name once, at its first read."""
    first_bind: dict[str, int] = {}
    functions: dict[str, tuple[int, FunctionInfo]] = {}
    for facts in reversed(nbf.cells):  # bottom up, so that the first binder is written last
        index = facts.index
        first_bind.update(zip(facts.info.binds, repeat(index)))
        if facts.info.functions:
            functions.update((name, (index, fn)) for name, fn in facts.info.functions.items())
    first: dict[str, tuple[CellFacts, _Read]] = {}
    readers: dict[str, int] = {}  # name -> number of cells reading it before its binder
    bound: set[str] = set()  # names bound by this cell or one above it
    closures = _Closures(functions, set(first_bind))
    for facts in nbf.cells:
        info = facts.info
        bound.update(info.binds)
        if (
            bound.issuperset(facts.reads if facts.role == "stage" else info.reads)
            and (not info.calls or closures.all_bound(bound))
            and not info.star_imports
            and not info.wildcards
        ):
            continue  # the common case: nothing it reads, itself or through a call, is bound further down
        unknown_from = _unknown_from(facts)
        names = set()
        calls = () if closures.all_bound(bound) else _through_calls(facts, first_bind, bound, closures)
        for read in (*_direct(nbf, facts, first_bind, bound), *calls):
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
    if not facts.info.star_imports and not facts.info.wildcards:
        return _NEVER
    lines = [line for _, line, _ in (*facts.info.star_imports, *facts.info.wildcards)]
    return min(lines, default=_NEVER)


def _direct(nbf: NotebookFacts, facts: CellFacts, first_bind: dict[str, int], bound: set[str]) -> Iterator[_Read]:
    """Reads of names that a later cell binds first (``bound``: names bound up to this cell)."""
    reads = facts.reads if facts.role == "stage" else facts.info.reads
    if bound.issuperset(reads):
        return  # the common case: every name it reads is bound by now
    later = (reads.keys() & first_bind.keys()) - bound
    for name, loc in reads.items():
        if name not in later:
            continue
        if facts.role == "stage" and name in nbf.stage_binds:
            continue  # NBP101 / NBP107 explain it in stage terms
        yield name, first_bind[name], loc, ""


def _through_calls(
    facts: CellFacts, first_bind: dict[str, int], bound: set[str], closures: _Closures
) -> Iterator[_Read]:
    reported: set[str] = set()
    for called, loc in facts.info.calls.items():
        definer = closures.functions.get(called)
        if definer is None or definer[0] > facts.index:
            continue
        found, names = closures.get(called, facts.index)
        if bound.issuperset(names):
            continue  # every name the call reads that some cell binds is bound by now
        for name, via in found:
            if name in bound or name not in first_bind or name in facts.info.binds or name in reported:
                continue
            reported.add(name)
            yield name, first_bind[name], loc, f" through {via!r}, called here,"


class _Closures:
    """The global names read by a function and the functions it reaches, memoised per index range.

    What a call reaches from cell ``index`` depends on ``index`` only through which
    functions are defined at or above it: the walk is the same for every index from
    the latest function it followed up to (not including) the first it had to skip.
    """

    def __init__(self, functions: dict[str, tuple[int, FunctionInfo]], bindable: set[str]) -> None:
        self.functions = functions
        self.bindable = bindable  # names some cell binds: the only ones NBP208 can report
        self._read: set[str] = set().union(*(fn.reads for _, fn in functions.values())) & bindable
        self._all_bound = not self._read
        self._memo: dict[str, tuple[int, int, list[tuple[str, str]], set[str]]] = {}

    def all_bound(self, bound: set[str]) -> bool:
        """Whether ``bound`` holds every bindable name any function reads (then no call can be reported)."""
        if not self._all_bound:
            self._all_bound = bound.issuperset(self._read)  # bound only grows as the walk goes down
        return self._all_bound

    def get(self, start: str, index: int) -> tuple[list[tuple[str, str]], set[str]]:
        """(name, function reading it) pairs of the walk from ``start``, and those names some cell binds."""
        memo = self._memo.get(start)
        if memo is not None and memo[0] <= index < memo[1]:
            return memo[2], memo[3]
        found, low, high = _closure(start, self.functions, index)
        self._memo[start] = (low, high, found, {n for n, _ in found} & self.bindable)
        return found, self._memo[start][3]


def _closure(
    start: str, functions: dict[str, tuple[int, FunctionInfo]], index: int
) -> tuple[list[tuple[str, str]], int, int]:
    """Global names read by ``start`` and the functions it reaches: (name, function reading it).

    Also the range of cell indices for which the walk is the same: from the latest
    definition it followed to the earliest one it skipped for being below ``index``.
    """
    found: list[tuple[str, str]] = []
    seen, todo = {start}, [start]
    low, high = functions[start][0], _NEVER
    while todo:
        current = todo.pop()
        for name in functions[current][1].reads:
            found.append((name, current))
            if name in functions and name not in seen:
                if functions[name][0] <= index:
                    seen.add(name)
                    todo.append(name)
                    low = max(low, functions[name][0])
                else:
                    high = min(high, functions[name][0])
    return found, low, high


def _diag(facts: CellFacts, name: str, binder: int, loc: tuple[int, int], via: str, readers: int) -> Diagnostic:
    more = {1: "", 2: " (1 more cell reads it before then)"}.get(
        readers, f" ({readers - 1} more cells read it before then)"
    )
    message = f"{cell_label(facts.index)} reads {name!r}{via} but only {cell_label(binder)}, further down, binds it{more}: running the notebook top to bottom fails here"  # noqa: E501
    hint = (
        f"move the cell that binds {name!r} ({cell_label(binder)}) above {cell_label(facts.index)}, or bind it earlier"
    )
    return diag("NBP208", message, hint, facts, loc, names=(name,))
