"""Hypothesis fuzz of the exports (issue 11, "Fuzz and sweep"): random stage names (unicode
identifiers), parameter values (strings with quotes, newlines, triple quotes, backslashes and lone
surrogates; bytes; inf; ints; bools; None; nested lists, tuples, dicts and sets) and ``!cmd`` shell
lines. Every export either succeeds or fails with nbpipe's own error; the generated Python compiles;
every embedded value evaluates to the notebook's value; no user text appears outside a string literal.
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import math
import tokenize
import unicodedata
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nbpipe.errors import NbpipeError
from nbpipe.export import export_notebook
from nbpipe.export.codegen import literal
from nbpipe.notebook import literal_assignments
from tests.notebooks import write_nb

#: Every string a notebook carries starts with it: it must never show up outside a string token.
MARK = "ZQX"
PARAMS = ("p0", "p1", "p2")
_TRICKY = ['"""', "'''", "\\", "\n", "\r", "\x00", "\ud800", "\udc80", "{x}", "$x", "#", "\u2028", "\x0c", "'", '"']
_text = st.lists(st.text(max_size=6) | st.sampled_from(_TRICKY), max_size=4).map(lambda parts: MARK + "".join(parts))
_hashable = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text | st.binary(max_size=6)


def _nest(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = _text | st.integers() | st.tuples(st.integers(), _text)
    return (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=3)
        | st.sets(_hashable, max_size=3)
    )


_values = st.recursive(_hashable, _nest, max_leaves=6)


def _nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


def _identifier(text: str) -> bool:
    """A Python identifier; it may change under NFKC (``ﬁ`` is ``fi``): the header normalises it as Python does."""
    return text.isidentifier() and not keyword.iskeyword(text)


_letters = st.characters(categories=["Lu", "Ll", "Lo"]) | st.sampled_from("aZ_ﬁｘé")
_names = st.builds(
    lambda first, rest: first + rest,
    _letters,
    st.text(st.characters(categories=["Lu", "Ll", "Lo", "Nd", "Pc"]), max_size=10),
).filter(_identifier)
_SHELL_TRICKS = ["$x", "{x}", "$(id)", "`id`", ";", "'", '"', "\\", "#", "*", "&&", " "]
_shell = st.lists(
    st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=5) | st.sampled_from(_SHELL_TRICKS),
    max_size=4,
).map(lambda parts: MARK + "".join(parts))


