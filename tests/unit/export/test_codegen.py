"""Injection-safe code generation: literals and docstrings round-trip hostile text as data."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbpipe.export.codegen import docstring, drop_display, identifier, indent_body, literal
from nbpipe.export.translate import ExportError

HOSTILE = [
    '\'; import os; os.system("touch PWNED")',
    '"""; import os; os.system("touch PWNED"); """',
    "back\\slash\\",
    "new\nline\r\n",
    "{}{0}{x}",
    "\\N{BULLET} \\x00 \\u1234",
    'ends with quote"',
    "'''",
    "\x00\x7f",
]


def evaluate(source: str) -> Any:
    return eval(source, {"_json": json})


@pytest.mark.parametrize("value", [*HOSTILE, {"k": HOSTILE}, [1.5, None, True, ("a", b"\x00")], float("inf")])
def test_literal_round_trips(value: Any) -> None:
    assert evaluate(literal(value)) == value


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
)


@given(JSON_LIKE)
def test_literal_round_trips_any_json_like_value(value: Any) -> None:
    assert evaluate(literal(value)) == value


@pytest.mark.parametrize("text", [*HOSTILE, "", "a\n\nb\n", "\\"])
def test_docstring_holds_text_verbatim_and_nothing_else(text: str) -> None:
    tree = ast.parse(docstring(text, "    ").strip())
    assert len(tree.body) == 1
    node = tree.body[0]
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    value = node.value.value
    assert isinstance(value, str) and value.replace("\n    ", "\n") == text


@given(st.text())
def test_docstring_never_breaks_out(text: str) -> None:
    tree = ast.parse(docstring(text))
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
    assert tree.body[0].value.value == text  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["a b", "x;import os", "1x", "", "é-"])
def test_identifier_refuses_non_identifiers(name: str) -> None:
    with pytest.raises(ExportError, match="not a Python identifier"):
        identifier(name)


def test_indent_body_keeps_multiline_strings_and_drops_display_lines() -> None:
    body = 'text = """line one\nline two"""\nx = 1\nx\n'
    namespace: dict[str, Any] = {}
    exec("def f():\n" + indent_body(body) + "    return text, x\n", namespace)
    assert namespace["f"]() == ("line one\nline two", 1)
    assert drop_display("y = 2\ny\n") == "y = 2\n"
    assert indent_body("\n\n") == "    pass\n"
