"""Def/use of one cell with real Python scoping: what it binds, reads, mutates and opens.

:func:`cell_info` parses a cell body (plain ``ast.parse`` first, IPython's input
transformer only when that fails) and walks it once with an explicit scope stack.
Results are cached by source text, so re-analysing a notebook after one cell
changed only re-walks that cell.

Reads are split in two: *immediate* reads run when the cell runs (module level,
class bodies, comprehensions, decorators, defaults) and are flow-sensitive — a
name the cell bound on an earlier line is not a read from outside; *deferred*
reads happen when a function defined in the cell is called.
"""

from __future__ import annotations

import ast
import functools
import gc
import re
import warnings
from dataclasses import dataclass, field

from nbpipe.analysis import effects, magics
from nbpipe.analysis.effects import FileAccess
from nbpipe.analysis.scopes import Scope, class_scope, comprehension_scope, function_scope, imported_names, is_builtin
from nbpipe.source import automagic, session_magic

Location = tuple[int, int]  # (1-based line, 0-based column)

_DYNAMIC_CALLS = frozenset({"globals", "locals", "exec", "eval", "vars"})


@dataclass
class FunctionInfo:
    """A function or class defined at the top level of a cell."""

    name: str
    line: int
    col: int
    reads: dict[str, Location] = field(default_factory=dict)  # global names it reads, first location


@dataclass(frozen=True)
class Mutation:
    """An in-place change of a variable the cell did not bind itself first."""

    name: str
    line: int
    col: int
    how: str  # e.g. ".append()", "item assignment", "fillna(inplace=True)"


@dataclass
class CellInfo:
    """Everything the analyzer needs to know about one cell's source."""

    error: tuple[str, int, int] | None = None  # syntax error: (message, line, col)
    binds: dict[str, Location] = field(default_factory=dict)  # module-level bindings, first location
    imports: set[str] = field(default_factory=set)  # names bound by import statements
    defs: set[str] = field(default_factory=set)  # names bound by def/class
    reads: dict[str, Location] = field(default_factory=dict)  # immediate reads from outside the cell
    deferred: dict[str, Location] = field(default_factory=dict)  # reads inside functions/lambdas
    calls: dict[str, Location] = field(default_factory=dict)  # names called at module level
    functions: dict[str, FunctionInfo] = field(default_factory=dict)  # top-level def/class
    mutations: list[Mutation] = field(default_factory=list)
    augmented: dict[str, Location] = field(default_factory=dict)  # `x += …` of an outside name
    dynamic: list[tuple[str, int, int]] = field(default_factory=list)  # globals(), exec, %run, global …
    star_imports: list[tuple[str, int, int]] = field(default_factory=list)  # (module, line, col)
    wildcards: list[tuple[str, int, int]] = field(default_factory=list)  # %run, %load, %store -r: bind unknown names
    files: list[FileAccess] = field(default_factory=list)
    setup: bool = False  # only imports, defs, classes and constants
    constants: set[str] = field(default_factory=set)  # constants bound by a setup cell
    literals: set[str] = field(default_factory=set)  # constants whose value follows from the source alone
    outside: dict[str, Location] = field(default_factory=dict)  # reads + deferred reads of names not bound here

    def finish(self) -> None:
        """Drop builtins from the reads and compute :attr:`outside` (once, at creation)."""
        self.reads = {n: loc for n, loc in self.reads.items() if not is_builtin(n)}
        self.deferred = {n: loc for n, loc in self.deferred.items() if not is_builtin(n)}
        self.calls = {n: loc for n, loc in self.calls.items() if not is_builtin(n)}
        self.outside = dict(self.reads)
        for name, loc in self.deferred.items():
            if name not in self.binds:
                self.outside.setdefault(name, loc)


