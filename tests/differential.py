"""Random notebooks for the differential suite (issue 9): a spec, its notebook, its plain-Python answer.

A :class:`NotebookSpec` describes a notebook that keeps every rule of DESIGN §2–§5:
setup cells (imports, literal constants, values computed by calls — one read from
the environment, one from a config file the test writes — and helpers, one calling
the other), a cell tagged ``parameters`` and a DAG of stages ``s0 … sN`` in notebook
order, each reading outputs of earlier stages (or none: parallel branches), setup
names, parameters, helpers and optionally ``--file-in data.txt``. Outputs are small
ints, strings, lists, dicts, NumPy arrays and pandas frames.

:func:`reference` computes what every target must compute: the cells executed top to
bottom as plain Python in one namespace, with no nbpipe at all.

:func:`notebooks` is the hypothesis strategy. Everything here is deterministic and
needs no kernel.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from hypothesis import strategies as st

ENV_VAR = "NBP_DIFF_N"  # the environment variable the setup value ``N`` comes from
NOTEBOOK = "nb.ipynb"
DATA_FILE = "data.txt"
CONFIG_FILE = "config.json"

KINDS = ("int", "str", "list", "dict", "array", "frame")

#: setup names a stage may read directly, and what the stage adds to its accumulator
READABLE = {
    "K0": "K0",  # literal constant (int)
    "LABEL": "len(LABEL)",  # literal constant (str)
    "N": "int(N)",  # from the environment: os.environ.get(ENV_VAR, "1")
    "L": "L",  # from a deterministic call: math.gcd(12, 18) (NotebookSpec.l_call)
    "CFG": "CFG",  # from a config file: json.loads(pathlib.Path(CONFIG_FILE).read_text())["scale"]
    "P0": "P0",  # parameter (int)
    "P1": "len(P1)",  # parameter (str)
}
#: setup names whose value comes from outside the notebook's source: what a test may change
EXTERNAL = {"env": "N", "config": "CFG"}


def build(kind: str, acc: str) -> str:
    """An expression of ``kind`` built from the int expression ``acc`` (injective in ``acc``)."""
    return {
        "int": f"{acc}",
        "str": f'"x" * ({acc} % 4) + str({acc})',
        "list": f'[{acc}, {acc} % 7, "t"]',
        "dict": f'{{"a": {acc}, "b": [{acc}, 1]}}',
        "array": f"np.arange(4, dtype=np.int64) * {acc}",
        "frame": f'pd.DataFrame({{"a": np.arange(3, dtype=np.int64) + {acc}, "b": ["x", "y", str({acc})]}})',
    }[kind]


def as_int(kind: str, name: str) -> str:
    """An int expression that reads the value ``name`` of ``kind`` (what a consumer adds)."""
    return {
        "int": name,
        "str": f"len({name})",
        "list": f"{name}[0]",
        "dict": f'{name}["a"]',
        "array": f"int({name}.sum())",
        "frame": f'int({name}["a"].sum())',
    }[kind]


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``%%stage sK --in … --out … [--file-in data.txt]``."""

    index: int
    inputs: tuple[str, ...]  # output names of earlier stages
    outputs: tuple[tuple[str, str], ...]  # (name, kind)
    reads: tuple[str, ...]  # setup names and parameters read directly (keys of READABLE)
    helper: str | None  # "h0" or "h1" (h1 calls h0), applied to the accumulator last
    file_in: bool

    @property
    def name(self) -> str:
        """``sK``."""
        return f"s{self.index}"

    def header(self) -> str:
        """The ``%%stage`` line."""
        parts = [f"%%stage {self.name}"]
        if self.inputs:
            parts.append("--in " + " ".join(self.inputs))
        parts.append("--out " + " ".join(name for name, _ in self.outputs))
        if self.file_in:
            parts.append(f"--file-in {DATA_FILE}")
        return " ".join(parts)

    def source(self, kinds: Mapping[str, str]) -> str:
        """The whole cell: header and body."""
        terms = [str(self.index + 1)]
        terms += [as_int(kinds[name], name) for name in self.inputs]
        terms += [READABLE[name] for name in self.reads]
        lines = [self.header(), "acc = " + " + ".join(terms)]
        if self.file_in:
            lines += [f'with open("{DATA_FILE}") as handle:', "    acc += len(handle.read())"]
        if self.helper:
            lines.append(f"acc = {self.helper}(acc)")
        for offset, (name, kind) in enumerate(self.outputs):
            lines.append(f"{name} = {build(kind, f'(acc + {offset})' if offset else 'acc')}")
        return "\n".join(lines)


