"""``POST /nbpipe/api/details``: what the sidebar's details panel shows (recorded variables, a stage's runs).

Glue over :func:`nbpipe.runtime.details.notebook_details`, authenticated and authorised
like the other handlers (:class:`nbpipe.server.handlers.NbpipeHandler`): the notebook must
be a file inside the root (403 outside, 404 missing), and a hidden one is refused (400)
unless the contents manager allows hidden files, as ``GET /api/contents`` would.
"""

from __future__ import annotations

import asyncio
import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from nbpipe.errors import NbpipeError

# Imported here, when the server loads the extension, not by the first request's thread: a
# notebook's first details and analyze requests arrive together, and two threads importing
# nbpipe.cache for the first time at once saw it partially initialised (ImportError, HTTP 500).
from nbpipe.runtime.details import notebook_details
from nbpipe.server.handlers import NbpipeHandler
from nbpipe.server.requests import ApiError, parse_body, string_field


class DetailsHandler(NbpipeHandler):
    """``POST {path, stage?}`` → ``{notebook, variables, stage}`` (see :mod:`nbpipe.runtime.details`)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Read the notebook's run records and the stage's latest entry (off the event loop)."""
        try:
            body = await asyncio.to_thread(parse_body, self.request.body or b"")
            api_path = str(string_field(body, "path"))
            stage = string_field(body, "stage", required=False)
            path = self.notebook_path(api_path)
            reply = await asyncio.to_thread(notebook_details, path, stage)
        except (ApiError, NbpipeError) as exc:
            self.reply_error(exc)
            return
        reply["notebook"] = api_path
        self.finish(json.dumps(reply))