def parse(source: str) -> ast.Module:
    """Parse a cell body; IPython syntax (magics, ``!cmd``) is transformed first.

    Raises:
        SyntaxError: the cell is not Python even after IPython's transforms.
    """
    enabled = gc.isenabled()
    gc.disable()  # building an AST allocates many objects; collecting meanwhile triples the time
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences: not ours to report
            if magics.has_magic(source):
                fast = magics.fast_transform(source)
                if fast is not None:
                    try:
                        return ast.parse(fast)
                    except SyntaxError:
                        pass
            try:
                return ast.parse(source)
            except SyntaxError:
                pass
            try:
                return ast.parse(magics.transform(source))
            except SyntaxError as exc:
                magic = automagic(source)  # `ls data`, `cd ..`: IPython runs them as %ls, %cd
                if magic is None:
                    raise
                try:
                    return ast.parse(magics.transform(magic))
                except SyntaxError:
                    raise exc from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise SyntaxError(str(exc) or type(exc).__name__) from exc
    finally:
        if enabled:
            gc.enable()


@functools.lru_cache(maxsize=65536)
def cell_info(source: str) -> CellInfo:
    """The def/use facts of a cell body (cached by source text; treat as read-only)."""
    try:
        tree = parse(source)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        return CellInfo(error=(exc.msg if hasattr(exc, "msg") and exc.msg else str(exc), line, col))
    info = CellInfo()
    try:
        _Visitor(info).run(tree)
    except RecursionError:
        return CellInfo(error=("the code is nested too deeply to analyse", 1, 0))
    info.setup, info.constants = setup_facts(tree)
    info.literals = literal_names(tree) if info.setup else set()
    info.finish()
    return info


