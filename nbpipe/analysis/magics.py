"""IPython syntax inside cells: ``%time x = …``, ``!cmd {var}``, ``%%capture out``, ``%run``.

IPython's input transformer turns magics into ``get_ipython().run_line_magic(…)``
calls whose code is a string. For the magics that run Python code in the user
namespace, that string is parsed and walked in place, so ``%time model = fit(X)``
binds ``model`` and reads ``fit`` and ``X``; shell lines read the variables they
interpolate; ``%run``/``%store``/``%load`` make the analysis incomplete (NBP205).
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any, Protocol

from nbpipe.source import fast_transform, has_magic

__all__ = ["fast_transform", "has_magic", "is_ipython_call", "transform", "visit_magic"]

#: Line/cell magics whose argument is Python code run in the user namespace.
_CODE_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug"})
#: Magics that change the namespace in ways the analyzer cannot see.
_DYNAMIC_MAGICS = frozenset({"run", "store", "load", "macro", "recall", "rerun", "aimport"})
#: Magics that may bind any name at all: later reads could be bound by them (like a star import).
_WILDCARD_MAGICS = frozenset({"run", "load", "recall", "rerun"})
#: Magics whose code runs in its own function scope: ``%timeit x = 1`` binds nothing.
_SCOPED_MAGICS = frozenset({"timeit"})
#: Top-level definitions of a ``%%cython`` cell (they are bound in the user namespace).
_CYTHON_DEF = re.compile(r"^(?:def|cpdef|class|cdef\s+class)\s+(?:[\w.\[\]*]+\s+)*?([A-Za-z_]\w*)\s*[(:]", re.MULTILINE)
_OPTIONS = re.compile(r"^(?:\s*-[a-zA-Z]+(?:\s+(?!-)\S+)?(?=\s))*\s*")
_BRACES = re.compile(r"\{([^{}]+)\}")
_DOLLAR = re.compile(r"\$([A-Za-z_]\w*)")
_IPYTHON_METHODS = frozenset({"run_line_magic", "run_cell_magic", "system", "getoutput", "magic"})


class _Visitor(Protocol):
    info: Any
    stack: list[Any]

    def visit(self, node: ast.AST) -> Any: ...

    def load(self, name: str, node: ast.AST) -> None: ...

    def store(self, name: str, node: ast.AST) -> None: ...


@functools.lru_cache(maxsize=1)
def _manager() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def transform(source: str) -> str:
    """Plain Python for a cell with IPython syntax (magics, ``!cmd``, ``x?``)."""
    return str(_manager().transform_cell(source))


def is_ipython_call(node: ast.Call) -> bool:
    """True for ``get_ipython().run_line_magic(…)`` and friends with literal arguments."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _IPYTHON_METHODS
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and bool(node.args)
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    )


def visit_magic(visitor: _Visitor, node: ast.Call) -> None:
    """Walk the Python hidden inside an IPython call, at the call's position."""
    method = node.func.attr  # type: ignore[attr-defined]
    args = [a.value for a in node.args]  # type: ignore[attr-defined]
    if method in {"system", "getoutput"}:
        _interpolated(visitor, args[0], node)
        return
    name = args[0].split()[0] if args[0].split() else ""
    if name in _DYNAMIC_MAGICS:
        visitor.info.dynamic.append((f"%{name}", node.lineno, node.col_offset))
        _namespace_magic(visitor, name, args[1] if method == "run_line_magic" and len(args) > 1 else "", node)
        return
    if method == "run_line_magic" and len(args) > 1:
        if name in _CODE_MAGICS:
            _code(visitor, _OPTIONS.sub("", args[1], count=1), node, node.lineno - 1, scoped=name in _SCOPED_MAGICS)
        elif name in {"sx", "system"}:
            _interpolated(visitor, args[1], node)
    elif method == "run_cell_magic" and len(args) > 2:
        if name in _CODE_MAGICS:
            words = args[1].split()
            if name == "capture" and words and words[-1].isidentifier():
                visitor.store(words[-1], node)
            _code(visitor, args[2], node, node.lineno, scoped=name in _SCOPED_MAGICS)
        elif name == "cython":
            for match in _CYTHON_DEF.finditer(args[2]):
                visitor.store(match.group(1), node)
        elif name in {"writefile", "file"} and args[1].split():
            from nbpipe.analysis.effects import FileAccess

            path = args[1].split()[-1]
            visitor.info.files.append(FileAccess(path, "write", node.lineno, node.col_offset, "%%writefile"))


def _namespace_magic(visitor: _Visitor, name: str, line: str, node: ast.Call) -> None:
    """What ``%store``, ``%aimport`` and the wildcard magics bind, read or hide."""
    words = line.split()
    if name in _WILDCARD_MAGICS or (name == "store" and words in (["-r"], ["-a"])):
        visitor.info.wildcards.append((f"%{name}", node.lineno, node.col_offset))
    elif name == "store" and words and words[0] == "-r":
        for word in words[1:]:
            if word.isidentifier():
                visitor.store(word, node)  # %store -r a b: restores a and b
    elif name == "store" and words and not words[0].startswith("-") and words[0].isidentifier():
        visitor.load(words[0], node)  # %store a: saves a
    elif name == "aimport":
        for word in line.replace(",", " ").split():
            if not word.startswith("-") and word.split(".")[0].isidentifier():
                visitor.store(word.split(".")[0], node)


def _code(visitor: _Visitor, code: str, node: ast.Call, offset: int, *, scoped: bool = False) -> None:
    from nbpipe.analysis.defuse import parse
    from nbpipe.analysis.scopes import body_scope

    try:
        tree = parse(code)
    except SyntaxError:
        return  # the magic itself reports it at run time; nothing to learn here
    if offset > 0:
        ast.increment_lineno(tree, offset)
    if scoped:  # its names are local to the magic's function: they are neither bound nor read from outside
        visitor.stack.append(body_scope(tree.body))
    try:
        for stmt in tree.body:
            visitor.visit(stmt)
    finally:
        if scoped:
            visitor.stack.pop()


def _interpolated(visitor: _Visitor, command: str, node: ast.Call) -> None:
    """Variables a shell line expands: ``{expr}`` and ``$name``."""
    for match in _BRACES.finditer(command):
        try:
            expr = ast.parse(match.group(1).strip(), mode="eval")
        except (SyntaxError, ValueError):
            continue
        ast.increment_lineno(expr, node.lineno - 1)
        visitor.visit(expr.body)
    for match in _DOLLAR.finditer(command):
        visitor.load(match.group(1), node)
