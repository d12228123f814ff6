"""Propose ``%%stage`` headers for a plain notebook (``nbpipe annotate``).

The result must pass ``nbpipe check`` and compute what the original computes, in the
kernel (cold and warm) and in every batch target. So:

- cells are cut, never reordered (:mod:`~nbpipe.analysis.annotate_split`): the
  imports and definitions of a mixed cell become a setup cell, its trailing
  ``df.head()``/``print`` lines an exploration cell, the rest is a candidate; a cell
  that draws stays whole, an exploration cell; from the line a saved traceback points
  at (a cell that raises by design), the rest is a plain cell tagged ``raises-exception``;
- adjacent candidates (no other cell between them) form one stage; a candidate
  that changes or re-binds what another stage made can only join that stage when
  adjacent, otherwise it stays a plain cell, and so does every candidate that reads
  data a plain cell made (a stage cannot see it in batch runs);
- a stage outputs every name a later cell reads from it and reads what it takes from
  other stages; a stage that would have to output a module, function, figure or file,
  or an output another stage already declares, stays plain instead; so does a cell
  that uses a random generator or the global random state, or, in a notebook that
  seeds, a library call without ``random_state`` (its draws depend on what ran before
  it, which batch runs and cache restores skip);
- the result is checked with the analyzer, and a proposed stage that still draws an
  error is turned back into plain cells (the contract: annotate never writes a
  notebook that ``nbpipe check`` rejects for its stages);
- stages are named from the markdown heading they sit under, else from their main
  output; the written notebook has no saved outputs and no execution counts;
- every candidate left plain for a reason of its own, and every cell that raises by
  design, gets a note (:attr:`Annotation.notes`, printed by the CLI).
"""

from __future__ import annotations

import keyword
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from nbpipe.analysis import annotate_split as split
from nbpipe.analysis.checks_extension import loads_extension
from nbpipe.analysis.defuse import CellInfo, cell_info, parse
from nbpipe.analysis.facts import RAISES_TAG
from nbpipe.model import cell_label
from nbpipe.source import session_magic

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_THROWAWAY = frozenset({"_", "__", "___"})
_MAX_ROUNDS = 200
_IGNORE_SYNTAX = "# nbpipe: ignore[NBP001]"
_RAISES_TAG = RAISES_TAG  # nbclient and nbval let a cell with this tag raise
_STOP_WORDS = frozenset(
    "a an the of to in on for and or with as is are be what how why by from at into its it this that vs using "
    "let s our we you your".split()
)


@dataclass
class Piece:
    """A cell of the result before stages are merged: a whole cell or a cut of one."""

    cell: int  # index of the original cell
    kind: str  # "text" | "setup" | "params" | "stage" | "plain" | "work"
    source: str
    info: CellInfo | None = None
    note: str = ""  # why a candidate stays plain (for the report)
    raises: bool = False  # raises by design: the cell is tagged raises-exception (Jupyter's convention)


@dataclass(eq=False)
class Stage:
    """A proposed stage: adjacent work pieces."""

    pieces: list[int]
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    name: str = ""


@dataclass
class Annotation:
    """What :func:`propose` returns: the annotated notebook and notes for the user."""

    notebook: dict[str, Any]
    stages: list[str]
    notes: list[str]
    origin: list[list[int]] = field(default_factory=list)  # per result cell: the original cells it comes from