class _Visitor(ast.NodeVisitor):
    """Walks one cell, filling a CellInfo. See the module docstring for the model."""

    def __init__(self, info: CellInfo) -> None:
        self.info = info
        self.stack: list[Scope] = [Scope("module")]
        self.bound: set[str] = set()  # module-level names bound so far (flow-sensitive)
        self.loop_bound: list[set[str]] = []  # names bound anywhere in the enclosing module-level loops
        self.owner: FunctionInfo | None = None  # the top-level def/class being walked
        self.depth = 0  # number of function/lambda scopes on the stack

    def run(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            self.visit(stmt)

    # -- names ---------------------------------------------------------------------
    def _resolve_global(self, name: str) -> bool:
        """True if ``name`` read in the current scope refers to a module-level name."""
        current = self.stack[-1]
        for scope in reversed(self.stack):
            if scope.kind == "module" or name in scope.globals:
                return True
            if scope.kind == "class" and scope is not current:
                continue  # class bodies are not visible from nested scopes
            if name in scope.locals or name in scope.nonlocals:
                return False
        return True

    def load(self, name: str, node: ast.AST) -> None:
        if not self._resolve_global(name):
            return
        loc = (getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
        if self.owner is not None:
            self.owner.reads.setdefault(name, loc)
        if self.depth:
            self.info.deferred.setdefault(name, loc)
        elif name not in self.bound and not any(name in s for s in self.loop_bound):
            self.info.reads.setdefault(name, loc)

    def store(self, name: str, node: ast.AST) -> None:
        scope = self.stack[-1]
        if scope.kind == "comprehension" and isinstance(node, ast.NamedExpr):
            scope = next(s for s in reversed(self.stack) if s.kind != "comprehension")
        if scope.kind == "module" or name in scope.globals:
            loc = (getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
            self.info.binds.setdefault(name, loc)
            if self.depth == 0:
                self.bound.add(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.load(node.id, node)
        elif isinstance(node.ctx, ast.Store):
            self.store(node.id, node)

    # -- assignments -----------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._target(target, "assignment")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        if self.depth == 0:
            self.visit(node.annotation)
        if node.value is not None or not isinstance(node.target, ast.Name):
            self._target(node.target, "assignment")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            outside = self._is_outside(target.id)
            self.load(target.id, target)
            if outside:
                self.info.augmented.setdefault(target.id, (target.lineno, target.col_offset))
            self.store(target.id, target)
        else:
            self._target(target, "augmented assignment")

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.store(node.target.id, node)

    def _target(self, target: ast.expr, how: str) -> None:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            self.visit(target)  # the object and the index are read
            kind = "attribute" if isinstance(target, ast.Attribute) else "item"
            self._mutation(effects.root_name(target), f"{kind} {how}")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, how)
        elif isinstance(target, ast.Starred):
            self._target(target.value, how)
        else:
            self.visit(target)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                if len(self.stack) == 1:
                    self.bound.discard(target.id)
            else:
                self._target(target, "deletion")

    def _is_outside(self, name: str) -> bool:
        """True if ``name`` here refers to a module-level value the cell did not bind first."""
        if not self._resolve_global(name):
            return False
        return self.depth > 0 or name not in self.bound

    def _mutation(self, name: ast.Name | None, how: str) -> None:
        if name is not None and self._is_outside(name.id):
            self.info.mutations.append(Mutation(name.id, name.lineno, name.col_offset, how))

    # -- scopes ------------------------------------------------------------------------
    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *_arg_exprs(node.args), node.returns]:
            if expr is not None:
                self.visit(expr)
        self._call_names(node.decorator_list)
        self.store(node.name, node)
        top = self._enter_owner(node.name, node)
        self._push(function_scope(node), node.body, function=True)
        self._leave_owner(top)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(expr)
        self._push(function_scope(node), [node.body], function=True)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        top = self._enter_owner(node.name, node)
        self._push(class_scope(node), node.body, function=False)
        self._leave_owner(top)
        self.store(node.name, node)

    def _enter_owner(self, name: str, node: ast.stmt) -> bool:
        if len(self.stack) == 1 and self.owner is None:
            self.owner = FunctionInfo(name, node.lineno, node.col_offset)
            self.info.defs.add(name)
            return True
        return False

    def _leave_owner(self, top: bool) -> None:
        if top and self.owner is not None:
            self.info.functions[self.owner.name] = self.owner
            self.owner = None

    def _push(self, scope: Scope, body: list[ast.stmt] | list[ast.expr], *, function: bool) -> None:
        self.stack.append(scope)
        self.depth += function
        saved, self.loop_bound = self.loop_bound, []
        try:
            for stmt in body:
                self.visit(stmt)
        finally:
            self.loop_bound = saved
            self.depth -= function
            self.stack.pop()

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # evaluated in the enclosing scope
        self.stack.append(comprehension_scope(node))
        try:
            self._target(first.target, "loop")
            for cond in first.ifs:
                self.visit(cond)
            for gen in rest:
                self.visit(gen.iter)
                self._target(gen.target, "loop")
                for cond in gen.ifs:
                    self.visit(cond)
            elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for element in elements:
                self.visit(element)
        finally:
            self.stack.pop()

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_DictComp = _comprehension
    visit_GeneratorExp = _comprehension

    # -- statements that bind ------------------------------------------------------------
    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        if isinstance(node, ast.While):
            head: list[ast.AST] = [node.test]
        else:
            head = [node.iter]
        for part in head:
            self.visit(part)
        if self.depth == 0 and len(self.stack) == 1:
            self.loop_bound.append(_bound_in(node))
        try:
            if not isinstance(node, ast.While):
                self._target(node.target, "loop")
            for stmt in node.body:
                self.visit(stmt)
        finally:
            if self.depth == 0 and len(self.stack) == 1:
                self.loop_bound.pop()
        for stmt in node.orelse:
            self.visit(stmt)

    visit_For = _loop
    visit_AsyncFor = _loop
    visit_While = _loop

    def visit_Import(self, node: ast.Import) -> None:
        for name in imported_names(node):
            self.store(name, node)
            if len(self.stack) == 1:
                self.info.imports.add(name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if any(alias.name == "*" for alias in node.names):
            self.info.star_imports.append((node.module or "", node.lineno, node.col_offset))
        self.visit_Import(node)  # type: ignore[arg-type]

    def visit_Global(self, node: ast.Global) -> None:
        self.info.dynamic.append(("global " + ", ".join(node.names), node.lineno, node.col_offset))

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.store(node.name, node)
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self.store(node.name, node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.store(node.name, node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.generic_visit(node)
        if node.rest:
            self.store(node.rest, node)

    # -- calls -------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        if magics.is_ipython_call(node):
            magics.visit_magic(self, node)
            return
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name):
            if self.depth == 0:
                self.info.calls.setdefault(func.id, (node.lineno, node.col_offset))
            builtin = self._resolve_global(func.id) and func.id not in self.info.binds
            if func.id in _DYNAMIC_CALLS and builtin and not (func.id == "vars" and node.args):
                self.info.dynamic.append((f"{func.id}()", node.lineno, node.col_offset))
        for name, how in effects.call_mutations(node):
            self._mutation(name, how)
        access = effects.file_access(node)
        if access is not None:
            self.info.files.append(access)

    def _call_names(self, exprs: list[ast.expr]) -> None:
        if self.depth == 0:
            for expr in exprs:
                target = expr.func if isinstance(expr, ast.Call) else expr
                if isinstance(target, ast.Name):
                    self.info.calls.setdefault(target.id, (target.lineno, target.col_offset))


def _arg_exprs(args: ast.arguments) -> list[ast.expr]:
    """Defaults and annotations: evaluated where the function is defined."""
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    annotations = [a.annotation for a in every if a is not None and a.annotation is not None]
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None), *annotations]


def _bound_in(node: ast.AST) -> set[str]:
    """Names stored anywhere inside a loop (so a read before the store in the body is not free)."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


_SETUP_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)
_CONSTANT_EXPR = (
    ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context,
    ast.Attribute, ast.Call, ast.keyword, ast.Subscript, ast.Slice,
)  # fmt: skip


def setup_facts(tree: ast.Module) -> tuple[bool, set[str]]:
    """(is the cell a setup cell, the constants it binds) — same rule as ``nbpipe.notebook.is_setup``."""
    body = [node for node in tree.body if not session_magic(node)]  # dropped in batch runs
    if not body:
        return False, set()
    bound: set[str] = set()
    constants: set[str] = set()
    for node in body:
        if isinstance(node, _SETUP_NODES):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif not isinstance(node, ast.Pass):
                bound.add(node.name)
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        target = _constant_target(node, bound)
        if target is None:
            return False, set()
        bound.add(target)
        constants.add(target)
    return True, constants


def _constant_target(node: ast.stmt, bound: set[str]) -> str | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        target, value = node.targets[0].id, node.value
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        target, value = node.target.id, node.value
    else:
        return None
    for part in ast.walk(value):
        if isinstance(part, ast.Name):
            if part.id not in bound and not is_builtin(part.id):  # len("abc"), int(...) are setup values too
                return None
        elif not isinstance(part, _CONSTANT_EXPR):
            return None
    return target


_LITERAL_EXPR = (
    ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context,
)  # fmt: skip


def literal_names(tree: ast.Module) -> set[str]:
    """Names a setup cell binds only to literals (and operations on earlier literals of the cell).

    No call, attribute or subscript: the value follows from the source, so a memo keyed
    by the source may stand for it. ``N = os.environ.get(...)`` or ``T = date.today()`` is
    not literal: its value enters stage keys as a value, computed in every run.
    """
    literal: set[str] = set()
    other: set[str] = set()
    for node in tree.body:
        other.update(_bound_targets(node))
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            name = _constant_target(node, literal)
            value = node.value
            if name is not None and value is not None and all(_literal_part(p, literal) for p in ast.walk(value)):
                other.discard(name)
                literal.add(name)
    return literal - other


def _bound_targets(node: ast.stmt) -> list[str]:
    """Names a top-level statement binds that are not plain ``name = value`` constants."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _literal_part(node: ast.AST, literal: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in literal
    return isinstance(node, _LITERAL_EXPR)


IGNORE_COMMENT = re.compile(r"#\s*nbpipe:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")
