"""``%nbpipe`` sub-commands (IPython glue; part of the magics layer).

Each sub-command is a small function ``(magics, args) -> object``; :func:`dispatch`
routes the words of the line to it. The notebook a kernel belongs to is found from
an explicit path, ``%nbpipe config notebook=PATH``, or what the front end tells the
kernel (``__session__`` / ``JPY_SESSION_NAME`` in Jupyter, ``__vsc_ipynb_file__`` in
VS Code).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from nbpipe.errors import NbpipeError, StageError
from nbpipe.notebook import Notebook, read

HELP = """%nbpipe sub-commands:
  status [NB]                  stages with status (fresh/stale/never-run/failed) and why
  graph [NB]                   the stage graph (a widget, or text)
  check [NB]                   the analyzer's diagnostics for the notebook
  run [STAGE] [--nb NB]        run STAGE with everything upstream (all stages without STAGE)
  inputs STAGE [--run RUN_ID]  load the inputs STAGE saw in a batch run (default: the last run)
  export --to TARGET [-o PATH] export the notebook (script, papermill, airflow)
  cache ls|clear [--stage S]|gc --max-size SIZE
  config KEY=VALUE             store=URL or notebook=PATH"""


def notebook_path(magics: Any, explicit: str | None = None) -> str:
    """The notebook this kernel runs, or a clear error saying how to name it."""
    ns = magics.shell.user_ns
    for candidate in (
        explicit,
        magics.session.notebook,
        ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
        ns.get("__vsc_ipynb_file__"),
    ):
        if candidate and str(candidate).endswith(".ipynb") and os.path.exists(str(candidate)):
            return str(candidate)
    raise StageError(
        "this kernel does not know which notebook it belongs to",
        hint="pass the path (%nbpipe status my.ipynb) or set it once: %nbpipe config notebook=my.ipynb",
    )


def _read(magics: Any, explicit: str | None = None) -> Notebook:
    return read(notebook_path(magics, explicit))


def cmd_config(magics: Any, args: list[str]) -> None:
    """``config KEY=VALUE``."""
    if not args or any("=" not in a for a in args):
        raise StageError("usage: %nbpipe config KEY=VALUE", hint="keys: store, notebook")
    for pair in args:
        key, value = pair.split("=", 1)
        magics.session.configure(key.strip(), value.strip())


def cmd_status(magics: Any, args: list[str]) -> Any:
    """``status [NB]``: one row per stage."""
    from nbpipe.runtime.status import kernel_status

    rows = kernel_status(magics.session, _read(magics, args[0] if args else None))
    width = max([len(r["stage"]) for r in rows] + [5])
    lines = [f"{'stage':<{width}}  {'status':<9}  reason"]
    lines += [f"{r['stage']:<{width}}  {r['status']:<9}  {r['reason']}" for r in rows]
    print("\n".join(lines))


def cmd_run(magics: Any, args: list[str]) -> None:
    """``run [STAGE] [--nb NB]``: the stage and its upstream, restored from the cache where possible."""
    from nbpipe.runtime.plan import plan_notebook

    explicit = args[args.index("--nb") + 1] if "--nb" in args else None
    names = [a for a in args if a != "--nb" and a != explicit]
    nb = _read(magics, explicit)
    plan = plan_notebook(nb)
    plan.check_names(names, "%nbpipe run")
    from nbpipe.widgets import StageProgress

    _ensure_setup(magics, nb)
    selected = plan.upstream(names) if names else list(plan.order)
    progress = StageProgress(selected)
    for name in selected:
        stage = plan.stages[name]
        progress.update(name, "running")
        try:
            record = magics._run_stage(stage.header, "#" + stage.body)
        except BaseException:
            progress.update(name, "failed")
            raise
        progress.update(name, record.status, record.seconds)


def _ensure_setup(magics: Any, nb: Notebook) -> None:
    """Run setup and parameters cells whose names this kernel lacks (a fresh kernel)."""
    from nbpipe.source import names_bound

    ns = magics.shell.user_ns
    for cell in [*nb.setup_cells, *([nb.parameters_cell] if nb.parameters_cell else [])]:
        if not names_bound(cell.source) <= set(ns):
            magics.shell.run_cell(cell.source, store_history=False)


def cmd_check(magics: Any, args: list[str]) -> int:
    """``check [NB]``: print diagnostics; returns the error count."""
    from nbpipe.analysis import analyze

    graph = analyze(_read(magics, args[0] if args else None))
    for d in graph.diagnostics:
        print(f"cell {d.cell}:{d.line or 0}: {d.code} {d.severity} {d.message}")
        if d.hint:
            print(f"    hint: {d.hint}")
    print(f"{len(graph.errors)} error(s), {len(graph.diagnostics) - len(graph.errors)} warning(s)")
    return len(graph.errors)


def cmd_graph(magics: Any, args: list[str]) -> Any:
    """``graph [NB]``: the stage graph as a widget (or text where widgets are missing)."""
    from nbpipe.analysis import analyze
    from nbpipe.widgets import show_graph

    return show_graph(analyze(_read(magics, args[0] if args else None)))


def cmd_inputs(magics: Any, args: list[str]) -> None:
    """``inputs STAGE [--run RUN_ID]``: load a stage's inputs from a stored run."""
    from nbpipe.runtime.debug import stage_inputs

    if not args:
        raise StageError("usage: %nbpipe inputs STAGE [--run RUN_ID]")
    run_id = args[args.index("--run") + 1] if "--run" in args else None
    nb = _read(magics)
    values, run = stage_inputs(nb, args[0], run_id, magics.session.store_url)
    magics.shell.user_ns.update(values)
    print(f"loaded {', '.join(sorted(values)) or 'no inputs'} for stage {args[0]!r} from run {run}")


