"""Cut plain notebook cells into pieces for ``nbpipe annotate``, and what each piece's code implies.

A code cell becomes up to four pieces, in its own order (code is never reordered):

- a *setup* prefix: imports, session magics, definitions that read no data and
  constants, the same rule as a setup cell (:func:`~nbpipe.analysis.defuse.setup_facts`);
- the *work*: what binds or changes data;
- a *display* tail: trailing statements that only show values (``df.head()``,
  ``print(x)``, ``plt.plot(x, y)``), which stay plain exploration cells;
- a *raising* rest: from the line a saved traceback points at (a cell that raises by
  design), which stays out of the pipeline.

The module also answers, from the syntax alone, which names hold objects that cannot
be stage outputs (modules, functions, classes, lambdas, generators, open files,
figures) and which pieces draw from a random generator.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nbpipe.analysis.defuse import cell_info, parse, setup_facts
from nbpipe.analysis.effects import MUTATING_FUNCTIONS, MUTATING_METHODS, root_name
from nbpipe.source import session_magic

#: Modules whose calls draw (or seed) the process-wide random state.
_GLOBAL_RANDOM = frozenset({"np.random", "numpy.random", "random"})
#: Constructors of random generators: calling them draws nothing, using their result does.
RNG_CONSTRUCTORS = frozenset({"RandomState", "default_rng", "Generator", "Random", "PCG64", "MT19937", "SeedSequence"})
#: Plotting roots and calls whose results are figures or axes, not data.
_PLOT_ROOTS = frozenset({"plt", "pylab", "matplotlib", "sns", "seaborn", "mpl"})
_PLOT_CALLS = frozenset(
    {
        "subplots", "subplot", "figure", "gca", "gcf", "axes", "add_subplot", "add_axes", "twinx", "twiny",
        "plot", "scatter", "hist", "hist2d", "bar", "barh", "imshow", "contour", "contourf", "pcolormesh",
        "colorbar", "legend", "errorbar", "fill_between", "boxplot", "violinplot", "pie", "text", "annotate",
        "plot_surface", "plot_wireframe", "scatter3D", "plot3D", "quiver", "stem", "step", "hexbin", "matshow",
        "subplot2grid", "GridSpec", "get_figure", "pairplot", "heatmap", "FacetGrid", "jointplot", "lmplot",
    }
)  # fmt: skip
#: Methods that return a view of a value without changing it: a trailing call of one only shows.
_SHOWING_METHODS = frozenset(
    {
        "head", "tail", "describe", "info", "sum", "mean", "median", "std", "var", "min", "max", "count",
        "nunique", "unique", "value_counts", "round", "to_string", "keys", "values", "items", "isnull", "notnull",
        "isna", "notna", "any", "all", "argmax", "argmin", "cumsum", "cumprod", "reshape", "corr", "cov", "get",
        "astype", "copy", "transpose", "ravel", "flatten", "tolist", "to_numpy", "to_frame", "sort_values",
        "sort_index", "groupby", "agg", "aggregate", "apply", "query", "eval", "loc", "iloc", "stack", "unstack",
        "pivot_table", "dropna", "fillna", "drop", "rename", "reset_index", "set_index", "merge", "join", "concat",
        "format", "split", "strip", "lower", "upper", "score", "predict", "predict_proba", "transform",
        "shape", "dtype", "dtypes", "size", "ndim", "nbytes", "itemsize", "T",
    }
)  # fmt: skip
_SHOWING_FUNCTIONS = frozenset({"print", "display", "repr", "str", "len", "type", "list", "tuple", "sorted", "dict",
                                "set", "sum", "min", "max", "abs", "round", "id", "isinstance", "zip", "enumerate",
                                "range", "help"})  # fmt: skip
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Cut:
    """One piece of a cell's source: a contiguous range of its lines."""

    source: str
    role: str  # "setup" | "code" | "display" | "raises"


