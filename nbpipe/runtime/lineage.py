"""Lineage of an output: the stages, parameters and files it came from, across notebooks."""

from __future__ import annotations

import os
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
    imported: dict[str, str] = field(default_factory=dict)  # input -> its notebook as written (--in NAME@NOTEBOOK)
    notebook: str = ""  # the notebook of a stage read through --in NAME@NOTEBOOK, relative to the first one's folder

    @property
    def label(self) -> str:
        """``featurize``, or ``prep.py:featurize`` for a stage of another notebook (as ``nbpipe run`` names it)."""
        return f"{self.notebook}:{self.name}" if self.notebook else self.name


def lineage(
    nb: Notebook, output: str, store: Store, root: str = "", seen: frozenset[str] = frozenset()
) -> list[StageLineage]:
    """The stages ``output`` depends on, upstream first, with what each read (from the cache).

    An input read from another notebook (``--in NAME@NOTEBOOK``) is followed into that notebook
    (its entries looked up in the same store, scoped by its file name, as ``nbpipe run`` keeps them).

    Args:
        root: the folder the notebooks are named relative to (default: ``nb``'s).
        seen: notebooks already on the path (a cycle across notebooks stops there).

    Raises:
        PipelineError: no stage outputs ``output``, or a notebook read cannot be read.
    """
    plan = plan_notebook(nb, imports=True)
    root = root or plan.base_dir
    label = "" if not seen else os.path.relpath(os.path.abspath(nb.path), root)
    producer = plan.producers.get(output)
    if producer is None:
        raise PipelineError(
            f"no stage of {nb.path} outputs {output!r}", hint="outputs: " + ", ".join(sorted(plan.producers))
        )
    found: list[StageLineage] = []
    for name in plan.upstream([producer]):
        header = plan.stages[name].header
        for read, written in header.notebook_inputs:
            found.extend(
                _imported(os.path.join(plan.base_dir, written), read, store, root, seen | {os.path.abspath(nb.path)})
            )
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
                imported=dict(header.notebook_inputs),
                notebook=label,
            )
        )
    unique = {(s.notebook, s.name): s for s in found}  # two readers of one notebook: its stages once
    return list(unique.values())


def _imported(path: str, output: str, store: Store, root: str, seen: frozenset[str]) -> list[StageLineage]:
    """The lineage of ``output`` in the notebook at ``path``, read by a stage of another notebook."""
    from nbpipe.notebook import read

    path = os.path.abspath(path)
    if path in seen:
        return []  # a cycle across notebooks: NBP106 reports it, lineage does not loop
    return lineage(read(path), output, Store.for_notebook(path, store.url), root, seen)