def cmd_export(magics: Any, args: list[str]) -> str:
    """``export --to TARGET [-o PATH]``."""
    from nbpipe.export import export_notebook

    if "--to" not in args:
        raise StageError("usage: %nbpipe export --to script|papermill|airflow [-o PATH]")
    target = args[args.index("--to") + 1]
    output = args[args.index("-o") + 1] if "-o" in args else None
    path = export_notebook(notebook_path(magics), to=target, output=output)
    print(f"exported to {path}")
    return str(path)


def cmd_cache(magics: Any, args: list[str]) -> None:
    """``cache ls|clear [--stage S]|gc --max-size SIZE``."""
    store = magics.session.store
    action = args[0] if args else "ls"
    if action == "ls":
        for m in store.entries():
            print(f"{m.key[:12]}  {m.stage:<20} {m.total_bytes:>12,d} B  {m.created}")
    elif action == "clear":
        stage = args[args.index("--stage") + 1] if "--stage" in args else None
        print(f"removed {store.clear(stage)} entries")
    elif action == "gc":
        from nbpipe.cache.sizes import parse_size

        size = parse_size(args[args.index("--max-size") + 1]) if "--max-size" in args else 0
        print(f"removed {len(store.gc(size))} entries")
    else:
        raise StageError(f"unknown cache action {action!r}", hint="ls, clear, gc")


COMMANDS: dict[str, Callable[[Any, list[str]], Any]] = {
    "status": cmd_status,
    "graph": cmd_graph,
    "check": cmd_check,
    "run": cmd_run,
    "inputs": cmd_inputs,
    "export": cmd_export,
    "cache": cmd_cache,
    "config": cmd_config,
}


def dispatch(magics: Any, words: list[str]) -> Any:
    """Route ``%nbpipe WORDS`` to its sub-command."""
    if not words or words[0] in ("help", "-h", "--help"):
        print(HELP)
        return None
    command = COMMANDS.get(words[0])
    if command is None:
        raise NbpipeError(f"unknown %nbpipe sub-command {words[0]!r}", hint=HELP)
    return command(magics, words[1:])
