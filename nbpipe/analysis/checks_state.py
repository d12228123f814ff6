"""Checks of hidden state: parse errors, mutation, execution order, staleness, files (NBP001, NBP201–NBP208).

NBP001, NBP203, NBP204, NBP206 and NBP208 also make sense in plain notebooks with
no stage at all; the others need stages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from nbpipe.analysis.checks_stage import diag
from nbpipe.analysis.defuse import FunctionInfo
from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.analysis.graph import bundle
from nbpipe.model import Diagnostic, Stage, cell_label


def check_syntax(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP001: the cell does not parse, even after IPython's transforms."""
    for facts in nbf.cells:
        if facts.info.error is not None:
            message, line, col = facts.info.error
            text = f"{cell_label(facts.index)} does not parse: {message} (line {line})"
            hint = "fix the syntax; IPython magics and !shell lines are fine, other syntax is not"
            yield diag(
                "NBP001", text, hint, facts, (line, col), stage=facts.cell.header.name if facts.cell.header else None
            )


def check_mutations(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP201 (a stage mutates an input or a setup object) and NBP202 (a non-stage cell mutates a stage output)."""
    shared = (nbf.setup_constants | nbf.params) - nbf.setup_imports - nbf.setup_defs
    for facts in nbf.cells:
        reported: set[str] = set()
        for mut in facts.info.mutations:
            if mut.name in reported:
                continue
            found = _mutation(nbf, facts, mut.name, mut.how, (mut.line, mut.col), shared)
            if found is not None:
                reported.add(mut.name)
                yield found


def _mutation(
    nbf: NotebookFacts, facts: CellFacts, name: str, how: str, loc: tuple[int, int], shared: set[str]
) -> Diagnostic | None:
    if facts.header is not None:
        stage = facts.header.name
        if name in facts.header.inputs:
            message = f"stage {stage!r} changes its input {name!r} in place ({how})"
            hint = f"work on a copy ({name} = {name}.copy()) or output a new name, so the producer's cached value stays true"  # noqa: E501
            return diag("NBP201", message, hint, facts, loc, names=(name,))
        if name in shared:
            message = f"stage {stage!r} changes {name!r}, defined in a setup or parameters cell, in place ({how})"
            hint = f"copy it inside the stage before changing it ({name} = copy.deepcopy({name}))"
            if "draws from it" in how:
                hint = f"create it inside the stage from a seed parameter ({name} = np.random.default_rng(seed))"
            return diag("NBP201", message, hint, facts, loc, names=(name,))
        return None
    if facts.role != "stage" and name in nbf.outputs:
        producer = nbf.outputs[name][0]
        message = f"{cell_label(facts.index)} changes {name!r}, an output of stage {producer!r}, in place ({how})"
        hint = f"the kernel now holds a different {name!r} than every batch run; do it inside stage {producer!r} or on a copy"  # noqa: E501
        return diag("NBP202", message, hint, facts, loc, names=(name,))
    return None


def check_data_cells(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP202: a non-stage cell binds data that a stage reads."""
    for facts in nbf.cells:
        if facts.role != "data":
            continue
        names = [n for n in facts.info.binds if n in nbf.data_binds and facts.index in nbf.data_binds[n]]
        readers = sorted(
            {s.header.name for s in nbf.stages if s.header and set(names) & (set(s.reads) | set(s.header.inputs))}
        )
        message = f"{cell_label(facts.index)} is not a stage but binds {', '.join(map(repr, names))}, which stage {readers[0]!r} reads"  # noqa: E501
        hint = f"make it a stage (%%stage NAME --out {' '.join(names)}) or move imports and defs into a setup cell"
        yield diag("NBP202", message, hint, facts, facts.info.binds[names[0]], names=tuple(names))


def check_execution_order(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP203: saved execution counts decrease somewhere in notebook order (one report per section).

    A cell is out of order when its count is not above the count of the code cell
    before it. Sections are the stretches between markdown headings: a notebook run
    out of order in three places gets three reports, not one per cell pair.
    """
    sections = _sections(nbf)
    last: tuple[int, CellFacts] | None = None
    backwards: dict[int, list[tuple[CellFacts, CellFacts]]] = {}  # section -> (cell, earlier cell, higher count)
    for facts in nbf.cells:
        count = facts.cell.execution_count
        if not isinstance(count, int) or not facts.cell.source.strip():
            continue
        if last is not None and count <= last[0]:
            backwards.setdefault(sections.get(facts.index, 0), []).append((facts, last[1]))
        last = (count, facts)
    for pairs in backwards.values():
        cell, before = pairs[0]
        more = f" ({len(pairs)} cells in this section)" if len(pairs) > 1 else ""
        message = (
            f"cells were run out of order: {cell_label(cell.index)} ran as [{cell.cell.execution_count}], "
            f"before {cell_label(before.index)} above it ran as [{before.cell.execution_count}]{more}"
        )
        hint = "restart the kernel and run all cells top to bottom, then save; the saved outputs may not match the code"
        yield diag("NBP203", message, hint, cell, stage=None)


def _sections(nbf: NotebookFacts) -> dict[int, int]:
    """Cell index -> the index of the markdown heading above it (0 before the first heading)."""
    found: dict[int, int] = {}
    current = 0
    for cell in nbf.notebook.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            current = cell.index
        found[cell.index] = current
    return found


def check_stale(nbf: NotebookFacts, stages: list[Stage]) -> Iterator[Diagnostic]:
    """NBP204: a stage's source changed since the run recorded in its saved bundle."""
    for facts, stage in zip(nbf.stages, stages):
        if stage.status == "stale":
            saved = bundle(facts) or {}
            message = f"stage {stage.name!r} changed since its recorded run (key {str(saved.get('key', '?'))[:12]})"
            hint = f"re-run stage {stage.name!r} (or nbpipe run) so the saved outputs match the code"
            yield diag("NBP204", message, hint, facts)


def check_dynamic(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP205: dynamic namespace access in a stage; star imports anywhere."""
    for facts in nbf.cells:
        if facts.role == "stage":
            for what, line, col in facts.info.dynamic:
                message = f"stage {_stage_name(facts)!r} uses {what}: its inputs and outputs cannot be checked"
                hint = "use plain names and declare them with --in/--out"
                yield diag("NBP205", message, hint, facts, (line, col), stage=_stage_name(facts))
        for module, line, col in facts.info.star_imports:
            message = f"{cell_label(facts.index)} uses 'from {module} import *': the names it binds are unknown, analysis is incomplete"  # noqa: E501
            hint = f"import the names you use: from {module} import a, b"
            yield diag("NBP205", message, hint, facts, (line, col), stage=_stage_name(facts))


def _stage_name(facts: CellFacts) -> str | None:
    header = facts.cell.header
    return header.name if header is not None else None


def check_files(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP206: a literal file path read or written without ``--file-in``/``--file-out``."""
    plain = not any(f.role == "stage" for f in nbf.cells)
    for facts in nbf.cells:
        header = facts.header
        if not facts.info.files or (header is None and not (plain or facts.role == "data")):
            continue
        declared_in = {os.path.normpath(p) for p in header.file_inputs + header.file_outputs} if header else set()
        declared_out = {os.path.normpath(p) for p in header.file_outputs} if header else set()
        seen: set[tuple[str, str]] = set()
        for access in facts.info.files:
            path = os.path.normpath(access.path)
            if (path, access.mode) in seen or path in (declared_out if access.mode == "write" else declared_in):
                continue
            seen.add((path, access.mode))
            yield _file_diag(facts, access.path, access.mode, access.call, (access.line, access.col))


def _file_diag(facts: CellFacts, path: str, mode: str, call: str, loc: tuple[int, int]) -> Diagnostic:
    flag = "--file-out" if mode == "write" else "--file-in"
    verb = "writes" if mode == "write" else "reads"
    if facts.header is not None:
        message = f"stage {facts.header.name!r} {verb} {path!r} ({call}) without declaring it"
        hint = f"declare it so the cache sees it: %%stage {facts.header.canonical()} {flag} {path}"
    else:
        message = f"{cell_label(facts.index)} {verb} {path!r} ({call}) outside any stage"
        hint = f"make it a stage that declares the file (%%stage NAME {flag} {path}) so runs notice when it changes"
    return diag("NBP206", message, hint, facts, loc, names=(path,))


def check_hidden_globals(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP207: a setup function reads a global that a stage or a data cell binds."""
    provided, data = nbf.provided, nbf.data_binds
    for facts in nbf.cells:
        if facts.role != "setup":
            continue
        for fn in facts.info.functions.values():
            names = [n for n in fn.reads if n not in provided and n not in facts.info.binds
                     and (n in data or n in nbf.stage_binds)]  # fmt: skip
            if names:
                yield _nbp207(nbf, facts, fn, names)


def _nbp207(nbf: NotebookFacts, facts: CellFacts, fn: FunctionInfo, names: list[str]) -> Diagnostic:
    name = names[0]
    binder = f"stage {nbf.stage_binds[name][0]!r}" if name in nbf.stage_binds else cell_label(nbf.data_binds[name][0])
    message = f"function {fn.name!r} reads the global {name!r}, which {binder} binds: a hidden dependency"
    hint = f"pass it as an argument instead: def {fn.name}(…, {', '.join(names)})"
    return diag("NBP207", message, hint, facts, fn.reads[name], names=tuple(names))
