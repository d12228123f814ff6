"""Tornado handlers for ``POST /nbpipe/api/analyze`` and ``POST /nbpipe/api/export``.

Both are authenticated like every Jupyter Server API (token or cookie, XSRF for
cookie sessions) and authorised on the ``contents`` resource, since they read and
write files under the root. Replies are JSON; failures are ``{"message", "hint"}``
with 400 (bad request or notebook, hidden output path), 404 (no such file), 403
(path outside the root), 409 (the export would replace a file nbpipe did not write)
or 501 (a part of nbpipe that this installation does not provide).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from nbpipe.errors import NbpipeError, OutputExistsError
from nbpipe.server.paths import PathRefused, is_hidden_path, resolve, root_dir, to_api

API_PREFIX = "nbpipe/api"


class ApiError(Exception):
    """Raised inside a handler to reply with ``status`` and a JSON message."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


class NbpipeHandler(APIHandler):
    """Shared request parsing, path resolution and error replies."""

    auth_resource = "contents"

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; :class:`ApiError` 400 otherwise."""
        try:
            body = json.loads(self.request.body or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"request body is not valid JSON ({exc})", 'send {"path": "dir/nb.ipynb"}') from exc
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object", 'send {"path": "dir/nb.ipynb"}')
        return body

    def string_field(self, body: dict[str, Any], key: str, required: bool = True) -> str | None:
        """``body[key]`` as a non-empty string; :class:`ApiError` 400 when missing or mistyped."""
        value = body.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"field {key!r} must be a non-empty string", f"add {key!r} to the JSON body")
        return value

    def os_path(self, api_path: str, must_exist: bool = True) -> str:
        """Resolve ``api_path`` inside the contents manager's root."""
        try:
            path = resolve(api_path, self.root)
        except PathRefused as exc:
            raise ApiError(403, str(exc), "use a path relative to the Jupyter root directory") from exc
        if must_exist and not os.path.isfile(path):
            raise ApiError(404, f"notebook {api_path!r} does not exist", "save the notebook first")
        return path

    def bool_field(self, body: dict[str, Any], key: str) -> bool:
        """``body[key]`` as a boolean (false when missing); :class:`ApiError` 400 when mistyped."""
        value = body.get(key, False)
        if not isinstance(value, bool):
            raise ApiError(400, f"field {key!r} must be true or false", f"send {key!r} as a JSON boolean")
        return value

    def output_path(self, api_path: str) -> str:
        """Resolve an output ``api_path`` inside the root; hidden paths only if the contents manager allows them."""
        path = self.os_path(api_path, must_exist=False)
        if not getattr(self.contents_manager, "allow_hidden", False) and is_hidden_path(api_path, path, self.root):
            raise ApiError(
                400,
                f"output {api_path!r} is hidden (a name in it starts with '.'); nbpipe does not write hidden files",
                "choose an output path without hidden folders or files, "
                "or start Jupyter with --ContentsManager.allow_hidden=True",
            )
        return path

    @property
    def root(self) -> str:
        """The real root directory of the server's files."""
        return root_dir(self.contents_manager)

    def reply_error(self, exc: ApiError | NbpipeError) -> None:
        """Finish the request with a JSON error body."""
        status, hint = (exc.status if isinstance(exc, ApiError) else 400), exc.hint
        if isinstance(exc, OutputExistsError):
            status, hint = 409, 'send another "output", or "overwrite": true to replace it'
        self.set_status(status)
        self.finish(json.dumps({"message": exc.message, "hint": hint}))


class AnalyzeHandler(NbpipeHandler):
    """``POST {path, content?}`` → graph JSON v1 with per-stage status."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Analyse the saved notebook, or its unsaved ``content`` when given."""
        try:
            body = self.json_body()
            api_path = str(self.string_field(body, "path"))
            content = body.get("content")
            if content is not None and not isinstance(content, (dict, str)):
                raise ApiError(400, "field 'content' must be notebook JSON (an object)", "send the notebook model")
            path = self.os_path(api_path, must_exist=content is None)
            analyze = _import("nbpipe.runtime.status", "analyze_with_status")
            started = time.perf_counter()
            graph = await asyncio.to_thread(analyze, path, content)
            elapsed = (time.perf_counter() - started) * 1000
        except (ApiError, NbpipeError) as exc:
            self.reply_error(exc)
            return
        data = graph.to_dict()
        data["notebook"] = api_path
        self.set_header("Server-Timing", f"analyze;dur={elapsed:.1f}")
        self.finish(json.dumps(data))


class ExportHandler(NbpipeHandler):
    """``POST {path, to, output?, overwrite?}`` → ``{"path": written path, "to": target}``.

    Without ``output`` the export goes beside the notebook. A file nbpipe did not write
    is never replaced (409) unless ``"overwrite": true``; hidden outputs are refused (400)
    unless the contents manager allows hidden files.
    """

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Export the saved notebook to the target ``to``."""
        try:
            body = self.json_body()
            path = self.os_path(str(self.string_field(body, "path")))
            target = str(self.string_field(body, "to"))
            output = self.string_field(body, "output", required=False)
            overwrite = self.bool_field(body, "overwrite")
            export = _import("nbpipe.export", "export_notebook", f"export to {target!r}")
            if output is None:
                default_output = _import("nbpipe.export", "default_output", f"export to {target!r}")
                output = to_api(default_output(path, target), self.root)
            out_path = self.output_path(output)
            written = await asyncio.to_thread(_call_export, export, path, target, out_path, overwrite)
        except (ApiError, NbpipeError) as exc:
            self.reply_error(exc)
            return
        self.finish(json.dumps({"path": to_api(written, self.root), "to": target}))


def _call_export(export: Any, path: str, target: str, output: str, overwrite: bool) -> str:
    try:
        return str(export(path, to=target, output=output, overwrite=overwrite))
    except NotImplementedError as exc:
        raise ApiError(501, f"export to {target!r} is not available: {exc}", "pick another target") from exc


def _import(module: str, name: str, what: str | None = None) -> Any:
    """``module.name``, or :class:`ApiError` 501 when this installation lacks it."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ApiError(
            501,
            f"{what or module} is not available in this nbpipe installation ({module}.{name} is missing)",
            "upgrade jupyter-nbpipe, or use the nbpipe command line",
        ) from exc


def setup_handlers(web_app: Any) -> None:
    """Add the nbpipe handlers under the server's base URL.

    Args:
        web_app: the server's ``tornado.web.Application``.
    """
    base = web_app.settings.get("base_url", "/")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, API_PREFIX, "analyze"), AnalyzeHandler),
            (url_path_join(base, API_PREFIX, "export"), ExportHandler),
        ],
    )
