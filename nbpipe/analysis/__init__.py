"""The static analyzer (DESIGN §5): def/use per cell, cell roles, the stage graph, diagnostics.

Nothing here executes user code. :func:`analyze` never raises for problems in the
notebook's content — they become diagnostics — only for files it cannot read.
"""

from __future__ import annotations

from nbpipe.analysis.core import analyze, clear_caches, ignored_codes

__all__ = ["analyze", "clear_caches", "ignored_codes"]