def cuts(source: str, raising_line: int | None = None) -> list[Cut]:
    """The pieces of a plain code cell (one cut when the cell cannot be cut at line boundaries)."""
    tree, lines = _tree_and_lines(source)
    if tree is None or not tree.body:
        return [Cut(source, "raises" if raising_line is not None else "code")]
    body = tree.body
    stop = _raising_statement(body, raising_line)
    roles = _roles(body[:stop]) + ["raises"] * (len(body) - stop)
    found: list[tuple[int, int, str]] = []
    for index, role in enumerate(roles):
        if found and found[-1][2] != role and not _cut_after(body[index - 1], lines):
            role = found[-1][2]  # the statement before would become the last: IPython would show its value
        if found and found[-1][2] == role:
            found[-1] = (found[-1][0], index + 1, role)
        else:
            found.append((index, index + 1, role))
    if any(s and body[s].lineno <= (body[s - 1].end_lineno or body[s - 1].lineno) for s, _, _ in found):
        return [Cut(source, "raises" if stop < len(body) else "code")]  # a cut inside a line: a = 1; b = 2
    pieces = [Cut(_segment(lines, body, start, end), role) for start, end, role in found]
    return pieces if _cuttable(pieces) else [Cut(source, "raises" if stop < len(body) else "code")]


def _cuttable(pieces: list[Cut]) -> bool:
    """False if a piece reads a name only a later piece of the cell binds (the cut would hide a NameError)."""
    later: set[str] = set()
    for piece in reversed(pieces):
        info = cell_info(piece.source)
        if info.error is not None or later.intersection(info.outside):
            return False
        later.update(info.binds)
    return True


def _cut_after(node: ast.stmt, lines: list[str]) -> bool:
    """False after an expression statement (a cell shows its last one) unless ``;`` hides it."""
    if not isinstance(node, ast.Expr) or session_magic(node):
        return True
    end = node.end_lineno or node.lineno
    return lines[end - 1].split("#", 1)[0].rstrip().endswith(";") if end <= len(lines) else False


def _roles(body: list[ast.stmt]) -> list[str]:
    """Per statement: "setup" (leading setup statements, and imports/definitions anywhere), "display"
    (the trailing statements that only show values) or "code".

    A cell that draws is not cut after its setup prefix: the inline backend shows a figure at
    the end of the cell that drew it, so the rest stays one piece (an exploration cell).
    """
    setup_end = _setup_prefix(body)
    if plots(ast.Module(body=body[setup_end:], type_ignores=[])):
        return ["setup"] * setup_end + ["display"] * (len(body) - setup_end)
    display_start = _display_tail(body, setup_end)
    roles = ["setup"] * setup_end + ["code"] * (display_start - setup_end) + ["display"] * (len(body) - display_start)
    for index in range(setup_end, display_start):
        if isinstance(body[index], _DEFINITIONS) and _plain_setup([body[index]]):
            roles[index] = "setup"
    for index in range(len(roles)):  # a session magic (%matplotlib inline) goes with the statement before it
        if session_magic(body[index]) and index and roles[index] == "code":
            roles[index] = roles[index - 1]
    return roles


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _tree_and_lines(source: str) -> tuple[ast.Module | None, list[str]]:
    """The AST and the source lines, if line numbers of the AST are lines of the source."""
    lines = source.split("\n")
    if source.lstrip().startswith("%%"):
        return None, lines  # a cell magic: IPython's transform does not keep the lines
    try:
        tree = parse(source)
    except SyntaxError:
        return None, lines
    last = max((n.end_lineno or n.lineno) for n in tree.body) if tree.body else 0
    return (tree if last <= len(lines) else None), lines


def _segment(lines: list[str], body: list[ast.stmt], start: int, end: int) -> str:
    """Source lines of statements ``body[start:end]``; comments above a statement go with it."""
    first = 0 if start == 0 else (body[start - 1].end_lineno or body[start - 1].lineno)
    last = len(lines) if end == len(body) else (body[end - 1].end_lineno or body[end - 1].lineno)
    return "\n".join(lines[first:last]).strip("\n")


