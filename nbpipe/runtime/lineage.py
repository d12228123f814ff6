"""Lineage of an output: the stages, parameters and files it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbpipe.cache.store import Store
from nbpipe.errors import PipelineError
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import plan_notebook


@dataclass
class StageLineage:
    """One stage on an output's path."""

    name: str
    key: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    params: dict[str, object] = field(default_factory=dict)
    files_in: tuple[str, ...] = ()
    files_out: tuple[str, ...] = ()


def lineage(nb: Notebook, output: str, store: Store) -> list[StageLineage]:
    """The stages ``output`` depends on, upstream first, with what each read (from the cache).

    Raises:
        PipelineError: no stage outputs ``output``.
    """
    plan = plan_notebook(nb)
    producer = plan.producers.get(output)
    if producer is None:
        raise PipelineError(
            f"no stage of {nb.path} outputs {output!r}", hint="outputs: " + ", ".join(sorted(plan.producers))
        )
    found = []
    for name in plan.upstream([producer]):
        header = plan.stages[name].header
        latest = store.latest(name)
        found.append(
            StageLineage(
                name=name,
                key=latest.key if latest else "",
                inputs=header.inputs,
                outputs=header.outputs,
                params=dict(latest.key_inputs.params) if latest else {},
                files_in=header.file_inputs,
                files_out=header.file_outputs,
            )
        )
    return found
