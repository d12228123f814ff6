"""Progress of a run: a bounded live view on a terminal (rich), plain lines otherwise.

The live view costs O(1) per stage event at any pipeline size: it keeps counts, the
stages running now and the last few that finished (failures are kept apart, so they
stay visible), and rich renders that bounded state at most a few times a second.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter, deque
from typing import Any

from nbpipe.runtime.plan import Plan
from nbpipe.runtime.records import StageRecord

_FINAL = ("ran", "cached", "failed", "skipped")


class Progress:
    """Plain lines, one per stage event; the base class of other views."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.explain = False

    def begin(self, plan: Plan, stages: list[str], explain: bool = False) -> None:
        """A run starts."""
        self.explain = explain

    def update(self, record: StageRecord) -> None:
        """A stage changed status."""
        if self.explain:
            verdict = "hit " if record.status == "cached" else "run "
            if record.status == "failed":
                verdict = "fail"
            print(f"{verdict} {record.name:<20} {record.reason or 'would run'}", file=self.stream, flush=True)
            return
        if record.status in _FINAL:
            print(_line(record), file=self.stream, flush=True)

    def end(self) -> None:
        """The run ended."""


def _line(record: StageRecord) -> str:
    key = f" [{record.key[:10]}]" if record.key else ""
    if record.status == "cached":
        return f"  cached  {record.name}{key}"
    if record.status == "ran":
        return f"  ran     {record.name}{key} in {record.seconds:.2f}s ({record.reason})"
    if record.status == "skipped":
        return f"  skipped {record.name}: {record.reason}"
    return f"  FAILED  {record.name}: {record.error or 'error'}"


#: Rows of the live view: stages running now, the last finished ones, failures.
RUNNING_ROWS = 6
FINISHED_ROWS = 5
FAILED_ROWS = 5


class LiveState:
    """What the live view shows, updated in O(1) per event and rendered on demand (bounded size)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.counts: Counter[str] = Counter()
        self.running: dict[str, float] = {}  # stage -> monotonic start, in start order
        self.finished: deque[StageRecord] = deque(maxlen=FINISHED_ROWS)
        self.failed: deque[StageRecord] = deque(maxlen=FAILED_ROWS)
        self.started = time.monotonic()
        self.lock = threading.Lock()  # rich renders from its refresh thread

    def update(self, record: StageRecord) -> None:
        """Account for one status change."""
        with self.lock:
            if record.status == "running":
                self.running[record.name] = time.monotonic()
            elif record.status in _FINAL:
                self.running.pop(record.name, None)
                self.counts[record.status] += 1
                (self.failed if record.status == "failed" else self.finished).append(record)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """Render the bar with counts, then the running, last finished and failed stages."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        with self.lock:
            done = sum(self.counts.values())
            counts = " · ".join(f"{n} {s}" for s, n in self.counts.items() if n)
            running = list(self.running.items())
            finished, failed = list(self.finished), list(self.failed)
        now = time.monotonic()
        head = Table.grid(padding=(0, 1))
        head.add_row(
            ProgressBar(total=max(self.total, 1), completed=done, width=30),
            f"{done}/{self.total}",
            counts + (f" · {len(running)} running" if running else ""),
            f"{now - self.started:.1f}s",
        )
        yield head
        rows = Table.grid(padding=(0, 1))
        for name, since in running[:RUNNING_ROWS]:
            rows.add_row("[blue]running[/]", name, f"{now - since:.1f}s", "")
        if len(running) > RUNNING_ROWS:
            rows.add_row("", f"… and {len(running) - RUNNING_ROWS} more running", "", "")
        for record in [*finished, *failed]:
            rows.add_row(*_row(record))
        if self.counts["failed"] > len(failed):
            rows.add_row("", f"… {self.counts['failed'] - len(failed)} earlier failures", "", "")
        yield rows


_COLOURS = {"ran": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}


def _row(record: StageRecord) -> tuple[str, str, str, str]:
    colour = _COLOURS.get(record.status, "white")
    seconds = f"{record.seconds:.2f}s" if record.status == "ran" else ""
    detail = record.error or record.reason or record.key[:10]
    return f"[{colour}]{record.status}[/]", record.name, seconds, detail


class RichProgress(Progress):
    """A bounded live view: a bar with counts, running stages, the last finished ones, failures."""

    def begin(self, plan: Plan, stages: list[str], explain: bool = False) -> None:
        """Start the live view."""
        from rich.console import Console
        from rich.live import Live

        super().begin(plan, stages, explain)
        self.state = LiveState(len(stages))
        self.live = None
        if not explain:  # rich re-renders the state itself: an update only changes the state
            self.live = Live(self.state, console=Console(file=self.stream), refresh_per_second=8)
            self.live.start()

    def update(self, record: StageRecord) -> None:
        """Account for a stage's new status (the view catches up at its next refresh)."""
        if self.live is None:
            super().update(record)
            return
        self.state.update(record)

    def end(self) -> None:
        """Show the final state and stop the live view."""
        if self.live is not None:
            self.live.stop()  # renders once more: the final counts stay on screen


def choose_progress(stream: Any = None) -> Progress:
    """Rich on a terminal when rich is installed, plain lines otherwise."""
    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        try:
            import rich  # noqa: F401
        except ImportError:
            return Progress(stream)
        return RichProgress(stream)
    return Progress(stream)