def _raising_statement(body: list[ast.stmt], line: int | None) -> int:
    """Index of the top-level statement holding ``line`` (len(body) when there is none)."""
    if line is None:
        return len(body)
    for index, node in enumerate(body):
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            return index
    return len(body)


def _setup_prefix(body: list[ast.stmt]) -> int:
    """How many leading statements form a setup cell by themselves."""
    end = 0
    for index, node in enumerate(body):
        if _plain_setup(body[: index + 1]):
            end = index + 1
        elif not session_magic(node):
            break
    return end


def _plain_setup(statements: list[ast.stmt]) -> bool:
    is_setup, _ = setup_facts(ast.Module(body=statements, type_ignores=[]))
    return is_setup and constant_only(statements[-1])


def constant_only(node: ast.stmt) -> bool:
    """False for an assignment that computes data (a call other than a generator's constructor).

    The analyzer counts ``df = pd.read_csv(p)`` after ``import pandas`` as a setup
    constant; annotate makes it a stage, so that loading is a step of the pipeline.
    """
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return True
    if _rng_value(node.value):
        return not random_draws(node.value)
    return not any(isinstance(part, ast.Call) for part in ast.walk(node.value))


def setup_only(tree: ast.Module) -> bool:
    """A whole cell that stays a setup cell: imports, definitions and constants computed without calls."""
    return all(constant_only(node) for node in tree.body)


def _display_tail(body: list[ast.stmt], start: int) -> int:
    """Where the trailing statements that only show values begin (``len(body)`` when there are none)."""
    tail = len(body)
    while tail > start and _shows_only(body[tail - 1]):
        tail -= 1
    return tail


def _shows_only(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and _pure(node.value) and not session_magic(node)


def _pure(node: ast.expr) -> bool:
    """An expression that shows values and changes nothing (as far as the syntax tells)."""
    for part in ast.walk(node):
        if isinstance(part, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom, ast.Lambda)):
            return False
        if isinstance(part, ast.Call) and not _showing_call(part):
            return False
    return True


def _showing_call(call: ast.Call) -> bool:
    func = call.func
    if any(k.arg == "inplace" for k in call.keywords):
        return False
    if isinstance(func, ast.Name):
        return func.id in _SHOWING_FUNCTIONS
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in MUTATING_METHODS or func.attr in MUTATING_FUNCTIONS:
        return False
    dotted = dotted_name(func.value)
    if dotted in _GLOBAL_RANDOM or "random" in dotted.split("."):
        return False
    root = root_name(func)
    return func.attr in _SHOWING_METHODS or (root is not None and root.id in _PLOT_ROOTS) or func.attr in _PLOT_CALLS


def plots(tree: ast.AST) -> bool:
    """True if the code draws: a call on ``plt``/``sns``… or a plotting method (``ax.plot``, ``df.hist``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root = root_name(node.func)
            if node.func.attr in _PLOT_CALLS or (root is not None and root.id in _PLOT_ROOTS):
                return True
    return False


def implicit_random(tree: ast.AST) -> str:
    """The first call of a library function that draws from the global random state unless given
    ``random_state`` (``train_test_split(X, y)``, ``RandomForestClassifier()``), else ``""``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or any(k.arg in {"random_state", "seed"} for k in node.keywords):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in _RANDOM_APIS:
            return name
    return ""


_RANDOM_APIS = frozenset(
    {
        "train_test_split", "KFold", "StratifiedKFold", "ShuffleSplit", "StratifiedShuffleSplit", "shuffle",
        "resample", "make_blobs", "make_moons", "make_circles", "make_classification", "make_regression",
        "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
        "GradientBoostingClassifier", "GradientBoostingRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
        "KMeans", "MiniBatchKMeans", "GaussianMixture", "TSNE", "SGDClassifier", "SGDRegressor", "MLPClassifier",
        "MLPRegressor", "RandomizedSearchCV", "permutation_importance", "BaggingClassifier", "IsolationForest",
    }
)  # fmt: skip


