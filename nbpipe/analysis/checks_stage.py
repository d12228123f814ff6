"""Checks of the stage contracts: headers and declared data flow (NBP002, NBP101–NBP107, NBP210).

Every hint for NBP101/102/103 is the corrected ``%%stage`` line, with every fix of
that kind for the stage applied at once, so copying one hint fixes the stage.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.errors import CODES
from nbpipe.model import Diagnostic, Edge, Stage, StageHeader, cell_label


def diag(
    code: str,
    message: str,
    hint: str,
    facts: CellFacts,
    loc: tuple[int, int] = (1, 0),
    *,
    names: tuple[str, ...] = (),
    stage: str | None = None,
) -> Diagnostic:
    """A Diagnostic of ``code`` at ``loc`` in ``facts``'s cell (``stage`` defaults to the cell's stage)."""
    if stage is None and facts.header is not None:
        stage = facts.header.name
    severity = CODES[code][0] if code in CODES else "error"  # a new code is an error until CODES lists it
    return Diagnostic(code, severity, message, hint, stage, facts.index, loc[0], loc[1], tuple(names))


def header_line(header: StageHeader, *, add_in: tuple[str, ...] = (), add_out: tuple[str, ...] = (),
                drop_in: tuple[str, ...] = ()) -> str:  # fmt: skip
    """The ``%%stage`` line of ``header`` with inputs/outputs added or dropped."""
    inputs = tuple(n for n in header.inputs if n not in drop_in) + tuple(n for n in add_in if n not in header.inputs)
    outputs = header.outputs + tuple(n for n in add_out if n not in header.outputs)
    kept = tuple((n, path) for n, path in header.notebook_inputs if n in inputs)  # --in NAME@NOTEBOOK stays
    fixed = dataclasses.replace(header, inputs=inputs, outputs=outputs, notebook_inputs=kept)
    return "%%stage " + fixed.canonical()


def check_headers(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP002: bad header lines and duplicate stage names."""
    for facts in nbf.cells:
        error = facts.cell.header_error
        if error is not None:
            yield diag("NBP002", error.message, error.hint, facts, stage=error.stage)
    for facts in nbf.duplicate_stages:
        name = facts.cell.header.name  # type: ignore[union-attr]
        first = nbf.by_stage(name)
        yield diag(
            "NBP002",
            f"bad %%stage header: stage name {name!r} is already used by {cell_label(first.index)}",
            f"give this stage its own name, e.g. %%stage {name}_2",
            facts,
            stage=name,
        )


def _producer(nbf: NotebookFacts, name: str, reader: CellFacts) -> CellFacts | None:
    """The stage that provides ``name`` to ``reader``: a declared producer, else the nearest binder above."""
    own = reader.header.name if reader.header is not None else None
    declared = [s for s in nbf.outputs.get(name, []) if s != own]
    candidates = declared or [s for s in nbf.stage_binds.get(name, []) if s != own]
    if not candidates:
        return None
    cells = [nbf.by_stage(s) for s in candidates]
    above = [c for c in cells if c.index < reader.index]
    return above[-1] if above else cells[0]


def _undeclared_inputs(nbf: NotebookFacts, facts: CellFacts) -> list[str]:
    header = facts.header
    assert header is not None
    provided = nbf.provided
    declared = set(header.inputs)  # a fan-in stage may declare thousands: no tuple scans
    missing = []
    for name in facts.reads:
        if name in declared or name in provided:
            continue
        if _producer(nbf, name, facts) is not None or name in nbf.data_binds:
            missing.append(name)
    return missing


