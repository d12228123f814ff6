"""Small, injection-safe helpers for writing Python source: literals, docstrings, formatting.

Every value that reaches generated code goes through :func:`literal` (``repr``, checked
to round-trip) or :func:`docstring` (backslashes and quotes escaped); names are
identifiers by contract and are checked with :func:`identifier`.
"""

from __future__ import annotations

import ast
import io
import json
import math
import pprint
import shutil
import subprocess
import sys
import tokenize
from typing import Any

from nbpipe.errors import ExportError
from nbpipe.source import code_lines


def identifier(name: str) -> str:
    """``name`` if it is a Python identifier, else refuse (names are identifiers by contract)."""
    if not name.isidentifier():
        raise ExportError(f"{name!r} is not a Python identifier and cannot be exported", hint="rename it")
    return name


def literal(value: Any) -> str:
    """Python source that evaluates to ``value``, with no way for its text to become code.

    A pretty one-line literal when ``repr`` round-trips (checked with :func:`ast.literal_eval`);
    otherwise the value is built from its parts, each part a checked ``repr``, with
    ``float("inf")``/``float("nan")`` for non-finite floats (``repr`` writes ``inf``, a name);
    any other JSON value as ``_json.loads(<repr>)`` (generated files that embed such values
    import ``json as _json``).

    Raises:
        ExportError: the value is none of these (Python source cannot write it as a constant).
    """
    text = pprint.pformat(value, width=1 << 20, sort_dicts=False)
    try:
        if _same(ast.literal_eval(text), value):
            return text
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    return _built(value)


def _same(found: Any, value: Any) -> bool:
    """``found == value`` with equal types throughout (``1 == 1.0 == True``; a tuple is not a list)."""
    if type(found) is not type(value):
        return False
    if isinstance(value, (list, tuple)):
        return len(found) == len(value) and all(_same(a, b) for a, b in zip(found, value))
    if isinstance(value, dict):
        return list(found) == list(value) and all(_same(found[k], value[k]) for k in value)
    if isinstance(value, (float, complex)):  # -0.0 == 0.0, but they are different values
        return repr(found) == repr(value)
    return bool(found == value)


_CONTAINERS: dict[type, tuple[str, str]] = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}")}


def _built(value: Any) -> str:
    if value is Ellipsis:  # its repr is a name
        return "..."
    if isinstance(value, float) and not math.isfinite(value):
        text = "float('nan')" if math.isnan(value) else "float('inf')"
        return "-" + text if value < 0 else text
    if isinstance(value, complex) and not _round_trips(value):  # (inf+0j), (-0-0j): repr loses them
        return f"complex({_built(value.real)}, {_built(value.imag)})"
    if type(value) in _CONTAINERS:
        if isinstance(value, set) and not value:
            return "set()"
        items = [_built(item) for item in value]
        comma = "," if isinstance(value, tuple) and len(items) == 1 else ""
        opening, closing = _CONTAINERS[type(value)]
        return opening + ", ".join(items) + comma + closing
    if type(value) is dict:
        return "{" + ", ".join(f"{_built(k)}: {_built(v)}" for k, v in value.items()) + "}"
    text = repr(value)
    if _round_trips(value):
        return text
    try:
        return f"_json.loads({json.dumps(value, allow_nan=False)!r})"
    except (TypeError, ValueError) as exc:
        raise ExportError(
            f"{_short(text)} ({type(value).__name__}) cannot be written as a Python constant",
            hint="use a literal value (numbers, strings, bytes, lists, tuples, dicts, sets, None)",
        ) from exc


