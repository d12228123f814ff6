"""Progress of a run: a live table on a terminal (rich), plain lines otherwise."""

from __future__ import annotations

import sys
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


class RichProgress(Progress):
    """A live table of stages: status, seconds, cache hit."""

    def begin(self, plan: Plan, stages: list[str], explain: bool = False) -> None:
        """Start the live view."""
        from rich.console import Console
        from rich.live import Live

        super().begin(plan, stages, explain)
        self.rows = {name: StageRecord(name=name) for name in stages}
        self.live = None if explain else Live(self._table(), console=Console(file=self.stream), refresh_per_second=8)
        if self.live is not None:
            self.live.start()

    def update(self, record: StageRecord) -> None:
        """Refresh the row of a stage."""
        if self.live is None:
            super().update(record)
            return
        self.rows[record.name] = record
        self.live.update(self._table())

    def end(self) -> None:
        """Stop the live view."""
        if self.live is not None:
            self.live.stop()

    def _table(self) -> Any:
        from rich.table import Table

        colours = {"ran": "green", "cached": "cyan", "failed": "red", "skipped": "yellow", "running": "blue"}
        table = Table("stage", "status", "seconds", "key", "reason", box=None)
        for row in self.rows.values():
            colour = colours.get(row.status, "white")
            seconds = f"{row.seconds:.2f}" if row.status == "ran" else ""
            table.add_row(row.name, f"[{colour}]{row.status}[/]", seconds, row.key[:10], row.error or row.reason)
        return table


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
