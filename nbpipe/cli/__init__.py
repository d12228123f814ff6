"""The ``nbpipe`` command line: ``main(argv=None) -> int``; glue only.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a function
``(args: argparse.Namespace) -> int``. Domain errors become messages and exit codes
here, never tracebacks: 0 ok, 1 the command found problems or a stage failed,
2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from nbpipe._version import __version__
from nbpipe.errors import NbpipeError, NotebookReadError, OptionError, ParameterError

#: Sub-command modules, in the order ``nbpipe --help`` lists them.
COMMAND_MODULES = (
    "nbpipe.cli.check",
    "nbpipe.cli.graph",
    "nbpipe.cli.annotate",
    "nbpipe.cli.run",
    "nbpipe.cli.export",
    "nbpipe.cli.cache",
    "nbpipe.cli.runs",
    "nbpipe.cli.debug",
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="nbpipe",
        description="Turn a Jupyter notebook into a pipeline: declared stages, hidden-state checks, one cache.",
    )
    parser.add_argument("--version", action="version", version=f"nbpipe {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command is not part of this build
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(handler(args))
    except (NotebookReadError, OptionError, ParameterError) as exc:
        _error(exc)
        return EXIT_USAGE
    except NbpipeError as exc:
        _error(exc)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("nbpipe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nbpipe runs show ID | head`: the reader left, which is not an error
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 0


def _error(exc: NbpipeError) -> None:
    print(f"nbpipe: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"  hint: {exc.hint}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
