"""``--check EXPR`` data-validation gates, evaluated over a stage's namespace."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from nbpipe.errors import StageError
from nbpipe.model import StageHeader


class CheckFailed(StageError):
    """Raised when a ``--check`` gate of a stage is false or raises.

    ``outputs`` holds the declared outputs the body computed: the run record shows their
    fingerprints and summaries (the value that failed the gate), though nothing is cached.
    """

    def __init__(
        self, message: str, *, hint: str = "", stage: str | None = None, outputs: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, hint=hint, stage=stage)
        self.outputs = dict(outputs or {})


def run_checks(header: StageHeader, namespace: Mapping[str, Any]) -> None:
    """Evaluate each ``--check`` expression; a false one fails the stage.

    Raises:
        CheckFailed: a check is false or raised; the message shows the expression and
            the values of the names it uses.
    """
    outputs = {name: namespace[name] for name in header.outputs if name in namespace}
    for expr in header.checks:
        env = dict(namespace)
        try:
            ok = eval(compile(expr, f"<check of stage {header.name}>", "eval"), env)  # noqa: S307 - user's own check
        except Exception as exc:
            raise CheckFailed(
                f"check {expr!r} of stage {header.name!r} raised {type(exc).__name__}: {exc}",
                hint="fix the expression in --check",
                stage=header.name,
                outputs=outputs,
            ) from exc
        if not ok:
            raise CheckFailed(
                f"check failed for stage {header.name!r}: {expr}{_values(expr, env)}",
                hint="the data did not pass this gate; inspect the values above",
                stage=header.name,
                outputs=outputs,
            )


def _values(expr: str, env: Mapping[str, Any]) -> str:
    names = sorted({n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)})
    shown = [f"{n} = {_short(env[n])}" for n in names if n in env and not callable(env[n])]
    return " (" + ", ".join(shown) + ")" if shown else ""


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def watch(header: StageHeader, inputs: Mapping[str, Any], setup_prints: Mapping[str, str]) -> dict[str, str]:
    """Fingerprints, before the body runs, of what the stage must not change in place (NBP201).

    ``setup_prints`` are those of the setup values the stage reads (from its key parts);
    the declared inputs are fingerprinted here.
    """
    from nbpipe.runtime.keys import fingerprint_or_none

    found = dict(setup_prints)
    for name in header.inputs:
        if name in inputs:
            found[name] = fingerprint_or_none(inputs[name], name)
    return {n: fp for n, fp in found.items() if fp}


def check_unchanged(header: StageHeader, before: Mapping[str, str], values: Mapping[str, Any]) -> None:
    """Fail the stage if it changed an input or a setup object in place (NBP201, the same in every target).

    Raises:
        StageError: naming the changed objects, with the fix.
    """
    from nbpipe.runtime.keys import fingerprint_or_none

    changed = [n for n, fp in before.items() if n in values and fingerprint_or_none(values[n], n) not in (fp, "")]
    if not changed:
        return
    names = ", ".join(repr(n) for n in changed)
    what = "input" if changed[0] in header.inputs else "setup object"
    raise StageError(
        f"NBP201: stage {header.name!r} changed its {what} {names} in place; other stages, the cache and "
        "every batch target would see a different value",
        hint=f"work on a copy ({changed[0]} = {changed[0]}.copy()), or create it inside the stage "
        "(e.g. a random generator from a seed parameter)",
        stage=header.name,
        code="NBP201",
    )
