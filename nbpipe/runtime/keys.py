"""Stage keys from live values: one function for the kernel and every batch target.

The kernel and ``nbpipe run`` must compute the same key for the same stage, so the
parts that depend on values (setup helpers called, parameters and constants read,
input fingerprints, ``--file-in`` hashes) are derived here from the namespace the
stage will run in, never from where that namespace came from.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import types
from collections.abc import Mapping
from typing import Any

from nbpipe.cache.fingerprint import fingerprint
from nbpipe.cache.keys import KeyInputs, encode_param, file_hash, param_token
from nbpipe.errors import CacheError
from nbpipe.model import StageHeader
from nbpipe.source import normalize, python_tree

_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def names_read(body: str) -> set[str]:
    """Every name a body loads anywhere (an over-approximation of its free names)."""
    return set(_names_read(body))


@functools.lru_cache(maxsize=4096)
def _names_read(body: str) -> frozenset[str]:
    try:
        tree = python_tree(body)
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))


def is_plain(value: object, depth: int = 0) -> bool:
    """True for parameter-like values: scalars, strings and small containers of them."""
    if isinstance(value, _PLAIN):
        return True
    if depth > 3:
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return len(value) <= 1000 and all(is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 1000 and all(is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.items())
    return False


#: Setup objects that are code, not data: never part of a key as values (user-defined
#: functions and classes enter it by their source, library code not at all).
_CODE = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    type,
)


def setup_values(names: set[str], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the setup names among ``names`` (parameters, constants, any setup data), encoded.

    Plain values keep their value (miss reasons show it); other data enters by its
    fingerprint (see :func:`nbpipe.cache.keys.encode_param`). Values that cannot be
    fingerprinted (a database connection, a lock) are resources, not data: left out.
    """
    values: dict[str, Any] = {}
    for name in sorted(names):
        if name not in namespace or name.startswith("__"):
            continue
        value = namespace[name]
        if isinstance(value, _CODE):
            continue
        try:
            values[name] = encode_param(name, value)
        except CacheError:
            continue
    return values


def _user_defined(value: object, module_name: str) -> bool:
    if not isinstance(value, (types.FunctionType, type)):
        return False
    return getattr(value, "__module__", None) == module_name


def _code_names(value: object) -> set[str]:
    """Global names a function (or the methods of a class) refers to."""
    if isinstance(value, types.FunctionType):
        codes = [value.__code__]
    elif isinstance(value, type):
        codes = [v.__code__ for v in vars(value).values() if isinstance(v, types.FunctionType)]
    else:
        return set()
    found: set[str] = set()
    while codes:
        code = codes.pop()
        found.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def helper_sources(names: set[str], namespace: Mapping[str, Any]) -> tuple[dict[str, str], set[str]]:
    """Normalised source of the setup functions/classes reached from ``names`` (transitively),
    and every global name those helpers refer to."""
    module_name = str(namespace.get("__name__", "__main__"))
    found: dict[str, str] = {}
    referred: set[str] = set()
    todo = sorted(names)
    while todo:
        name = todo.pop()
        value = namespace.get(name)
        if name in found or not _user_defined(value, module_name):
            continue
        found[name] = _source_of(value)
        inner = _code_names(value)
        referred |= inner
        todo.extend(sorted(inner - set(found)))
    return dict(sorted(found.items())), referred


def _source_of(value: object) -> str:
    if isinstance(value, type):
        # A class: its name and its methods' sources. inspect.getsource of a class looks
        # the class up through its module file, which a notebook cell does not have.
        methods = sorted((k, v) for k, v in vars(value).items() if isinstance(v, types.FunctionType))
        return "\n".join([f"class {value.__qualname__}", *(_source_of(v) for _, v in methods)])
    try:
        return normalize(inspect.getsource(value))  # type: ignore[arg-type]
    except (OSError, TypeError):
        # No source (e.g. defined via exec without linecache): fall back to bytecode.
        code = getattr(value, "__code__", None)
        return repr(code.co_code) if code is not None else getattr(value, "__qualname__", "?")


def setup_parts(header: StageHeader, body: str, namespace: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """The key parts that come from setup cells: (helper sources, encoded setup values).

    Values are those of every setup name the body reads and every global its helpers
    refer to, taken from the namespace the stage runs in: the same rule in every target.
    """
    read = names_read(body) - set(header.inputs)
    helpers, referred = helper_sources(read, namespace)
    return helpers, setup_values((read | referred) - set(header.inputs) - helpers.keys(), namespace)


def stage_setup_parts(
    header: StageHeader, body: str, namespace: Mapping[str, Any], producers: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """Everything a stage key takes from the setup namespace: helper sources, setup values, and the
    fingerprints of declared inputs no stage produces (setup or parameter names).

    Raises:
        KeyError: such an input is not in ``namespace`` (its name).
    """
    visible = {k: v for k, v in namespace.items() if k not in header.inputs}
    helpers, values = setup_parts(header, body, visible)
    external = [i for i in header.inputs if i not in producers]
    missing = [i for i in external if i not in namespace]
    if missing:
        raise KeyError(missing[0])
    return helpers, values, {i: fingerprint(namespace[i], i) for i in external}


def mutable_prints(values: Mapping[str, Any], namespace: Mapping[str, Any]) -> dict[str, str]:
    """Fingerprints of the setup values a stage could change in place (NBP201 is checked against them)."""
    prints: dict[str, str] = {}
    for name, encoded in values.items():
        value = namespace.get(name)
        if isinstance(value, _IMMUTABLE):
            continue
        token = param_token(name, encoded)
        prints[name] = token.partition(":")[2] if token.startswith("fp:") else fingerprint_or_none(value, name)
    return {n: fp for n, fp in prints.items() if fp}


_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, frozenset, range)


def fingerprint_or_none(value: object, name: str) -> str:
    """The fingerprint of ``value``, or "" when it cannot be fingerprinted."""
    try:
        return fingerprint(value, name)
    except CacheError:
        return ""


def key_inputs(
    header: StageHeader,
    body: str,
    namespace: Mapping[str, Any] | None,
    input_fingerprints: Mapping[str, str],
    base_dir: str | os.PathLike[str],
    parts: tuple[dict[str, str], dict[str, Any]] | None = None,
    texts: tuple[str, str] | None = None,
) -> KeyInputs:
    """Everything a stage's result depends on, from the namespace it runs in.

    Args:
        header: the stage header.
        body: the stage body (cell source without the ``%%stage`` line).
        namespace: setup names and parameters visible to the stage (inputs excluded);
            may be None when ``parts`` is given.
        input_fingerprints: fingerprint of each declared input.
        base_dir: directory that relative ``--file-in`` paths are relative to.
        parts: :func:`setup_parts` computed earlier for the same setup (a memo).
        texts: ``normalize(body)`` and ``header.canonical()`` computed earlier (a plan's).
    """
    if parts is None:
        assert namespace is not None, "key_inputs needs the namespace or precomputed parts"
        parts = setup_parts(header, body, namespace)
    helpers, params = parts
    code, canonical = texts if texts is not None else (normalize(body), header.canonical())
    files = {p: _file_hash_or_missing(os.path.join(base_dir, p)) for p in header.file_inputs}
    return KeyInputs(
        stage=header.name,
        code=code,
        header=canonical,
        helpers=helpers,
        inputs=dict(sorted(input_fingerprints.items())),
        params=params,
        files=files,
        source=body.partition("\n")[2],  # the body's line 1 stands for the header
    )


def _file_hash_or_missing(path: str) -> str:
    try:
        return file_hash(path)
    except FileNotFoundError:
        return "missing"
