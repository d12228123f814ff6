"""Propose ``%%stage`` headers for a plain notebook (``nbpipe annotate``).

Code cells that bind data become stages; setup, parameters, magic-only and
display-only cells stay as they are. Inputs and outputs come from def/use: a stage
outputs what a later stage reads, and reads from the latest stage above that binds
it. Cells that re-bind or change in place what an earlier stage made are merged
with it (``df = df.dropna()`` cannot be a stage of its own: a stage may not output
its input), and so are two stages that would output the same name. Stage names
come from the nearest markdown heading, else the main output.
"""

from __future__ import annotations

import keyword
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from nbpipe.analysis.defuse import CellInfo, cell_info
from nbpipe.source import session_magic

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass
class _Group:
    """A proposed stage: a contiguous range of cells, the stage cells among them."""

    cells: list[int]  # indices of the code cells merged into the stage
    info: CellInfo | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    name: str = ""


def annotate(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of an nbformat v4 notebook dict with stages proposed; the input is not changed."""
    cells = [dict(c) for c in nb.get("cells", [])]
    sources = ["".join(c["source"]) if isinstance(c.get("source"), list) else c.get("source", "") for c in cells]
    kinds = [_kind(c, s) for c, s in zip(cells, sources)]
    groups = _groups(sources, kinds)
    _declare(groups, sources)
    _name(groups, cells, sources)
    rebuilt = _rebuild(cells, sources, kinds, groups)
    if groups and not any("%load_ext nbpipe" in s for s in sources):
        rebuilt.insert(0, {"cell_type": "code", "metadata": {}, "source": "%load_ext nbpipe", "execution_count": None,
                           "outputs": []})  # fmt: skip
    return {**nb, "cells": rebuilt}


def _kind(cell: dict[str, Any], source: str) -> str:
    """ "keep" (markdown, setup, parameters, magics, display-only, existing stages) or "stage"."""
    if cell.get("cell_type") != "code" or not source.strip() or source.lstrip().startswith("%%stage"):
        return "keep"
    if "parameters" in (cell.get("metadata", {}).get("tags") or []):
        return "keep"
    info = cell_info(source)
    if info.error is not None or info.setup or _only_session_magics(source):
        return "keep"
    data_binds = set(info.binds) - info.imports - info.defs
    return "stage" if data_binds or info.mutations else "keep"


def _only_session_magics(source: str) -> bool:
    from nbpipe.analysis.defuse import parse

    try:
        return all(session_magic(node) for node in parse(source).body)
    except SyntaxError:
        return False


def _groups(sources: list[str], kinds: list[str]) -> list[_Group]:
    """Stage candidates grouped: merged while a cell re-binds or mutates an earlier group's data."""
    groups: list[_Group] = []
    owner: dict[str, int] = {}  # name -> group that binds it last
    for index, kind in enumerate(kinds):
        if kind != "stage":
            continue
        info = cell_info(sources[index])
        touched = {m.name for m in info.mutations} | (set(info.binds) & set(info.outside))
        joined = sorted({owner[n] for n in touched if n in owner})
        if joined:
            first = joined[0]
            merged = [c for g in groups[first:] for c in g.cells] + [index]
            del groups[first:]
            groups.append(_Group(merged))
            owner = {n: g for n, g in owner.items() if g < first}
            for cell in merged:
                owner.update(dict.fromkeys(cell_info(sources[cell]).binds, len(groups) - 1))
        else:
            groups.append(_Group([index]))
            owner.update(dict.fromkeys(info.binds, len(groups) - 1))
    return groups


def _declare(groups: list[_Group], sources: list[str]) -> None:
    """Inputs from the latest group above that binds a name; outputs = what later groups read."""
    for group in groups:
        group.info = cell_info("\n".join(sources[c] for c in group.cells))
    for position, group in enumerate(groups):
        assert group.info is not None
        for name in group.info.outside:
            producer = _latest_binder(groups, position, name)
            if producer is not None:
                group.inputs.append(name)
                if name not in producer.outputs:
                    producer.outputs.append(name)


def _latest_binder(groups: list[_Group], position: int, name: str) -> _Group | None:
    for earlier in reversed(groups[:position]):
        if earlier.info is not None and name in earlier.info.binds:
            return earlier
    return None


def _name(groups: list[_Group], cells: list[dict[str, Any]], sources: list[str]) -> None:
    used: set[str] = set()
    previous_end = -1
    for group in groups:
        heading = _heading_between(cells, sources, previous_end, group.cells[0])
        candidates = [heading, *(group.outputs[:1]), *sorted(group.info.binds if group.info else [])[:1], "stage"]
        base = next(_identifier(c) for c in candidates if c and _identifier(c))
        if base in group.inputs or base in group.outputs:
            base = "make_" + base
        name, n = base, 2
        while name in used or name in group.inputs or name in group.outputs:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        group.name = name
        previous_end = group.cells[-1]


def _heading_between(cells: list[dict[str, Any]], sources: list[str], start: int, end: int) -> str | None:
    for index in range(end - 1, start, -1):
        if cells[index].get("cell_type") == "markdown":
            found = _HEADING.findall(sources[index])
            if found:
                return str(found[-1])
    return None


def _identifier(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text.lower())
    while words and (words[0] in {"step", "part", "stage"} or words[0].isdigit()):
        words = words[1:]  # "Step 2: clean" -> "clean"
    name = "_".join(words[:4])
    if not name:
        return ""
    if name[0].isdigit():
        name = "step_" + name
    return name + "_" if keyword.iskeyword(name) else name


def _rebuild(
    cells: list[dict[str, Any]], sources: list[str], kinds: list[str], groups: list[_Group]
) -> list[dict[str, Any]]:
    """The new cell list: each group's cells merged into one stage cell at the first cell's place.

    Cells inside a merged range that are not part of the stage keep their order;
    setup/parameters code moves before the stage (the stage may use it), the rest after.
    """
    start_of = {g.cells[0]: g for g in groups}
    merged = {c for g in groups for c in g.cells}
    result: list[dict[str, Any]] = []
    index = 0
    while index < len(cells):
        group = start_of.get(index)
        if group is None:
            result.append(cells[index])
            index += 1
            continue
        inside = [i for i in range(group.cells[0], group.cells[-1] + 1) if i not in merged]
        early = {i for i in inside if cells[i].get("cell_type") == "code" and _is_setup_like(cells[i], sources[i])}
        result.extend(cells[i] for i in inside if i in early)
        result.append(_stage_cell(cells[group.cells[0]], group, sources))
        result.extend(cells[i] for i in inside if i not in early)
        index = group.cells[-1] + 1
    return result


def _is_setup_like(cell: dict[str, Any], source: str) -> bool:
    tags = cell.get("metadata", {}).get("tags") or []
    return "parameters" in tags or cell_info(source).setup


def _stage_cell(first: dict[str, Any], group: _Group, sources: list[str]) -> dict[str, Any]:
    header = f"%%stage {group.name}"
    if group.inputs:
        header += " --in " + " ".join(group.inputs)
    if group.outputs:
        header += " --out " + " ".join(group.outputs)
    files = group.info.files if group.info is not None else []
    for flag, mode in (("--file-in", "read"), ("--file-out", "write")):
        paths = list(dict.fromkeys(shlex.quote(f.path) for f in files if f.mode == mode))
        if paths:
            header += f" {flag} " + " ".join(paths)
    body = "\n".join(sources[c].rstrip("\n") for c in group.cells)
    cell = {**first, "source": header + "\n" + body, "execution_count": None, "outputs": []}
    return cell
