"""``%nbpipe`` parses with the CLI's grammar: bad arguments are ``UsageError``s with the usage line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.utils.capture import capture_output

from tests.notebooks import write_nb

STAGES = ("%%stage load --out xs\nxs = [1, 2]", "%%stage use --in xs --out n\nn = len(xs)")


def run(shell: Any, source: str) -> tuple[Any, Any]:
    with capture_output() as cap:
        result = shell.run_cell(source)
    return result, cap


@pytest.mark.parametrize(
    ("line", "usage", "problem"),
    [
        ("run --nb", "usage: %nbpipe run", "argument --nb: expected one argument"),
        ("export --to", "usage: %nbpipe export", "argument --to: expected one argument"),
        ("export", "usage: %nbpipe export", "the following arguments are required: --to"),
        ("cache gc --max-size", "usage: %nbpipe cache gc", "argument --max-size: expected one argument"),
        ("cache gc", "usage: %nbpipe cache gc", "the following arguments are required: --max-size"),
        ("cache gc --max-size lots", "usage: %nbpipe cache gc", "argument --max-size"),
        ("check --format yaml", "usage: %nbpipe check", "invalid choice: 'yaml'"),
        ("inputs", "usage: %nbpipe inputs", "the following arguments are required: STAGE"),
        ("config store", "usage: %nbpipe config", "'store' is not KEY=VALUE"),
        ("config colour=red", "usage: %nbpipe config", "'colour=red' is not KEY=VALUE"),
        ("status --bogus", "usage: %nbpipe", "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_usage_errors(shell: Any, line: str, usage: str, problem: str) -> None:
    result, cap = run(shell, f"%nbpipe {line}")
    assert type(result.error_in_exec).__name__ == "UsageError"  # no IndexError, no SystemExit
    message = str(result.error_in_exec)
    assert message.startswith(usage) and problem in message
    assert "Traceback" not in cap.stdout + cap.stderr


def test_cache_gc_without_a_size_deletes_nothing(shell: Any) -> None:
    run(shell, "%%stage load --out xs\nxs = [1]")
    result, _ = run(shell, "%nbpipe cache gc")
    assert not result.success
    _, cap = run(shell, "%nbpipe cache ls")
    assert "load" in cap.stdout  # the CLI refuses a gc without --max-size; so does the magic
    result, cap = run(shell, "%nbpipe cache gc --max-size 0")
    assert result.success and "removed" in cap.stdout  # (entries just used are kept for a grace period)


def test_unknown_subcommand_lists_the_real_ones(shell: Any) -> None:
    result, _ = run(shell, "%nbpipe frobnicate")
    message = str(result.error_in_exec)
    assert "unknown %nbpipe sub-command 'frobnicate'" in message and "status, graph, check" in message


@pytest.mark.parametrize("line", ["", "-h", "help", "cache -h", "export -h", "run -h"])
def test_help_prints_and_runs_nothing(shell: Any, line: str) -> None:
    result, cap = run(shell, f"%nbpipe {line}")
    assert result.success
    assert "usage: %nbpipe" in cap.stdout


def test_good_commands_still_work(shell: Any, tmp_path: Path) -> None:
    path = write_nb(tmp_path / "g.ipynb", "%load_ext nbpipe", *STAGES)  # without it, check warns NBP211
    result, _ = run(shell, f"%nbpipe config notebook={path}")
    assert result.success
    result, cap = run(shell, "%nbpipe run use")
    assert result.success, result.error_in_exec
    assert shell.user_ns["n"] == 2
    result, cap = run(shell, "%nbpipe check")
    assert result.success and result.result == 0 and "clean (2 stages)" in cap.stdout
    result, cap = run(shell, "%nbpipe check --format json")
    assert '"version": 1' in cap.stdout
    result, cap = run(shell, "%nbpipe graph --format mermaid")
    assert result.success and "flowchart LR" in cap.stdout
    result, cap = run(shell, "%nbpipe status")
    assert result.success and "load" in cap.stdout
    result, cap = run(shell, "%nbpipe export --to script -o out.py")
    assert result.success, result.error_in_exec
    assert (tmp_path / "out.py").is_file() and "exported to out.py" in cap.stdout
    result, cap = run(shell, "%nbpipe cache")
    assert result.success and "load" in cap.stdout and "use" in cap.stdout
    key = cap.stdout.split()[0]
    result, cap = run(shell, f"%nbpipe cache show {key}")
    assert result.success and ('"stage": "load"' in cap.stdout or '"stage": "use"' in cap.stdout)
    result, cap = run(shell, "%nbpipe cache clear --stage load")
    assert "removed 1 entries" in cap.stdout


def test_check_options_are_the_cli_ones(shell: Any, tmp_path: Path) -> None:
    path = write_nb(tmp_path / "bad.ipynb", "%%stage load --out xs\nxs = [1]", "%%stage use --out n\nn = len(xs)")
    result, cap = run(shell, f"%nbpipe check {path}")
    assert result.result >= 1 and "NBP101" in cap.stdout
    result, cap = run(shell, f"%nbpipe check {path} --ignore NBP1")
    assert "NBP101" not in cap.stdout
    result, _ = run(shell, "%nbpipe check missing.ipynb")
    assert type(result.error_in_exec).__name__ == "UsageError" and "missing.ipynb" in str(result.error_in_exec)