def dotted_name(node: ast.expr) -> str:
    """``np.random`` for an attribute chain of names, else ``""``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(node.id)
    return ".".join(reversed(parts))


def random_draws(tree: ast.AST) -> bool:
    """True if the code seeds or draws from the process-wide random state (``np.random.rand``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = dotted_name(node.func.value)
            if owner in _GLOBAL_RANDOM and node.func.attr not in RNG_CONSTRUCTORS:
                return True
    return False


def drawing_functions(tree: ast.Module) -> set[str]:
    """Top-level functions of a cell whose body draws from the global random state."""
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and random_draws(node)
    }


def seeds(tree: ast.AST) -> bool:
    """True if the code seeds the process-wide random state (``np.random.seed(0)``, ``random.seed(1)``)."""
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "seed"
        and dotted_name(node.func.value) in _GLOBAL_RANDOM
        for node in ast.walk(tree)
    )  # fmt: skip


def _rng_value(value: ast.expr) -> bool:
    func = value.func if isinstance(value, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in RNG_CONSTRUCTORS


def generators(tree: ast.AST) -> set[str]:
    """Top-level names bound to random generators (``rng = np.random.default_rng(0)``)."""
    return {
        target.id
        for node in _top(tree)
        if isinstance(node, ast.Assign) and _rng_value(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def unpicklable(tree: ast.AST) -> set[str]:
    """Top-level names bound to what cannot be a stage output: lambdas, generators, files, figures.

    Modules, functions and classes come from the def/use facts (``imports``, ``defs``).
    """
    found: set[str] = set()
    for node in _top(tree):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            found.update(n.id for item in node.items if item.optional_vars is not None
                         for n in ast.walk(item.optional_vars) if isinstance(n, ast.Name))  # fmt: skip
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if value is None or not _unpicklable_value(value, found):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
        for target in targets:
            found.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return found


def _unpicklable_value(value: ast.expr, known: set[str]) -> bool:
    if isinstance(value, (ast.Lambda, ast.GeneratorExp)):
        return True
    if isinstance(value, ast.Name):
        return value.id in known
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        return func.id in {"open", "iter", "map", "filter"}
    if isinstance(func, ast.Attribute):
        root = root_name(func)
        return func.attr in _PLOT_CALLS or (root is not None and (root.id in _PLOT_ROOTS or root.id in known))
    return False


def _top(tree: ast.AST) -> list[ast.stmt]:
    """Module-level statements, looking into ``if``/``for``/``with``/``try`` blocks (not into functions)."""
    found: list[ast.stmt] = []
    todo = list(getattr(tree, "body", []))
    while todo:
        node = todo.pop(0)
        found.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            todo.extend(getattr(node, name, []) or [])
        for handler in getattr(node, "handlers", []) or []:
            todo.extend(handler.body)
    return found


def raising_line(outputs: list[dict[str, object]]) -> tuple[str, int | None] | None:
    """(exception name, line in the cell) of a saved error output, if the cell raised."""
    for output in outputs:
        if output.get("output_type") != "error":
            continue
        name = str(output.get("ename") or "an exception")
        frames = output.get("traceback")
        trace = _ANSI.sub("", "\n".join(str(t) for t in frames) if isinstance(frames, list) else "")
        found = re.search(r"Cell In\s*\[[^\]]*\],\s*line (\d+)", trace)
        if found is None:
            block = trace.split("<ipython-input-", 1)
            found = re.search(r"^-+>\s*(\d+)", block[1], re.MULTILINE) if len(block) == 2 else None
        return name, int(found.group(1)) if found else None
    return None
