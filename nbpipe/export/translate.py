"""Cell source as plain Python for exported files: IPython syntax translated or refused.

A cell that parses as Python is kept verbatim (comments and layout included). Otherwise
IPython's own transformer turns it into Python; session magics (``%load_ext``,
``%matplotlib`` …) are dropped, ``!cmd`` becomes :func:`subprocess.run`, and
``x = !cmd`` captures the output lines. Any other magic cannot run without IPython,
so export fails naming the cell and the line.
"""

from __future__ import annotations

import ast

from nbpipe.errors import ExportError
from nbpipe.model import cell_label
from nbpipe.source import batch_tree


def plain_python(source: str, cell: int, what: str) -> str:
    """``source`` as Python that runs without IPython.

    Args:
        source: the cell source (a stage body or a setup cell).
        cell: the 0-based cell index, for messages.
        what: how to name the cell in messages, e.g. ``"stage 'load'"``.

    Raises:
        ExportError: the cell does not parse, or uses a magic that has no plain-Python form.
    """
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        pass
    try:
        tree = batch_tree(source, f"<{cell_label(cell)}>")
    except SyntaxError as exc:
        raise ExportError(
            f"{what} ({cell_label(cell)}, line {exc.lineno}) is not Python even after IPython's transforms: {exc.msg}",
            hint="fix the cell (nbpipe check reports it as NBP001)",
            cell=cell,
        ) from exc
    uses_shell = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_ipython_call(node):
            uses_shell = True
            _check_translatable(node, source, cell, what)
    new = _ShellRewriter().visit(tree)
    if uses_shell:
        new.body.insert(0, ast.Import(names=[ast.alias(name="subprocess")]))
    return ast.unparse(ast.fix_missing_locations(new)) + "\n"


def _is_ipython_call(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
    )


def _check_translatable(node: ast.Call, source: str, cell: int, what: str) -> None:
    assert isinstance(node.func, ast.Attribute)
    if node.func.attr in ("system", "getoutput") and len(node.args) == 1:
        command = node.args[0]
        if isinstance(command, ast.Constant) and isinstance(command.value, str) and _expands(command.value):
            line = _original_line(source, node.lineno)
            raise ExportError(
                f"{what} ({cell_label(cell)}, line {line}) runs the shell command {command.value!r}, "
                "into which IPython expands Python values ($name, {expr}); the exported script would run it unexpanded",
                hint="build the command in Python and run it: subprocess.run(['ls', d], check=True) "
                "(nbpipe run and the kernel expand it as IPython does)",
                cell=cell,
            )
        return
    line = _original_line(source, node.lineno)
    raise ExportError(
        f"{what} ({cell_label(cell)}, line {line}) uses IPython syntax with no plain-Python form: "
        f"{source.splitlines()[line - 1].strip() if 0 < line <= len(source.splitlines()) else node.func.attr}",
        hint="replace the magic with Python code (only !cmd, x = !cmd and session magics can be exported)",
        cell=cell,
    )


def _expands(command: str) -> bool:
    """Whether IPython would put Python values into ``command`` (``$name``, ``{expr}``)."""
    return "$" in command.replace("$$", "") or "{" in command


def _original_line(source: str, lineno: int) -> int:
    """IPython's transforms keep one line per line, so line numbers carry over."""
    return lineno


class _ShellRewriter(ast.NodeTransformer):
    """``get_ipython().system(c)`` → ``subprocess.run(c, shell=True, check=True)``; getoutput → lines."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if not _is_ipython_call(node):
            return node
        assert isinstance(node.func, ast.Attribute)
        run = ast.Attribute(value=ast.Name(id="subprocess", ctx=ast.Load()), attr="run", ctx=ast.Load())
        keywords = [ast.keyword(arg=arg, value=ast.Constant(True)) for arg in ("shell", "check")]
        if node.func.attr == "system":
            return ast.Call(func=run, args=node.args, keywords=keywords)
        keywords += [
            ast.keyword(arg="capture_output", value=ast.Constant(True)),
            ast.keyword(arg="text", value=ast.Constant(True)),
        ]
        call = ast.Call(func=run, args=node.args, keywords=keywords)
        stdout = ast.Attribute(value=call, attr="stdout", ctx=ast.Load())
        return ast.Call(func=ast.Attribute(value=stdout, attr="splitlines", ctx=ast.Load()), args=[], keywords=[])
