"""The nbpipe exception tree and the stable diagnostic codes.

Every error nbpipe raises on purpose derives from :class:`NbpipeError` and carries
structured fields, so the glue layers (magics, CLI, server) can map it to a
``UsageError``, an exit code or an HTTP status without parsing messages.
"""

from __future__ import annotations

#: Diagnostic codes (DESIGN §5, contract): code -> (severity, one-line meaning).
CODES: dict[str, tuple[str, str]] = {
    "NBP001": ("error", "a cell does not parse (after IPython's transforms)"),
    "NBP002": ("error", "bad %%stage header"),
    "NBP101": ("error", "undeclared input"),
    "NBP102": ("error", "undeclared output"),
    "NBP103": ("error", "declared input that nothing provides"),
    "NBP104": ("error", "declared output that the stage never binds"),
    "NBP105": ("error", "two stages declare the same output"),
    "NBP106": ("error", "the stage graph has a cycle"),
    "NBP107": ("warning", "a stage sits above a stage it depends on"),
    "NBP201": ("warning", "in-place mutation of an input or setup object"),
    "NBP202": ("warning", "hidden cell state outside stages"),
    "NBP203": ("warning", "cells were executed out of order"),
    "NBP204": ("warning", "stale: stage source changed since its recorded run"),
    "NBP205": ("warning", "dynamic namespace access: analysis is incomplete"),
    "NBP206": ("warning", "undeclared file read or write"),
    "NBP207": ("warning", "a helper function reads a global that a stage binds"),
    "NBP208": ("error", "a cell reads a name that only a later cell binds"),
    "NBP209": ("error", "a cell reads a stage's local that is not among its --out"),
    "NBP210": ("error", "a stage declares a module, function or class as an output"),
    "NBP211": ("warning", "%%stage is used but no cell above it runs %load_ext nbpipe"),
}


class NbpipeError(Exception):
    """Raised when nbpipe refuses an input or fails on purpose; base of all nbpipe errors.

    Attributes:
        message: what is wrong, naming the thing.
        hint: how to fix it, in the user's terms (may be empty).
        stage: the stage concerned, if any.
        code: the diagnostic code, if any.
        cell: the 0-based cell index, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        stage: str | None = None,
        code: str | None = None,
        cell: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.stage = stage
        self.code = code
        self.cell = cell

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class HeaderError(NbpipeError):
    """Raised when a ``%%stage`` header does not follow the grammar (NBP002)."""

    def __init__(self, message: str, *, hint: str = "", stage: str | None = None) -> None:
        super().__init__(message, hint=hint, stage=stage, code="NBP002")


class NotebookReadError(NbpipeError):
    """Raised when a notebook file cannot be read or is not a Python notebook."""


class StageError(NbpipeError):
    """Raised when a stage cannot run: missing input, missing output, failed check."""


class CacheError(NbpipeError):
    """Raised when a value cannot be fingerprinted or stored (e.g. it is unpicklable)."""


class OptionError(NbpipeError):
    """Raised when a command-line option does not apply to what the command was given."""


class ParameterError(NbpipeError):
    """Raised when a parameter override is unknown or has the wrong type."""


class PipelineError(NbpipeError):
    """Raised when a pipeline cannot be built or run (cycle, unknown stage, failures)."""


class ExportError(NbpipeError):
    """Raised when a notebook cannot be exported to the requested target."""


class OutputExistsError(ExportError):
    """Raised when an export would replace a file that nbpipe did not write (and overwriting was not asked for)."""
