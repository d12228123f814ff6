"""Sweep: ``nbpipe check`` and ``nbpipe annotate`` on every notebook under a folder, each in its own process.

Every file is checked (``nbpipe check --format json FILE``) and annotated
(``nbpipe annotate FILE -o TEMP``) in a separate process with a timeout, so a hang
or a crash touches one file only. The report gives, per command, the exit codes,
the tracebacks (a ``Traceback (most recent call last)`` in stderr, an exit code
outside the documented 0/1/2, a signal, or the timeout) and the times: median,
95th percentile, maximum and the slowest files. Two times are kept per run: the
process's wall time (interpreter start-up included, what a user waits) and the
command's own time (``nbpipe.cli.main`` alone, measured inside the process after
the analyzer's import), which ranks the slowest files without the start-up noise
of a busy machine.

Usage::

    PYTHONPATH=. .venv/bin/python bench/sweep.py FOLDER [--timeout 60] [--jobs 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: exit codes the CLI documents: 0 ok, 1 problems found, 2 unreadable input or bad usage
DOCUMENTED = {0, 1, 2}
TRACEBACK = "Traceback (most recent call last)"
MARK = "nbpipe-sweep-seconds:"
#: ``nbpipe ARGS`` with the time of ``main`` itself printed last on stderr; the analyzer is imported before
#: the clock starts, so the command's time is about the file, not about the imports both commands share
RUNNER = (
    "import sys, time\nfrom nbpipe.cli import main\nimport nbpipe.analysis.annotate, nbpipe.analysis.core\n"
    "start = time.perf_counter()\ncode = main(sys.argv[1:])\n"
    f"print('{MARK}', time.perf_counter() - start, file=sys.stderr)\nsys.exit(code)"
)


@dataclass
class Outcome:
    """One command on one file."""

    file: str
    command: str  # "check" | "annotate"
    code: int | None  # exit code; None after the timeout
    seconds: float  # wall time of the process
    work: float  # time of ``main`` inside the process (the wall time if it never got there)
    traceback: str  # the last lines of the traceback (or why the run counts as one); "" if none

    @property
    def failed(self) -> bool:
        """True for a traceback, an undocumented exit code, a signal or a timeout."""
        return bool(self.traceback)


def command_lines(path: Path, scratch: Path) -> dict[str, list[str]]:
    """The two commands run on ``path`` (the annotated copy goes to ``scratch``)."""
    cli = [sys.executable, "-c", RUNNER]
    return {
        "check": [*cli, "check", "--format", "json", str(path)],
        "annotate": [*cli, "annotate", str(path), "-o", str(scratch / "annotated.ipynb")],
    }


def run_one(path: Path, command: str, argv: list[str], timeout: float) -> Outcome:
    """Run one command in a fresh process; classify how it ended."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, errors="replace")
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - start
        return Outcome(str(path), command, None, seconds, seconds, f"timeout after {timeout:g} s")
    seconds = time.perf_counter() - start
    work = _work(done.stderr, seconds)
    return Outcome(str(path), command, done.returncode, seconds, work, _traceback(done.returncode, done.stderr))


def _work(stderr: str, default: float) -> float:
    for line in reversed(stderr.splitlines()):
        if line.startswith(MARK):
            return float(line[len(MARK) :])
    return default


def _traceback(code: int, stderr: str) -> str:
    if TRACEBACK in stderr:
        tail = stderr[stderr.index(TRACEBACK) :].strip().splitlines()
        return "\n".join(tail[-6:])
    if code not in DOCUMENTED:
        return f"exit code {code}" + (f" (signal {-code})" if code < 0 else "") + f": {stderr.strip()[-300:]}"
    return ""


def sweep_file(path: Path, timeout: float, commands: tuple[str, ...]) -> list[Outcome]:
    """Every command on one file, each with its own scratch folder."""
    with tempfile.TemporaryDirectory(prefix="nbpipe-sweep-") as scratch:
        lines = command_lines(path, Path(scratch))
        return [run_one(path, name, lines[name], timeout) for name in commands]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else 0.0


def report(outcomes: list[Outcome], root: Path, files: int, wall: float) -> str:
    """The Markdown-ish summary printed at the end."""
    lines = [f"{files} notebooks under {root}, {wall:.0f} s wall time"]
    for command in dict.fromkeys(o.command for o in outcomes):
        mine = [o for o in outcomes if o.command == command]
        codes = Counter("timeout" if o.code is None else str(o.code) for o in mine)
        failed = [o for o in mine if o.failed]
        lines.append(f"\n{command}: exit codes {dict(sorted(codes.items()))}; tracebacks {len(failed)}")
        for label, times in (("process", [o.seconds for o in mine]), ("command", [o.work for o in mine])):
            lines.append(
                f"  {label} seconds: p50 {statistics.median(times):.3f}, p95 {percentile(times, 0.95):.3f}, "
                f"max {max(times):.3f}"
            )
        slowest = ", ".join(f"{_short(o.file, root)} {o.work:.3f} s" for o in _slowest(mine))
        lines.append(f"  slowest (command): {slowest}")
        for o in failed:
            lines.append(f"  TRACEBACK {_short(o.file, root)}:\n    " + o.traceback.replace("\n", "\n    "))
    return "\n".join(lines)


def _slowest(outcomes: list[Outcome], count: int = 5) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: -o.work)[:count]


def _short(file: str, root: Path) -> str:
    return os.path.relpath(file, root)


def main(argv: list[str] | None = None) -> int:
    """Sweep the folder; print the report; 1 if any file produced a traceback."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per command and file")
    parser.add_argument("--jobs", type=int, default=2, help="files swept at once")
    parser.add_argument("--commands", default="check,annotate", help="comma-separated: check, annotate")
    parser.add_argument("--json", type=Path, help="also write every outcome as JSON here")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.folder.rglob("*.ipynb") if p.is_file())
    commands = tuple(c for c in args.commands.split(",") if c)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = pool.map(lambda p: sweep_file(p, args.timeout, commands), files)
        outcomes = [o for per_file in results for o in per_file]
    print(report(outcomes, args.folder, len(files), time.perf_counter() - start))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(o), "failed": o.failed} for o in outcomes], indent=1))
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
