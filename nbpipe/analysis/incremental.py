"""Early cut-off for re-analysis: an edit no other cell can see keeps the previous graph.

The analysis of a notebook depends on a cell through its *shape* (role, header,
execution count, saved outputs, parse error, files, dynamic access, star imports,
silenced codes) and through the names it binds, reads, calls and defines, each
with its first location. When exactly one cell changed since the last analysis
of the same notebook, its shape is the same, and every name whose facts changed
is mentioned by no other cell, then no stage, edge, role or diagnostic can
change: the previous :class:`~nbpipe.model.Graph` is the answer. (A name only
that cell mentions cannot be read, bound, declared or called anywhere else, and
the checks relate cells only through such names. Two relations stay inside the cell
and count as mentions too: its own ``--in``/``--out``, and the names its own
functions read, which a new call of such a function reads.) Anything else is analysed in
full. Typing a new local name, or editing literals and expressions around
existing names, is the common case the sidebar re-analyses on every keystroke.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, replace
from itertools import chain

from nbpipe.analysis.defuse import CellInfo, cell_info
from nbpipe.model import Graph
from nbpipe.notebook import Cell, Notebook

_Fact = tuple[object, ...]  # (kind, name, ...): one name-bearing fact of a cell


@dataclass
class _Last:
    """The last analysis of one notebook: its cells, its graph and who mentions which name."""

    cells: tuple[Cell, ...]
    graph: Graph
    mentions: Counter[str] | None = None  # name -> number of code cells mentioning it (built on first need)


_LAST: dict[str, _Last] = {}
_NOTEBOOKS_KEPT = 8
hits = 0  # re-analyses answered by the cut-off (for tests and benchmarks)


def clear() -> None:
    """Forget every remembered analysis."""
    _LAST.clear()
    _cell_names_of.cache_clear()
    _facts.cache_clear()


def remember(nb: Notebook, graph: Graph) -> None:
    """Keep ``graph`` as the analysis of ``nb`` for the next :func:`reuse`."""
    last = _LAST.get(nb.path)
    if last is not None and last.cells is nb.cells:
        last.graph = graph  # reused: the mentions are up to date
        return
    if last is None and len(_LAST) >= _NOTEBOOKS_KEPT:
        _LAST.pop(next(iter(_LAST)))
    _LAST[nb.path] = _Last(nb.cells, graph, _carried_mentions(last, nb.cells))


def _carried_mentions(last: _Last | None, cells: tuple[Cell, ...]) -> Counter[str] | None:
    """The previous mention counts brought up to date for ``cells``, when only a few cells changed."""
    if last is None or last.mentions is None or len(last.cells) != len(cells):
        return None
    changed = [(a, b) for a, b in zip(last.cells, cells) if a is not b and a != b]
    if len(changed) > _CARRIED_CHANGES:
        return None
    mentions = last.mentions
    for old, new in changed:
        mentions.subtract(_cell_names(old))
        mentions.update(_cell_names(new))
    return mentions


_CARRIED_CHANGES = 16  # beyond this many changed cells, counting afresh (when needed) is as cheap


def reuse(nb: Notebook) -> Graph | None:
    """The previous graph of ``nb``'s path if the edits since cannot change it, else None."""
    global hits
    last = _LAST.get(nb.path)
    if last is None or len(last.cells) != len(nb.cells):
        return None
    changed = [i for i, (a, b) in enumerate(zip(last.cells, nb.cells)) if a is not b and a != b]
    if len(changed) > 1:
        return None
    if changed:
        old, new = last.cells[changed[0]], nb.cells[changed[0]]
        if not _same_shape(old, new) or not _invisible(last, old, new):
            return None
    last.cells = nb.cells
    hits += 1
    return replace(last.graph, roles=dict(last.graph.roles))


def _info(cell: Cell) -> CellInfo:
    return cell_info(cell.body if cell.is_stage else cell.source)


def _same_shape(old: Cell, new: Cell) -> bool:
    """Whether everything about the cell but the names it uses is unchanged."""
    if not (old.is_code and new.is_code) or old.is_parameters or new.is_parameters:
        return False  # parameters feed Graph.parameters; markdown feeds NBP203's sections
    if (old.tags, old.execution_count, old.outputs, old.header) != (new.tags, new.execution_count, new.outputs,
                                                                    new.header):  # fmt: skip
        return False
    if old.header_error is not None or new.header_error is not None:
        return False
    if bool(old.source.strip()) != bool(new.source.strip()) or ("nbpipe" in old.source or "nbpipe" in new.source):
        return False  # emptiness decides setup and NBP203; "nbpipe" may be an ignore comment or %load_ext (NBP211)
    if old.outputs and old.body != new.body:
        return False  # a saved bundle: the status may change
    a, b = _info(old), _info(new)
    return (a.error, a.setup, a.literals, a.dynamic, a.star_imports, a.wildcards, a.files, a.mutations) == (
        b.error, b.setup, b.literals, b.dynamic, b.star_imports, b.wildcards, b.files, b.mutations)  # fmt: skip


