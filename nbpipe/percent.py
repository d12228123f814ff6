"""Jupytext percent scripts (``# %%`` cells in a ``.py`` file) as notebooks.

jupytext itself reads and writes the format (an optional extra, imported only when
a percent file is read or written). Besides the notebook, reading records where
each cell's source starts in the file, so positions the analyzer reports as
(cell, line) map back to lines of the ``.py`` file (:func:`file_line`).

``%%stage`` in a percent file is written the way jupytext writes any cell magic:
commented, ``# %%stage NAME …``, inside a ``# %%`` cell; jupytext reads it back
as the magic.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nbpipe.errors import NotebookReadError

FORMAT = "py:percent"
SUFFIX = ".py"
INSTALL_HINT = "pip install 'jupyter-nbpipe[jupytext]'"


def is_percent_path(path: str | os.PathLike[str]) -> bool:
    """Whether a notebook path names a percent script (by its suffix, as jupytext does)."""
    return os.fspath(path).endswith(SUFFIX)


def load(path: str, content: str | None = None) -> tuple[dict[str, Any], tuple[int, ...]]:
    """Read a percent script into an nbformat v4 notebook dict and the first file line of each cell.

    Args:
        path: the ``.py`` file.
        content: its unsaved text, read instead of the file.

    Returns:
        The notebook dict and, per cell, the 0-based line of the file where its source
        starts (empty when the positions cannot be matched to jupytext's cells).

    Raises:
        NotebookReadError: the file is missing, unreadable, not a percent script, or
            jupytext is not installed.
    """
    text = _text(path, content)
    if not any(_is_marker(line) for line in text.splitlines()):
        raise NotebookReadError(
            f"{path}: not a notebook: a .py file is read as a jupytext percent script, "
            "and it has no '# %%' cell marker",
            hint="start each cell with a '# %%' line (jupytext --to py:percent converts a notebook), "
            "or pass the .ipynb",
        )
    jupytext = _jupytext(path)
    try:
        nb = jupytext.reads(text, fmt=FORMAT)
    except Exception as exc:  # jupytext raises many types for malformed files
        raise NotebookReadError(f"{path}: jupytext cannot read this percent script ({exc})") from exc
    try:
        starts = cell_starts(text)
    except Exception:  # jupytext's readers are not public API: without positions, output names cells
        starts = ()
    return dict(nb), starts if len(starts) == len(nb.cells) else ()


def _text(path: str, content: str | None) -> str:
    if content is not None:
        return content
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotebookReadError(f"{path}: no such file", hint="check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookReadError(f"{path}: cannot be read ({exc})") from exc


def _jupytext(path: str) -> Any:
    try:
        import jupytext
    except ImportError as exc:
        raise NotebookReadError(
            f"{path}: reading or writing a percent script needs jupytext, which is not installed",
            hint=INSTALL_HINT,
        ) from exc
    return jupytext


def _is_marker(line: str) -> bool:
    """A ``# %%`` cell marker (``# %%stage`` is a commented magic, not a marker)."""
    rest = line.strip()
    if not rest.startswith("#"):
        return False
    rest = rest[1:].lstrip()
    return rest.startswith("%%") and (len(rest) == 2 or rest[2] in " \t")


def cell_starts(text: str) -> tuple[int, ...]:
    """The 0-based line where each cell's source starts, as jupytext's own cell readers split the text.

    jupytext does not report positions, so this walks its percent reader over the
    lines the same way ``jupytext.reads`` does and notes where each cell begins.
    """
    from jupytext.formats import get_format_implementation
    from jupytext.header import header_to_metadata_and_cell
    from jupytext.languages import default_language_from_metadata_and_ext

    impl = get_format_implementation(SUFFIX, "percent")
    lines = text.splitlines()
    metadata, _, header_cell, pos = header_to_metadata_and_cell(
        lines, impl.header_prefix, impl.header_suffix, impl.extension, True
    )
    language = default_language_from_metadata_and_ext(metadata, impl.extension)
    starts = [0] if header_cell else []
    fmt = {"extension": SUFFIX, "format_name": "percent"}
    while pos < len(lines):
        _, used = impl.cell_reader_class(fmt, language).read(lines[pos:])
        starts.append(pos + (1 if _is_marker(lines[pos]) else 0))
        pos += max(used, 1)
    return tuple(starts)


def file_line(starts: tuple[int, ...], cell: int | None, line: int | None) -> int | None:
    """The 1-based line of the file for a 1-based ``line`` of cell ``cell`` (None when unknown)."""
    if cell is None or not 0 <= cell < len(starts):
        return None
    return starts[cell] + (line or 1)


def write(nb: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write an nbformat v4 notebook dict as a percent script, atomically (temporary name, then rename).

    Raises:
        NotebookReadError: jupytext is not installed.
    """
    import nbformat

    target = os.fspath(path)
    text = _jupytext(target).writes(nbformat.from_dict(nb), fmt=FORMAT)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".nbpipe-", suffix=SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
