"""The analyzer's verdict on a clean notebook, remembered in the store.

``nbpipe run`` needs three things from the analysis: that the notebook has no errors,
which cells are setup cells, and which setup names are literals; the stage keys need each
stage's normalised body (an ``ast.parse`` and ``ast.dump`` per body), kept beside them.
All are pure functions of the notebook's bytes, the analyzer's code and Python's version
(the AST differs between versions), so a run of an unchanged
notebook reads its verdict (a small JSON document per notebook, ``analysis/ID.json``,
holding the key of the bytes it judged) instead of analysing every cell again; the stage
graph comes from the headers (:mod:`nbpipe.dag`), as the analyzer's does. Only clean
verdicts are kept: a notebook with errors is analysed on every run and refused with the
analyzer's messages.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from nbpipe._version import __version__
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError
from nbpipe.model import Graph

MEMO_VERSION = 2

#: Modules whose code decides the analysis, besides the analysis package.
_ANALYZER_MODULES = ("dag.py", "header.py", "model.py", "notebook.py", "percent.py", "source.py")


@dataclass(frozen=True)
class Verdict:
    """What a run needs from a clean notebook's analysis."""

    setup: frozenset[int]  # indices of the setup cells
    static: frozenset[str]  # setup and parameter names bound only to literals
    codes: dict[str, str] = field(default_factory=dict)  # stage name -> normalised body


def notebook_key(data: bytes) -> str:
    """The memo key of a notebook's bytes under this analyzer (its version and code files) and Python."""
    digest = xxhash.xxh3_128()
    stamp = f"{MEMO_VERSION}\0{__version__}\0{platform.python_version()}\0{_analyzer_stamp()}\0"
    digest.update(stamp.encode())
    digest.update(data)
    return digest.hexdigest()


def _analyzer_stamp() -> str:
    """Size and modification time of every analyzer source file (an edited analyzer is a new key)."""
    package = Path(__file__).resolve().parents[1]
    files = sorted((package / "analysis").glob("*.py")) + [package / name for name in _ANALYZER_MODULES]
    stamp = []
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            continue
        stamp.append(f"{path.name}:{info.st_size}:{info.st_mtime_ns}")
    return ",".join(stamp)


def _document(notebook: str) -> str:
    """One document per notebook (the last verdict replaces the one before)."""
    return f"analysis/{xxhash.xxh3_64_hexdigest(os.path.abspath(notebook).encode())}.json"


def recall(store: Store, notebook: str, key: str) -> Verdict | None:
    """The remembered clean verdict on ``notebook`` if its bytes have ``key``, else None."""
    data = store.read_document(_document(notebook))
    if not isinstance(data, dict) or data.get("version") != MEMO_VERSION or data.get("key") != key:
        return None
    setup, static, codes = data.get("setup"), data.get("static"), data.get("codes")
    if not isinstance(setup, list) or not isinstance(static, list) or not isinstance(codes, dict):
        return None
    if not all(type(i) is int for i in setup) or not all(isinstance(n, str) for n in static):
        return None
    if not all(isinstance(c, str) for c in codes.values()):
        return None
    return Verdict(frozenset(setup), frozenset(static), codes)


def remember(store: Store, notebook: str, key: str, graph: Graph, codes: Mapping[str, str]) -> None:
    """Keep the verdict of a clean analysis and the stages' normalised bodies ``codes``
    (a store that cannot be written only costs the next run time)."""
    if graph.errors:
        return
    setup = sorted(i for i, role in graph.roles.items() if role == "setup")
    document = {
        "version": MEMO_VERSION,
        "key": key,
        "setup": setup,
        "static": sorted(graph.static),
        "codes": dict(codes),
    }
    try:
        store.write_document(_document(notebook), document)
    except CacheError:
        pass  # the run reports an unwritable store when it saves an entry
