"""``%nbpipe`` sub-commands (IPython glue; part of the magics layer).

One command grammar: the sub-commands the command line also has (``check``, ``graph``,
``export``, ``cache``, ``runs``) are parsed by parsers built with the CLI's own argument
definitions (each ``nbpipe.cli`` module's ``add_arguments`` or ``register``), so the
magic accepts exactly what ``nbpipe`` accepts; only the notebook may be omitted. The
kernel-only sub-commands (``status``, ``run``, ``inputs``, ``config``) are declared
in :data:`KERNEL_COMMANDS`. A parse error is an IPython ``UsageError`` carrying the
usage line; ``-h`` prints the help.

The notebook a kernel belongs to is found from an explicit path, ``%nbpipe config
notebook=PATH``, or what the front end tells the kernel (``__session__`` /
``JPY_SESSION_NAME`` in Jupyter, ``__vsc_ipynb_file__`` in VS Code).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from IPython.core.error import UsageError

from nbpipe.errors import StageError
from nbpipe.notebook import Notebook, read

Handler = Callable[[Any, argparse.Namespace], Any]


class MagicParser(argparse.ArgumentParser):
    """An argument parser whose errors are ``UsageError`` (no traceback, no ``SystemExit``)."""

    def error(self, message: str) -> NoReturn:
        """Raise a ``UsageError`` with the usage line and the problem."""
        raise UsageError(f"{self.format_usage().rstrip()}\n{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """``-h`` printed the help: stop parsing without leaving the kernel."""
        if message:
            print(message, file=sys.stderr)
        raise _HelpShown(status)


class _HelpShown(Exception):
    """Raised when a parser printed its help, so the sub-command must not run."""


def notebook_path(magics: Any, explicit: str | None = None) -> str:
    """``explicit`` if given, else the notebook this kernel runs, else a clear error saying how to name it."""
    if explicit:
        return explicit
    ns = magics.shell.user_ns
    for candidate in (
        magics.session.notebook,
        ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
        ns.get("__vsc_ipynb_file__"),
    ):
        if candidate and str(candidate).endswith((".ipynb", ".py")) and os.path.exists(str(candidate)):
            return str(candidate)
    raise StageError(
        "this kernel does not know which notebook it belongs to",
        hint="pass the path (%nbpipe status my.ipynb) or set it once: %nbpipe config notebook=my.ipynb",
    )


def _read(magics: Any, explicit: str | None = None) -> Notebook:
    return read(notebook_path(magics, explicit))


def _setting(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` for ``%nbpipe config`` (argparse type)."""
    key, sep, value = text.partition("=")
    if not sep or key.strip() not in ("store", "notebook"):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE with KEY store or notebook")
    return key.strip(), value.strip()


def cmd_config(magics: Any, args: argparse.Namespace) -> None:
    """``config KEY=VALUE…``."""
    for key, value in args.settings:
        magics.session.configure(key, value)


def cmd_status(magics: Any, args: argparse.Namespace) -> Any:
    """``status [NB]``: one row per stage."""
    from nbpipe.runtime.status import kernel_status

    rows = kernel_status(magics.session, _read(magics, args.notebook))
    width = max([len(r["stage"]) for r in rows] + [5])
    lines = [f"{'stage':<{width}}  {'status':<9}  reason"]
    lines += [f"{r['stage']:<{width}}  {r['status']:<9}  {r['reason']}" for r in rows]
    print("\n".join(lines))


def cmd_run(magics: Any, args: argparse.Namespace) -> None:
    """``run [STAGE…] [--nb NB]``: the stages and their upstream, restored from the cache where possible."""
    from nbpipe.runtime.plan import plan_notebook
    from nbpipe.widgets import StageProgress

    nb = _read(magics, args.nb)
    plan = plan_notebook(nb, imports=True)  # --in NAME@NOTEBOOK: each stage restores it from the store
    plan.check_names(args.stages, "%nbpipe run")
    _ensure_setup(magics, plan)
    selected = plan.upstream(args.stages) if args.stages else list(plan.order)
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


