# ruff: noqa: E501  (tables of cell sources read best one cell per line)
"""Test notebooks for the analyzer: one that triggers each code, and near misses that must not.

Each entry is a list of cell specs for :func:`tests.analysis_notebooks.build.notebook`.
"""

from __future__ import annotations

from typing import Any

from nbpipe.header import parse_header
from nbpipe.model import STAGE_MIME
from nbpipe.source import source_hash, split_stage
from tests.analysis_notebooks.build import CellSpec, code

#: the cell that makes %%stage a magic in Jupyter (NBP211 when no cell above the first stage has it)
LOAD = "%load_ext nbpipe"
SETUP = "import numpy as np\nimport pandas as pd\n\ndef clean(frame):\n    return frame.dropna()"
PARAMS = ("params", "n = 10\nseed = 0")


def ran(source: str, count: int, *, status: str = "ran", hash_of: str | None = None) -> dict[str, Any]:
    """A stage cell with a saved bundle, hashed from ``hash_of`` (default: its own source)."""
    line, body = split_stage(hash_of or source)
    header = parse_header(line or "")
    bundle = {"stage": header.name, "key": "k" * 32, "source_hash": source_hash(header.canonical(), body),
              "status": status, "seconds": 0.1}  # fmt: skip
    output = {"output_type": "display_data", "metadata": {}, "data": {STAGE_MIME: bundle, "text/plain": "ran"}}
    return code(source, count, [output])


#: code -> a notebook that must report it (among possibly others).
TRIGGERS: dict[str, list[CellSpec]] = {
    "NBP001": [SETUP, "x = (1,\n"],
    "NBP002": [SETUP, "%%stage 1load --out raw\nraw = 1"],
    "NBP101": [SETUP, "%%stage prep --out xs ys\nxs, ys = [1], [2]", "%%stage fit --in xs\nmodel = (xs, ys)"],
    "NBP102": [SETUP, "%%stage prep --out xs\nxs = [1]\nys = [2]", "%%stage fit --in xs ys\nmodel = (xs, ys)"],
    "NBP103": [SETUP, "%%stage fit --in features\nmodel = features"],
    "NBP104": [SETUP, "%%stage load --out raw cleaned\nraw = pd.DataFrame()"],
    "NBP105": [SETUP, "%%stage a --out raw\nraw = 1", "%%stage b --out raw\nraw = 2"],
    "NBP106": [SETUP, "%%stage a --in y --out x\nx = y + 1", "%%stage b --in x --out y\ny = x + 1"],
    "NBP107": [SETUP, "%%stage report --in total\nprint(total)", "%%stage compute --out total\ntotal = 3"],
    "NBP201": [SETUP, "%%stage load --out raw\nraw = pd.DataFrame({'a': [1]})",
               "%%stage fix --in raw --out fixed\nraw.fillna(0, inplace=True)\nfixed = raw"],
    "NBP202": [SETUP, "%%stage load --out raw\nraw = [1, 2]", "threshold = max(raw)",
               "%%stage big --in raw threshold --out big\nbig = [r for r in raw if r > threshold]"],
    "NBP203": [code("a = 1", 2), code("b = a + 1", 1)],
    "NBP204": [SETUP, ran("%%stage load --out raw\nraw = [1, 2, 3]", 1, hash_of="%%stage load --out raw\nraw = [1, 2]")],
    "NBP205": [SETUP, "%%stage load --out raw\nraw = eval('1 + 1')"],
    "NBP206": [SETUP, "%%stage load --out raw\nraw = pd.read_csv('data/in.csv')"],
    "NBP207": [SETUP, "%%stage load --out raw\nraw = [1]\nscale = 2", "def scaled(xs):\n    return [x * scale for x in xs]",
               "%%stage use --in raw --out out\nout = scaled(raw)"],
    "NBP208": ["print(later)", "later = 1"],
    "NBP209": ["%%stage s --out total\nser = [1, 2]\ntotal = sum(ser)", "print(ser)"],
    "NBP210": ["%%stage s --out f\ndef f():\n    return 1"],
    "NBP211": [SETUP, "%%stage load --out raw\nraw = [1]", LOAD],
}  # fmt: skip

