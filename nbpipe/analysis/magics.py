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

#: Line/cell magics whose argument is Python code run in the user namespace.
_CODE_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug"})
#: Magics that change the namespace in ways the analyzer cannot see.
_DYNAMIC_MAGICS = frozenset({"run", "store", "load", "macro", "recall", "rerun", "aimport"})
_OPTIONS = re.compile(r"^(?:\s*-[a-zA-Z]+(?:\s+(?!-)\S+)?(?=\s))*\s*")
_BRACES = re.compile(r"\{([^{}]+)\}")
_DOLLAR = re.compile(r"\$([A-Za-z_]\w*)")
_IPYTHON_METHODS = frozenset({"run_line_magic", "run_cell_magic", "system", "getoutput", "magic"})


class _Visitor(Protocol):
    info: Any

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


_MAGIC_LINE = re.compile(r"^[ \t]*(?:%|!)", re.MULTILINE)
_ASSIGNED = re.compile(r"^([ \t]*[A-Za-z_][\w, \t]*=[ \t]*)(%{1,2}|!{1,2})(.*)$")
_PLAIN = re.compile(r"^([ \t]*)(%{1,2}|!{1,2})(.*)$")


def has_magic(source: str) -> bool:
    """True if some line starts with ``%`` or ``!`` (so the cell is likely IPython syntax)."""
    return _MAGIC_LINE.search(source) is not None


def fast_transform(source: str) -> str | None:
    """The common IPython forms turned into Python without IPython's tokenizer (it is ~10× slower).

    Handles a leading ``%%magic`` and lines ``%magic …``, ``!cmd``, ``x = %magic …``,
    ``x = !cmd``, as IPython does. Returns None for anything else (continuation
    lines, ``?`` help, a ``%%`` that is not first) so the caller falls back to IPython.
    """
    stripped = source.lstrip("\n")
    if stripped.startswith("%%"):
        first, _, body = stripped.partition("\n")
        name, _, line = first[2:].partition(" ")
        lead = "\n" * (len(source) - len(stripped))
        return f"{lead}get_ipython().run_cell_magic({name!r}, {line.strip()!r}, {body!r})\n"
    lines = source.split("\n")
    for number, text in enumerate(lines):
        match = _ASSIGNED.match(text) or _PLAIN.match(text)
        if match is None or not _MAGIC_LINE.match(match.group(2)):
            continue
        prefix, kind, rest = match.groups()
        if kind == "%%" or text.rstrip().endswith("\\") or rest.rstrip().endswith("?"):
            return None
        lines[number] = prefix + _call(kind, rest, assigned=not prefix.isspace() and prefix != "")
    return "\n".join(lines)


def _call(kind: str, rest: str, *, assigned: bool) -> str:
    if kind == "%":
        name, _, arg = rest.partition(" ")
        return f"get_ipython().run_line_magic({name!r}, {arg.strip()!r})"
    method = "getoutput" if assigned or kind == "!!" else "system"
    return f"get_ipython().{method}({rest.strip()!r})"


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
        return
    if method == "run_line_magic" and len(args) > 1:
        if name in _CODE_MAGICS:
            _code(visitor, _OPTIONS.sub("", args[1], count=1), node, node.lineno - 1)
        elif name in {"sx", "system"}:
            _interpolated(visitor, args[1], node)
    elif method == "run_cell_magic" and len(args) > 2:
        if name in _CODE_MAGICS:
            words = args[1].split()
            if name == "capture" and words and words[-1].isidentifier():
                visitor.store(words[-1], node)
            _code(visitor, args[2], node, node.lineno)
        elif name == "writefile" and args[1].split():
            from nbpipe.analysis.effects import FileAccess

            path = args[1].split()[-1]
            visitor.info.files.append(FileAccess(path, "write", node.lineno, node.col_offset, "%%writefile"))


def _code(visitor: _Visitor, code: str, node: ast.Call, offset: int) -> None:
    from nbpipe.analysis.defuse import parse

    try:
        tree = parse(code)
    except SyntaxError:
        return  # the magic itself reports it at run time; nothing to learn here
    if offset > 0:
        ast.increment_lineno(tree, offset)
    for stmt in tree.body:
        visitor.visit(stmt)


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
