"""What a stage cost: CPU seconds and peak memory of the process that ran it (run records, minor 1).

``peak_memory`` is the peak resident set size (bytes) of the process while the stage ran.
On Linux the process's high-water mark is reset when the stage starts (``/proc/self/clear_refs``),
so the figure is the peak during the stage — including what the process already held (in-process
runs keep earlier outputs in memory). Elsewhere, the lifetime peak (``ru_maxrss``) counts only when
it grew during the stage; otherwise the peak cannot be attributed and is ``None``.
``cpu_seconds`` is the process's CPU time (user + system, every thread) over the stage.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Usage:
    """CPU seconds and peak memory (bytes, or None when unknown) of one stage."""

    cpu_seconds: float = 0.0
    peak_memory: int | None = None


@contextmanager
def measure() -> Iterator[Usage]:
    """Measure the body of a ``with`` block; the figures are filled in when it ends (even if it raises)."""
    usage = Usage()
    reset = _reset_peak()
    before = None if reset else _max_rss()
    cpu = time.process_time()
    try:
        yield usage
    finally:
        usage.cpu_seconds = time.process_time() - cpu
        after = _high_water() if reset else None
        if after is None:
            peak = _max_rss()
            after = peak if peak is not None and before is not None and peak > before else None
        usage.peak_memory = after


def _reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ≥ 4.0); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _high_water() -> int | None:
    """The process's peak RSS since the last reset, in bytes (``VmHWM``)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _max_rss() -> int | None:
    """The process's lifetime peak RSS in bytes (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value) if sys.platform == "darwin" else int(value) * 1024
