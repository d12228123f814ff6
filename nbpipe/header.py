"""The ``%%stage`` header grammar (DESIGN §3), shared by the magic and the analyzer.

The options are declared once, in :data:`OPTIONS`; :func:`parse_header` turns a
header line into a :class:`~nbpipe.model.StageHeader` or raises
:class:`~nbpipe.errors.HeaderError` with a message that names the problem and the fix.
"""

from __future__ import annotations

import argparse
import functools
import keyword
import shlex
from collections.abc import Sequence
from typing import Any, NoReturn

from nbpipe.errors import HeaderError
from nbpipe.model import StageHeader

MAGIC = "%%stage"

#: The argument table: (flags, argparse keyword arguments). The magic turns these
#: into ``magic_arguments`` decorators so that ``%%stage?`` shows the same help.
OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("name",), {"help": "stage name, a Python identifier unique in the notebook"}),
    (
        ("--in",),
        {
            "dest": "inputs",
            "nargs": "+",
            "action": "extend",
            "default": [],
            "metavar": "NAME",
            "help": "variables the stage reads (produced by other stages or parameters); "
            "NAME@NOTEBOOK reads output NAME of another notebook (.ipynb or percent .py, relative to this one)",
        },
    ),
    (
        ("--out",),
        {
            "dest": "outputs",
            "nargs": "+",
            "action": "extend",
            "default": [],
            "metavar": "NAME",
            "help": "variables the stage produces for other stages",
        },
    ),
    (
        ("--file-in",),
        {
            "dest": "file_inputs",
            "nargs": "+",
            "action": "extend",
            "default": [],
            "metavar": "PATH",
            "help": "files the stage reads, hashed by content for the cache",
        },
    ),
    (
        ("--file-out",),
        {
            "dest": "file_outputs",
            "nargs": "+",
            "action": "extend",
            "default": [],
            "metavar": "PATH",
            "help": "files the stage writes",
        },
    ),
    (("--no-cache",), {"action": "store_true", "help": "always run, never restore from the cache"}),
    (
        ("--retries",),
        {"type": int, "default": 0, "metavar": "N", "help": "retry a failing stage N times in batch runs"},
    ),
    (
        ("--check",),
        {
            "dest": "checks",
            "nargs": "+",
            "action": "extend",
            "default": [],
            "metavar": "EXPR",
            "help": "boolean expression over the outputs; a false check fails the stage",
        },
    ),
    (
        ("--resources",),
        {
            "nargs": "+",
            "action": "extend",
            "default": [],
            "metavar": "KEY=VALUE",
            "help": "what the stage needs: cpu=2 (or 500m), memory=4Gi, gpu=1, accelerator=TYPE",
        },
    ),
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises HeaderError instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise HeaderError(f"bad %%stage header: {message}", hint=USAGE)


def build_parser(prog: str = MAGIC) -> argparse.ArgumentParser:
    """An argparse parser for the header, built from :data:`OPTIONS`."""
    parser = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
    return parser


USAGE = (
    "%%stage NAME [--in NAME[@NOTEBOOK] ...] [--out NAME ...] [--file-in PATH ...] "
    "[--file-out PATH ...] [--no-cache] [--retries N] [--check EXPR ...] [--resources KEY=VALUE ...]"
)
_PARSER = build_parser()