def _round_trips(value: Any) -> bool:
    try:
        return _same(ast.literal_eval(repr(value)), value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def docstring(text: str, indent: str = "") -> str:
    """A triple-quoted docstring holding ``text`` (no escape sequence or quote can break out).

    Backslashes, double quotes and unprintable characters are escaped, so the literal's value is
    ``text`` itself, with ``indent`` added at the start of every non-empty line after the first.
    """
    escaped = "".join(_escape_char(ch) for ch in text)
    lines = escaped.split("\n")
    body = "\n".join([lines[0], *((indent + line) if line else "" for line in lines[1:])])
    return f'{indent}"""{body}"""'


def _escape_char(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch == '"':
        return '\\"'
    if ch in "\n\t" or ch.isprintable():
        return ch
    return ch.encode("unicode_escape").decode("ascii")


def has_multiline_string(source: str) -> bool:
    """True if a string token spans lines (re-indenting the code would change its value)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return True
    return any(t.type == tokenize.STRING and t.start[0] != t.end[0] for t in tokens) or any(
        getattr(tokenize, "FSTRING_START", -1) == t.type and "\n" in t.line for t in tokens
    )


def drop_display(body: str) -> str:
    """Drop trailing bare names (a notebook's ``df`` display line): no-ops in a script."""
    try:
        tree = ast.parse(body)
    except SyntaxError:
        return body
    lines = code_lines(body)
    while tree.body and isinstance(tree.body[-1], ast.Expr) and isinstance(tree.body[-1].value, ast.Name):
        last = tree.body.pop()
        kept = lines[: last.lineno - 1]
        if tree.body and (tree.body[-1].end_lineno or 0) == last.lineno:  # `t = [1, 2, 3]; t`: keep `t = …`
            kept.append(lines[last.lineno - 1][: last.col_offset].rstrip().rstrip(";").rstrip() + "\n")
        lines = kept
    return "".join(lines)


def indent_body(source: str, prefix: str = "    ") -> str:
    """A cell body as a function body: verbatim and indented, or re-generated from its AST."""
    body = source.strip("\n")
    if not body.strip():
        return prefix + "pass\n"
    if has_multiline_string(body):
        body = ast.unparse(ast.parse(body))
    body = drop_display(body)
    if not body.strip():
        return prefix + "pass\n"
    return "".join(prefix + line if line.strip() else "\n" for line in code_lines(body)).rstrip() + "\n"


#: Lint rules generated code may trip by construction (notebook cells pasted at module level).
WAIVABLE = ("E402", "E501", "F401", "F811", "F841", "I001")


_JSON_STDIN = ("--output-format", "json", "--exit-zero", "--stdin-filename", "generated.py", "-")


def lint_waiver(source: str) -> str:
    """A ``# ruff: noqa: …`` line naming exactly the :data:`WAIVABLE` rules ``source`` trips ("" if none).

    Only rules ruff enables by default are named: a waiver of a rule that is not enabled
    is itself reported (RUF100, unused ``noqa``) under ruff's default configuration.
    """
    command = _ruff()
    if command is None:
        return ""
    done = subprocess.run(
        [*command, "check", "--isolated", "--line-length", "120", *_JSON_STDIN],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        found = {str(item["code"]) for item in json.loads(done.stdout or "[]") if item.get("code")}
        codes = sorted(found & set(WAIVABLE))
    except ValueError:
        return ""
    return f"# ruff: noqa: {', '.join(codes)}\n" if codes else ""


def ruff_format(source: str) -> str:
    """``source`` formatted with ruff (line length 120) when ruff is available; unchanged otherwise."""
    command = _ruff()
    if command is None:
        return source
    done = subprocess.run(
        [*command, "format", "--isolated", "--line-length", "120", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 and done.stdout else source


def _ruff() -> list[str] | None:
    import os

    beside = os.path.join(os.path.dirname(sys.executable), "ruff")
    if os.path.exists(beside):
        return [beside]
    found = shutil.which("ruff")
    return [found] if found else None


def bounded_name(name: str, limit: int) -> str:
    """``name`` if it has at most ``limit`` characters, else a unique shortening of it.

    Orchestrators bound their ids (Airflow task ids: 250 characters); a longer stage name
    keeps its first characters and ends with ``_`` and 10 hex digits of its SHA-256, so two
    long names that share a prefix still get distinct ids. An identifier stays an identifier.
    """
    if len(name) <= limit:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{name[: limit - 11]}_{digest}"