def check_inputs(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP101: a stage reads what another stage or a data cell binds, without ``--in``."""
    for facts in nbf.stages:
        header = facts.header
        assert header is not None
        missing = _undeclared_inputs(nbf, facts)
        fixed = header_line(header, add_in=tuple(missing)) if missing else ""
        for name in missing:
            yield _nbp101(nbf, facts, name, fixed)


def _nbp101(nbf: NotebookFacts, facts: CellFacts, name: str, fixed: str) -> Diagnostic:
    stage = facts.header.name  # type: ignore[union-attr]
    producer = _producer(nbf, name, facts)
    loc = facts.reads[name]
    if producer is not None and producer.header is not None:
        source = producer.header
        if name in source.outputs:
            message = f"stage {stage!r} reads {name!r}, which stage {source.name!r} outputs, without declaring it"
            hint = f"declare it: {fixed}"
        else:
            message = f"stage {stage!r} reads {name!r}, which stage {source.name!r} binds but does not output"
            hint = f"add it to the outputs of {source.name!r} ({header_line(source, add_out=(name,))}) and declare it: {fixed}"  # noqa: E501
        return diag("NBP101", message, hint, facts, loc, names=(name,))
    cell = nbf.data_binds[name][-1]
    message = f"stage {stage!r} reads {name!r}, which {cell_label(cell)} binds outside any stage"
    binder = next(f for f in nbf.cells if f.index == cell)
    if name in binder.info.imports or name in binder.info.defs:
        hint = (
            f"move the import or definition of {name!r} from {cell_label(cell)} into a setup cell "
            "(imports and defs only)"
        )
    else:
        hint = (
            f"turn {cell_label(cell)} into a stage that outputs it (%%stage NAME --out {name}) and declare it: {fixed}"
        )
    return diag("NBP101", message, hint, facts, loc, names=(name,))


def check_outputs(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP102 (bound and read elsewhere, not declared) and NBP104 (declared, never bound)."""
    wanted: dict[str, dict[str, None]] = {}  # stage -> undeclared outputs other stages need (ordered sets)
    for reader in nbf.stages:
        header = reader.header
        assert header is not None
        for name in [*reader.reads, *header.inputs]:
            if name in nbf.provided or name in nbf.outputs:
                continue
            producer = _producer(nbf, name, reader)
            if producer is not None and producer.header is not None:
                wanted.setdefault(producer.header.name, {})[name] = None
    for facts in nbf.stages:
        header = facts.header
        assert header is not None
        names = list(wanted.get(header.name, {}))
        fixed = header_line(header, add_out=tuple(names)) if names else ""
        for name in names:
            readers = sorted({r.header.name for r in nbf.stages if r is not facts and r.header is not None
                              and (name in r.reads or name in r.header.inputs)})  # fmt: skip
            message = f"stage {header.name!r} binds {name!r}, which stage {readers[0]!r} reads, without --out"
            yield diag("NBP102", message, f"declare it: {fixed}", facts, facts.info.binds[name], names=(name,))
        yield from _unpicklable_outputs(facts)
        if facts.info.error is None and not facts.info.dynamic:
            for name in header.outputs:
                if name not in facts.info.binds:
                    message = f"stage {header.name!r} declares output {name!r} but its body never binds it"
                    hint = f"assign it in the body ({name} = …) or remove it from --out"
                    yield diag("NBP104", message, hint, facts, names=(name,))


def _unpicklable_outputs(facts: CellFacts) -> Iterator[Diagnostic]:
    """NBP210: a declared output that the body binds to a module, function or class (never a value)."""
    header = facts.header
    assert header is not None
    info = facts.info
    lambdas = _lambda_names(facts.cell.body) if "lambda" in facts.cell.body else set()
    kinds: dict[str, str] = {}
    for name in header.outputs:
        if name in info.imports:
            kinds[name] = "a module"
        elif name in info.defs or name in lambdas:
            kinds[name] = "a class" if _is_class(facts.cell.body, name) else "a function"
    if not kinds:
        return
    kept = tuple(n for n in header.outputs if n not in kinds)
    fixed = StageHeader(header.name, header.inputs, kept, header.file_inputs, header.file_outputs,
                        header.no_cache, header.retries, header.checks)  # fmt: skip
    for name, kind in kinds.items():
        message = f"stage output {name!r} is {kind}: it cannot be cached or passed between stages"
        what = "import" if kind == "a module" else "definition"
        hint = (f"move the {what} of {name!r} into a setup cell (every stage sees setup names) "
                f"and drop it from --out: %%stage {fixed.canonical()}")  # fmt: skip
        yield diag("NBP210", message, hint, facts, info.binds.get(name, (1, 0)), names=(name,))


def _lambda_names(body: str) -> set[str]:
    """Top-level names assigned a lambda (``f = lambda x: x + 1``)."""
    from nbpipe.analysis.defuse import parse

    try:
        tree = parse(body)
    except SyntaxError:
        return set()
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _is_class(body: str, name: str) -> bool:
    from nbpipe.analysis.defuse import parse

    try:
        return any(isinstance(n, ast.ClassDef) and n.name == name for n in parse(body).body)
    except SyntaxError:
        return False


def check_unprovided(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP103: a declared input that no stage outputs and no parameter or setup cell provides."""
    for facts in nbf.stages:
        header = facts.header
        assert header is not None
        remote = dict(header.notebook_inputs)  # --in NAME@NOTEBOOK: analysis/project.py resolves it
        lost = [n for n in header.inputs if n not in nbf.outputs and n not in nbf.provided and n not in remote]
        lost = [n for n in lost if _producer(nbf, n, facts) is None]  # a local of another stage is NBP102 there
        fixed = header_line(header, drop_in=tuple(lost)) if lost else ""
        for name in lost:
            message = f"stage {header.name!r} declares input {name!r}, but no stage outputs it and no parameter or setup cell binds it"  # noqa: E501
            cells = nbf.data_binds.get(name)
            if cells:
                hint = f"{cell_label(cells[-1])} binds it outside any stage: make that cell a stage with --out {name}"
            else:
                hint = f"add a stage with --out {name}, bind it in the parameters cell, or drop it: {fixed}"
            yield diag("NBP103", message, hint, facts, names=(name,))


def check_duplicates(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP105: two stages declare the same output (reported on each later stage)."""
    for name, producers in nbf.outputs.items():
        for later in producers[1:]:
            facts = nbf.by_stage(later)
            message = f"stage {later!r} declares output {name!r}, which stage {producers[0]!r} also declares"
            hint = f"give one of them another name, e.g. --out {name}_{later}"
            yield diag("NBP105", message, hint, facts, names=(name,))


def check_order(
    nbf: NotebookFacts, stages: list[Stage], edges: list[Edge], cycle: list[str] | None
) -> Iterator[Diagnostic]:
    """NBP106 (cycle) and NBP107 (a stage above a stage it depends on)."""
    cells = {s.name: s.cell for s in stages}
    if cycle:
        path = " -> ".join(cycle)
        facts = nbf.by_stage(cycle[0])
        yield diag("NBP106", f"the stage graph has a cycle: {path}", "break the cycle: a stage cannot (indirectly) read its own output; split one stage or rename an output",  # noqa: E501
                   facts, names=tuple(dict.fromkeys(cycle)))  # fmt: skip
        return
    for edge in edges:
        if cells[edge.source] > cells[edge.target]:
            facts = nbf.by_stage(edge.target)
            message = f"stage {edge.target!r} ({cell_label(cells[edge.target])}) reads {', '.join(map(repr, edge.names))} from stage {edge.source!r}, which sits below it ({cell_label(cells[edge.source])})"  # noqa: E501
            hint = f"move stage {edge.source!r} above stage {edge.target!r} so that running the notebook top to bottom works"  # noqa: E501
            yield diag("NBP107", message, hint, facts, names=edge.names)
