"""``nbpipe debug NB STAGE [--run RUN_ID]``: re-run one stage from its stored inputs, then pdb."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``nbpipe debug``."""
    parser = subparsers.add_parser(
        "debug",
        help="re-run one stage with the exact inputs it saw in a run; drop into pdb where it fails",
        description="Re-run one stage from the inputs stored for a run (default: the latest) and open the "
        "debugger at the failure.",
    )
    parser.add_argument("notebook")
    parser.add_argument("stage")
    parser.add_argument("--run", dest="run_id", metavar="RUN_ID", help="run id or unique prefix (default: latest)")
    parser.add_argument("--store", metavar="URL")
    parser.add_argument("--no-pdb", action="store_true", help="print the traceback instead of opening pdb")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Re-run; 0 if the stage now succeeds, 1 if it fails (after the debugger session)."""
    import pdb
    import traceback

    from nbpipe.notebook import read
    from nbpipe.runtime.debug import rerun_stage

    nb = read(args.notebook)
    try:
        outputs = rerun_stage(nb, args.stage, args.run_id, args.store)
    except Exception as exc:  # the user's stage failed: that is what we are here for
        from nbpipe.errors import NbpipeError

        if isinstance(exc, NbpipeError) and exc.stage is None and exc.code is None:
            raise
        traceback.print_exc()
        if not args.no_pdb and sys.stdin.isatty():
            pdb.post_mortem(exc.__traceback__)
        return 1
    print(f"stage {args.stage!r} succeeded with its stored inputs: outputs {', '.join(sorted(outputs))}")
    return 0
