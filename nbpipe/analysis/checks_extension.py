"""NBP211: ``%%stage`` cells in a notebook that never loads the nbpipe extension above them.

``nbpipe run`` and the exports read ``%%stage`` headers themselves, but Run All in
Jupyter needs the magic: without ``%load_ext nbpipe`` in a cell above the first
stage it fails there with "Cell magic `%%stage` not found". A warning, not an
error: an IPython profile (``c.InteractiveShellApp.extensions = ["nbpipe"]``) or a
startup file can load the extension, and the analyzer cannot see either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nbpipe.analysis.checks_stage import diag
from nbpipe.analysis.facts import NotebookFacts
from nbpipe.model import Diagnostic, cell_label

#: The ways a cell loads the extension: the line magic (``%`` optional, as with automagic),
#: IPython's API for it, or the extension's entry point called by hand.
_LOADS = re.compile(
    r"""^[ \t]*%?(?:re)?load_ext[ \t]+nbpipe[ \t]*$"""
    r"""|run_line_magic\(\s*(['"])(?:re)?load_ext\1\s*,\s*(['"])nbpipe\2"""
    r"""|(?:re)?load_extension\(\s*(['"])nbpipe\3"""
    r"""|\bnbpipe\.load_ipython_extension\(""",
    re.MULTILINE,
)


def loads_extension(source: str) -> bool:
    """Whether a cell's source loads the nbpipe extension (``%load_ext nbpipe`` and equivalents)."""
    return "nbpipe" in source and _LOADS.search(source) is not None


def check_extension(nbf: NotebookFacts) -> Iterator[Diagnostic]:
    """NBP211 at the first ``%%stage`` cell when no code cell above it loads the extension."""
    first = next((f for f in nbf.cells if f.cell.is_stage), None)
    if first is None or any(loads_extension(f.cell.source) for f in nbf.cells if f.index < first.index):
        return
    later = next((f for f in nbf.cells if f.index > first.index and loads_extension(f.cell.source)), None)
    where = f"is loaded only in {cell_label(later.index)}, below it" if later else "is never loaded"
    message = (
        f"{cell_label(first.index)} is the first %%stage cell, but the nbpipe extension {where}: "
        'Run All in Jupyter stops there with "Cell magic `%%stage` not found"'
    )
    hint = (
        f"add a cell with `%load_ext nbpipe` above {cell_label(first.index)} (if your IPython profile loads "
        "the extension, silence this with `# nbpipe: ignore[NBP211]` in that cell)"
    )
    yield diag("NBP211", message, hint, first)
