"""``nbpipe run``: run a notebook's pipeline with the cache (glue over nbpipe.runtime)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nbpipe.errors import OptionError
from nbpipe.runtime.params import add_parameter_option, parse_overrides, read_params_file
from nbpipe.runtime.tracking import add_options, from_args


def register(subparsers: Any) -> None:
    """Add ``nbpipe run``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run the pipeline: stages in dependency order, unchanged stages from the cache",
        description="Run a notebook's stages in dependency order; unchanged stages are restored from the cache.",
    )
    parser.add_argument(
        "notebook",
        help="the .ipynb file, or a folder exported with --to papermill (not with --executor dask, --address, "
        "--no-check)",
    )
    add_parameter_option(parser)
    parser.add_argument("--params-file", metavar="FILE", help="YAML file of parameter overrides")
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="STAGE", help="run only these stages (upstream from cache)"
    )
    parser.add_argument("--force", nargs="+", default=[], metavar="STAGE", help="re-run these stages even if cached")
    parser.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run STAGE and everything downstream")
    parser.add_argument("--explain", action="store_true", help="print each stage's hit or miss reason; run nothing")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="run independent stages in N processes")
    parser.add_argument("--executor", choices=("local", "dask"), default="local", help="where stages run")
    parser.add_argument("--address", metavar="URL", help="Dask scheduler address (default: start a LocalCluster)")
    parser.add_argument("--store", metavar="URL", help="artifact store (default .nbpipe/ beside the notebook)")
    parser.add_argument("--retries", type=int, metavar="N", help="retry failing stages N times (overrides headers)")
    parser.add_argument("--no-check", action="store_true", help="run even if `nbpipe check` reports errors")
    add_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run and report; exit 1 if a stage failed."""
    import os

    from nbpipe.runtime.runner import RunOptions, run_notebook

    params = read_params_file(args.params_file) if args.params_file else {}
    params.update(parse_overrides(args.parameter))
    if os.path.isdir(args.notebook):
        return _run_folder(args, params)
    tracking = from_args(args)
    options = RunOptions(
        params=params,
        only=args.only,
        force=args.force,
        from_stage=args.from_stage,
        explain=args.explain,
        jobs=max(1, args.jobs),
        executor=args.executor,
        address=args.address,
        store=args.store,
        retries=args.retries,
        check=not args.no_check,
    )
    result = run_notebook(args.notebook, options)
    if args.explain:
        return 0
    print(f"{result.summary()}; record: {result.record_path}")
    if tracking is not None and result.record_path is not None:
        _log_to_mlflow(args.notebook, result, tracking)
    if result.failed:
        print(result.failures(), file=sys.stderr)
    return 0 if result.status == "ok" else 1


def _log_to_mlflow(notebook: str, result: Any, tracking: Any) -> None:
    """Log the run just written, with the results of its stages' ``--check`` gates."""
    from nbpipe.notebook import read
    from nbpipe.runtime.tracking import log_run

    checks = {c.header.name: list(c.header.checks) for c in read(notebook).stage_cells if c.header is not None}
    run_id = log_run(result.store.record(result.run_id), tracking, checks)
    if run_id is not None:
        print(f"logged to MLflow at {tracking.uri}: run {run_id}")


def _run_folder(args: argparse.Namespace, params: dict[str, Any]) -> int:
    """``nbpipe run DIR``: an exported papermill folder, with every option that applies to one."""
    from nbpipe.export.papermill_run import run_folder

    _refuse_folder_options(args)
    return run_folder(
        args.notebook,
        params=params,
        jobs=args.jobs,
        store=args.store,
        only=args.only,
        force=args.force,
        from_stage=args.from_stage,
        explain=args.explain,
        retries=args.retries,
    )


def _refuse_folder_options(args: argparse.Namespace) -> None:
    """Refuse the options an exported folder cannot honour, rather than ignore them.

    Raises:
        OptionError: ``--executor dask``, ``--address`` or ``--no-check`` with a folder.
    """
    folder = args.notebook
    if args.executor != "local" or args.address:
        flag = f"--executor {args.executor}" if args.executor != "local" else "--address"
        raise OptionError(
            f"{flag} does not apply to the exported papermill folder {folder!r}: "
            "its stages run as notebooks in local kernels",
            hint=f"drop {flag} (--jobs N runs independent stages in parallel), "
            "or run the notebook itself on Dask: nbpipe run NB.ipynb --executor dask",
        )
    if args.mlflow is not None:
        raise OptionError(
            f"--mlflow does not apply to the exported papermill folder {folder!r}",
            hint="run the notebook itself with --mlflow: nbpipe run NB.ipynb --mlflow URI",
        )
    if args.no_check:
        raise OptionError(
            f"--no-check does not apply to the exported papermill folder {folder!r}: "
            "the notebook was checked when it was exported",
            hint="drop --no-check (to export a notebook despite analyzer errors: nbpipe export NB --to papermill "
            "--force)",
        )
