"""``nbpipe runs ls|show|diff`` and ``nbpipe lineage``: what ran, how two runs differ, where an output came from."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``nbpipe runs`` and ``nbpipe lineage``."""
    add_runs(subparsers)
    lin = subparsers.add_parser("lineage", help="which stages, parameters and files an output came from")
    lin.add_argument("notebook")
    lin.add_argument("output", help="an output variable name")
    lin.add_argument("--store", metavar="URL")
    lin.set_defaults(handler=handle_lineage)


def add_runs(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``runs [ls|show|diff]`` (also ``%nbpipe runs``); bare ``runs`` lists them."""
    runs: argparse.ArgumentParser = subparsers.add_parser(
        "runs", help="list, show and compare run records", description="Run records in the store."
    )
    runs.set_defaults(handler=handle_ls, notebook=None, store=None)
    actions = runs.add_subparsers(title="actions", metavar="ACTION")
    ls = actions.add_parser("ls", help="list runs, oldest first, with the parameters each changed")
    ls.add_argument("notebook", nargs="?", help="notebook whose store to read (default: ./.nbpipe)")
    ls.add_argument("--store", metavar="URL")
    ls.set_defaults(handler=handle_ls)
    show = actions.add_parser("show", help="print one run record as JSON")
    show.add_argument("run_id", help="run id or a unique prefix")
    show.add_argument("notebook", nargs="?")
    show.add_argument("--store", metavar="URL")
    show.set_defaults(handler=handle_show)
    add_diff_arguments(actions.add_parser("diff", help="what changed between two runs", description=DIFF_HELP))
    return runs


DIFF_HELP = (
    "What changed between run A (before) and run B (after): parameters, stages re-run and why, "
    "outputs (fingerprint, schema, row count, numeric drift, scalar values). "
    "nbpipe runs diff RUN_A RUN_B [NB] | nbpipe runs diff --last [NB]"
)


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``runs diff``."""
    from nbpipe.runtime.rundiff import DRIFT_THRESHOLD

    parser.add_argument(
        "items", nargs="*", metavar="RUN_A RUN_B [NB]", help="two run ids (or unique prefixes) and the notebook"
    )
    parser.add_argument("--last", action="store_true", help="compare the last two runs of the notebook")
    parser.add_argument("--store", metavar="URL")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--drift-threshold",
        type=float,
        default=DRIFT_THRESHOLD,
        metavar="SIGMAS",
        help=f"flag a column whose mean moved by more than SIGMAS standard deviations (default {DRIFT_THRESHOLD})",
    )
    parser.add_argument(
        "--fail-on",
        action="append",
        choices=("drift", "schema"),
        default=[],
        help="exit 1 when there is drift or a schema change (repeatable), for CI",
    )
    parser.set_defaults(handler=handle_diff, notebook=None)


def _store(args: argparse.Namespace) -> Any:
    from nbpipe.cache.store import Store

    return Store.for_notebook(args.notebook, args.store)


def handle_ls(args: argparse.Namespace) -> int:
    """Print one line per run: status, target, start, stage counts and the parameters it changed."""
    records = _store(args).records()
    previous: dict[str, dict[str, Any]] = {}  # notebook -> its previous run's parameters
    for rec in records:
        counts: dict[str, int] = {}
        for stage in rec.get("stages", []):
            counts[stage["status"]] = counts.get(stage["status"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        status, target = rec.get("status", "?"), rec.get("target", "?")
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        notebook = os.path.basename(str(rec.get("notebook", "")))
        before = previous.get(notebook)
        changed = _changed(before, params) if before is not None else ""
        previous[notebook] = params
        print(f"{rec['run_id']}  {status:<6}  {target:<9}  {rec.get('started', '')}  {summary}{changed}")
    if not records:
        print("no runs yet")
    return 0


def _changed(before: dict[str, Any], after: dict[str, Any]) -> str:
    """``  C: 1.0 → 0.01`` for each parameter that differs from the notebook's previous run."""
    names = [n for n in after if before.get(n) != after[n]] + [n for n in before if n not in after]
    parts = [f"{n}: {before.get(n, '(absent)')} → {after.get(n, '(absent)')}" for n in names]
    return "  " + ", ".join(parts) if parts else ""


def handle_diff(args: argparse.Namespace) -> int:
    """Print how two runs differ; exit 1 when ``--fail-on`` finds what it names."""
    from nbpipe.errors import OptionError
    from nbpipe.runtime.debug import find_record
    from nbpipe.runtime.rundiff import diff_runs, last_two

    items = list(args.items)
    if (args.last and len(items) > 1) or (not args.last and len(items) not in (2, 3)):
        raise OptionError(
            f"runs diff takes two run ids and optionally the notebook, or --last and optionally the notebook; "
            f"got {' '.join(items) or 'nothing'}{' with --last' if args.last else ''}",
            hint="nbpipe runs diff RUN_A RUN_B [NB], or nbpipe runs diff --last [NB] (see nbpipe runs ls)",
        )
    if len(items) in (1, 3):
        args.notebook = items.pop()
    store = _store(args)
    if args.last:
        a, b = last_two(store, args.notebook)
    else:
        a, b = find_record(store, items[0]), find_record(store, items[1])
    diff = diff_runs(a, b, args.drift_threshold)
    print(json.dumps(diff.to_dict(), indent=2, default=str) if args.format == "json" else diff.to_text())
    failing = ("drift" in args.fail_on and diff.drifted) or ("schema" in args.fail_on and diff.schema_changed)
    return 1 if failing else 0


def handle_show(args: argparse.Namespace) -> int:
    """Print a run record."""
    from nbpipe.runtime.debug import find_record, record_json

    print(record_json(find_record(_store(args), args.run_id)))
    return 0


def handle_lineage(args: argparse.Namespace) -> int:
    """Print the lineage tree of an output."""
    from nbpipe.notebook import read
    from nbpipe.runtime.lineage import lineage

    stages = lineage(read(args.notebook), args.output, _store(args))
    print(f"{args.output} <- stage {stages[-1].label}")
    for stage in reversed(stages):
        print(f"  stage {stage.label} [{stage.key[:10] or 'not cached'}]")
        for name in stage.inputs:
            print(f"    input {name}" + (f" (from {stage.imported[name]})" if name in stage.imported else ""))
        for name, value in stage.params.items():
            print(f"    parameter {name} = {json.dumps(value, default=repr)}")
        for path in stage.files_in:
            print(f"    file {path} (read)")
        for path in stage.files_out:
            print(f"    file {path} (written)")
    return 0
