"""``POST /nbpipe/api/annotate``: write an annotated copy of a plain notebook (the sidebar's empty state).

The same steps as ``nbpipe annotate`` (:func:`nbpipe.analysis.annotate.propose` on the saved
notebook, written as Jupyter saves it), with the sidebar's rule: the copy goes beside the
notebook as ``NB.staged.ipynb``, or ``NB.staged-2.ipynb``… when that name is taken — no file
is ever replaced. Authenticated, confined to the root and refusing hidden notebooks like
every nbpipe handler (:meth:`nbpipe.server.handlers.NbpipeHandler.notebook_path`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator

from jupyter_server.auth.decorator import authorized
from tornado import web

from nbpipe.errors import NbpipeError, OutputExistsError
from nbpipe.server.handlers import NbpipeHandler
from nbpipe.server.paths import to_api
from nbpipe.server.requests import ApiError, parse_body, shown, string_field

#: How many ``NB.staged-N.ipynb`` names are tried before giving up.
_NAMES = 100


class AnnotateHandler(NbpipeHandler):
    """``POST {path}`` → ``{"path": the annotated copy, "stages": [...], "notes": [...]}``."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Annotate the saved notebook into a new file beside it (off the event loop)."""
        try:
            body = await asyncio.to_thread(parse_body, self.request.body or b"")
            api_path = str(string_field(body, "path"))
            if not api_path.endswith(".ipynb"):
                raise ApiError(400, f"{shown(api_path)} is not a .ipynb notebook", "annotate a .ipynb notebook")
            path = self.notebook_path(api_path)
            written, stages, notes = await asyncio.to_thread(annotate_copy, path)
        except (ApiError, NbpipeError) as exc:
            self.reply_error(exc)
            return
        self.finish(json.dumps({"path": to_api(written, self.root), "stages": stages, "notes": notes}))


def annotate_copy(path: str) -> tuple[str, list[str], list[str]]:
    """Write the annotated copy of the notebook at ``path`` under a free name; return it, its stages, the notes."""
    from nbpipe.analysis.annotate import propose
    from nbpipe.export.files import write_text
    from nbpipe.ipynb import dumps
    from nbpipe.notebook import load, read

    read(path)  # refuses unreadable or non-Python notebooks with a clear error
    annotation = propose(load(path))
    text = dumps(annotation.notebook)
    for target in _names(path):
        if os.path.lexists(target):
            continue
        try:
            write_text(target, text, overwrite=False)
        except OutputExistsError:  # created since the check: take the next name
            continue
        return target, annotation.stages, annotation.notes
    raise ApiError(409, f"{shown(os.path.basename(path))}: {_NAMES} annotated copies exist already", "delete some")


def _names(path: str) -> Iterator[str]:
    stem = path[: -len(".ipynb")]
    yield f"{stem}.staged.ipynb"
    for n in range(2, _NAMES + 1):
        yield f"{stem}.staged-{n}.ipynb"