#: name -> a notebook that must report no diagnostic at all.
CLEAN: dict[str, list[CellSpec]] = {
    "diamond": [
        LOAD,
        ("md", "# Diamond"),
        SETUP,
        PARAMS,
        "%%stage load --out raw\nraw = pd.DataFrame({'a': np.arange(n)})",
        "%%stage left --in raw --out l\nl = clean(raw) * 2",
        "%%stage right --in raw --out r\nr = raw.sample(frac=0.5, random_state=seed)",
        "%%stage join --in l r --out total\ntotal = len(l) + len(r)",
        "total",
    ],
    "comprehension shadows an output": [
        LOAD,
        SETUP,
        "%%stage load --out raw\nraw = [1, 2]",
        "%%stage other --out xs\nxs = [3]",
        "%%stage use --in raw --out doubled\ndoubled = [xs * 2 for xs in raw]\npairs = {k: v for k, v in zip(raw, raw)}",
    ],
    "parameter shadows an output": [
        LOAD,
        SETUP,
        "%%stage load --out raw\nraw = [1, 2]",
        "%%stage other --out scale\nscale = 3",
        "%%stage use --in raw --out out\ndef times(values, scale=2):\n    return [v * scale for v in values]\nout = times(raw)",
        "%%stage lam --in raw --out out2\nf = lambda scale: scale + 1\nout2 = [f(x) for x in raw]",
    ],
    "method call that only reads": [
        LOAD,
        SETUP,
        "%%stage load --out raw\nraw = pd.DataFrame({'a': [1, None]})",
        "%%stage stats --in raw --out summary\nsummary = raw.describe()\nmeans = raw.mean()\nraw.head()\nn_rows = raw.shape[0]",
    ],
    "name rebound locally before use": [
        LOAD,
        SETUP,
        "%%stage load --out raw\nraw = [1, 2]\nys = [0]",
        "%%stage use --in raw --out out\nys = [r + 1 for r in raw]\nout = sum(ys)",
        "%%stage copy --in raw --out cleaned\nraw = list(raw)\nraw.append(3)\ncleaned = raw",
    ],
    "magics and shell lines": [
        LOAD,
        SETUP,
        "%matplotlib inline",
        "%%stage load --out raw\n%time raw = np.arange(10)\n!echo loading\nfiles = !ls",
        "%%stage fit --in raw --out model\n%timeit -n 1 raw.sum()\nmodel = raw.mean()",
        "%%time\nprint(model)",
        "!ls {len(raw)}",
    ],
    "exploration reads outputs": [
        LOAD,
        SETUP,
        "%%stage load --out raw\nraw = pd.DataFrame({'a': [1, 2]})",
        "raw.plot()\nsummary = raw.describe()\nsummary",
    ],
    "declared files": [
        LOAD,
        SETUP,
        "%%stage load --file-in data/in.csv --out raw\nraw = pd.read_csv('data/in.csv')",
        "%%stage save --in raw --file-out out/clean.csv\nraw.to_csv('out/clean.csv')",
    ],
    "fresh bundle": [LOAD, SETUP, ran("%%stage load --out raw\nraw = [1, 2, 3]", 1)],
    "scoping corners": [
        LOAD,
        "import json\nfrom collections import Counter\nLIMIT = 10\nclass Box:\n    size = LIMIT\n    def grow(self):\n        return self.size + 1",
        "%%stage parse --out data\ntry:\n    data = json.loads('{}')\nexcept ValueError as err:\n    data = {'error': str(err)}\nwith open('x.json') as fh:  # nbpipe: ignore[NBP206]\n    text = fh.read()",
        "%%stage count --in data --out counts\ncounts = Counter()\nfor key in data:\n    counts[key] += 1\nif (size := len(counts)) > LIMIT:\n    counts = Counter()",
        "%%stage shapes --in counts --out kinds\nmatch counts:\n    case {'a': first, **rest}:\n        kinds = [first, rest]\n    case [head, *tail]:\n        kinds = [head, tail]\n    case _:\n        kinds = []",
        "%%stage nested --in kinds --out total\ndef outer():\n    acc = 0\n    def inner():\n        nonlocal acc\n        acc += len(kinds)\n    inner()\n    return acc\ntotal = outer()\ndel outer",
    ],
    "increasing counts and empty cells": [code("a = 1", 1), code("", None), code("b = a", 3), code("c = b", 7)],
}  # fmt: skip

