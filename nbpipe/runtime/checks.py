"""``--check EXPR`` data-validation gates, evaluated over a stage's namespace."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from nbpipe.errors import StageError
from nbpipe.model import StageHeader


def run_checks(header: StageHeader, namespace: Mapping[str, Any]) -> None:
    """Evaluate each ``--check`` expression; a false one fails the stage.

    Raises:
        StageError: a check is false or raised; the message shows the expression and
            the values of the names it uses.
    """
    for expr in header.checks:
        env = dict(namespace)
        try:
            ok = eval(compile(expr, f"<check of stage {header.name}>", "eval"), env)  # noqa: S307 - user's own check
        except Exception as exc:
            raise StageError(
                f"check {expr!r} of stage {header.name!r} raised {type(exc).__name__}: {exc}",
                hint="fix the expression in --check",
                stage=header.name,
            ) from exc
        if not ok:
            raise StageError(
                f"check failed for stage {header.name!r}: {expr}{_values(expr, env)}",
                hint="the data did not pass this gate; inspect the values above",
                stage=header.name,
            )


def _values(expr: str, env: Mapping[str, Any]) -> str:
    names = sorted({n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)})
    shown = [f"{n} = {_short(env[n])}" for n in names if n in env and not callable(env[n])]
    return " (" + ", ".join(shown) + ")" if shown else ""


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
