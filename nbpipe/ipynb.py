"""The ``.ipynb`` JSON format without nbformat's validator: v2/v3 upgraded to v4, v4 written as Jupyter writes it.

Importing nbformat imports its validator, jsonschema and the grammars of
jsonschema's format checkers: about a second, 17 times the whole check of a v4
notebook. Reading and writing do not need a validator, so this module does, field
for field, what nbformat's readers (``v2``/``v3`` ``rejoin_lines`` and
``strip_transient``), converters (``v3.convert.upgrade``, ``v4.convert.upgrade``)
and v4 writer (``split_lines``, ``strip_transient``, sorted JSON indented by one)
do. ``tests/unit/test_ipynb.py`` compares both with nbformat.

Unlike nbformat, a malformed part of an old notebook is left as it is rather than
refused: the reader (``notebook.py``) decides what it can use.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

#: The version :func:`upgrade` produces (nbformat 5.x writes 4.5: cells carry ids).
NBFORMAT, NBFORMAT_MINOR = 4, 5

# v3 output keys that hold multi-line text (nbformat.v3.rwbase._multiline_outputs)
_MULTILINE_V3 = ("text", "html", "svg", "latex", "javascript", "json")
# v3 output aliases -> MIME types (nbformat.v4.convert._mime_map)
_MIME = {
    "text": "text/plain",
    "html": "text/html",
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "latex": "text/latex",
    "json": "application/json",
    "javascript": "application/javascript",
}
# non-text MIME types whose values the v4 writer splits into lines too
_SPLIT_MIMES = {"application/javascript", "image/svg+xml"}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A v2 or v3 notebook dict as nbformat reads it with ``as_version=4``; v4 is returned as it is.

    Args:
        data: the notebook's JSON; not changed.

    Returns:
        A v4 dict (new cells get random ids, as nbformat gives them).

    Raises:
        ValueError: an old notebook without a list of worksheets (nbformat: "missing an expected key").
    """
    version = data.get("nbformat")
    if version == NBFORMAT:
        return data
    if not isinstance(data.get("worksheets"), list):
        raise ValueError(f"an nbformat {version} notebook needs a list of 'worksheets'")
    nb = copy.deepcopy(data)
    if version == 2:
        _rejoin_v3(nb, "\n".join)
        nb["orig_nbformat"] = 2
        for cell in _v3_cells(nb):
            cell.setdefault("metadata", {})
    else:
        _rejoin_v3(nb, _join_lines)
        nb.pop("orig_nbformat", None)
        nb.pop("orig_nbformat_minor", None)
    return _v3_to_v4(nb)


def dumps(nb: dict[str, Any]) -> str:
    """The text ``nbformat.write(nb)`` writes for a v4 notebook dict (without validating it).

    Lines split for version control, transient fields dropped, keys sorted, one space
    of indent, non-ASCII kept, a final newline: byte for byte what Jupyter saves.
    """
    nb = copy.deepcopy(nb)
    for cell in _dicts(nb.get("cells")):
        _split_cell(cell)
    _strip_transient(nb)
    text = json.dumps(nb, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False, default=_ascii)
    return text if text.endswith("\n") else text + "\n"


# -- reading v2 / v3 ----------------------------------------------------------------------


def _dicts(items: object) -> list[dict[str, Any]]:
    """The dict members of a JSON list (anything else counts as no members)."""
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _v3_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for ws in _dicts(nb.get("worksheets")) for cell in _dicts(ws.get("cells"))]


def _join_lines(lines: list[str]) -> str:
    """Lines written by ``splitlines(True)`` (or, in old files, by ``splitlines()``) as one string."""
    return "".join(lines) if lines and lines[0].endswith(("\n", "\r")) else "\n".join(lines)


def _rejoin_v3(nb: dict[str, Any], join: Any) -> None:
    """Multi-line fields as strings, transient ``trusted`` flags dropped (v2/v3 ``to_notebook``)."""
    for cell in _v3_cells(nb):
        keys: tuple[str, ...] = ("input",) if cell.get("cell_type") == "code" else ("source", "rendered")
        for key in keys:
            if _is_lines(cell.get(key)):
                cell[key] = join(cell[key])
        if cell.get("cell_type") == "code":
            for output in _dicts(cell.get("outputs")):
                for key in _MULTILINE_V3:
                    if _is_lines(output.get(key)):
                        output[key] = join(output[key])
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("trusted", None)
        cell.pop("trusted", None)


def _is_lines(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(line, str) for line in value)


