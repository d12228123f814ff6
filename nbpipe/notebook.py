"""Read notebooks into cells: stage headers, the parameters cell and setup cells.

``.ipynb`` files of nbformat 4 are read as they are; versions 2 and 3 are upgraded
to v4 as nbformat upgrades them (``ipynb.upgrade``, without nbformat's validator,
whose import alone costs ten checks of a v4 notebook). :func:`read` is the one way
from a path to a :class:`Notebook`; :func:`load` gives an ``.ipynb``'s v4 dict to
what rewrites the file (``nbpipe annotate``). This module knows the notebook's
shape, not its data flow: that is the analyzer's job.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.errors import HeaderError, NotebookReadError
from nbpipe.header import parse_header
from nbpipe.ipynb import upgrade
from nbpipe.model import STAGE_MIME, StageHeader
from nbpipe.percent import is_percent_path
from nbpipe.percent import load as load_percent
from nbpipe.source import split_stage

PARAMETERS_TAG = "parameters"


@dataclass(frozen=True)
class Cell:
    """One notebook cell as nbpipe sees it."""

    index: int  # 0-based index into the notebook's cells (markdown included)
    cell_type: str  # "code" | "markdown" | "raw"
    source: str  # the full cell source
    tags: tuple[str, ...] = ()
    execution_count: int | None = None
    outputs: tuple[dict[str, Any], ...] = ()
    cell_id: str | None = None
    header: StageHeader | None = None  # set for a stage cell with a valid header
    header_error: HeaderError | None = None  # set for a stage cell with a bad header
    body: str = ""  # source without the %%stage line (line numbers preserved)

    @property
    def is_code(self) -> bool:
        """True for code cells."""
        return self.cell_type == "code"

    @property
    def is_stage(self) -> bool:
        """True for a cell whose first line is ``%%stage`` (valid header or not)."""
        return self.header is not None or self.header_error is not None

    @property
    def is_parameters(self) -> bool:
        """True for the cell tagged ``parameters`` (papermill's convention)."""
        return self.is_code and PARAMETERS_TAG in self.tags


@dataclass(frozen=True)
class Notebook:
    """A read notebook."""

    path: str
    cells: tuple[Cell, ...]
    language: str = "python"
    metadata: dict[str, Any] = field(default_factory=dict)
    #: for a percent script: per cell, the 0-based line of the file where its source starts
    #: (nbpipe.percent.file_line maps analysis positions with it); empty for .ipynb
    source_lines: tuple[int, ...] = ()

    @property
    def stage_cells(self) -> list[Cell]:
        """The stage cells with a valid header, in notebook order."""
        return [c for c in self.cells if c.header is not None]

    @property
    def parameters_cell(self) -> Cell | None:
        """The first cell tagged ``parameters``, if any."""
        return next((c for c in self.cells if c.is_parameters), None)

    @property
    def parameters(self) -> dict[str, Any]:
        """Literal values bound in the parameters cell, in order."""
        cell = self.parameters_cell
        return literal_assignments(cell.source) if cell else {}


def stage_bundle(cell: Cell) -> dict[str, Any] | None:
    """The last ``application/vnd.nbpipe.stage+json`` bundle saved in a cell's outputs (DESIGN §4.6)."""
    found = None
    for output in cell.outputs:
        data = output.get("data") if isinstance(output, dict) else None
        value = data.get(STAGE_MIME) if isinstance(data, dict) else None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if isinstance(value, dict):
            found = value
    return found


def read(path: str | os.PathLike[str], content: dict[str, Any] | str | None = None) -> Notebook:
    """Read a notebook file (or its unsaved ``content``) into a :class:`Notebook`.

    Raises:
        NotebookReadError: the file is missing, not JSON, not a notebook, or not Python.
    """
    path = os.fspath(path)
    source_lines: tuple[int, ...] = ()
    if is_percent_path(path) and not isinstance(content, dict):
        raw, source_lines = load_percent(path, content)
    else:
        raw = _load_json(path, content)
    nb = _to_v4(path, raw)
    metadata = _mapping(nb.get("metadata"))
    language = _language(metadata)
    if language != "python":
        raise NotebookReadError(
            f"{path}: the notebook's kernel language is {language!r}; nbpipe analyses Python notebooks only",
            hint="open a notebook whose kernel is Python",
        )
    raw_cells = nb.get("cells", [])
    if not isinstance(raw_cells, list):
        raise NotebookReadError(
            f"{path}: not a valid notebook: 'cells' is a {type(raw_cells).__name__}, not a list",
            hint="open it in Jupyter to repair it",
        )
    cells = tuple(_cell(path, i, c) for i, c in enumerate(raw_cells) if isinstance(c, dict))
    return Notebook(path=path, cells=cells, language=language, metadata=metadata, source_lines=source_lines)


def load(path: str | os.PathLike[str], content: dict[str, Any] | str | None = None) -> dict[str, Any]:
    """An ``.ipynb`` file's JSON (or its unsaved ``content``) as an nbformat v4 dict.

    Versions 2 and 3 are upgraded as ``nbformat.read(..., as_version=4)`` upgrades
    them; a v4 notebook is returned as read.

    Raises:
        NotebookReadError: the file is missing, not JSON or not a notebook.
    """
    path = os.fspath(path)
    return _to_v4(path, _load_json(path, content))


def _mapping(value: object) -> dict[str, Any]:
    """A metadata field as a dict: anything else (a list, a number, null) counts as empty."""
    return dict(value) if isinstance(value, dict) else {}


def _load_json(path: str, content: dict[str, Any] | str | None) -> dict[str, Any]:
    try:
        if content is None:
            content = Path(path).read_text(encoding="utf-8")
        data = json.loads(content) if isinstance(content, str) else content
    except FileNotFoundError as exc:
        raise NotebookReadError(f"{path}: no such file", hint="check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookReadError(f"{path}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise NotebookReadError(
            f"{path}: not a notebook, invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="is it an .ipynb file? Open it in Jupyter to repair it",
        ) from exc
    except RecursionError as exc:
        raise NotebookReadError(f"{path}: not a notebook: its JSON is nested too deeply to read") from exc
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotebookReadError(f"{path}: not a notebook (no 'nbformat' field)", hint="pass an .ipynb file")
    version = data["nbformat"]
    if type(version) not in (int, float) or version != int(version) or int(version) not in (2, 3, 4):
        raise NotebookReadError(
            f"{path}: nbformat {version!r} is not a notebook format nbpipe reads (versions 2, 3 and 4, as numbers)",
            hint="open it in Jupyter and save it again to write nbformat 4",
        )
    return data


def _to_v4(path: str, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return upgrade(data)
    except ValueError as exc:
        raise NotebookReadError(f"{path}: not a valid notebook: {exc}", hint="open it in Jupyter to repair it") from exc


def _language(metadata: dict[str, Any]) -> str:
    info, spec = _mapping(metadata.get("language_info")), _mapping(metadata.get("kernelspec"))
    lang = info.get("name") or spec.get("language") or "python"
    return str(lang).lower()


def _cell(path: str, index: int, raw: dict[str, Any]) -> Cell:
    source = _source(path, index, raw.get("source", ""))
    cell_type = raw.get("cell_type", "code")
    if not isinstance(cell_type, str):
        raise NotebookReadError(
            f"{path}: cell {index + 1}: 'cell_type' is a {type(cell_type).__name__}, not 'code', 'markdown' or 'raw'",
            hint="open it in Jupyter to repair it",
        )
    meta = _mapping(raw.get("metadata"))
    found = meta.get("tags")
    tags = tuple(t for t in found if isinstance(t, str)) if isinstance(found, list) else ()
    header, error, body = None, None, source
    if cell_type == "code":
        line, body = split_stage(source)
        if line is not None:
            try:
                header = parse_header(line)
            except HeaderError as exc:
                error = exc
    return Cell(
        index=index,
        cell_type=cell_type,
        source=source,
        tags=tags,
        execution_count=_count(raw.get("execution_count")) if cell_type == "code" else None,
        outputs=tuple(o for o in raw.get("outputs") or [] if isinstance(o, dict))
        if cell_type == "code" and isinstance(raw.get("outputs"), list)
        else (),
        cell_id=raw.get("id"),
        header=header,
        header_error=error,
        body=body,
    )


def _source(path: str, index: int, source: object) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise NotebookReadError(
        f"{path}: cell {index + 1}: 'source' is a {type(source).__name__}, not text or a list of lines of text",
        hint="open it in Jupyter to repair it",
    )


def _count(value: object) -> int | None:
    return value if type(value) is int else None


def literal_assignments(source: str) -> dict[str, Any]:
    """``name = literal`` bindings of a cell, in order; other statements are ignored."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    values: dict[str, Any] = {}
    for node in tree.body:
        target, value = _simple_assignment(node)
        if target is None or value is None:
            continue
        try:
            values[target] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return values


def _simple_assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id, node.value
    return None, None
