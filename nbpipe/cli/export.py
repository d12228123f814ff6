"""``nbpipe export``: write the notebook as a script, a papermill pipeline or an Airflow DAG (glue)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``nbpipe export``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="export the pipeline as a script, a papermill folder or an Airflow DAG",
        description="Export a notebook's stages to another target; refuses notebooks with analyzer errors and "
        "never overwrites a file nbpipe did not write (without --force).",
    )
    add_arguments(parser)
    parser.set_defaults(handler=handle)


def add_arguments(parser: argparse.ArgumentParser, notebook_optional: bool = False) -> None:
    """The arguments of ``export``, shared by ``nbpipe export`` and ``%nbpipe export``.

    Args:
        parser: the sub-command's parser.
        notebook_optional: the notebook may be omitted (the magic defaults to the kernel's notebook).
    """
    parser.add_argument("notebook", nargs="?" if notebook_optional else None, help="the .ipynb file")
    parser.add_argument("--to", required=True, metavar="TARGET", help="script, papermill, airflow (or a plug-in)")
    parser.add_argument("-o", "--output", metavar="PATH", help="where to write (default: beside the notebook)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="export even if `nbpipe check` reports errors, and overwrite files nbpipe did not write",
    )
    parser.add_argument("--standalone", action="store_true", help="(script) no nbpipe import and no cache")
    parser.add_argument("--retries", type=int, default=0, metavar="N", help="(airflow) retries of each task")
    parser.add_argument("--store", metavar="URL", help="(airflow) the store URL tasks share (default .nbpipe/)")
    parser.add_argument("--dag-id", metavar="ID", help="(airflow) the DAG id (default: nbpipe_ + notebook name)")


def export_from_args(args: argparse.Namespace) -> str:
    """Export as the parsed arguments say; return the written path.

    Raises:
        NbpipeError: whatever :func:`nbpipe.export.export_notebook` refuses.
    """
    from nbpipe.export import export_notebook

    options = {"retries": args.retries, "store": args.store, "dag_id": args.dag_id} if args.to == "airflow" else {}
    return export_notebook(args.notebook, args.to, args.output, force=args.force, standalone=args.standalone, **options)


def handle(args: argparse.Namespace) -> int:
    """Export and print the written path."""
    print(f"wrote {export_from_args(args)}")
    return 0
