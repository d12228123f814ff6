"""Small pipelines across notebooks for the tests: prep.py (a percent script) and train.ipynb reading it."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

LOAD = "%load_ext nbpipe"


def write(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (LOAD, *cells)]
    if path.suffix == ".py":
        jupytext.write(nb, str(path), fmt="py:percent")
    else:
        nbformat.write(nb, str(path))
    return path


def prep(folder: Path, factor: str = "2", body: str = "") -> Path:
    return write(
        folder / "prep.py",
        "%%stage load --out raw\nraw = list(range(10))",
        f"%%stage featurize --in raw --out features\n{body}features = [x * {factor} for x in raw]",
        "%%stage unused --in raw --out other\nother = len(raw)",
    )


def train(folder: Path) -> Path:
    return write(
        folder / "train.ipynb",
        "%%stage fit --in features@prep.py --out model\nmodel = sum(features)",
        "%%stage report --in model --out text\ntext = f'model {model}'",
    )