@dataclass(frozen=True)
class NotebookSpec:
    """A whole notebook; see the module docstring."""

    k0: int
    label: str
    p0: int
    p1: str
    h0_reads: str  # the setup global helper h0 reads: "N", "CFG" or "K0"
    data_text: str
    config_scale: int
    stages: tuple[StageSpec, ...]
    # The value of ENV_VAR when the notebook runs first. One value for every example: the
    # targets run in one process, and a process pool's workers keep the environment
    # their server started with (test_parallel_workers_see_the_coordinators_environment).
    env_value: str = "1"
    changes: tuple[str, ...] = field(default=("env",))  # what the change test alters: "env" and/or "config"
    # The deterministic call that binds L. A module function (the cell imports math): the
    # analyzer calls such a cell setup; ``len("abc")`` has its own test.
    l_call: str = "math.gcd(12, 18)"

    @property
    def kinds(self) -> dict[str, str]:
        """Output name -> kind."""
        return {name: kind for stage in self.stages for name, kind in stage.outputs}

    @property
    def names(self) -> list[str]:
        """Stage names in notebook order."""
        return [stage.name for stage in self.stages]

    @property
    def outputs(self) -> list[str]:
        """Every stage output, in notebook order."""
        return [name for stage in self.stages for name, _ in stage.outputs]

    def producer(self, output: str) -> str:
        """The stage that outputs ``output``."""
        return next(s.name for s in self.stages if output in dict(s.outputs))

    def parents(self, stage: StageSpec) -> set[str]:
        """Stages whose outputs ``stage`` reads."""
        return {self.producer(name) for name in stage.inputs}

    def cells(self) -> list[tuple[str, str | None]]:
        """(source, tag) of every code cell, top to bottom."""
        helpers = textwrap.dedent(
            f"""\
            def h0(x):
                return x + {READABLE[self.h0_reads]}


            def h1(x):
                return h0(x) * 2 + 1"""
        )
        values = textwrap.dedent(
            f"""\
            import json
            import math
            import os
            import pathlib

            N = os.environ.get("{ENV_VAR}", "1")
            L = {self.l_call}
            CFG = json.loads(pathlib.Path("{CONFIG_FILE}").read_text())["scale"]"""
        )
        cells: list[tuple[str, str | None]] = [
            ("%load_ext nbpipe", None),
            ("import numpy as np\nimport pandas as pd", None),
            (f"K0 = {self.k0!r}\nLABEL = {self.label!r}", None),
            (values, None),
            (helpers, None),
            (f"P0 = {self.p0!r}\nP1 = {self.p1!r}", "parameters"),
        ]
        kinds = self.kinds
        cells += [(stage.source(kinds), None) for stage in self.stages]
        return cells

    def text(self) -> str:
        """The notebook as text, one cell after another (for failure messages and reports)."""
        parts = [f"# env {ENV_VAR}={self.env_value}; {CONFIG_FILE} = {self.config()}; {DATA_FILE} = {self.data_text!r}"]
        for index, (source, tag) in enumerate(self.cells()):
            parts.append(f"# ---- cell {index}" + (f" [{tag}]" if tag else ""))
            parts.append(source)
        return "\n".join(parts)

    def config(self, scale: int | None = None) -> str:
        """The config file's content."""
        return json.dumps({"scale": self.config_scale if scale is None else scale})

    def write(self, folder: Path) -> Path:
        """Write the notebook, its data file and its config file into ``folder``; the notebook's path."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DATA_FILE).write_text(self.data_text)
        (folder / CONFIG_FILE).write_text(self.config())
        made = [
            nbformat.v4.new_code_cell(source, metadata={"tags": [tag]} if tag else {}) for source, tag in self.cells()
        ]
        nb = nbformat.v4.new_notebook(cells=made)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = folder / NOTEBOOK
        nbformat.write(nb, path)
        return path

    # -- what a change of an external setup value must invalidate ---------------------

    def reads_external(self, stage: StageSpec, name: str) -> bool:
        """True if ``stage`` reads the setup value ``name`` directly or through a helper."""
        return name in stage.reads or (stage.helper is not None and self.h0_reads == name)

    def affected(self, changed: set[str]) -> list[str]:
        """Stages that read a changed setup value (directly or through a helper), then their descendants."""
        hit: set[str] = set()
        for stage in self.stages:
            if any(self.reads_external(stage, name) for name in changed) or self.parents(stage) & hit:
                hit.add(stage.name)
        return [s for s in self.names if s in hit]

    def direct(self, changed: set[str]) -> list[str]:
        """Stages that read a changed setup value themselves (directly or through a helper)."""
        return [s.name for s in self.stages if any(self.reads_external(s, n) for n in changed)]

    def why(self, stage: str, changed: set[str]) -> set[str]:
        """Names a stale reason for ``stage`` may mention: the changed values, the helpers, the parents."""
        spec = next(s for s in self.stages if s.name == stage)
        found = set(changed) | set(spec.inputs) | self.parents(spec)
        if spec.helper:
            found |= {"h0", spec.helper}
        return found


def changed_values(spec: NotebookSpec) -> dict[str, str]:
    """The external values after the change: ENV_VAR and the config scale (as text)."""
    return {
        "env": str(int(spec.env_value) + 4) if "env" in spec.changes else spec.env_value,
        "config": str(spec.config_scale + 3) if "config" in spec.changes else str(spec.config_scale),
    }


@contextmanager
def environment(folder: Path, env_value: str) -> Iterator[None]:
    """``ENV_VAR`` set and the working directory in ``folder`` (as a kernel started there has it)."""
    old_env, old_cwd = os.environ.get(ENV_VAR), os.getcwd()
    os.environ[ENV_VAR] = env_value
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = old_env


def reference(spec: NotebookSpec, folder: Path, env_value: str) -> dict[str, Any]:
    """Every stage output, computed by plain Python: the cells top to bottom in one namespace, no nbpipe."""
    namespace: dict[str, Any] = {"__name__": "__differential__"}
    with environment(folder, env_value):
        for source, _ in spec.cells():
            if source.startswith("%load_ext"):
                continue
            body = source.partition("\n")[2] if source.startswith("%%stage") else source
            exec(compile(body, "<reference>", "exec"), namespace)
    return {name: namespace[name] for name in spec.outputs}


def same(a: Any, b: Any) -> bool:
    """Equality that understands NumPy arrays and pandas frames (type, dtype and values)."""
    import numpy as np
    import pandas as pd

    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, pd.DataFrame):
        return bool(a.equals(b)) and list(a.dtypes) == list(b.dtypes) and list(a.columns) == list(b.columns)
    return bool(a == b)


# -- the hypothesis strategy -------------------------------------------------------------

_TEXT = st.text(alphabet="abcxyz \n", min_size=0, max_size=12)


@st.composite
def stage_specs(draw: st.DrawFn, count: int) -> tuple[StageSpec, ...]:
    """``count`` stages; each reads a random subset of earlier outputs (often none: parallel branches)."""
    stages: list[StageSpec] = []
    available: list[str] = []
    for index in range(count):
        chosen = draw(st.lists(st.sampled_from(available), unique=True, max_size=3)) if available else []
        inputs = tuple(name for name in available if name in chosen)  # declared in output order
        n_out = draw(st.integers(1, 2))
        outputs = tuple((f"v{index}" + ("" if k == 0 else "b"), draw(st.sampled_from(KINDS))) for k in range(n_out))
        reads = draw(st.lists(st.sampled_from(sorted(READABLE)), unique=True, max_size=3))
        helper = draw(st.sampled_from([None, None, "h0", "h1"]))
        file_in = draw(st.booleans())
        stages.append(StageSpec(index, inputs, outputs, tuple(sorted(reads)), helper, file_in))
        available += [name for name, _ in outputs]
    return tuple(stages)


@st.composite
def notebooks(draw: st.DrawFn, max_stages: int = 6) -> NotebookSpec:
    """A random notebook (see the module docstring)."""
    count = draw(st.integers(1, max_stages))
    return NotebookSpec(
        k0=draw(st.integers(0, 9)),
        label=draw(st.text(alphabet="abc", max_size=4)),
        p0=draw(st.integers(0, 9)),
        p1=draw(st.text(alphabet="pq", max_size=3)),
        h0_reads=draw(st.sampled_from(["N", "CFG", "K0"])),
        data_text=draw(_TEXT),
        config_scale=draw(st.integers(0, 9)),
        stages=draw(stage_specs(count)),
        changes=draw(st.sampled_from([("env",), ("config",), ("env", "config")])),
    )
