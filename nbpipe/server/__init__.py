"""The nbpipe Jupyter Server extension: the analyzer and the exporters over HTTP (DESIGN §8).

Glue only: the handlers in :mod:`nbpipe.server.handlers` resolve paths through the
server's root, call :func:`nbpipe.analysis.analyze` / :func:`nbpipe.export.export_notebook`
and map nbpipe errors to HTTP statuses.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Tell Jupyter Server where the extension's loader lives."""
    return [{"module": "nbpipe.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the ``/nbpipe/api/*`` handlers on the server's web app.

    Args:
        serverapp: the running ``jupyter_server.serverapp.ServerApp``.
    """
    from nbpipe.server.handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("nbpipe server extension loaded: POST /nbpipe/api/analyze, /nbpipe/api/export")
