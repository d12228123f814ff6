"""Where the handlers' CPU work runs, so that no request stalls the others.

A small body is parsed and analysed in a thread. A large one (an unsaved notebook with
big outputs) goes to a worker process: Python's JSON parser holds the GIL for the whole
parse (about 7 s for 150 MB of small objects), which would stall the event loop even
from a thread. The worker runs the very same function (:func:`nbpipe.server.requests.analyze_body`)
and sends back only the reply text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
from collections.abc import Callable
from typing import Any

#: Bodies above this size are parsed and analysed in a worker process.
LARGE_BODY = 8 * 1024 * 1024


class Workers:
    """One lazily started worker process per server (``spawn``: never a fork of the threaded server)."""

    def __init__(self) -> None:
        self._pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def run(self, size: int, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` in a thread, or in the worker process when the body is ``size`` ≥ :data:`LARGE_BODY`."""
        if size < LARGE_BODY:
            return await asyncio.to_thread(func, *args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), func, *args)
        except cf.process.BrokenProcessPool:  # the worker died (out of memory?): start a new one next time
            self.shutdown()
            raise

    def _executor(self) -> cf.ProcessPoolExecutor:
        import multiprocessing

        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def shutdown(self) -> None:
        """Stop the worker process, if one was started."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
