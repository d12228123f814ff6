"""``nbpipe export``: the notebook as a script, a papermill folder, an Airflow DAG or a Kubeflow pipeline (glue)."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``nbpipe export``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="export the pipeline as a script, a papermill folder, an Airflow DAG or a Kubeflow pipeline",
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
    parser.add_argument(
        "--to", required=True, metavar="TARGET", help="script, papermill, airflow, kubeflow (or a plug-in)"
    )
    parser.add_argument("-o", "--output", metavar="PATH", help="where to write (default: beside the notebook)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="export even if `nbpipe check` reports errors, and overwrite files nbpipe did not write",
    )
    parser.add_argument("--standalone", action="store_true", help="(script) no nbpipe import and no cache")
    parser.add_argument("--retries", type=int, default=0, metavar="N", help="(airflow) retries of each task")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="(airflow, kubeflow) the store URL tasks share (default: the notebook's .nbpipe/)",
    )
    parser.add_argument("--dag-id", metavar="ID", help="(airflow) the DAG id (default: nbpipe_ + notebook name)")
    parser.add_argument("--image", metavar="IMAGE", help="(kubeflow) base image of the components (default python:X.Y)")
    parser.add_argument(
        "--packages",
        nargs="+",
        metavar="REQ",
        help="(kubeflow) pip requirements of the components (default: the notebook's imports, installed versions)",
    )
    parser.add_argument("--compile", metavar="YAML", help="(kubeflow) also compile the pipeline to YAML (needs kfp)")
    from nbpipe.runtime.tracking import add_options

    add_options(
        parser, "(airflow) a last task logs each DAG run to MLflow; the DAG param nbpipe_mlflow_uri overrides the URI"
    )


def export_from_args(args: argparse.Namespace) -> str:
    """Export as the parsed arguments say; return the written path.

    Raises:
        OptionError: ``--mlflow`` for a target other than airflow.
        NbpipeError: whatever :func:`nbpipe.export.export_notebook` refuses.
    """
    from nbpipe.errors import OptionError
    from nbpipe.export import export_notebook

    options: dict[str, Any] = {}
    tracked = getattr(args, "mlflow", None) is not None or getattr(args, "mlflow_experiment", None)
    if tracked and args.to != "airflow":
        raise OptionError(
            f"--mlflow applies to --to airflow, not --to {args.to}",
            hint="exported scripts take --mlflow when they run: python pipeline.py --mlflow TRACKING_URI",
        )
    if args.to == "airflow":
        options = {"retries": args.retries, "store": args.store, "dag_id": args.dag_id}
        options |= {"mlflow": args.mlflow, "mlflow_experiment": args.mlflow_experiment} if tracked else {}
    elif args.to == "kubeflow":
        options = {"store": args.store, "image": args.image, "packages": args.packages, "compile_to": args.compile}
    return export_notebook(args.notebook, args.to, args.output, force=args.force, standalone=args.standalone, **options)


def handle(args: argparse.Namespace) -> int:
    """Export and print the written path; what the target cannot honour is printed as a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_from_args(args)
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    print(f"wrote {path}")
    if getattr(args, "compile", None) and args.to == "kubeflow":
        print(f"wrote {args.compile}")
    return 0
