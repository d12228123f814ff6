"""Def/use of single cells: Python's scoping rules, mutations, files, magics (table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from nbpipe.analysis.defuse import cell_info
from nbpipe.analysis.scopes import is_builtin


@dataclass
class Case:
    source: str
    binds: set[str] = field(default_factory=set)  # module-level bindings (exact)
    reads: set[str] = field(default_factory=set)  # reads from outside the cell, builtins removed (exact)
    deferred: set[str] | None = None  # reads inside functions (exact), unchecked if None


CASES = {
    "assignment reads value first": Case("x = x + 1", {"x"}, {"x"}),
    "bound before read": Case("y = 1\nz = y", {"y", "z"}, set()),
    "function parameters and defaults": Case("def f(a, b=d):\n    return a + b + g", {"f"}, {"d"}, {"g"}),
    "lambda": Case("h = lambda q, r=s: q + t", {"h"}, {"s"}, {"t"}),
    "comprehension scope, first iterable outside": Case("out = [x for x in xs for y in x if y > lim]", {"out"},
                                                         {"xs", "lim"}),
    "dict and set comprehension": Case("d = {k: v for k, v in items}\ns = {e for e in d}", {"d", "s"}, {"items"}),
    "generator": Case("total = sum(v * w for v in vals)", {"total"}, {"vals", "w"}),
    "walrus in comprehension binds outside": Case("ys = [m for v in vs if (m := v)]", {"ys", "m"}, {"vs"}),
    "class body": Case("class C(B):\n    a = 1\n    b = a + k\n    def m(self):\n        return a", {"C"},
                       {"B", "k"}, {"a"}),
    "global in function binds module name": Case("def f():\n    global G\n    G = 1", {"f", "G"}, set()),
    "nonlocal": Case("def f():\n    n = 0\n    def g():\n        nonlocal n\n        n += 1\n    g()", {"f"}, set(),
                     set()),
    "del": Case("a = 1\ndel a\nb = a", {"a", "b"}, {"a"}),
    "augmented assignment reads": Case("acc += 1", {"acc"}, {"acc"}),
    "imports": Case("import os.path\nimport numpy as np\nfrom x import y as z", {"os", "np", "z"}, set()),
    "with and except": Case("with open(p) as fh:\n    t = fh.read()\ntry:\n    pass\nexcept E as err:\n    m = err",
                            {"fh", "t", "err", "m"}, {"p", "E"}),
    "for target": Case("for i, (j, k) in pairs:\n    s = i + j + k", {"i", "j", "k", "s"}, {"pairs"}),
    "match": Case("match v:\n    case {'a': x, **rest}:\n        pass\n    case [h, *t] if h > lo:\n        pass\n"
                  "    case Point(x=px) as whole:\n        pass", {"x", "rest", "h", "t", "px", "whole"},
                  {"v", "lo", "Point"}),
    "decorators and annotations are read at definition": Case("@deco(arg)\ndef f(a: T) -> R:\n    pass", {"f"},
                                                               {"deco", "arg", "T", "R"}),
    "time magic binds": Case("%time model = fit(X)", {"model"}, {"fit", "X"}),
    "shell interpolation": Case("!ls {folder} $pattern\nout = !pwd", {"out"}, {"folder", "pattern"}),
    "cell magic time": Case("%%time\na = b + 1", {"a"}, {"b"}),
    "capture binds its name": Case("%%capture cap\nprint(v)", {"cap"}, {"v"}),
    "timeit code runs in its own scope": Case("%%timeit\nacc = 0\nfor i in items:\n    acc += i", set(), {"items"}),
    "timeit line magic binds nothing": Case("%timeit best = fit(X)", set(), {"fit", "X"}),
    "store -r binds the names it restores": Case("%store -r df model", {"df", "model"}, set()),
    "store saves a name it reads": Case("%store result", set(), {"result"}),
    "aimport binds the module": Case("%aimport pkg.mod", {"pkg"}, set()),
    "cython cell binds its Python-visible definitions": Case(
        "%%cython\ndef f(int n):\n    return n\ncpdef double g(double x):\n    return x\ncdef int h():\n    return 0"
        "\ncdef class K:\n    pass", {"f", "g", "K"}, set()),
    "type annotation without value does not bind": Case("x: int", set(), set()),
    "conditional binding counts": Case("if c:\n    w = 1\nprint(w)", {"w"}, {"c"}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_defuse(name: str) -> None:
    case = CASES[name]
    info = cell_info(case.source)
    assert info.error is None
    assert set(info.binds) == case.binds
    assert {n for n in info.reads if not is_builtin(n)} == case.reads
    if case.deferred is not None:
        assert {n for n in info.deferred if not is_builtin(n)} == case.deferred


MUTATIONS = {
    "df['a'] = 1": {"df"},
    "df.loc[m, 'a'] = 0": {"df"},
    "obj.attr.sub = 1": {"obj"},
    "xs[0] += 1": {"xs"},
    "del d['k']": {"d"},
    "lst.append(1)": {"lst"},
    "frame.dropna(inplace=True)": {"frame"},
    "arr.sort()": {"arr"},
    "np.random.shuffle(arr)": {"np", "arr"} - {"np"},
    "cfg.update(a=1)": {"cfg"},
    "model.fit(X, y)": {"model"},
    "out = df.describe()\nm = df.mean()": set(),
    "df = df.copy()\ndf['a'] = 1": set(),
    "def f():\n    cache.clear()": {"cache"},
    "def f(cache):\n    cache.clear()": set(),
    "x = [v for v in items if v]\nx.append(1)": set(),
}


@pytest.mark.parametrize("source", sorted(MUTATIONS))
def test_mutations(source: str) -> None:
    assert {m.name for m in cell_info(source).mutations} == MUTATIONS[source]


FILES = {
    "open('a.txt')": ("a.txt", "read"),
    "open('a.txt', 'w')": ("a.txt", "write"),
    "open('a.txt', mode='a')": ("a.txt", "write"),
    "Path('p.json').read_text()": ("p.json", "read"),
    "pathlib.Path('o.txt').write_text(s)": ("o.txt", "write"),
    "pd.read_parquet('d.parquet')": ("d.parquet", "read"),
    "df.to_csv('out.csv', index=False)": ("out.csv", "write"),
    "np.load('a.npy')": ("a.npy", "read"),
    "np.savez('a.npz', x=x)": ("a.npz", "write"),
    "json.load(open('c.json'))": ("c.json", "read"),
    "plt.savefig('fig.png')": ("fig.png", "write"),
    "joblib.dump(model, 'm.joblib')": ("m.joblib", "write"),
    "joblib.load('m.joblib')": ("m.joblib", "read"),
    "%%writefile script.py\nprint(1)": ("script.py", "write"),
}


@pytest.mark.parametrize("source", sorted(FILES))
def test_files(source: str) -> None:
    files = cell_info(source).files
    assert [(f.path, f.mode) for f in files] == [FILES[source]]


@pytest.mark.parametrize(
    "source", ["pd.read_csv(path)", "pd.to_datetime('2020-01-01')", "requests.get('http://x')", "open(f'{d}/x')"]
)
def test_no_literal_file(source: str) -> None:
    assert cell_info(source).files == []


@pytest.mark.parametrize(
    ("source", "what"),
    [("globals()['x'] = 1", "globals()"), ("exec(code)", "exec()"), ("%run other.py", "%run"),
     ("%store x", "%store"), ("def f():\n    global g\n    g = 1", "global g"), ("v = vars()", "vars()")],
)  # fmt: skip
def test_dynamic(source: str, what: str) -> None:
    assert [d[0] for d in cell_info(source).dynamic] == [what]


def test_shadowed_eval_is_not_dynamic() -> None:
    assert cell_info("def eval(x):\n    return x\ny = eval(1)").dynamic == []


def test_syntax_error_location() -> None:
    info = cell_info("a = 1\nb = (\n")
    assert info.error is not None and info.error[1] == 2


@pytest.mark.parametrize("source", ["%run prep.py", "%load snippet.py", "%store -r", "x = 1\n%rerun 3"])
def test_wildcard_magics(source: str) -> None:
    assert len(cell_info(source).wildcards) == 1


def test_star_import() -> None:
    assert [s[0] for s in cell_info("from pylab import *").star_imports] == ["pylab"]


@pytest.mark.parametrize(
    ("source", "setup", "constants"),
    [("import x\nN = 3\nHALF = N // 2\ndef f():\n    pass", True, {"N", "HALF"}), ("N = len(x)", False, set()),
     ("'''doc'''\nclass A:\n    pass", True, set()), ("%matplotlib inline\nimport x", True, set()),
     ("%load_ext nbpipe", False, set()), ("%time import x", False, set())],
)  # fmt: skip
def test_setup_cells(source: str, setup: bool, constants: set[str]) -> None:
    info = cell_info(source)
    assert (info.setup, info.constants) == (setup, constants)


@pytest.mark.parametrize(
    ("source", "literals"),
    [("N = 3\nHALF = N // 2\nT = (1, 'a')", {"N", "HALF", "T"}), ("import os\nN = os.environ.get('N', '1')", set()),
     ("from config import T\nX = [1, 2]", {"X"}), ("N = 1\nimport N", set()), ("C = 1.0\nD = {'a': C}", {"C", "D"})],
)  # fmt: skip
def test_literal_setup_names(source: str, literals: set[str]) -> None:
    """Only values that follow from the source alone may be remembered by source (the setup memo)."""
    assert cell_info(source).literals == literals
