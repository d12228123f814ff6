"""Parameter overrides, papermill style: ``-p name value`` / ``-p name=value``, YAML-typed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nbpipe.errors import ParameterError


def parse_value(text: str) -> Any:
    """A YAML-typed value: ``0.5`` → float, ``true`` → bool, ``[1, 2]`` → list, else the string."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text


def parse_overrides(pairs: Iterable[list[str]]) -> dict[str, Any]:
    """``[["C", "0.5"], ["seed=3", "n=2"]]`` → ``{"C": 0.5, "seed": 3, "n": 2}``.

    Raises:
        ParameterError: a pair is neither ``name value`` nor ``name=value``.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        if pair and all("=" in word for word in pair):  # -p C=0.5 seed=3: one or more NAME=VALUE
            found = [word.split("=", 1) for word in pair]
        elif len(pair) == 2 and "=" not in pair[0]:  # -p C 0.5 (papermill's spelling)
            found = [pair]
        else:
            raise ParameterError(
                f"-p {' '.join(pair)}: expected -p NAME VALUE or -p NAME=VALUE [NAME=VALUE ...]",
                hint="e.g. -p C 0.5, or -p C=0.5 seed=3",
            )
        for name, text in found:
            values[name.strip()] = parse_value(text)
    return values


def read_params_file(path: str) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) file holding a mapping."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParameterError(f"--params-file {path}: no such file") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"--params-file {path}: cannot be read as YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"--params-file {path}: expected a mapping of name: value, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def validate(overrides: Mapping[str, Any], defaults: Mapping[str, Any], notebook: str) -> dict[str, Any]:
    """Check overrides against the parameters cell: known names, compatible types.

    An int is accepted where the default is a float; None defaults accept anything.

    Raises:
        ParameterError: naming the parameter, the expected type and the fix.
    """
    known = ", ".join(defaults) or "none"
    checked: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in defaults:
            raise ParameterError(
                f"unknown parameter {name!r} for {notebook}",
                hint=f"parameters (from the cell tagged 'parameters'): {known}",
            )
        checked[name] = _coerce(name, value, defaults[name])
    return checked


def _coerce(name: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        return value
    expected = type(default)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, expected):
        raise ParameterError(
            f"parameter {name!r} expects {expected.__name__} (default {default!r}), "
            f"got {type(value).__name__} {value!r}",
            hint=f"pass a {expected.__name__}, e.g. -p {name}={default!r}",
        )
    return value


def add_parameter_option(parser: Any) -> None:
    """The ``-p/--parameter`` option, as ``nbpipe run`` and exported scripts spell it."""
    parser.add_argument(
        "-p",
        "--parameter",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter: -p C=0.5 or -p C 0.5 (YAML-typed)",
    )