def _invisible(last: _Last, old: Cell, new: Cell) -> bool:
    """Whether every name whose facts changed is one that no other cell mentions (and count the new ones)."""
    before, after = _facts(old.body if old.is_stage else old.source), _facts(new.body if new.is_stage else new.source)
    touched = {name for fact in before ^ after for name in _names(fact)}
    touched |= _reached(touched, _info(old)) | _reached(touched, _info(new))
    if old.header is not None and not touched.isdisjoint((*old.header.inputs, *old.header.outputs)):
        return False  # the cell's own --in/--out see it (NBP104, NBP201)
    if last.mentions is None:
        last.mentions = Counter(chain.from_iterable(_cell_names(c) for c in last.cells))
    mentions = last.mentions
    old_names, new_names = _cell_names(old), _cell_names(new)
    if any(mentions[name] - (name in old_names) for name in touched):
        return False
    if _orders(_info(old), touched) != _orders(_info(new), touched):
        return False  # messages list names in the order the cell uses them
    mentions.subtract(old_names)
    mentions.update(new_names)
    return True


def _reached(names: set[str], info: CellInfo) -> set[str]:
    """Global names read by the cell's own functions among ``names``, transitively (a new call reads them)."""
    found: set[str] = set()
    todo = [n for n in names if n in info.functions]
    while todo:
        for name in info.functions[todo.pop()].reads:
            if name not in found and name not in names:
                found.add(name)
                if name in info.functions:
                    todo.append(name)
    return found


def _orders(info: CellInfo, touched: set[str]) -> list[list[str]]:
    """The order of the untouched names in each of the cell's ordered facts."""
    located = (info.binds, info.reads, info.deferred, info.calls, info.outside, info.augmented, info.functions)
    orders = [[n for n in names if n not in touched] for names in located]
    orders.extend([n for n in fn.reads if n not in touched] for fn in info.functions.values())
    return orders


def _names(fact: _Fact) -> tuple[str, ...]:
    return (fact[1], fact[2]) if fact[0] == "function read" else (fact[1],)  # type: ignore[return-value]


def _cell_names(cell: Cell) -> frozenset[str]:
    """Every name a code cell mentions: in its facts and in its ``%%stage`` header."""
    if not cell.is_code:
        return frozenset()
    return _cell_names_of(cell.body if cell.is_stage else cell.source, cell.header)


@functools.lru_cache(maxsize=65536)
def _cell_names_of(text: str, header: object) -> frozenset[str]:
    """The names of every fact of :func:`_facts` (built with set unions: it runs for every cell once)."""
    info = cell_info(text)
    located = (info.reads, info.deferred, info.calls, info.outside, info.augmented, info.functions)
    names = set(info.binds).union(*located, info.imports, info.defs, info.constants, (m.name for m in info.mutations))
    names.update(*(fn.reads for fn in info.functions.values()))
    if header is not None:
        names.update(header.inputs, header.outputs, (header.name,))  # type: ignore[attr-defined]
    return frozenset(names)


@functools.lru_cache(maxsize=65536)
def _facts(text: str) -> frozenset[_Fact]:
    """The name-bearing facts of a cell's text, each name with its first location."""
    info = cell_info(text)
    facts: set[_Fact] = set()
    for kind, located in (("bind", info.binds), ("read", info.reads), ("deferred", info.deferred),
                          ("call", info.calls), ("outside", info.outside), ("augmented", info.augmented)):  # fmt: skip
        facts.update((kind, name, loc) for name, loc in located.items())
    for kind, names in (("import", info.imports), ("def", info.defs), ("constant", info.constants)):
        facts.update((kind, name) for name in names)
    for fn in info.functions.values():
        facts.add(("function", fn.name, fn.line, fn.col))
        facts.update(("function read", fn.name, name, loc) for name, loc in fn.reads.items())
    facts.update(("mutation", m.name, m.line, m.col, m.how) for m in info.mutations)
    return frozenset(facts)