def _ensure_setup(magics: Any, plan: Any) -> None:
    """Run setup and parameters cells (the analyzer's roles) whose names this kernel lacks (a fresh kernel)."""
    from nbpipe.source import names_bound

    ns = magics.shell.user_ns
    for source in [*(source for _, source in plan.setup), plan.parameters_source]:
        if source and not names_bound(source) <= set(ns):
            magics.shell.run_cell(source, store_history=False)


def cmd_check(magics: Any, args: argparse.Namespace) -> int:
    """``check [NB…]`` with ``nbpipe check``'s options and output; returns the number of failing diagnostics."""
    from nbpipe.cli.check import checked, failing, print_report

    args.notebooks = args.notebooks or [notebook_path(magics)]
    graphs, unreadable = checked(args)
    if unreadable:
        raise unreadable[0]
    print_report(graphs, args, sys.stdout)
    return failing(graphs, args.strict)


def _graph_with_status(magics: Any, nb: Notebook) -> Any:
    """The analyzer's graph with the kernel's view of every stage's status (the one status function)."""
    from nbpipe.analysis import analyze
    from nbpipe.runtime.status import StageStatus, kernel_status, with_status

    rows = kernel_status(magics.session, nb)
    return with_status(analyze(nb), {r["stage"]: StageStatus(r["status"], r["reason"]) for r in rows})


def cmd_graph(magics: Any, args: argparse.Namespace) -> Any:
    """``graph [NB]``: the stage graph as a widget (or text); ``--format``/``-o`` as in ``nbpipe graph``."""
    if args.format is None and args.output is None:
        from nbpipe.widgets import show_graph

        return show_graph(_graph_with_status(magics, _read(magics, args.notebook)))
    from nbpipe.cli.graph import run as render

    args.notebook, args.format = notebook_path(magics, args.notebook), args.format or "json"
    render(args)
    return None


def cmd_inputs(magics: Any, args: argparse.Namespace) -> None:
    """``inputs STAGE [--run RUN_ID]``: load a stage's inputs from a stored run."""
    from nbpipe.runtime.debug import stage_inputs

    values, run = stage_inputs(_read(magics), args.stage, args.run, magics.session.store_url)
    magics.shell.user_ns.update(values)
    print(f"loaded {', '.join(sorted(values)) or 'no inputs'} for stage {args.stage!r} from run {run}")


def cmd_export(magics: Any, args: argparse.Namespace) -> str:
    """``export --to TARGET [-o PATH] …`` with ``nbpipe export``'s options; returns the written path."""
    from nbpipe.cli.export import export_from_args

    args.notebook = notebook_path(magics, args.notebook)
    path = export_from_args(args)
    print(f"exported to {path}")
    return path


def cmd_cache(magics: Any, args: argparse.Namespace) -> Any:
    """``cache ls|show KEY|clear [--stage S]|gc --max-size SIZE``: the kernel's store unless one is named."""
    from nbpipe.cli.cache import store_for

    store = store_for(args) if args.store or args.notebook else magics.session.store
    if args.action == "ls":
        for m in store.entries():
            print(f"{m.key[:12]}  {m.stage:<20} {m.total_bytes:>12,d} B  {m.created}")
    elif args.action == "clear":
        print(f"removed {store.clear(args.stage)} entries")
    elif args.action == "gc":
        print(f"removed {len(store.gc(args.max_size))} entries")
    else:  # the other actions print what the command line prints, about the same store
        args.store = store.url
        return args.handler(args)
    return None


def cmd_runs(magics: Any, args: argparse.Namespace) -> None:
    """``runs [ls | show RUN | diff RUN_A RUN_B | diff --last]``: as ``nbpipe runs``, for this kernel's notebook."""
    args.store = args.store or magics.session.store_url
    if args.notebook is None:
        args.notebook = magics.session.notebook_path()
    args.handler(args)


