"""Request bodies of the nbpipe API: parsing, field checks, and the analysis of one request.

Pure functions (no Tornado, no Jupyter Server), so a large ``analyze`` body can be parsed
and analysed in a worker process (:mod:`nbpipe.server.workers`) by the same code that
handles a small one in a thread. Every bad request becomes :class:`ApiError` (400 with a
short message naming the field and the fix), never an unhandled exception.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from nbpipe.errors import NbpipeError
from nbpipe.server.paths import PathRefused, resolve

_BODY_HINT = 'send a JSON object such as {"path": "dir/nb.ipynb"}'
#: How much of a user's value an error message quotes.
_SHOWN = 120
#: The longest file name most file systems take, in bytes.
_NAME_MAX = 255


class ApiError(Exception):
    """Raised inside a handler to reply with ``status`` and a JSON message."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


def shown(value: str) -> str:
    """``repr(value)``, cut to a readable length: messages quote what the client sent, briefly."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…'"


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        ApiError: 400 when it is not UTF-8 JSON, is nested too deeply, holds a number Python
            refuses to convert, or is not an object.
    """
    try:
        body = json.loads(raw or b"")
    except RecursionError as exc:  # json's C parser counts nesting against the recursion limit
        raise ApiError(400, "request body is JSON nested too deeply to read", _BODY_HINT) from exc
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc.msg} at char {exc.pos})", _BODY_HINT) from exc
    except ValueError as exc:  # not UTF-8, or an integer beyond Python's digit limit
        raise ApiError(400, f"request body is not valid JSON text ({str(exc)[:_SHOWN]})", _BODY_HINT) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", _BODY_HINT)
    return body


def string_field(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    """``body[key]`` as a non-empty string of valid Unicode; :class:`ApiError` 400 otherwise."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"field {key!r} must be a non-empty string", f"add {key!r} to the JSON body")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # "\ud800": a lone surrogate names no file and breaks every encoder
        raise ApiError(
            400,
            f"field {key!r} is not valid Unicode text: it holds a lone surrogate ({shown(value[exc.start])})",
            f"send {key!r} as ordinary text; rename the file if its name is not valid UTF-8",
        ) from exc
    return value


def bool_field(body: dict[str, Any], key: str) -> bool:
    """``body[key]`` as a boolean (false when missing); :class:`ApiError` 400 when mistyped."""
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"field {key!r} must be true or false", f"send {key!r} as a JSON boolean")
    return value


def os_path(api_path: str, root: str, must_exist: bool = True) -> str:
    """Resolve ``api_path`` inside ``root``: 403 outside it, 404 missing, 400 a name too long (or, for an
    existing notebook, a folder)."""
    if any(len(part.encode("utf-8")) > _NAME_MAX for part in api_path.split("/")):
        raise ApiError(400, f"path {shown(api_path)}: a name in it is longer than 255 bytes", "use shorter names")
    try:
        path = resolve(api_path, root)
    except PathRefused as exc:
        raise ApiError(403, str(exc), "use a path relative to the Jupyter root directory") from exc
    if must_exist and os.path.isdir(path):
        raise ApiError(400, f"path {shown(api_path)} is a folder, not a notebook", "send the path of a notebook")
    if must_exist and not os.path.isfile(path):
        raise ApiError(404, f"notebook {shown(api_path)} does not exist", "save the notebook first")
    return path


def notebook_path(api_path: str, root: str, allow_hidden: bool, must_exist: bool = True) -> str:
    """The OS path of a notebook a request names: inside ``root``, existing (unless ``must_exist`` is false),
    and not hidden unless the contents manager allows hidden files — the rule of ``GET /api/contents``.

    Raises:
        ApiError: 403 outside the root, 404 missing, 400 a folder, a name too long, or a hidden path.
    """
    from nbpipe.server.paths import is_hidden_path

    path = os_path(api_path, root, must_exist=must_exist)
    if not allow_hidden and is_hidden_path(api_path, path, root):
        raise ApiError(
            400,
            f"notebook {shown(api_path)} is hidden (a name in it starts with '.')",
            "open a notebook outside hidden folders, or start Jupyter with --ContentsManager.allow_hidden=True",
        )
    return path


def openable(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` as the client may open it, or None when it lies outside or is hidden."""
    from nbpipe.server.paths import is_hidden_path, to_api

    api_path = to_api(path, root)
    if os.path.isabs(api_path) or not os.path.isfile(path):
        return None
    try:
        real = resolve(api_path, root)
    except PathRefused:
        return None
    return None if is_hidden_path(api_path, real, root) else api_path


def error_reply(exc: ApiError | NbpipeError) -> tuple[int, dict[str, str]]:
    """The HTTP status and JSON body of a failure (an :class:`NbpipeError` is a bad request: 400)."""
    status = exc.status if isinstance(exc, ApiError) else 400
    return status, {"message": exc.message, "hint": exc.hint}


def analyze_body(raw: bytes, root: str, allow_hidden: bool = False) -> tuple[int, str, float]:
    """Answer one ``POST /nbpipe/api/analyze``: ``(status, JSON text, analysis milliseconds)``.

    Args:
        raw: the request body, ``{"path": ..., "content"?: notebook JSON}``.
        root: the server's real root directory.
        allow_hidden: the contents manager's ``allow_hidden`` (hidden notebooks are refused without it).
    """
    from nbpipe.runtime.status import analyze_with_status
    from nbpipe.runtime.upstream import upstream_groups

    started = time.perf_counter()
    try:
        body = parse_body(raw)
        api_path = str(string_field(body, "path"))
        content = body.get("content")
        if content is not None and not isinstance(content, (dict, str)):
            raise ApiError(400, "field 'content' must be notebook JSON (an object)", "send the notebook model")
        path = notebook_path(api_path, root, allow_hidden, must_exist=content is None)
        graph = analyze_with_status(path, content)
        data = graph.to_dict()
        data["upstream"] = [g.to_dict(openable(g.path, root)) for g in upstream_groups(path, graph)]
    except (ApiError, NbpipeError) as exc:
        status, reply = error_reply(exc)
        return status, json.dumps(reply), 0.0
    data["notebook"] = api_path
    return 200, json.dumps(data), (time.perf_counter() - started) * 1000
