"""Python scoping of a stage body turned into a function (exported scripts).

In the notebook a stage body runs at module level: it may read a setup global and later
rebind the same name (``threshold = threshold * 2``), and the read sees the setup value.
As a function body, the assignment makes the name local for the whole function and the
read raises ``UnboundLocalError``. Declaring it ``global`` would be wrong too: the stage
would then overwrite the setup value that other stages see. The sound fix is to hand the
setup value in as a keyword-only argument, a local from the first line, exactly like a
parameter. Which names need it is read from Python's own symbol table (:mod:`symtable`),
so every scoping rule (comprehensions, ``del``, walrus, nested functions) is the real one.
"""

from __future__ import annotations

import symtable

from nbpipe.runtime.keys import names_read
from nbpipe.source import code_lines, to_python

_WRAPPER = "__nbpipe_stage__"


def module_names(sources: list[str]) -> set[str]:
    """Names the given module-level cells (setup, parameters) bind."""
    found: set[str] = set()
    for source in sources:
        try:
            table = symtable.symtable(to_python(source), "<setup>", "exec")
        except SyntaxError:
            continue
        found |= {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
        found |= {c.get_name() for c in table.get_children() if c.get_type() in ("function", "class")}
    return found


def shadowed_globals(body: str, globals_: set[str], arguments: set[str]) -> list[str]:
    """Module names that ``body`` both reads and binds when it becomes a function body.

    Args:
        body: the stage body (plain Python).
        globals_: the names the script's module binds (setup cells and parameters).
        arguments: names already passed to the stage function (inputs, parameters).

    Returns:
        The names to pass in as keyword-only arguments, sorted.
    """
    wrapped = f"def {_WRAPPER}():\n" + "".join(f"    {line}" for line in code_lines(body.strip("\n") + "\n"))
    try:
        table = symtable.symtable(wrapped, "<stage>", "exec")
    except SyntaxError:
        return []
    function = next(c for c in table.get_children() if c.get_name() == _WRAPPER)
    read = names_read(body)  # read anywhere, nested functions included
    local = {s.get_name() for s in function.get_symbols() if s.is_local() and not s.is_parameter()}
    return sorted(n for n in local & read & globals_ if n not in arguments)