#: Kernel-only sub-commands: name -> (help, arguments as (flags, keyword arguments)).
KERNEL_COMMANDS: dict[str, tuple[str, list[tuple[tuple[str, ...], dict[str, Any]]]]] = {
    "status": (
        "stages with status (fresh/stale/never-run/failed) and why",
        [(("notebook",), {"nargs": "?", "metavar": "NB", "help": "the notebook (default: this kernel's)"})],
    ),
    "run": (
        "run STAGEs with everything upstream in this kernel (all stages without STAGE)",
        [
            (("stages",), {"nargs": "*", "metavar": "STAGE", "help": "stages to run, with their upstream"}),
            (("--nb",), {"metavar": "NB", "help": "the notebook (default: this kernel's)"}),
        ],
    ),
    "inputs": (
        "load the inputs STAGE saw in a batch run (default: the last run)",
        [
            (("stage",), {"metavar": "STAGE", "help": "the stage whose inputs to load"}),
            (("--run",), {"metavar": "RUN_ID", "help": "run id or unique prefix (default: the latest)"}),
        ],
    ),
    "config": (
        "settings of this kernel: store=URL, notebook=PATH",
        [
            (
                ("settings",),
                {"nargs": "+", "type": _setting, "metavar": "KEY=VALUE", "help": "store=URL or notebook=PATH"},
            )
        ],
    ),
}

#: Sub-command -> its handler.
COMMANDS: dict[str, Handler] = {
    "status": cmd_status,
    "graph": cmd_graph,
    "check": cmd_check,
    "run": cmd_run,
    "inputs": cmd_inputs,
    "export": cmd_export,
    "cache": cmd_cache,
    "runs": cmd_runs,
    "config": cmd_config,
}


def build_parser() -> MagicParser:
    """The ``%nbpipe`` parser: the CLI's argument definitions plus the kernel-only sub-commands."""
    from nbpipe.cli import cache, check, export, graph, runs

    parser = MagicParser(prog="%nbpipe", description="nbpipe in the kernel; see `nbpipe --help` for the CLI.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=MagicParser)
    for name, module in (("check", check), ("graph", graph), ("export", export)):
        sub = commands.add_parser(name, help=f"as `nbpipe {name}`; NB defaults to this kernel's notebook")
        module.add_arguments(sub, notebook_optional=True)
    commands.choices["graph"].set_defaults(format=None)  # no --format: the graph widget
    cache.register(commands)
    runs.add_runs(commands)
    for name, (text, arguments) in KERNEL_COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text)
        for flags, kwargs in arguments:
            sub.add_argument(*flags, **kwargs)
    return parser


def dispatch(magics: Any, words: list[str]) -> Any:
    """Parse ``%nbpipe WORDS`` with the one grammar and run the sub-command.

    Raises:
        UsageError: the words do not parse (the message holds the usage line).
    """
    parser = build_parser()
    if not words or words[0] == "help":
        parser.print_help()
        return None
    if words[0] not in COMMANDS and not words[0].startswith("-"):
        raise UsageError(
            f"{parser.format_usage().rstrip()}\nunknown %nbpipe sub-command {words[0]!r}; "
            f"sub-commands: {', '.join(COMMANDS)} (%nbpipe SUB-COMMAND -h for help)"
        )
    if words[0] == "cache" and (len(words) == 1 or (words[1].startswith("-") and words[1] not in ("-h", "--help"))):
        words = ["cache", "ls", *words[1:]]  # bare `%nbpipe cache` lists the entries
    try:
        args = parser.parse_args(words)
    except _HelpShown:
        return None
    if args.command is None:
        parser.print_help()
        return None
    if args.command == "cache":
        args.action = words[1]
    return COMMANDS[args.command](magics, args)
