"""``nbpipe annotate NB.ipynb [-o OUT] [--in-place]``: propose ``%%stage`` headers for a plain notebook."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nbpipe import percent
from nbpipe.errors import NbpipeError
from nbpipe.model import cell_label


def register(subparsers: Any) -> None:
    """Add the ``annotate`` sub-command."""
    parser = subparsers.add_parser(
        "annotate",
        help="propose %%%%stage headers for a plain notebook",
        description="Turn data-producing cells into stages with inputs and outputs inferred from the code. "
        "Writes NB.staged.ipynb, or NB.staged.py for a percent script (or -o OUT); "
        "never overwrites the input without --in-place.",
    )
    parser.add_argument("notebook", metavar="NB", help="an .ipynb file or a jupytext percent .py script")
    parser.add_argument("-o", "--output", metavar="OUT", help="where to write the result (default: NB.staged.ipynb)")
    parser.add_argument("--in-place", action="store_true", help="overwrite the input notebook")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Annotate, write the result, check it and print the summary and the notes; 1 if the result has errors.

    The result has errors only where the input has them already (a cell that does
    not parse, a name read before the cell that binds it): annotate turns back into
    plain cells every stage the check would reject.
    """
    from nbpipe.analysis import analyze
    from nbpipe.analysis.annotate import propose
    from nbpipe.export.files import write_text
    from nbpipe.ipynb import dumps
    from nbpipe.notebook import load, read

    source = Path(args.notebook)
    read(source)  # refuses unreadable or non-Python notebooks with a clear error
    target = _target(source, args)
    nb = percent.load(str(source))[0] if percent.is_percent_path(source) else load(source)
    annotation = propose(nb)
    if percent.is_percent_path(target):  # a percent script is written back as one (jupytext)
        percent.write(annotation.notebook, target)
    else:
        write_text(str(target), dumps(annotation.notebook), overwrite=True)  # atomic, as Jupyter saves it
    graph = analyze(target)
    print(f"{target}: {len(graph.stages)} stages proposed: {' -> '.join(graph.order) or '(none)'}")
    for note in annotation.notes:
        print(f"  note: {note}")
    for d in graph.errors:
        print(f"  {cell_label(d.cell)}: {d.code} {d.message}", file=sys.stderr)
    return 1 if graph.errors else 0


def _target(source: Path, args: argparse.Namespace) -> Path:
    if args.in_place and args.output:
        raise NbpipeError("annotate: give either -o OUT or --in-place, not both")
    if args.in_place:
        return source
    target = Path(args.output) if args.output else source.with_name(source.stem + ".staged" + source.suffix)
    if target.resolve() == source.resolve():
        raise NbpipeError(f"annotate: {target} is the input notebook", hint="pass --in-place to overwrite it")
    return target