def annotate(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of an nbformat v4 notebook dict with stages proposed; the input is not changed."""
    return propose(nb).notebook


def propose(nb: dict[str, Any]) -> Annotation:
    """Annotate ``nb`` (an nbformat v4 dict) and say what stayed out of the pipeline and why.

    Returns:
        The annotated copy (clean: no outputs, no execution counts), the stage names
        in notebook order, and notes (cells that raise by design, candidates left plain).
    """
    found = nb.get("cells")
    cells = [_shaped(c) for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    notes: list[str] = []
    pieces = _pieces(cells, notes)
    demoted: dict[int, str] = {}
    for _ in range(_MAX_ROUNDS):
        stages = _plan(pieces, demoted)
        _name(stages, pieces)
        rebuilt, origin = _rebuild(cells, pieces, stages)
        result = {**nb, "cells": rebuilt}
        rejected = _rejected(result, stages)
        if not rejected:
            break
        for stage, message in rejected.items():
            for index in stage.pieces:
                demoted[index] = message
    else:  # pragma: no cover - each round demotes at least one stage
        stages = []
        rebuilt, origin = _rebuild(cells, pieces, [])
        result = {**nb, "cells": rebuilt}
    notes.extend(_plain_notes(pieces, demoted))
    return Annotation(result, [s.name for s in stages], notes, origin)


# -- pieces -------------------------------------------------------------------------------


def _shaped(cell: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cell whose metadata, tags and outputs have their types (odd ones count as empty, as in ``read``)."""
    shaped = {"cell_type": "code", **cell}  # the reader's default too
    found = cell.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    tags = metadata.get("tags")
    shaped["metadata"] = {k: v for k, v in metadata.items() if k != "tags"}
    if isinstance(tags, list):
        shaped["metadata"]["tags"] = [t for t in tags if isinstance(t, str)]
    if "outputs" in cell:
        outputs = cell["outputs"]
        shaped["outputs"] = [o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else []
    return shaped


def _text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _pieces(cells: list[dict[str, Any]], notes: list[str]) -> list[Piece]:
    pieces: list[Piece] = []
    for index, cell in enumerate(cells):
        source = _text(cell)
        if cell.get("cell_type") != "code":
            pieces.append(Piece(index, "text", source))
            continue
        kind = _cell_kind(cell, source)
        raised = _raised(cell) if kind in {None, "plain"} else None
        if raised is not None:
            where = f", line {raised[1]}" if raised[1] is not None else ""
            notes.append(f"{cell_label(index)} raises {raised[0]} by design ({raised[2]}{where}): the raising "
                         "line stays out of the pipeline, in a plain cell tagged raises-exception")  # fmt: skip
        if kind == "plain" and raised is not None and cell_info(source).error is not None:
            notes.append(f"{cell_label(index)} does not parse by design: it is marked '{_IGNORE_SYNTAX}' "
                         "so that the check accepts the notebook")  # fmt: skip
            source = source.rstrip("\n") + "\n" + _IGNORE_SYNTAX
        if kind is not None or (raised is not None and raised[1] is None):
            info = cell_info(_body(source) if kind == "stage" else source)
            pieces.append(Piece(index, kind or "plain", source, info, raises=raised is not None))
            continue
        for cut in split.cuts(source, raised[1] if raised else None):
            pieces.append(_piece(index, cut))
    return pieces


def _raised(cell: dict[str, Any]) -> tuple[str, int | None, str] | None:
    """(exception, line, how we know) for a cell that raises by design: a saved error, or the tag."""
    found = split.raising_line(cell.get("outputs") or [])
    if found is not None:
        return found[0], found[1], "its saved output"
    if _RAISES_TAG in (cell.get("metadata", {}).get("tags") or []):
        return "an exception", None, f"its {_RAISES_TAG} tag"
    return None


def _body(source: str) -> str:
    return source.split("\n", 1)[1] if "\n" in source else ""


def _cell_kind(cell: dict[str, Any], source: str) -> str | None:
    """The kind of a code cell annotate never cuts, else None."""
    if source.lstrip().startswith("%%stage"):
        return "stage"
    if "parameters" in (cell.get("metadata", {}).get("tags") or []):
        return "params"
    if not source.strip() or source.lstrip().startswith("%%"):
        return "plain"  # empty, or a cell magic (%%time, %%writefile…): run in the kernel only
    info = cell_info(source)
    if info.error is not None or _only_session_magics(source):
        return "plain"
    if info.setup and split.setup_only(parse(source)):
        return "setup"
    return None


def _only_session_magics(source: str) -> bool:
    try:
        return all(session_magic(node) for node in parse(source).body)
    except SyntaxError:
        return False


def _piece(index: int, cut: split.Cut) -> Piece:
    info = cell_info(cut.source)
    if cut.role == "setup" and info.setup:
        return Piece(index, "setup", cut.source, info)
    if cut.role != "code" or info.error is not None or not _changes_data(info):
        note = "it raises by design" if cut.role == "raises" else ""
        return Piece(index, "plain", cut.source, info, note, raises=cut.role == "raises")
    return Piece(index, "work", cut.source, info)


def _changes_data(info: CellInfo) -> bool:
    data = set(info.binds) - info.imports - info.defs - _THROWAWAY
    return bool(data or info.mutations or info.augmented)


# -- planning -----------------------------------------------------------------------------


@dataclass
class _Walk:
    """What the walk over the pieces knows so far."""

    writer: dict[str, Any] = field(default_factory=dict)  # name -> Stage, or a str kind ("setup", "plain"…)
    writer_piece: dict[str, int] = field(default_factory=dict)  # name -> piece that wrote it last
    stages: list[Stage] = field(default_factory=list)
    needed: dict[int, dict[str, None]] = field(default_factory=dict)  # id(stage) -> names later cells read


def _plan(pieces: list[Piece], demoted: dict[int, str]) -> list[Stage]:
    """Stages of the work pieces not demoted; demotes (in ``demoted``) what cannot be a stage, until stable."""
    facts = _NotebookFacts(pieces)
    while True:
        walk = _Walk()
        current: Stage | None = None
        for index, piece in enumerate(pieces):
            if piece.kind == "work" and index not in demoted:
                reason = _why_plain(piece, index, walk, current, facts)
                if reason:
                    demoted[index] = reason
            if piece.kind == "work" and index not in demoted:
                current = _join(walk, current, index)
                _record(walk, piece, index, current)
            else:
                current = None
                _record(walk, piece, index, piece.kind)
        late = _late_demotions(walk, pieces, facts)
        if not late:
            return _declared(walk, pieces)
        demoted.update(late)


class _NotebookFacts:
    """Facts over all pieces that the walk needs before it reaches them."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.setup_binders: dict[str, int] = {}  # name -> setup pieces binding it other than by import
        self.writes: dict[str, int] = {}  # name -> how many pieces bind or change it
        self.generators: set[str] = set()
        self.unpicklable: dict[int, set[str]] = {}
        self.helpers: dict[str, set[str]] = {}  # setup function -> globals it reads
        self.seeded = False  # some cell seeds the global random state (np.random.seed(0))
        self.drawing: set[str] = set()  # setup functions that draw from the global random state
        for index, piece in enumerate(pieces):
            info = piece.info
            if info is None or info.error is not None:
                continue
            for name in _written(info):
                self.writes[name] = self.writes.get(name, 0) + 1
            if piece.kind == "setup":
                for name in info.binds:  # the same import twice is harmless; two definitions are not
                    self.setup_binders[name] = self.setup_binders.get(name, 0) + (name not in info.imports)
                self.helpers.update({n: set(f.reads) for n, f in info.functions.items()})
            if piece.kind in {"work", "setup", "plain", "params"}:
                tree = _tree(piece.source)
                if tree is not None:
                    if piece.kind == "setup":
                        self.drawing |= split.drawing_functions(tree)
                    self.generators |= split.generators(tree)
                    self.seeded = self.seeded or split.seeds(tree)
                    self.unpicklable[index] = split.unpicklable(tree) | info.imports | info.defs

    def clean_setup(self, name: str) -> bool:
        """A name only one setup cell binds (batch runs run every setup cell before the stages)."""
        return self.setup_binders.get(name, 0) <= 1


def _tree(source: str) -> Any:
    try:
        return parse(source)
    except SyntaxError:
        return None


def _written(info: CellInfo) -> set[str]:
    return set(info.binds) | {m.name for m in info.mutations} | set(info.augmented)


def _why_plain(piece: Piece, index: int, walk: _Walk, current: Stage | None, facts: _NotebookFacts) -> str:
    """Why a work piece cannot be (part of) a stage, or ``""``."""
    info = piece.info
    assert info is not None
    tree = _tree(piece.source)
    if info.dynamic or info.wildcards or info.star_imports:
        return "it uses dynamic namespace access (globals(), exec, %run, import *)"
    if tree is not None and split.random_draws(tree):
        return "it uses the global random state (np.random.*): its draws depend on every cell run before it"
    implicit = split.implicit_random(tree) if tree is not None and facts.seeded else ""
    if implicit:
        return (f"it calls {implicit}() without random_state in a notebook that seeds the global random "
                f"state: a batch run would not draw the same numbers")  # fmt: skip
    changed = {m.name for m in info.mutations} | set(info.augmented) | (set(info.binds) & set(info.outside))
    for name in info.outside:
        reason = _read_problem(name, name in changed, walk, current, facts)
        if reason:
            return reason
        if name in facts.drawing:
            return f"it calls {name}(), which draws from the global random state"
        for helper_read in sorted(facts.helpers.get(name, set())):
            if walk.writer.get(helper_read, "setup") not in {"setup", "params"}:
                return (f"it uses {name}(), a setup function that reads the global {helper_read!r}, which is "
                        f"not a setup name: batch runs would not have it")  # fmt: skip
    return ""


def _read_problem(name: str, changes: bool, walk: _Walk, current: Stage | None, facts: _NotebookFacts) -> str:
    source = walk.writer.get(name)
    if name in facts.generators:
        return f"it uses the random generator {name!r}: its draws depend on every cell that used it before"
    if source is None:
        return ""
    cell = walk.writer_piece[name]
    if isinstance(source, Stage):
        if changes and source is not current:
            return (f"it changes {name!r}, which an earlier stage makes, and is not next to it: a stage "
                    f"may not change another stage's output (merge the cells, or use a new name)")  # fmt: skip
        return ""
    if source in {"setup", "params"}:
        if changes:
            return f"it changes {name!r}, which a setup or parameters cell binds, in place"
        return "" if facts.clean_setup(name) or source == "params" else f"{name!r} is bound by several cells"
    if source == "stage":
        return ""
    return (
        f"it reads {name!r}, which a plain cell ({cell_label(cell)}) binds or changes: batch runs never run that cell"
    )


def _join(walk: _Walk, current: Stage | None, index: int) -> Stage:
    if current is None:
        current = Stage([index])
        walk.stages.append(current)
        walk.needed[id(current)] = {}
    else:
        current.pieces.append(index)
    return current


def _record(walk: _Walk, piece: Piece, index: int, writer: Any) -> None:
    """Note what ``piece`` reads from stages, then what it writes."""
    info = piece.info
    if info is None or info.error is not None:
        return
    reads = dict(info.outside)
    if piece.kind == "stage":
        reads = {n: (0, 0) for n in _header_inputs(piece.source)} | reads
    for name in reads:
        source = walk.writer.get(name)
        if isinstance(source, Stage) and source is not writer:
            walk.needed[id(source)].setdefault(name, None)
    for name in _written(info):
        walk.writer[name] = writer
        walk.writer_piece[name] = piece.cell + 1
    if piece.kind == "stage":
        for name in _header_outputs(piece.source):
            walk.writer[name] = "stage"


def _header_inputs(source: str) -> list[str]:
    return _header_names(source, "--in")


def _header_outputs(source: str) -> list[str]:
    return _header_names(source, "--out")


def _header_names(source: str, flag: str) -> list[str]:
    from nbpipe.header import parse_header

    try:
        header = parse_header(source.split("\n", 1)[0])
    except Exception:  # a bad header is the check's to report
        return []
    return list(header.inputs if flag == "--in" else header.outputs)


def _late_demotions(walk: _Walk, pieces: list[Piece], facts: _NotebookFacts) -> dict[int, str]:
    """Stages that would have to output what cannot be an output, or what another stage outputs."""
    found: dict[int, str] = {}
    declared: set[str] = set()
    for stage in walk.stages:
        needed = walk.needed[id(stage)]
        unsafe = set().union(*(facts.unpicklable.get(i, set()) for i in stage.pieces))
        bad = [n for n in needed if n in unsafe]
        twice = [n for n in needed if n in declared]
        setup = [n for n in needed if n in facts.setup_binders]
        reason = "" if needed else "no later cell reads what it makes"
        if bad:
            reason = f"later cells read {bad[0]!r}, which is a module, function, figure or file: not a stage output"
        elif twice:
            reason = (f"it re-binds {twice[0]!r}, which an earlier stage outputs, and later cells read both: "
                      f"one output, one stage (merge the cells, or use a new name)")  # fmt: skip
        elif setup:
            reason = f"it re-binds {setup[0]!r}, which a setup cell binds"
        if reason:
            found.update(dict.fromkeys(stage.pieces, reason))
        else:
            declared.update(needed)
    return found


def _declared(walk: _Walk, pieces: list[Piece]) -> list[Stage]:
    for stage in walk.stages:
        stage.outputs = list(walk.needed[id(stage)])
    for stage in walk.stages:
        own: set[str] = set()
        for index in stage.pieces:
            info = pieces[index].info
            assert info is not None
            for name in info.outside:
                if name not in own and name not in stage.inputs and _producer(walk, stage, name):
                    stage.inputs.append(name)
            own.update(info.binds)
    return walk.stages


def _producer(walk: _Walk, reader: Stage, name: str) -> bool:
    """True if an earlier stage outputs ``name`` (the walk already made sure it is the one the reader sees)."""
    for stage in walk.stages:
        if stage is reader:
            return False
        if name in stage.outputs:
            return True
    return False


# -- names --------------------------------------------------------------------------------


def _name(stages: list[Stage], pieces: list[Piece]) -> None:
    """Stage names: the heading a stage sits under, else its main output; unique identifiers."""
    used = {n for p in pieces if p.kind == "stage" for n in _header_names_any(p.source)}
    for stage in stages:
        heading = _identifier(_heading_above(pieces, stage.pieces[0]) or "")
        info = pieces[stage.pieces[0]].info
        binds = [n for n in (info.binds if info else {}) if n not in _THROWAWAY]
        main = _identifier(stage.outputs[0]) if stage.outputs else _identifier(binds[0]) if binds else ""
        candidates = [heading, f"{heading}_{main}" if heading and main else "", main, "stage"]
        base = next(c for c in candidates if c)
        name = next((c for c in candidates if c and c not in used), "")
        number = 2
        while not name or name in used:
            name, number = f"{base}_{number}", number + 1
        used.add(name)
        stage.name = name


def _header_names_any(source: str) -> list[str]:
    first = source.split("\n", 1)[0].split()
    return [first[1]] if len(first) > 1 else []


def _heading_above(pieces: list[Piece], index: int) -> str | None:
    for piece in reversed(pieces[:index]):
        if piece.kind == "text":
            found = _HEADING.findall(piece.source)
            if found:
                return str(found[-1])
    return None


def _identifier(text: str) -> str:
    """``"Step 2: Clean the data"`` -> ``clean_the_data``; ``""`` when nothing is left."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # markdown links keep their text
    text = re.sub(r"<[^>]*>", " ", text)  # html tags
    every = re.findall(r"[a-z0-9]+", text.lower())
    words = [w for w in every if w not in _STOP_WORDS] or every
    while words and (words[0] in {"step", "part", "stage", "section", "chapter", "example"} or words[0].isdigit()):
        words = words[1:]
    name = "_".join(words[:4])
    if not name:
        return ""
    if name[0].isdigit():
        name = "step_" + name
    return name + "_" if keyword.iskeyword(name) else name


# -- the result ---------------------------------------------------------------------------


def _rebuild(
    cells: list[dict[str, Any]], pieces: list[Piece], stages: list[Stage]
) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """The cells of the result (pieces in order, each stage's pieces joined into one cell) and their origins."""
    first_of = {s.pieces[0]: s for s in stages}
    inside = {i for s in stages for i in s.pieces[1:]}
    result: list[dict[str, Any]] = []
    origin: list[list[int]] = []
    used_ids: set[str] = set()
    for index, piece in enumerate(pieces):
        if index in inside:
            continue
        stage = first_of.get(index)
        source = _stage_source(stage, pieces) if stage is not None else piece.source
        result.append(_cell(cells[piece.cell], source, used_ids, raises=piece.raises and stage is None))
        origin.append(sorted({pieces[i].cell for i in stage.pieces}) if stage is not None else [piece.cell])
    above = pieces[: min(s.pieces[0] for s in stages)] if stages else []
    if stages and not any(p.kind != "text" and loads_extension(p.source) for p in above):  # else NBP211
        result.insert(0, {"cell_type": "code", "metadata": {}, "source": "%load_ext nbpipe",
                          "execution_count": None, "outputs": []})  # fmt: skip
        origin.insert(0, [])
        if "id" in result[1]:
            result[0]["id"] = _unique_id("nbpipe-load-ext", used_ids)
    return result, origin


def _cell(original: dict[str, Any], source: str, used_ids: set[str], *, raises: bool = False) -> dict[str, Any]:
    cell = {k: v for k, v in original.items() if k not in {"outputs", "execution_count"}}
    cell["source"] = source
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
        metadata = {k: v for k, v in (original.get("metadata") or {}).items() if k != "execution"}
        tags = [t for t in metadata.get("tags") or [] if t != _RAISES_TAG] + ([_RAISES_TAG] if raises else [])
        metadata.pop("tags", None)
        cell["metadata"] = {**metadata, "tags": tags} if tags else metadata
    if "id" in original:
        cell["id"] = _unique_id(str(original["id"]), used_ids)
    return cell


def _unique_id(base: str, used: set[str]) -> str:
    candidate, number = base[:60], 2
    while candidate in used:
        candidate, number = f"{base[:56]}-{number}", number + 1
    used.add(candidate)
    return candidate


def _stage_source(stage: Stage, pieces: list[Piece]) -> str:
    header = f"%%stage {stage.name}"
    if stage.inputs:
        header += " --in " + " ".join(stage.inputs)
    if stage.outputs:
        header += " --out " + " ".join(stage.outputs)
    files = [f for i in stage.pieces for f in _files(pieces[i])]
    for flag, mode in (("--file-in", "read"), ("--file-out", "write")):
        paths = list(dict.fromkeys(shlex.quote(f.path) for f in files if f.mode == mode))
        if paths:
            header += f" {flag} " + " ".join(paths)
    body = "\n".join(pieces[i].source.rstrip("\n") for i in stage.pieces)
    return header + "\n" + body


def _files(piece: Piece) -> list[Any]:
    return piece.info.files if piece.info is not None else []


def _rejected(result: dict[str, Any], stages: list[Stage]) -> dict[Stage, str]:
    """Proposed stages the analyzer reports an error for (each is then turned back into plain cells)."""
    if not stages:
        return {}
    from nbpipe.analysis.core import analyze
    from nbpipe.notebook import read

    by_name = {s.name: s for s in stages}
    graph = analyze(read("annotated.ipynb", result))
    found: dict[Stage, str] = {}
    for d in graph.errors:
        stage = by_name.get(d.stage or "")
        if stage is None and d.cell is not None:
            stage = _stage_at(result, d.cell, by_name)
        if stage is not None and stage not in found:
            found[stage] = f"as a stage it fails the check: {d.code} {d.message}"
    return found


def _stage_at(result: dict[str, Any], cell: int, by_name: dict[str, Stage]) -> Stage | None:
    cells = result["cells"]
    if not 0 <= cell < len(cells):
        return None
    first = _text(cells[cell]).split("\n", 1)[0].split()
    return by_name.get(first[1]) if len(first) > 1 and first[0] == "%%stage" else None


def _plain_notes(pieces: list[Piece], demoted: dict[int, str]) -> list[str]:
    """One note per cell that had work but stays plain for a reason of its own (not a knock-on)."""
    notes: list[str] = []
    seen: set[int] = set()
    for index, reason in sorted(demoted.items()):
        cell = pieces[index].cell
        if cell in seen or "a plain cell (cell" in reason:
            continue
        seen.add(cell)
        notes.append(f"{cell_label(cell)} stays a plain cell: {reason}")
    return notes