#: name -> (notebook, codes that must not be reported): near misses of one rule.
NEAR_MISSES: dict[str, tuple[list[CellSpec], set[str]]] = {
    "a generator made inside the stage, or numpy's global state, is not NBP201": (
        ["import numpy as np", "SEED = 1", "%%stage s --out x\nrng = np.random.default_rng(SEED)\nx = rng.integers(9)",
         "%%stage t --out y\ny = np.random.normal()"],
        {"NBP201"},
    ),
    "reading a stage's output, or a name a plain cell binds too, is not NBP209": (
        ["%%stage s --out total\nser = [1, 2]\ntotal = sum(ser)\nn = 2", "print(total)", "n = 3", "print(n)",
         "print(ser) if False else None\nser = 0"],
        {"NBP209"},
    ),
    "mutating a local copy is not NBP201": (
        [SETUP, "%%stage load --out raw\nraw = pd.DataFrame({'a': [1]})",
         "%%stage fix --in raw --out fixed\nfixed = raw.copy()\nfixed['b'] = 1\nfixed.fillna(0, inplace=True)"],
        {"NBP201"},
    ),
    "os.remove on a module is not a mutation": (
        ["import os", "%%stage clean --out done\nos.remove\nos.environ.pop('X', None)\ndone = True"],
        {"NBP201", "NBP202"},
    ),
    "a function defined later but called later is fine": (
        ["def f():\n    return g()", "def g():\n    return 1", "f()"],
        {"NBP208"},
    ),
    "a function called before its global is bound is NBP208 only when really called": (
        ["def f():\n    return later", "x = 1", "later = 2", "f()"],
        {"NBP208"},
    ),
    "a loop reading a name bound later in the same loop": (
        ["rows = [1, 2]", "for r in rows:\n    if r > 1:\n        print(prev)\n    prev = r", "prev = 0"],
        {"NBP208"},
    ),
    "a setup function that reads a parameter or constant is not NBP207": (
        [("params", "alpha = 0.5"), "K = 3\ndef shrink(x):\n    return x * alpha * K",
         "%%stage s --out y\ny = shrink(1)"],
        {"NBP207", "NBP101"},
    ),
    "a URL is not a local file": (
        [SETUP, "%%stage load --out raw\nraw = pd.read_csv('https://example.com/x.csv')"],
        {"NBP206"},
    ),
    "setup names need no --in": (
        [SETUP, "%%stage load --out raw\nraw = clean(pd.DataFrame())"],
        {"NBP101", "NBP103", "NBP202"},
    ),
    "a class attribute is not a global": (
        ["class C:\n    value = 1\n    other = value + 1", "v = C.other"],
        {"NBP208"},
    ),
    "a name %run may bind is not NBP208 when a later cell binds it too": (
        ["%run prepare.py\nprint(table)", "table = {}"],
        {"NBP208"},
    ),
    "a name %store -r restores is bound": (
        ["%store -r token\nprint(token)", "token = 'x'"],
        {"NBP208"},
    ),
    "names after a star import in the same cell may come from it": (
        ["from shapes import *\narea = circle(2)", "def circle(r):\n    return r"],
        {"NBP208"},
    ),
    "functions of a %%cython cell are bound": (
        ["%%cython\ncpdef long twice(long n):\n    return 2 * n", "twice(3)", "def twice(n):\n    return 2 * n"],
        {"NBP208"},
    ),
    "non-Python cell magics are not parsed as Python": (
        ["%%bash\necho $later {later}", "%%html\n<b>{later}</b>", "%%javascript\nlet v = later;",
         "%%sql\nselect later from t", "later = 1"],
        {"NBP208", "NBP001"},
    ),
    "help lines and IPython history names are no reads": (
        ["later?\nlen??", "print(_, __, _2, _i2, Out[2], In[1])", "later = 1\n_ = 2"],
        {"NBP208"},
    ),
    "a stage rebinding an input it declared is not NBP102": (
        [SETUP, "%%stage load --out raw\nraw = [1]", "%%stage a --in raw --out b\nraw = raw + [2]\nb = raw",
         "%%stage c --in raw --out d\nd = raw"],
        {"NBP102", "NBP101"},
    ),
}  # fmt: skip
