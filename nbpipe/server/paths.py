"""Resolve API paths sent by the front end to files inside the server's root.

The contents manager's root is the only directory the handlers may touch: a path
that escapes it (``..``, an absolute path, a symlink pointing outside) is refused.
Hidden paths (a component starting with ``.``) are judged as the contents manager
judges them (:func:`is_hidden_path`), so an export cannot write where ``PUT
/api/contents`` may not (``.jupyter/…``, ``.ipython/profile_default/startup/…``).
"""

from __future__ import annotations

import os
from typing import Any


class PathRefused(Exception):
    """Raised when a requested path is not a plain relative path inside the server root."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"path {path!r} refused: {reason}")
        self.path = path


def root_dir(contents_manager: Any) -> str:
    """The real, absolute root directory of the server's contents manager."""
    root = getattr(contents_manager, "root_dir", None) or os.getcwd()
    return os.path.realpath(os.path.expanduser(str(root)))


def resolve(api_path: str, root: str) -> str:
    """The OS path of ``api_path`` (``/``-separated, relative to ``root``).

    Args:
        api_path: the notebook path as JupyterLab names it (``dir/nb.ipynb``).
        root: the server's real root directory (see :func:`root_dir`).

    Returns:
        The real absolute path, guaranteed to lie inside ``root``.

    Raises:
        PathRefused: the path is empty, absolute, contains a NUL byte or leaves the root.
    """
    if not api_path or not api_path.strip("/"):
        raise PathRefused(api_path, "it is empty; send the notebook path relative to the server root")
    if "\0" in api_path:
        raise PathRefused(api_path, "it contains a NUL byte")
    parts = api_path.strip("/").split("/")
    if ".." in parts or os.path.isabs(api_path.lstrip("/")):
        raise PathRefused(api_path, "it leaves the server root; use a path inside the Jupyter root directory")
    real = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([real, root]) != root:
        raise PathRefused(api_path, "it resolves outside the server root (symlink?)")
    return real


def file_in_path(api_path: str, root: str) -> str | None:
    """The first leading part of ``api_path`` that is a file, not a folder (``nb.ipynb`` of ``nb.ipynb/x.py``)."""
    parts = api_path.strip("/").split("/")
    for end in range(1, len(parts)):
        if os.path.isfile(os.path.join(root, *parts[:end])):
            return "/".join(parts[:end])
    return None


def to_api(os_path: str, root: str) -> str:
    """``os_path`` relative to ``root`` with ``/`` separators; unchanged if it lies outside."""
    real = os.path.realpath(os_path)
    if os.path.commonpath([real, root]) != root:
        return os_path
    return os.path.relpath(real, root).replace(os.sep, "/")


def is_hidden_path(api_path: str, real: str, root: str) -> bool:
    """Whether ``api_path``, or the real path it resolves to, is hidden or inside a hidden folder.

    Args:
        api_path: the path as sent (``/``-separated, relative to the root).
        real: what :func:`resolve` made of it.
        root: the server's real root directory.
    """
    from jupyter_core.paths import is_hidden

    if any(part.startswith(".") for part in api_path.strip("/").split("/")):
        return True
    try:
        return bool(is_hidden(real, root))
    except (OSError, ValueError):  # cannot tell: treat it as hidden
        return True
