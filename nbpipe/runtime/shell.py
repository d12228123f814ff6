"""``!cmd`` and ``x = !cmd`` outside a kernel, meaning what they mean in IPython.

IPython turns ``!cmd`` into ``get_ipython().system("cmd")`` and ``x = !cmd`` into
``get_ipython().getoutput("cmd")``. Batch runs (``nbpipe run``, ``--jobs``, Dask, Airflow)
have no shell, so the setup namespace gets :func:`get_ipython` returning a
:class:`BatchShell` with those two methods: ``$name``, ``{expr}`` and ``$$`` are
expanded by IPython's own formatter against the stage's namespace, as in the kernel,
and the command runs in the system shell; its exit status goes to ``_exit_code``.
Every other magic has no meaning outside the kernel and fails with a clear message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from nbpipe.errors import StageError


def _expand(cmd: str, depth: int) -> str:
    """``cmd`` expanded against the caller's namespace, as ``InteractiveShell.var_expand`` does."""
    from IPython.utils.text import DollarFormatter

    frame = sys._getframe(depth + 1)
    namespace = {**frame.f_globals, **frame.f_locals}
    try:
        return str(DollarFormatter().vformat(cmd, args=[], kwargs=namespace))
    except Exception:  # IPython leaves a command it cannot format as it is
        return cmd


class BatchShell:
    """The part of IPython's shell that ``!`` lines call."""

    def system(self, cmd: str) -> None:
        """``!cmd``: run it in the system shell (never raises; ``_exit_code`` as in IPython)."""
        expanded = _expand(cmd, 1)
        code = subprocess.call(expanded, shell=True, executable=os.environ.get("SHELL"))
        sys._getframe(1).f_globals["_exit_code"] = code

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> Any:
        """``x = !cmd``: its output (stdout and stderr) as IPython's ``SList`` of lines."""
        from IPython.utils.process import getoutput
        from IPython.utils.text import LSString, SList

        out = getoutput(_expand(cmd, depth + 1))
        return SList(out.splitlines()) if split else LSString(out)

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> Any:
        """Magics other than ``!``: refused (they exist only in a kernel)."""
        raise StageError(
            f"%{name} {line}".rstrip() + " runs only in a kernel: nbpipe run has no IPython shell",
            hint="replace the magic with Python code (session magics such as %matplotlib are dropped already)",
        )

    def run_cell_magic(self, name: str, line: str, cell: str) -> Any:
        """Cell magics: refused, as line magics are."""
        return self.run_line_magic(name, line)


_SHELL = BatchShell()


def get_ipython() -> BatchShell:
    """The batch stand-in for IPython's ``get_ipython()``."""
    return _SHELL
