"""``nbpipe runs ls|show`` and ``nbpipe lineage``: what ran, and where an output came from."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``nbpipe runs`` and ``nbpipe lineage``."""
    runs = subparsers.add_parser("runs", help="list and show run records", description="Run records in the store.")
    actions = runs.add_subparsers(title="actions", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", help="list runs, oldest first")
    ls.add_argument("notebook", nargs="?", help="notebook whose store to read (default: ./.nbpipe)")
    ls.add_argument("--store", metavar="URL")
    ls.set_defaults(handler=handle_ls)
    show = actions.add_parser("show", help="print one run record as JSON")
    show.add_argument("run_id", help="run id or a unique prefix")
    show.add_argument("notebook", nargs="?")
    show.add_argument("--store", metavar="URL")
    show.set_defaults(handler=handle_show)
    lin = subparsers.add_parser("lineage", help="which stages, parameters and files an output came from")
    lin.add_argument("notebook")
    lin.add_argument("output", help="an output variable name")
    lin.add_argument("--store", metavar="URL")
    lin.set_defaults(handler=handle_lineage)


def _store(args: argparse.Namespace) -> Any:
    from nbpipe.cache.store import Store

    return Store.for_notebook(args.notebook, args.store)


def handle_ls(args: argparse.Namespace) -> int:
    """Print one line per run."""
    records = _store(args).records()
    for rec in records:
        counts: dict[str, int] = {}
        for stage in rec.get("stages", []):
            counts[stage["status"]] = counts.get(stage["status"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        status, target = rec.get("status", "?"), rec.get("target", "?")
        print(f"{rec['run_id']}  {status:<6}  {target:<9}  {rec.get('started', '')}  {summary}")
    if not records:
        print("no runs yet")
    return 0


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
    print(f"{args.output} <- stage {stages[-1].name}")
    for stage in reversed(stages):
        print(f"  stage {stage.name} [{stage.key[:10] or 'not cached'}]")
        for name in stage.inputs:
            print(f"    input {name}")
        for name, value in stage.params.items():
            print(f"    parameter {name} = {json.dumps(value, default=repr)}")
        for path in stage.files_in:
            print(f"    file {path} (read)")
        for path in stage.files_out:
            print(f"    file {path} (written)")
    return 0
