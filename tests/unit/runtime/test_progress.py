"""The progress views: plain lines when piped, a bounded live view on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from nbpipe.runtime.progress import (
    FAILED_ROWS,
    FINISHED_ROWS,
    RUNNING_ROWS,
    LiveState,
    Progress,
    RichProgress,
    choose_progress,
)
from nbpipe.runtime.records import StageRecord


def _render(state: LiveState) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(state)
    return out.getvalue()


def _events(n: int, fail_every: int = 0) -> list[StageRecord]:
    events = []
    for i in range(n):
        events.append(StageRecord(name=f"s{i}", status="running"))
        failed = fail_every and i % fail_every == 0
        done = StageRecord(name=f"s{i}", status="failed" if failed else "ran", seconds=0.01, reason="no entry")
        done.error = "ValueError: boom" if failed else None
        events.append(done)
    return events


def test_the_live_view_stays_the_same_size_at_any_pipeline_size() -> None:
    sizes = {}
    for n in (10, 10_000):
        state = LiveState(n)
        for record in _events(n):
            state.update(record)
        text = _render(state)
        sizes[n] = len(text.splitlines())
        assert f"{n}/{n}" in text and f"{n} ran" in text
    assert sizes[10] == sizes[10_000] <= 1 + FINISHED_ROWS


def test_the_live_view_shows_running_stages_the_last_finished_and_keeps_failures() -> None:
    state = LiveState(100)
    for record in _events(50, fail_every=7):
        state.update(record)
    for i in range(50, 60):
        state.update(StageRecord(name=f"s{i}", status="running"))
    text = _render(state)
    lines = text.splitlines()
    assert "50/100" in lines[0] and "8 failed" in lines[0] and "10 running" in lines[0]
    running = [line for line in lines if line.startswith("running")]
    assert [line.split()[1] for line in running] == [f"s{i}" for i in range(50, 50 + RUNNING_ROWS)]
    assert "and 4 more running" in text
    finished = [line.split()[1] for line in lines if line.startswith("ran")]
    assert finished == ["s44", "s45", "s46", "s47", "s48"]  # the last FINISHED_ROWS, in order
    failed = [line for line in lines if line.startswith("failed")]
    assert len(failed) == FAILED_ROWS and "s49" in failed[-1] and "ValueError: boom" in failed[-1]
    assert "3 earlier failures" in text


def test_rich_progress_ends_with_the_final_counts() -> None:
    out = io.StringIO()
    view = RichProgress(out)
    view.begin(None, [f"s{i}" for i in range(300)])  # type: ignore[arg-type]
    for record in _events(300):
        view.update(record)
    view.end()
    assert "300/300" in out.getvalue() and "300 ran" in out.getvalue()


def test_piped_output_is_plain_lines() -> None:
    out = io.StringIO()
    view = choose_progress(out)
    assert type(view) is Progress
    view.begin(None, ["a", "b"])  # type: ignore[arg-type]
    for record in _events(2):
        view.update(record)
    assert out.getvalue().splitlines() == ["  ran     s0 in 0.01s (no entry)", "  ran     s1 in 0.01s (no entry)"]