def _source(value: Any) -> str:
    """Notebook source for ``value``, written independently of nbpipe (inf as ``1e309``, as users do)."""
    if isinstance(value, float) and math.isinf(value):
        return "1e309" if value > 0 else "-1e309"
    if isinstance(value, (list, tuple, set)):
        if isinstance(value, set) and not value:
            return "set()"
        inner = ", ".join(_source(item) for item in value)
        opening, closing = {list: "[]", tuple: "()", set: "{}"}[type(value)]
        return opening + inner + ("," if isinstance(value, tuple) and len(value) == 1 else "") + closing
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_source(k)}: {_source(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _canon(value: Any) -> Any:
    """A comparable form that tells 1, 1.0 and True, -0.0 and 0.0, tuples and lists apart (nan equals nan)."""
    kind = type(value).__name__
    if isinstance(value, (float, complex)):
        return kind, repr(value)
    if isinstance(value, (list, tuple)):
        return kind, tuple(_canon(item) for item in value)
    if isinstance(value, dict):
        return kind, tuple((_canon(k), _canon(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return kind, frozenset(_canon(item) for item in value)
    return kind, value


def _evaluate(node: ast.expr) -> Any:
    """A literal as :func:`nbpipe.export.codegen.literal` writes it; anything else (code!) is refused."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_evaluate(item) for item in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        return {_evaluate(k): _evaluate(v) for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _evaluate(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):  # complex: 1+2j
        left, right = _evaluate(node.left), _evaluate(node.right)
        return left + right if isinstance(node.op, ast.Add) else left - right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_evaluate(arg) for arg in node.args]
        if node.func.id == "float" and args in (["inf"], ["nan"]):
            return float(args[0])
        if node.func.id in ("complex", "set") and all(not isinstance(a, str) for a in args):
            return {"complex": complex, "set": set}[node.func.id](*args)
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "_json.loads" and len(node.args) == 1:
        return json.loads(_evaluate(node.args[0]))
    raise AssertionError(f"not a literal: {ast.unparse(node)[:200]}")


def _assert_only_in_strings(code: str) -> None:
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type not in (tokenize.STRING, tokenize.COMMENT):
            assert MARK not in token.string, f"user text outside a string literal: {token.line!r}"


def _assigned(code: str, name: str) -> Any:
    for node in ast.parse(code).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
                return _evaluate(node.value)
    raise AssertionError(f"{name} is not assigned in the generated script")


@st.composite
def notebooks(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, str]], str | None]:
    params = draw(st.dictionaries(st.sampled_from(PARAMS), _values, min_size=1, max_size=3))
    names = draw(
        st.lists(_names, min_size=1, max_size=3, unique_by=_nfkc).filter(
            lambda ns: not {_nfkc(n) for n in ns} & set(PARAMS)
        )
    )
    shell = draw(st.none() | _shell)
    stages = []
    for number, name in enumerate(names):
        inputs = f" --in o{number - 1}" if number else ""
        body = f"o{number} = [{', '.join(params)}]" + (f", o{number - 1}" if number else "")
        if shell is not None and number == 0:
            body = f"!echo {shell}\n{body}"
        stages.append((name, f"%%stage {name}{inputs} --out o{number}\n{body}"))
    return params, stages, shell


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=notebooks(), standalone=st.booleans())
def test_exports_compile_keep_values_and_never_inject(tmp_path_factory: Any, case: Any, standalone: bool) -> None:
    params, stages, shell = case
    folder = tmp_path_factory.mktemp("fuzz")
    source = "\n".join(f"{name} = {_source(value)}" for name, value in params.items())
    assert {n: _canon(v) for n, v in literal_assignments(source).items()} == {n: _canon(v) for n, v in params.items()}
    nb = write_nb(folder / "nb.ipynb", (source, "parameters"), *(cell for _, cell in stages))
    try:
        script = Path(export_notebook(nb, "script", folder / "pipeline.py", standalone=standalone))
    except NbpipeError as exc:  # our error, with a message: a shell line IPython would expand, or one
        assert exc.message and shell is not None, exc.message  # ending in '\' that swallows the next line
        event(f"script refused: {type(exc).__name__}")
    else:
        event("script written" + (" with a shell line" if shell else ""))
        code = script.read_text(encoding="utf-8")
        compile(code, str(script), "exec")
        _assert_only_in_strings(code)
        embedded = _assigned(code, "PARAMETERS") if standalone else _assigned(code, "PIPELINE")["defaults"]
        assert {n: _canon(v) for n, v in embedded.items()} == {n: _canon(v) for n, v in params.items()}
    _check_papermill(nb, folder / "pm", source)


def _check_papermill(nb: Path, folder: Path, source: str) -> None:
    try:
        export_notebook(nb, "papermill", folder)
    except NbpipeError as exc:
        assert exc.message
        event(f"papermill refused: {type(exc).__name__}")
        return
    event("papermill written")
    manifest = json.loads((folder / "pipeline.json").read_text(), parse_constant=pytest.fail)  # strict JSON
    assert manifest["plan"]["parameters_source"] == source
    for file in manifest["notebooks"].values():
        assert len(file.encode()) < 120
        stage_nb = nbformat.read(folder / file, as_version=4)
        for cell in stage_nb.cells:
            tags = cell.metadata.get("tags", [])
            if {"nbpipe-inputs", "nbpipe-outputs"} & set(tags):
                compile(cell.source, file, "exec")
                _assert_only_in_strings(cell.source)
            elif "parameters" in tags:
                assert cell.source.startswith(source)


@settings(max_examples=200, deadline=None)
@given(value=st.recursive(_hashable | st.floats() | st.complex_numbers() | st.just(...), _nest, max_leaves=8))
def test_literal_writes_every_value_as_a_constant(value: Any) -> None:
    code = literal(value)
    _assert_only_in_strings(code)
    assert _canon(_evaluate(ast.parse(code, mode="eval").body)) == _canon(value)
