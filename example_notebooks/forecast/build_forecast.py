"""(Re)generate the forecast example: one pipeline across three notebooks, byte for byte.

Run from anywhere: ``python example_notebooks/forecast/build_forecast.py``. It writes,
next to this file:

- ``ingest.ipynb``: reads ``../data/sales.csv`` (built by ``../build_examples.py``),
  drops the rows a report must not count, adds the revenue: ``orders``;
- ``features.py``: a jupytext percent notebook: daily revenue from
  ``--in orders@ingest.ipynb``, then lag features: ``table``;
- ``train.ipynb``: a ridge regression on ``--in table@features.py`` and a report
  that compares it with a naive forecast on the last ``test_days`` days.

Cell ids are fixed and outputs empty; the percent file is written as text (no
jupytext version header), so re-running the script gives identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat import v4

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3", "version": "3.11.7"}

INGEST = [
    ("md", "# Ingest: the order lines a forecast may count\n\n"
     "The first of three notebooks: `ingest.ipynb` → `features.py` → `train.ipynb`.\n"
     "`nbpipe run train.ipynb` runs all three, from the cache where possible."),
    ("code", "%load_ext nbpipe"),
    ("code", "import pandas as pd"),
    ("code", "%%stage ingest --file-in ../data/sales.csv --out orders\n"
     'raw = pd.read_csv("../data/sales.csv", parse_dates=["date"])\n'
     'ok = raw["units"].notna() & (raw["units"] > 0) & (raw["unit_price"] >= 0)\n'
     "orders = raw[ok].reset_index(drop=True)\n"
     'orders = orders.assign(revenue=(orders["units"] * orders["unit_price"]).round(2))\n'
     'print(f"{len(orders)} of {len(raw)} order lines kept")'),
]  # fmt: skip

FEATURES = [
    ("md", "# Features: daily revenue and its lags\n\n"
     "A jupytext percent notebook. `--in orders@ingest.ipynb` reads the output `orders` of\n"
     "the notebook `ingest.ipynb`; editing its stage makes these stages stale."),
    ("code", "%load_ext nbpipe"),
    ("code", "import pandas as pd\n\nLAGS = (1, 7)"),
    ("code", "%%stage daily --in orders@ingest.ipynb --out daily\n"
     'daily = orders.groupby("date")["revenue"].sum().asfreq("D", fill_value=0.0).to_frame()'),
    ("code", "%%stage features --in daily --out table\n"
     "table = daily.copy()\n"
     "for lag in LAGS:\n"
     '    table[f"lag_{lag}"] = table["revenue"].shift(lag)\n'
     'table["mean_7"] = table["revenue"].shift(1).rolling(7).mean()\n'
     'table["weekday"] = table.index.day_of_week\n'
     "table = table.dropna()"),
]  # fmt: skip

TRAIN = [
    ("md", "# Train and report: a ridge regression on the features of `features.py`"),
    ("code", "%load_ext nbpipe"),
    ("parameters", "alpha = 1.0\ntest_days = 60"),
    ("code", "import numpy as np\n\n"
     "def design(table):\n"
     '    """The regression inputs: an intercept, the lags, the rolling mean and weekday dummies."""\n'
     '    days = np.eye(7)[table["weekday"].to_numpy()][:, 1:]\n'
     '    lags = table[["lag_1", "lag_7", "mean_7"]].to_numpy()\n'
     "    return np.column_stack([np.ones(len(table)), lags, days])"),
    ("code", "%%stage train --in table@features.py --out weights\n"
     "fit = table.iloc[:-test_days]\n"
     "X, y = design(fit), fit[\"revenue\"].to_numpy()\n"
     "weights = np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y)"),
    ("code", "%%stage report --in weights table@features.py --out metrics\n"
     "test = table.iloc[-test_days:]\n"
     "predicted = design(test) @ weights\n"
     'actual = test["revenue"].to_numpy()\n'
     "metrics = {\n"
     '    "mae": round(float(np.abs(predicted - actual).mean()), 2),\n'
     '    "naive_mae": round(float(np.abs(test["lag_7"].to_numpy() - actual).mean()), 2),\n'
     "}\n"
     "print(metrics)"),
]  # fmt: skip


def notebook(stem: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """An nbformat 4.5 notebook with fixed cell ids (``<stem>-<n>``) and no outputs."""
    nb = v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    nb.nbformat_minor = 5
    for number, (kind, source) in enumerate(cells):
        cell_id = f"{stem}-{number}"
        if kind == "md":
            nb.cells.append(v4.new_markdown_cell(source, id=cell_id))
        else:
            tags = {"tags": ["parameters"]} if kind == "parameters" else {}
            nb.cells.append(v4.new_code_cell(source, id=cell_id, metadata=tags))
    nbformat.validate(nb)
    return nb


def percent(cells: list[tuple[str, str]]) -> str:
    """A jupytext py:percent script: magics commented out as jupytext writes them."""
    chunks = []
    for kind, source in cells:
        if kind == "md":
            chunks.append("# %% [markdown]\n" + "".join(f"# {line}".rstrip() + "\n" for line in source.split("\n")))
        else:
            lines = [f"# {line}" if line.startswith("%") else line for line in source.split("\n")]
            chunks.append("# %%\n" + "\n".join(lines) + "\n")
    return "\n".join(chunks)


def main() -> int:
    """Write the three notebooks next to this script."""
    for stem, cells in (("ingest", INGEST), ("train", TRAIN)):
        with (HERE / f"{stem}.ipynb").open("w", encoding="utf-8", newline="\n") as f:
            nbformat.write(notebook(stem, cells), f)
    (HERE / "features.py").write_text(percent(FEATURES), encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
