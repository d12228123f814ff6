"""NBP209: a cell reads a stage's local that is not among its ``--out``.

In the kernel a stage hands its other locals back to the notebook for inspection,
but a stage restored from the cache brings back only its outputs: a later cell that
reads such a local works on a cold Run All and fails (or sees an older value) on a
warm one. Only what ``--out`` declares is the same after a run and after a restore.
"""

from __future__ import annotations

from collections.abc import Iterator

from nbpipe.analysis.checks_stage import diag
from nbpipe.analysis.facts import CellFacts, NotebookFacts
from nbpipe.model import Diagnostic, cell_label


def check_stage_locals(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP209 for every non-stage cell reading a local of a stage above it that nothing else binds."""
    if not nbf.stages:
        return
    outside = _bound_outside_stages(nbf)
    for facts in nbf.cells:
        if facts.role == "stage":
            continue  # a stage reading another's local is NBP101 / NBP103
        for name, loc in facts.reads.items():
            if name in outside or name in nbf.outputs or name not in nbf.stage_binds:
                continue
            above = [s for s in nbf.stage_binds[name] if nbf.by_stage(s).index < facts.index]
            if above:
                yield _diagnostic(nbf, facts, name, above[-1], loc)


def _bound_outside_stages(nbf: NotebookFacts) -> set[str]:
    names = set(nbf.provided)
    for facts in nbf.cells:
        if facts.role != "stage":
            names.update(facts.info.binds)
    return names


def _diagnostic(nbf: NotebookFacts, facts: CellFacts, name: str, stage: str, loc: tuple[int, int]) -> Diagnostic:
    header = nbf.by_stage(stage).header
    assert header is not None
    fixed = header.canonical() if name in header.outputs else f"{header.canonical()} --out {name}"
    if header.outputs and name not in header.outputs:
        fixed = header.canonical().replace("--out ", f"--out {name} ", 1)
    message = (
        f"{cell_label(facts.index)} reads {name!r}, a local of stage {stage!r} that is not among its --out: "
        "it exists after the stage runs but not after a restore from the cache"
    )
    return diag("NBP209", message, f"declare it: %%stage {fixed}", facts, loc, names=(name,), stage=stage)
