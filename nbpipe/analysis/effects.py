"""Side effects visible in the syntax: in-place mutations and literal file paths.

Both are recognised from the shape of a call or an assignment target, never from
types (the analyzer does not execute code), so the tables below list method names
that mutate their receiver whatever it is, and the I/O functions of the common
data-science libraries that take a path.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

#: Methods that change their receiver in place (list, dict, set, deque, ndarray,
#: DataFrame/Series, estimators).
MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse",  # list
        "update", "setdefault", "popitem",  # dict
        "add", "discard", "intersection_update", "difference_update", "symmetric_difference_update",  # set
        "appendleft", "extendleft", "popleft", "rotate",  # deque
        "fill", "resize", "itemset", "put", "partition", "setflags", "byteswap",  # ndarray
        "fit", "partial_fit",  # estimators learn in place
    }
)  # fmt: skip

#: Draws from a random generator (numpy ``Generator``/``RandomState``, ``random.Random``):
#: each one advances the generator's state, so a stage drawing from a setup generator
#: gets other numbers in every target (``sample`` is left out: DataFrames have it too).
#: Only a plain variable counts as the receiver: ``np.random.normal()`` is the global state.
RNG_DRAWS = frozenset(
    {
        "integers", "random", "normal", "uniform", "choice", "permutation", "standard_normal", "binomial",
        "poisson", "exponential", "beta", "gamma", "lognormal", "multinomial", "multivariate_normal",
        "rand", "randn", "randint", "random_sample", "random_integers", "seed",  # RandomState
        "gauss", "randrange", "getrandbits", "choices", "betavariate", "normalvariate",  # random.Random
    }
)  # fmt: skip

#: Functions that change their first argument in place (``np.random.shuffle(x)``).
MUTATING_FUNCTIONS = frozenset({"shuffle", "copyto", "fill_diagonal", "place", "putmask", "put"})

_READERS = frozenset(
    {
        "read_csv", "read_table", "read_parquet", "read_json", "read_excel", "read_pickle", "read_feather",
        "read_hdf", "read_fwf", "read_html", "read_xml", "read_orc", "read_sas", "read_spss", "read_stata",
        "load", "loadtxt", "genfromtxt", "fromfile", "imread", "read_text", "read_bytes", "read_file",
    }
)  # fmt: skip
_WRITERS = frozenset(
    {
        "to_csv", "to_parquet", "to_json", "to_excel", "to_pickle", "to_feather", "to_hdf", "to_html", "to_latex",
        "to_stata", "to_markdown", "to_xml", "to_orc", "savefig", "savetxt", "tofile", "write_text", "write_bytes",
        "imwrite", "imsave",
    }
)  # fmt: skip
#: Writers whose path may be the first or the second argument (``np.save(path, a)``, ``joblib.dump(obj, path)``).
_SAVERS = frozenset({"save", "savez", "savez_compressed", "dump"})
_PATH_KEYWORDS = frozenset({"filepath_or_buffer", "path_or_buf", "path", "fname", "file", "filename"})
_PATH_TYPES = frozenset({"Path", "PurePath", "PosixPath", "WindowsPath"})
_WRITE_MODES = frozenset("wax+")


@dataclass(frozen=True)
class FileAccess:
    """A literal file path a cell reads or writes."""

    path: str  # as written in the source
    mode: str  # "read" | "write"
    line: int
    col: int
    call: str  # the function or method, for the message (e.g. "pd.read_csv")


def root_name(node: ast.expr) -> ast.Name | None:
    """The variable at the root of ``x``, ``x.a``, ``x[i]``, ``x.a[i].b`` (None through calls)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def call_mutations(call: ast.Call) -> list[tuple[ast.Name, str]]:
    """Variables a call changes in place, each with a short description of how."""
    found: list[tuple[ast.Name, str]] = []
    func = call.func
    if not isinstance(func, ast.Attribute):
        return found
    receiver = root_name(func.value)
    if receiver is not None and _inplace(call):
        found.append((receiver, f"{func.attr}(inplace=True)"))
    elif receiver is not None and func.attr in MUTATING_METHODS:
        found.append((receiver, f".{func.attr}()"))
    elif isinstance(func.value, ast.Name) and receiver is not None and func.attr in RNG_DRAWS:
        found.append((receiver, f".{func.attr}() draws from it"))  # a generator object, not np.random.*
    if func.attr in MUTATING_FUNCTIONS and call.args:
        target = root_name(call.args[0])
        if target is not None and target is not receiver:
            found.append((target, f"{_dotted(func)}()"))
    return found


def _inplace(call: ast.Call) -> bool:
    return any(
        k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords
    )


def file_access(call: ast.Call) -> FileAccess | None:
    """The literal path a call reads or writes, if it is a recognised file operation."""
    func = call.func
    if isinstance(func, ast.Name):
        if func.id == "open":
            return _open(call, _literal_arg(call, 0), call, "open")
        return None
    if not isinstance(func, ast.Attribute):
        return None
    name = func.attr
    owner = _path_literal(func.value)
    if owner is not None:  # Path("x").read_text() / .open("w")
        if name == "open":
            return _open(call, owner, call, f"Path({owner!r}).open", mode_index=0)
        if name in {"read_text", "read_bytes"}:
            return FileAccess(owner, "read", call.lineno, call.col_offset, f"Path.{name}")
        if name in {"write_text", "write_bytes"}:
            return FileAccess(owner, "write", call.lineno, call.col_offset, f"Path.{name}")
    path = _literal_arg(call, 0) or _keyword_path(call)
    if name in _SAVERS:
        path = path or _literal_arg(call, 1)
        mode = "write"
    elif name in _WRITERS:
        mode = "write"
    elif name in _READERS or name == "open":
        mode = "read"
    else:
        return None
    if path is None:
        return None
    return FileAccess(path, mode, call.lineno, call.col_offset, _dotted(func))


def _open(call: ast.Call, path: str | None, node: ast.Call, label: str, mode_index: int = 1) -> FileAccess | None:
    if path is None:
        return None
    mode = _literal_arg(call, mode_index)
    for keyword in call.keywords:
        if keyword.arg == "mode" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            mode = keyword.value.value
    writes = mode is not None and bool(_WRITE_MODES & set(mode))
    return FileAccess(path, "write" if writes else "read", node.lineno, node.col_offset, label)


def _path_literal(node: ast.expr) -> str | None:
    """``"p"`` for ``Path("p")`` / ``pathlib.Path("p")``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return _literal_arg(node, 0) if name in _PATH_TYPES else None


def _literal_arg(call: ast.Call, index: int) -> str | None:
    if len(call.args) <= index:
        return None
    return _path_string(call.args[index])


def _keyword_path(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg in _PATH_KEYWORDS:
            return _path_string(keyword.value)
    return None


def _path_string(node: ast.expr) -> str | None:
    """A string literal that looks like a local path (not a URL, not empty, one line)."""
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return None
    text = node.value
    if not text.strip() or "://" in text or "\n" in text or len(text) > 400:
        return None
    return text


def _dotted(node: ast.expr) -> str:
    """``np.random.shuffle`` for an attribute chain, else the last attribute."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))
