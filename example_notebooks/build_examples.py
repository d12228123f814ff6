"""(Re)generate the example notebooks and their data, byte for byte.

Run from anywhere: ``python example_notebooks/build_examples.py``. It writes, next
to this file:

- ``data/sales.csv``: 3,000 order lines of 2024 plus a few messy rows, from a fixed
  seed with the standard library's generator (stable across Python versions);
- ``iris_classifier.ipynb``: a scikit-learn pipeline with a parameters cell;
- ``sales_etl.ipynb``: a pandas ETL with a file input, two branches and a file output;
- ``hidden_state.ipynb``: a deliberately broken notebook, one hazard per diagnostic.

Cell ids are fixed, execution counts are set on purpose and outputs are empty, so
re-running the script gives identical files (nbformat 4.5, ids included).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbformat import v4

from example_cells import HIDDEN_STATE, IRIS, SALES_ETL, Cell

HERE = Path(__file__).resolve().parent
SEED = 2024
N_ORDERS = 3000
REGIONS = ("North", "South", "East", "West")
PRODUCTS = {"Notebook": 3.5, "Pen": 1.2, "Backpack": 39.0, "Desk lamp": 24.9, "Stapler": 8.75}

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# What ipykernel reports for the project's Python (3.11, .venv). JupyterLab writes the
# kernel's language_info into the notebook when it differs, so without ``version`` a
# freshly opened example was dirty before anyone touched it. A constant (not the running
# interpreter's version) keeps the files byte for byte the same wherever they are built.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}


def build_notebook(cells: list[Cell]) -> nbformat.NotebookNode:
    """An nbformat 4.5 notebook with the given cells, fixed ids and Python metadata."""
    nb = v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    nb.nbformat_minor = 5
    for cell_id, cell_type, source, extra in cells:
        if cell_type == "markdown":
            nb.cells.append(v4.new_markdown_cell(source, id=cell_id))
            continue
        metadata = {"tags": list(extra["tags"])} if extra["tags"] else {}
        nb.cells.append(v4.new_code_cell(source, id=cell_id, metadata=metadata, execution_count=extra["count"]))
    nbformat.validate(nb)
    return nb


def sales_rows(seed: int = SEED, n: int = N_ORDERS) -> list[dict[str, Any]]:
    """Order lines of 2024 sorted by date; a few have no units, a negative price or zero units."""
    rng = random.Random(seed)
    lines = sorted((_order_line(rng) for _ in range(n)), key=lambda r: str(r["date"]))  # stable sort
    rows = [{"order_id": 100001 + i, **line} for i, line in enumerate(lines)]
    _make_messy(rows, rng)
    return rows


def _order_line(rng: random.Random) -> dict[str, Any]:
    product = rng.choice(sorted(PRODUCTS))
    day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))  # 2024 is a leap year
    return {
        "date": day.isoformat(),
        "region": rng.choice(REGIONS),
        "product": product,
        "units": rng.randint(1, 12),
        "unit_price": round(PRODUCTS[product] * rng.uniform(0.9, 1.1), 2),
    }


def _make_messy(rows: list[dict[str, Any]], rng: random.Random) -> None:
    """Spoil 30 rows the way real exports are spoiled; the ETL's clean stage drops them."""
    messy = rng.sample(range(len(rows)), 30)
    for j in messy[:14]:
        rows[j]["units"] = ""  # keyed in without a quantity
    for j in messy[14:24]:
        rows[j]["unit_price"] = -rows[j]["unit_price"]  # a refund typed into the sales sheet
    for j in messy[24:]:
        rows[j]["units"] = 0  # an empty order line


def write_sales_csv(path: Path) -> None:
    """Write :func:`sales_rows` as CSV with Unix line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sales_rows()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_notebook(path: Path, cells: list[Cell]) -> None:
    """Write a notebook the way Jupyter does (sorted keys, indent 1, final newline)."""
    with path.open("w", encoding="utf-8", newline="\n") as f:
        nbformat.write(build_notebook(cells), f)


def main() -> int:
    """Write the CSV and the three notebooks next to this script."""
    write_sales_csv(HERE / "data" / "sales.csv")
    write_notebook(HERE / "iris_classifier.ipynb", IRIS)
    write_notebook(HERE / "sales_etl.ipynb", SALES_ETL)
    write_notebook(HERE / "hidden_state.ipynb", HIDDEN_STATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
