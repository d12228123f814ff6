"""Which names a function, class or comprehension binds locally (Python's scoping rules).

Python decides at compile time that a name assigned anywhere in a function body is
local to the whole body. The def/use visitor needs that set before it walks the
body, so it is computed here by a walk that stops at nested scopes (their names
belong to them) but looks into comprehensions for walrus targets, which PEP 572
binds in the enclosing function.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Names always available in an IPython kernel without a binding in the notebook.
IPYTHON_NAMES = frozenset(
    {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii", "_ih", "_oh", "_dh"}
)
BUILTINS = frozenset(dir(builtins)) | IPYTHON_NAMES | {"__file__", "__builtins__", "__name__", "__doc__"}
_HISTORY = re.compile(r"_i{0,3}\d+")


def is_builtin(name: str) -> bool:
    """True for names Python or IPython provide (``len``, ``display``, ``_3``, ``_i4``)."""
    return name in BUILTINS or _HISTORY.fullmatch(name) is not None


@dataclass
class Scope:
    """One lexical scope on the visitor's stack."""

    kind: str  # "module" | "function" | "class" | "comprehension"
    locals: set[str] = field(default_factory=set)  # names local to this scope
    globals: set[str] = field(default_factory=set)  # names declared `global`
    nonlocals: set[str] = field(default_factory=set)  # names declared `nonlocal`


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def argument_names(args: ast.arguments) -> set[str]:
    """Every parameter name of a function or lambda."""
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    names = {a.arg for a in every}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    return names


def function_scope(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Scope:
    """The scope of a function or lambda body: parameters plus names bound in the body."""
    scope = Scope("function", locals=argument_names(node.args))
    body = [node.body] if isinstance(node, ast.Lambda) else node.body
    _collect(body, scope)
    scope.locals -= scope.globals | scope.nonlocals
    return scope


def body_scope(body: list[ast.stmt]) -> Scope:
    """A function-like scope for code a magic runs inside its own function (``%timeit``)."""
    scope = Scope("function")
    _collect(body, scope)
    scope.locals -= scope.globals | scope.nonlocals
    return scope


def class_scope(node: ast.ClassDef) -> Scope:
    """The scope of a class body."""
    scope = Scope("class")
    _collect(node.body, scope)
    scope.locals -= scope.globals | scope.nonlocals
    return scope


def comprehension_scope(node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> Scope:
    """The scope of a comprehension: its ``for`` targets."""
    scope = Scope("comprehension")
    for gen in node.generators:
        scope.locals.update(n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name))
    return scope


def _collect(nodes: Iterable[ast.AST], scope: Scope) -> None:
    """Add the names bound directly in ``nodes`` (not in nested scopes) to ``scope``."""
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope.locals.add(node.name)
            todo.extend(node.decorator_list)  # evaluated in this scope
            if not isinstance(node, ast.ClassDef):
                todo.extend(_defaults(node.args))
            else:
                todo.extend(node.bases)
            continue
        if isinstance(node, ast.Lambda):
            todo.extend(_defaults(node.args))
            continue
        if isinstance(node, _COMPREHENSIONS):
            todo.extend(_walrus_targets(node))
            continue
        _bind(node, scope)
        todo.extend(ast.iter_child_nodes(node))


def _bind(node: ast.AST, scope: Scope) -> None:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        scope.locals.add(node.id)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        scope.locals.update(imported_names(node))
    elif isinstance(node, ast.Global):
        scope.globals.update(node.names)
    elif isinstance(node, ast.Nonlocal):
        scope.nonlocals.update(node.names)
    elif isinstance(node, ast.ExceptHandler) and node.name:
        scope.locals.add(node.name)
    elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        scope.locals.add(node.name)
    elif isinstance(node, ast.MatchMapping) and node.rest:
        scope.locals.add(node.rest)


def _defaults(args: ast.arguments) -> list[ast.AST]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _walrus_targets(node: ast.AST) -> list[ast.AST]:
    """Walrus targets inside a comprehension (they bind in the enclosing scope)."""
    return [n.target for n in ast.walk(node) if isinstance(n, ast.NamedExpr)]


def imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The names an import statement binds (``import a.b`` binds ``a``); ``*`` is skipped."""
    names = []
    for alias in node.names:
        if alias.name == "*":
            continue
        names.append(alias.asname or alias.name.split(".")[0])
    return names
