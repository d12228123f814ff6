"""Tornado handlers for ``POST /nbpipe/api/analyze`` and ``POST /nbpipe/api/export``.

Both are authenticated like every Jupyter Server API (token or cookie, XSRF for
cookie sessions) and authorised on the ``contents`` resource, since they read and
write files under the root. Replies are JSON; failures are ``{"message", "hint"}``
with 400 (bad request or notebook, hidden output path), 404 (no such file), 403
(path outside the root), 409 (the export would replace a file nbpipe did not write)
or 501 (a part of nbpipe that this installation does not provide). Bodies are parsed and
notebooks analysed off the event loop (:mod:`nbpipe.server.workers`); the pure request
checks live in :mod:`nbpipe.server.requests`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from nbpipe.errors import NbpipeError, OutputExistsError
from nbpipe.server.paths import file_in_path, is_hidden_path, root_dir, to_api
from nbpipe.server.requests import (
    ApiError,
    analyze_body,
    bool_field,
    error_reply,
    notebook_path,
    os_path,
    parse_body,
    shown,
    string_field,
)
from nbpipe.server.workers import Workers

API_PREFIX = "nbpipe/api"


class NbpipeHandler(APIHandler):
    """Shared path resolution and error replies."""

    auth_resource = "contents"

    @property
    def workers(self) -> Workers:
        """Where this server's CPU work runs (a thread, or a worker process for large bodies)."""
        return self.settings["nbpipe_workers"]  # type: ignore[no-any-return]

    def notebook_path(self, api_path: str) -> str:
        """The OS path of the notebook a request names (:func:`nbpipe.server.requests.notebook_path`)."""
        return notebook_path(api_path, self.root, self.allow_hidden)

    @property
    def allow_hidden(self) -> bool:
        """Whether the contents manager serves hidden files (``--ContentsManager.allow_hidden``)."""
        return bool(getattr(self.contents_manager, "allow_hidden", False))

    def output_path(self, api_path: str) -> str:
        """Resolve an output ``api_path`` inside the root; hidden paths only if the contents manager allows them."""
        path = os_path(api_path, self.root, must_exist=False)
        parent = file_in_path(api_path, self.root)
        if parent is not None:
            raise ApiError(
                400, f"output {shown(api_path)}: {shown(parent)} is a file, not a folder", "send another output"
            )
        if not self.allow_hidden and is_hidden_path(api_path, path, self.root):
            raise ApiError(
                400,
                f"output {shown(api_path)} is hidden (a name in it starts with '.'); "
                "nbpipe does not write hidden files",
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
        status, reply = error_reply(exc)
        if isinstance(exc, OutputExistsError):
            status, reply["hint"] = 409, 'send another "output", or "overwrite": true to replace it'
        self.set_status(status)
        self.finish(json.dumps(reply))


class AnalyzeHandler(NbpipeHandler):
    """``POST {path, content?}`` → graph JSON v1 with per-stage status."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Analyse the saved notebook, or its unsaved ``content`` when given (off the event loop)."""
        raw = self.request.body or b""
        status, text, elapsed = await self.workers.run(len(raw), analyze_body, raw, self.root, self.allow_hidden)
        if status == 200:
            self.set_header("Server-Timing", f"analyze;dur={elapsed:.1f}")
        self.set_status(status)
        self.finish(text)


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
            body = await asyncio.to_thread(parse_body, self.request.body or b"")
            path = self.notebook_path(str(string_field(body, "path")))
            target = str(string_field(body, "to"))
            output = string_field(body, "output", required=False)
            overwrite = bool_field(body, "overwrite")
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
    from nbpipe.server.annotate import AnnotateHandler  # these build on NbpipeHandler, defined here
    from nbpipe.server.details import DetailsHandler

    base = web_app.settings.get("base_url", "/")
    web_app.settings.setdefault("nbpipe_workers", Workers())
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, API_PREFIX, "analyze"), AnalyzeHandler),
            (url_path_join(base, API_PREFIX, "export"), ExportHandler),
            (url_path_join(base, API_PREFIX, "details"), DetailsHandler),
            (url_path_join(base, API_PREFIX, "annotate"), AnnotateHandler),
        ],
    )