def is_identifier(name: str) -> bool:
    """True if ``name`` can be a Python variable (identifier, not a keyword)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def split_header(line: str) -> list[str]:
    """Split a header line like a shell does; HeaderError on unbalanced quotes."""
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError as exc:
        raise HeaderError(f"bad %%stage header: {exc} in {line!r}", hint="close the quote") from exc


@functools.lru_cache(maxsize=65536)
def parse_header(line: str) -> StageHeader:
    """Parse the text after ``%%stage`` into a StageHeader (memoised: headers are immutable).

    Args:
        line: the header arguments, e.g. ``"fit --in X y --out model"``.

    Returns:
        The validated header.

    Raises:
        HeaderError: the line does not follow the grammar; the message says why.
    """
    header = _plain(line)
    if header is not None:
        validate(header)
        return header
    words = split_header(line)
    if not words:
        raise HeaderError("bad %%stage header: the stage has no name", hint=USAGE)
    header = normalised(parsed_header(words))
    validate(header)
    return header


def normalised(header: StageHeader) -> StageHeader:
    """``header`` with its names in NFKC, as Python reads identifiers (``ﬁt`` is ``fit``, ``ｘ`` is ``x``).

    The body's ``ｘ = 1`` binds ``x``, so ``--out ｘ`` must declare ``x``. Plain lines skip
    it: their names are ASCII, which NFKC leaves unchanged.
    """
    import dataclasses
    import unicodedata

    def nfkc(names: Sequence[str]) -> tuple[str, ...]:
        return tuple(unicodedata.normalize("NFKC", name) for name in names)

    return dataclasses.replace(
        header,
        name=nfkc([header.name])[0],
        inputs=nfkc(header.inputs),
        outputs=nfkc(header.outputs),
        notebook_inputs=tuple(
            zip(nfkc([n for n, _ in header.notebook_inputs]), (p for _, p in header.notebook_inputs))
        ),
    )


def parsed_header(words: list[str]) -> StageHeader:
    """The header argparse reads from the words of a line (not yet validated)."""
    ns = _PARSER.parse_args(words)
    inputs = [word.partition("@") for word in ns.inputs]
    return StageHeader(
        name=ns.name,
        inputs=tuple(name for name, _, _ in inputs),
        notebook_inputs=tuple((name, path) for name, at, path in inputs if at),
        outputs=tuple(ns.outputs),
        file_inputs=tuple(ns.file_inputs),
        file_outputs=tuple(ns.file_outputs),
        no_cache=ns.no_cache,
        retries=ns.retries,
        checks=tuple(ns.checks),
        resources=tuple(sorted(_resource_pair(word) for word in ns.resources)),
    )


#: The list options of :data:`OPTIONS` whose values are names or paths (flag -> StageHeader field).
_PLAIN_LISTS = {
    flags[0]: kwargs["dest"]
    for flags, kwargs in OPTIONS
    if kwargs.get("action") == "extend" and kwargs.get("metavar") in ("NAME", "PATH")
}
_PLAIN_FLAGS = {
    flags[0]: flags[0][2:].replace("-", "_") for flags, kwargs in OPTIONS if kwargs.get("action") == "store_true"
}
_PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./ ")


def _plain(line: str) -> StageHeader | None:
    """The header of a plain line — names, paths and flags of :data:`OPTIONS` only — without argparse.

    Parsing a header with argparse costs half a millisecond, most of a fully cached
    run's time per stage. Lines made only of identifier and path characters, known
    flags each followed by at least one value, are read here with the same result
    (a test compares both on generated lines); anything else — quotes, ``=``,
    ``--check``, ``--retries``, an error — goes to the argparse parser of :data:`OPTIONS`.
    """
    if not _PLAIN_CHARS.issuperset(line):
        return None
    words = line.split()
    if not words or words[0].startswith("-"):
        return None
    lists: dict[str, list[str]] = {dest: [] for dest in _PLAIN_LISTS.values()}
    flags: dict[str, bool] = {}
    current: list[str] | None = None
    values = 1  # values of the current option so far (the name counts for the positional)
    for word in words[1:]:
        if word.startswith("-"):
            if not values:
                return None  # a list option without a value: argparse's message
            if word in _PLAIN_LISTS:
                current, values = lists[_PLAIN_LISTS[word]], 0
            elif word in _PLAIN_FLAGS:
                flags[_PLAIN_FLAGS[word]] = True
                current, values = None, 1
            else:
                return None
        elif current is None:
            return None  # a second positional word: argparse's message
        else:
            current.append(word)
            values += 1
    if not values:
        return None
    return StageHeader(
        name=words[0],
        inputs=tuple(lists["inputs"]),
        outputs=tuple(lists["outputs"]),
        file_inputs=tuple(lists["file_inputs"]),
        file_outputs=tuple(lists["file_outputs"]),
        no_cache=flags.get("no_cache", False),
    )


def validate(header: StageHeader) -> None:
    """Check the rules argparse cannot: identifiers, duplicates, overlaps."""
    if not is_identifier(header.name):
        raise HeaderError(
            f"bad %%stage header: stage name {header.name!r} is not a Python identifier",
            hint="use letters, digits and underscores, not starting with a digit, e.g. %%stage load_data",
        )
    _check_names(header, "--in", header.inputs)
    _check_notebook_inputs(header)
    _check_names(header, "--out", header.outputs)
    both = sorted(set(header.inputs) & set(header.outputs))
    if both:
        raise HeaderError(
            f"bad %%stage header: stage {header.name!r} lists {_names(both)} in both --in and --out",
            hint="a stage that changes an input must give the result a new name, e.g. --in df --out df_clean",
            stage=header.name,
        )
    if header.retries < 0:
        raise HeaderError(f"bad %%stage header: --retries must be >= 0, got {header.retries}", stage=header.name)
    for check in header.checks:
        _check_expression(header, check)
    _check_resources(header)


def _check_names(header: StageHeader, flag: str, names: Sequence[str]) -> None:
    bad = [n for n in names if not is_identifier(n)]
    if bad:
        raise HeaderError(
            f"bad %%stage header: {flag} of stage {header.name!r} has {_names(bad)}, not a Python identifier",
            hint=f"{flag} takes variable names separated by spaces",
            stage=header.name,
        )
    seen: set[str] = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dups:
        raise HeaderError(
            f"bad %%stage header: {flag} of stage {header.name!r} lists {_names(dups)} more than once",
            hint="list each variable once",
            stage=header.name,
        )


#: What ``--in NAME@NOTEBOOK`` may name: a notebook, or a jupytext percent script.
NOTEBOOK_SUFFIXES = (".ipynb", ".py")


def _check_notebook_inputs(header: StageHeader) -> None:
    """``--in NAME@NOTEBOOK``: NOTEBOOK is an ``.ipynb`` or percent ``.py`` path (DESIGN §3)."""
    for name, path in header.notebook_inputs:
        if not path.endswith(NOTEBOOK_SUFFIXES) or path in NOTEBOOK_SUFFIXES:
            raise HeaderError(
                f"bad %%stage header: --in {name}@{path} of stage {header.name!r}: {path!r} is not a notebook path",
                hint=f"--in NAME@NOTEBOOK reads output NAME of another notebook, e.g. --in {name}@prep.ipynb "
                "(an .ipynb or a jupytext percent .py, relative to this notebook)",
                stage=header.name,
            )


def _check_expression(header: StageHeader, expr: str) -> None:
    import ast

    try:
        ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise HeaderError(
            f"bad %%stage header: --check {expr!r} of stage {header.name!r} is not a Python expression ({exc.msg})",
            hint='quote the expression: --check "len(df) > 0"',
            stage=header.name,
        ) from exc


#: ``--resources`` keys: the rule each value follows, and a pattern for it (Kubernetes quantities).
RESOURCES: dict[str, tuple[str, str]] = {
    "cpu": ("a positive number of cores (2, 0.5) or whole millicores (500m)", r"(?:[0-9]*\.)?[0-9]+|[0-9]+m"),
    "memory": (
        "a whole number of bytes, optionally with a suffix K, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei (4Gi)",
        r"[0-9]+(?:[KMGTPE]i?)?",
    ),
    "gpu": ("a positive whole number of GPUs (1)", r"[0-9]+"),
    "accelerator": ("an accelerator type such as nvidia.com/gpu (needs gpu=N)", r"[A-Za-z0-9][A-Za-z0-9._/-]*"),
}
_SUFFIXES = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def _resource_pair(word: str) -> tuple[str, str]:
    key, _, value = word.partition("=")
    return key, value


def _check_resources(header: StageHeader) -> None:
    import re

    keys = [key for key, _ in header.resources]
    for key, value in header.resources:
        if key not in RESOURCES:
            _bad_resource(header, f"{key}={value}" if value else key, f"{key!r} is not a resource")
        rule, pattern = RESOURCES[key]
        if not value:
            _bad_resource(header, key, f"{key} needs a value: {key}=VALUE, {rule}")
        if not re.fullmatch(pattern, value) or (key != "accelerator" and resource_amount(key, value) <= 0):
            _bad_resource(header, f"{key}={value}", f"{key} must be {rule}")
        if keys.count(key) > 1:
            _bad_resource(header, f"{key}={value}", f"{key} is given more than once")
    if "accelerator" in keys and "gpu" not in keys:
        _bad_resource(header, "accelerator", "an accelerator type needs a count: add gpu=N")


def _bad_resource(header: StageHeader, word: str, rule: str) -> NoReturn:
    raise HeaderError(
        f"bad %%stage header: --resources {word!r} of stage {header.name!r}: {rule}",
        hint="--resources takes KEY=VALUE pairs with keys "
        + ", ".join(RESOURCES)
        + ", e.g. --resources cpu=2 memory=4Gi gpu=1",
        stage=header.name,
    )


def resource_amount(key: str, value: str) -> float:
    """A validated ``--resources`` value as a number: cores for ``cpu``, bytes for ``memory``, a count for ``gpu``."""
    if key == "cpu":
        return int(value[:-1]) / 1000 if value.endswith("m") else float(value)
    if key == "memory":
        digits = value.rstrip("KMGTPEi")
        suffix = value[len(digits) :]
        if suffix.endswith("i"):  # binary: Ki = 1024
            return float(int(digits) * 1024 ** ("KMGTPE".index(suffix[0]) + 1))
        return float(int(digits) * _SUFFIXES.get(suffix, 1))
    return float(int(value))


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def header_line(source: str) -> str | None:
    """The arguments of the ``%%stage`` line if ``source`` is a stage cell, else None."""
    first = source.lstrip("\n").split("\n", 1)[0].rstrip()
    if first == MAGIC or first.startswith(MAGIC + " ") or first.startswith(MAGIC + "\t"):
        return first[len(MAGIC) :].strip()
    return None


def help_text() -> str:
    """The help of ``%%stage`` as argparse formats it."""
    return build_parser().format_help()