def _v3_to_v4(nb: dict[str, Any]) -> dict[str, Any]:
    metadata = nb["metadata"] if isinstance(nb.get("metadata"), dict) else {}
    metadata["orig_nbformat"] = nb.pop("orig_nbformat", None) or 3
    metadata["orig_nbformat_minor"] = nb.pop("orig_nbformat_minor", None) or 0
    metadata.pop("name", None)
    metadata.pop("signature", None)
    cells = [_v4_cell(cell) for cell in _v3_cells(nb)]
    nb.pop("worksheets", None)
    nb.update(metadata=metadata, nbformat=NBFORMAT, nbformat_minor=NBFORMAT_MINOR, cells=cells)
    return nb


def _v4_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """One v3 cell in v4 form (``nbformat.v4.convert.upgrade_cell``)."""
    cell.setdefault("metadata", {})
    cell["id"] = uuid.uuid4().hex[:8]
    kind = cell.get("cell_type")
    if kind == "code":
        cell.pop("language", None)
        if "collapsed" in cell and isinstance(cell["metadata"], dict):
            cell["metadata"]["collapsed"] = cell.pop("collapsed")
        cell["source"] = cell.pop("input", "")
        cell["execution_count"] = cell.pop("prompt_number", None)
        cell["outputs"] = [_v4_output(o) for o in _dicts(cell.get("outputs"))]
    elif kind == "heading":
        level, source = cell.pop("level", 1), cell.get("source", "")
        cell["cell_type"] = "markdown"
        if isinstance(source, str):  # anything else is refused by the reader, naming the cell
            hashes = "#" * level if isinstance(level, int) else "#"
            cell["source"] = f"{hashes} {' '.join(source.splitlines())}"
    elif kind == "html":
        cell["cell_type"] = "markdown"
    return cell


def _v4_output(output: dict[str, Any]) -> dict[str, Any]:
    """One v3 output in v4 form (``nbformat.v4.convert.upgrade_output``)."""
    kind = output.get("output_type")
    if kind in ("pyout", "display_data"):  # a tuple: the field may hold an unhashable value
        output.setdefault("metadata", {})
        if kind == "pyout":
            output["output_type"] = "execute_result"
            output["execution_count"] = output.pop("prompt_number", None)
        keep = {"output_type", "execution_count", "metadata"}
        data = _mime_keys({k: output.pop(k) for k in list(output) if k not in keep})
        output["data"] = data
        if isinstance(output["metadata"], dict):
            output["metadata"] = _mime_keys(output["metadata"])
        if isinstance(data.get("application/json"), str):
            try:
                data["application/json"] = json.loads(data["application/json"])
            except ValueError:
                pass  # nbformat refuses the whole notebook; the analyzer never reads this field
    elif kind == "pyerr":
        output["output_type"] = "error"
    elif kind == "stream":
        output["name"] = output.pop("stream", "stdout")
    return output


def _mime_keys(bundle: dict[str, Any]) -> dict[str, Any]:
    """v3 aliases (``png``, ``text``…) renamed to MIME types, in nbformat's order (``to_mime_key``)."""
    for alias, mime in _MIME.items():
        if alias in bundle:
            bundle[mime] = bundle.pop(alias)
    return bundle


# -- writing v4 ---------------------------------------------------------------------------


def _split_cell(cell: dict[str, Any]) -> None:
    """Multi-line strings as lists of lines, as nbformat's v4 ``split_lines`` does."""
    if isinstance(cell.get("source"), str):
        cell["source"] = cell["source"].splitlines(True)
    attachments = cell.get("attachments")
    for bundle in attachments.values() if isinstance(attachments, dict) else ():
        _split_bundle(bundle)
    if cell.get("cell_type") != "code":
        return
    for output in _dicts(cell.get("outputs")):
        if output.get("output_type") in ("execute_result", "display_data"):
            _split_bundle(output.get("data"))
        elif output.get("output_type") == "stream" and isinstance(output.get("text"), str):
            output["text"] = output["text"].splitlines(True)


def _split_bundle(bundle: object) -> None:
    if not isinstance(bundle, dict):
        return
    for key, value in bundle.items():
        if isinstance(value, str) and (key.startswith("text/") or key in _SPLIT_MIMES):
            bundle[key] = value.splitlines(True)


def _strip_transient(nb: dict[str, Any]) -> None:
    if isinstance(nb.get("metadata"), dict):
        for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
            nb["metadata"].pop(key, None)
    for cell in _dicts(nb.get("cells")):
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("trusted", None)


def _ascii(value: object) -> str:
    """Bytes (base64 images of very old notebooks) as text, as nbformat's ``BytesEncoder`` does."""
    if isinstance(value, bytes):
        return value.decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")
