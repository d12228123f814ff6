"""Stage keys and miss reasons (DESIGN §6).

A stage key hashes everything a stage's outputs depend on: its normalised code and
header, the normalised source of the setup helpers it calls, the fingerprints of its
inputs, the values of the parameters and constants it reads, the content hashes of
its ``--file-in`` files, the cache format version and Python's major.minor. The same
:class:`KeyInputs` are stored in each manifest, so a later miss can say what changed.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import xxhash

from nbpipe.cache.fingerprint import fingerprint

#: Version of the cache layout and key recipe; bump it to invalidate every entry.
FORMAT_VERSION = 1
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

_PARAM_MARK = "__nbpipe_param__"  # marks a parameter value that is not plain JSON


@dataclass(frozen=True)
class KeyInputs:
    """Everything a stage key is computed from.

    ``source`` is the stage body as written; it is not part of the key and only lets
    :func:`miss_reason` name the first changed line.
    """

    stage: str  # stage name
    code: str  # normalised body (nbpipe.source.normalize)
    header: str  # StageHeader.canonical()
    helpers: dict[str, str] = field(default_factory=dict)  # helper name -> normalised source
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> fingerprint
    params: dict[str, Any] = field(default_factory=dict)  # parameter/constant name -> value
    files: dict[str, str] = field(default_factory=dict)  # --file-in path -> content hash
    format: int = FORMAT_VERSION  # cache format version
    python: str = PYTHON  # Python major.minor
    source: str = ""  # stage body as written (reasons only, not hashed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; parameter values that are not plain JSON keep a repr and a fingerprint."""
        return {
            "stage": self.stage,
            "code": self.code,
            "header": self.header,
            "helpers": dict(sorted(self.helpers.items())),
            "inputs": dict(sorted(self.inputs.items())),
            "params": {name: encode_param(name, value) for name, value in sorted(self.params.items())},
            "files": dict(sorted(self.files.items())),
            "format": self.format,
            "python": self.python,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyInputs:
        """The inverse of :meth:`to_dict` (encoded parameters stay encoded; they compare by fingerprint)."""
        return cls(
            stage=str(data["stage"]),
            code=str(data["code"]),
            header=str(data["header"]),
            helpers=dict(data.get("helpers", {})),
            inputs=dict(data.get("inputs", {})),
            params=dict(data.get("params", {})),
            files=dict(data.get("files", {})),
            format=int(data.get("format", 0)),
            python=str(data.get("python", "")),
            source=str(data.get("source", "")),
        )


def stage_key(inputs: KeyInputs) -> str:
    """The 128-bit hex cache key of one stage execution."""
    material = inputs.to_dict()
    del material["source"]
    material["params"] = {name: param_token(name, value) for name, value in inputs.params.items()}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


def file_hash(path: str | os.PathLike[str], chunk: int = 8 << 20) -> str:
    """The xxh3-128 hex hash of a file's content, read in chunks."""
    hasher = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        buffer = bytearray(chunk)
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            hasher.update(view[:count])
    return hasher.hexdigest()


def miss_reason(previous: KeyInputs | None, current: KeyInputs) -> str:
    """The first human reason why ``current`` misses where ``previous`` was cached.

    The ladder: never run, code, header, helpers, inputs, parameters, files, cache
    format or Python; if nothing differs the previous entry was evicted or corrupt.
    """
    if previous is None:
        return "never run"
    if previous.code != current.code:
        line = _changed_line(previous.source, current.source)
        return f"code changed (line {line})" if line else "code changed"
    if previous.header != current.header:
        return "header changed"
    for reason in (
        _dict_reason("helper", previous.helpers, current.helpers),
        _dict_reason("input", previous.inputs, current.inputs, origins=_origins(current.header)),
        _params_reason(previous.params, current.params),
        _dict_reason("file", previous.files, current.files, show=str),
    ):
        if reason:
            return reason
    if (previous.format, previous.python) != (current.format, current.python):
        return "cache format or Python changed"
    return "cache entry missing or evicted"


def _dict_reason(
    what: str, before: dict[str, str], after: dict[str, str], show: Any = repr, origins: dict[str, str] | None = None
) -> str:
    for name in sorted(before.keys() | after.keys()):
        label = f"{what} {show(name)}"
        if origins and name in origins:  # --in NAME@NOTEBOOK: say which notebook it comes from
            label += f" from {origins[name]}"
        if name not in before:
            return f"{label} added"
        if name not in after:
            return f"{label} removed"
        if before[name] != after[name]:
            return f"{label} changed"
    return ""


def _origins(header: str) -> dict[str, str]:
    """Input -> notebook of each ``--in NAME@NOTEBOOK`` in a canonical header (``StageHeader.canonical``)."""
    if "@" not in header:
        return {}
    import shlex

    try:
        words = shlex.split(header)
    except ValueError:
        return {}
    found: dict[str, str] = {}
    flag = ""
    for word in words:
        if word.startswith("--"):
            flag = word
        elif flag == "--in" and "@" in word:
            name, _, notebook = word.partition("@")
            found[name] = notebook
    return found


def _params_reason(before: dict[str, Any], after: dict[str, Any]) -> str:
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            return f"parameter {name!r} now read"
        if name not in after:
            return f"parameter {name!r} no longer read"
        if param_token(name, before[name]) != param_token(name, after[name]):
            return f"parameter {name!r} {param_display(before[name])} → {param_display(after[name])}"
    return ""


def _is_plain_json(value: Any) -> bool:
    try:
        return bool(json.loads(json.dumps(value, allow_nan=False)) == value) and _same_types(value)
    except (TypeError, ValueError):
        return False


def _same_types(value: Any) -> bool:
    """JSON keeps only str/int/float/bool/None, lists and str-keyed dicts (tuples would come back as lists)."""
    if isinstance(value, list):
        return all(_same_types(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _same_types(item) for key, item in value.items())
    return type(value) in (str, int, float, bool, type(None))


def encode_param(name: str, value: Any) -> Any:
    """A value as stored in key parts: plain JSON as it is, anything else as its repr and fingerprint.

    Raises:
        CacheError: the value cannot be fingerprinted.
    """
    if _is_marker(value) or _is_plain_json(value):
        return value
    return {_PARAM_MARK: {"repr": _short_repr(value), "fingerprint": fingerprint(value, name)}}


def _is_marker(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {_PARAM_MARK}


def param_token(name: str, value: Any) -> str:
    """Equal tokens mean equal parameter values, before or after a JSON round trip."""
    if _is_marker(value):
        return "fp:" + str(value[_PARAM_MARK]["fingerprint"])
    if _is_plain_json(value):
        return "json:" + json.dumps(value, sort_keys=True)
    return "fp:" + fingerprint(value, name)


def param_display(value: Any) -> str:
    """A setup value as miss reasons show it (its repr, also for values kept by fingerprint)."""
    if _is_marker(value):
        return str(value[_PARAM_MARK]["repr"])
    return _short_repr(value)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _changed_line(before: str, after: str) -> int | None:
    """The 1-based cell line (the ``%%stage`` header is line 1) of the first changed statement."""
    if not after:
        return None
    try:
        old, new = ast.parse(before).body, ast.parse(after).body
    except SyntaxError:
        return _changed_text_line(before, after)
    for old_stmt, new_stmt in zip(old, new):
        if ast.dump(old_stmt) != ast.dump(new_stmt):
            return new_stmt.lineno + 1
    if len(new) > len(old):
        return new[len(old)].lineno + 1
    return (new[-1].end_lineno or new[-1].lineno) + 1 if new else 1


def _changed_text_line(before: str, after: str) -> int | None:
    old_lines, new_lines = before.splitlines(), after.splitlines()
    for number, (old, new) in enumerate(zip(old_lines, new_lines), start=2):
        if old.strip() != new.strip():
            return number
    return min(len(old_lines), len(new_lines)) + 2 if old_lines != new_lines else None
