"""IPython glue: ``%%stage`` and ``%nbpipe``. Logic lives in :mod:`nbpipe.runtime`.

Errors nbpipe raises on purpose become ``UsageError`` (a short message, no
traceback); exceptions of the user's code keep their own traceback, pointing at
the cell's lines.
"""

from __future__ import annotations

import ast
import contextlib
import shlex
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import publish_display_data

from nbpipe import header as grammar
from nbpipe.errors import NbpipeError
from nbpipe.model import STAGE_MIME, StageHeader
from nbpipe.runtime.kernel import KernelSession, StageRun
from nbpipe.runtime.namespace import StageNamespace
from nbpipe.source import source_hash


def _replay(outputs: list[dict[str, Any]]) -> None:
    """Show a restored stage's recorded outputs again, in order, as they were shown when it ran."""
    for output in outputs:
        if output["type"] == "stream":
            stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
            stream.write(str(output.get("text", "")))
            stream.flush()
        elif output.get("data"):
            publish_display_data(output["data"], metadata=output.get("metadata") or {})


def _stage_arguments(func: Any) -> Any:
    """Apply the shared header table as ``magic_arguments`` so ``%%stage?`` shows help."""
    for flags, kwargs in reversed(grammar.OPTIONS):
        func = argument(*flags, **kwargs)(func)
    return magic_arguments()(func)


@magics_class
class NbpipeMagics(Magics):
    """The ``%%stage`` cell magic and the ``%nbpipe`` line magic."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        hidden = set(getattr(shell, "user_ns_hidden", {})) - {"get_ipython"}
        self.session = KernelSession(shell.user_ns, hidden)
        self.session.replayer = _replay

    @no_var_expand  # the header is read as written, as the analyzer and every export read it
    @cell_magic
    @_stage_arguments
    def stage(self, line: str, cell: str) -> None:
        """Run this cell as a pipeline stage that sees only its declared inputs.

        The body sees builtins, setup names (imports, functions, constants and
        parameters bound outside stages) and the variables listed in ``--in``;
        afterwards every ``--out`` must be bound. Unchanged stages are restored
        from the cache. See the nbpipe README for the full story.
        """
        __tracebackhide__ = True
        try:
            header = grammar.parse_header(line)
        except NbpipeError as exc:
            raise UsageError(str(exc)) from None
        # A comment line stands in for the header so line numbers match the cell.
        self._run_stage(header, "#\n" + cell, source=f"%%stage {line}\n{cell}")

    def _run_stage(self, header: StageHeader, body: str, source: str | None = None) -> StageRun:
        """Run a stage; ``source`` is its cell as written (warnings point at it), else rebuilt from the header."""
        __tracebackhide__ = True
        try:
            record = self.session.run(header, body, self._execute)
        except NbpipeError as exc:
            self._publish_failed(header, body)
            raise UsageError(str(exc)) from None
        except BaseException:
            self._publish_failed(header, body)
            raise
        rest = body.partition("\n")[2]
        self._publish(record, source or f"%%stage {header.canonical()}\n{rest}")
        return record

    def _execute(self, body: str, namespace: StageNamespace) -> None:
        """Compile and run ``body`` like IPython runs a cell, in ``namespace``."""
        __tracebackhide__ = True
        shell = self.shell
        assert shell is not None
        code = shell.transform_cell(body)
        cell_name = shell.compile.cache(code, shell.execution_count, raw_code=body)
        tree = shell.transform_ast(ast.parse(code, filename=cell_name))
        nodes = list(tree.body)
        last = nodes.pop() if nodes and isinstance(nodes[-1], ast.Expr) else None
        if last is not None and DisplayHook.semicolon_at_end_of_expression(body):
            nodes.append(last)  # a trailing ';' hides the last value, as in IPython
            last = None
        try:
            with self._recording_displays():
                exec(compile(ast.Module(body=nodes, type_ignores=[]), cell_name, "exec"), namespace)  # noqa: S102
                if last is not None:
                    exec(compile(ast.Interactive(body=[last]), cell_name, "single"), namespace)  # noqa: S102
        except NameError as exc:
            namespace.explain(exc)
            raise

    @contextlib.contextmanager
    def _recording_displays(self) -> Iterator[None]:
        """Record what the body displays (``display()``, figures, its last value) while showing it."""
        shell, recording = self.shell, self.session.recording
        assert shell is not None
        publish, hook = shell.display_pub.publish, sys.displayhook

        def recorded_publish(data: dict[str, Any], metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
            recording.display(data, metadata)
            publish(data, metadata=metadata, **kwargs)

        def recorded_hook(value: object) -> None:
            formatter = shell.display_formatter
            if value is not None and formatter is not None:
                data, metadata = formatter.format(value)
                recording.display(data, metadata)
            hook(value)

        pub = shell.display_pub
        own = vars(pub).get("publish")  # an instance attribute someone else set, kept as it was
        setattr(pub, "publish", recorded_publish)  # noqa: B010 - shadows the method for this body only
        sys.displayhook = recorded_hook
        try:
            yield
        finally:
            if own is None:
                delattr(pub, "publish")
            else:
                setattr(pub, "publish", own)  # noqa: B010
            sys.displayhook = hook

    def _publish(self, record: StageRun, source: str) -> None:
        if record.warnings:
            # At the stage's cell (its header line), as IPython names cells: not at a line of nbpipe.
            shell = self.shell
            assert shell is not None
            cell_name = shell.compile.cache(source, shell.execution_count, raw_code=source)
            for message in record.warnings:
                text = f"nbpipe: stage {record.stage!r}: {message}"
                warnings.warn_explicit(text, UserWarning, cell_name, 1, module="__main__")
        publish_display_data({STAGE_MIME: record.bundle(), "text/plain": record.summary()})

    def _publish_failed(self, header: StageHeader, body: str) -> None:
        run = self.session.runs.get(header.name)
        bundle = StageRun(
            stage=header.name,
            status="failed",
            key=run.key if run else "",
            source_hash=source_hash(header.canonical(), body),
        )
        publish_display_data({STAGE_MIME: bundle.bundle(), "text/plain": bundle.summary()})

    @line_magic
    def nbpipe(self, line: str) -> Any:
        """``%nbpipe status|graph|check|run [STAGE]|export --to T|cache …|config KEY=VALUE|inputs STAGE``.

        ``check``, ``graph``, ``export`` and ``cache`` take the same arguments as the
        ``nbpipe`` command (the notebook defaults to this kernel's); ``%nbpipe -h`` and
        ``%nbpipe SUB-COMMAND -h`` print the help. A bad argument is a ``UsageError``.
        """
        from nbpipe import magic_commands

        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%nbpipe: {exc}") from None
        try:
            return magic_commands.dispatch(self, words)
        except NbpipeError as exc:
            raise UsageError(str(exc)) from None
