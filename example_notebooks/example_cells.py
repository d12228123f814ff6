"""The cells of the example notebooks, as data: ``(id, type, source, extra)`` tuples.

``build_examples.py`` turns these lists into notebooks. Edit the text here, then run
``python example_notebooks/build_examples.py`` to regenerate the ``.ipynb`` files.
"""

from __future__ import annotations

from typing import Any

Cell = tuple[str, str, str, dict[str, Any]]  # (id, cell_type, source, extra fields)


def md(cell_id: str, text: str) -> Cell:
    """A markdown cell."""
    return (cell_id, "markdown", text.strip("\n"), {})


def code(cell_id: str, text: str, *, tags: tuple[str, ...] = (), count: int | None = None) -> Cell:
    """A code cell, optionally tagged and with a saved execution count."""
    return (cell_id, "code", text.strip("\n"), {"tags": tags, "count": count})


IRIS: list[Cell] = [
    md(
        "iris-title",
        """
# Iris classifier: a small, cached pipeline

This notebook trains a logistic-regression classifier on the iris flowers that ship
with scikit-learn (no download needed). Each step is a `%%stage` cell that declares
what it reads (`--in`) and what it produces (`--out`). From those declarations nbpipe
builds the stage graph `load → split → scale → train → evaluate`. It caches every
step by content, and it can run the same pipeline outside the notebook:

```
nbpipe check iris_classifier.ipynb        # static checks: no hidden state
nbpipe run iris_classifier.ipynb -p C=0.5 # re-runs only train and evaluate
```
""",
    ),
    code("iris-load-ext", "%load_ext nbpipe"),
    md(
        "iris-parameters-md",
        """
## Parameters

The next cell is tagged `parameters`, following papermill's convention. `nbpipe run -p name=value`
overrides these values. A stage that reads a parameter is re-run when its value changes.
""",
    ),
    code("iris-parameters", "test_size = 0.2\nC = 1.0\nseed = 42", tags=("parameters",)),
    md(
        "iris-setup-md",
        """
## Setup

Imports only. Setup cells run before the stages in every target (the kernel,
`nbpipe run`, the exported script), and stages see their names without declaring them.
""",
    ),
    code(
        "iris-setup",
        """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
""",
    ),
    md(
        "iris-load-md",
        """
## 1. Load

150 flowers, four measurements each (sepal and petal length and width, in cm), and
three species. `--out X y` makes the feature matrix and the labels available to
the stages that declare them as inputs.
""",
    ),
    code(
        "iris-load",
        """
%%stage load --out X y
X, y = load_iris(return_X_y=True)
print(f"{X.shape[0]} samples, {X.shape[1]} features, {len(set(y))} classes")
""",
    ),
    md(
        "iris-split-md",
        """
## 2. Split

Hold out `test_size` of the samples. The split is stratified by species, so both
parts keep the class balance. `seed` makes it reproducible.
""",
    ),
    code(
        "iris-split",
        """
%%stage split --in X y --out X_train X_test y_train y_test
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
print(f"train: {len(X_train)} samples, test: {len(X_test)} samples")
""",
    ),
    md(
        "iris-scale-md",
        """
## 3. Scale

Standardise each feature with the mean and standard deviation of the **training**
set only, then apply the same transform to the test set. Fitting the scaler on the
test set would leak information into the evaluation.
""",
    ),
    code(
        "iris-scale",
        """
%%stage scale --in X_train X_test --out X_train_s X_test_s
scaler = StandardScaler().fit(X_train)
X_train_s = scaler.transform(X_train)
X_test_s = scaler.transform(X_test)
""",
    ),
    md(
        "iris-train-md",
        """
## 4. Train

A logistic regression. `C` is the inverse regularisation strength. The fitted model
is a stage output like any other value, so it is cached and restored too.
""",
    ),
    code(
        "iris-train",
        """
%%stage train --in X_train_s y_train --out model
model = LogisticRegression(C=C, max_iter=500, random_state=seed).fit(X_train_s, y_train)
""",
    ),
    md(
        "iris-evaluate-md",
        """
## 5. Evaluate

Accuracy on the held-out test set. `--check "accuracy > 0.8"` is a data-validation
gate. If a change (say, a much smaller `C`) drops the accuracy to 0.8 or below, the
stage fails with the expression in the message, and nothing downstream runs on a
bad model.
""",
    ),
    code(
        "iris-evaluate",
        """
%%stage evaluate --in model X_test_s y_test --out accuracy --check "accuracy > 0.8"
accuracy = float(model.score(X_test_s, y_test))
""",
    ),
    md(
        "iris-explore-md",
        """
## Explore

A plain cell that only reads stage outputs. Exploration cells are never exported,
and they must bind nothing a stage reads.
""",
    ),
    code("iris-explore", 'print(f"test accuracy: {accuracy:.3f} (C={C}, test_size={test_size})")'),
]

SALES_ETL: list[Cell] = [
    md(
        "sales-title",
        """
# Sales ETL: from a raw CSV to a regional report

`data/sales.csv` holds 3,000 order lines of 2024 across four regions. Like most real
exports, it has a few rows that a report must not count. The pipeline:

```
load ─→ clean ─┬─→ by_region ─┬─→ report ─→ output/report.csv
               └─→ by_month  ─┘
```

`by_region` and `by_month` depend only on `clean`, so `nbpipe run sales_etl.ipynb --jobs 2`
runs them in parallel. Replacing the CSV re-runs everything, because the file is
hashed by content. Changing `currency` re-runs `report` only.
""",
    ),
    code("sales-load-ext", "%load_ext nbpipe"),
    md(
        "sales-parameters-md",
        """
## Parameters

Tagged `parameters`. Order lines with fewer than `min_units` units are dropped. `currency`
labels the revenue in the report.
""",
    ),
    code("sales-parameters", 'min_units = 1\ncurrency = "EUR"', tags=("parameters",)),
    md(
        "sales-setup-md",
        """
## Setup

Imports and a helper function. nbpipe hashes the source of `revenue` into the cache
key of every stage that calls it. Editing the helper therefore re-runs `clean` and
everything below it, and nothing else. Keep helpers pure: a function that reads a
global bound by a stage hides a dependency (NBP207).
""",
    ),
    code(
        "sales-setup",
        '''
from pathlib import Path

import pandas as pd


def revenue(df):
    """Revenue of each order line: units times unit price, rounded to cents."""
    return (df["units"] * df["unit_price"]).round(2)
''',
    ),
    md(
        "sales-load-md",
        """
## 1. Load

`--file-in data/sales.csv` declares the file the stage reads. The path is relative to
this notebook's folder, which is the kernel's working directory. Dates are parsed on read.
""",
    ),
    code(
        "sales-load",
        """
%%stage load --file-in data/sales.csv --out raw
raw = pd.read_csv("data/sales.csv", parse_dates=["date"])
missing, negative = raw["units"].isna().sum(), (raw["unit_price"] < 0).sum()
print(f"{len(raw)} rows: {missing} without units, {negative} with a negative price")
""",
    ),
    md(
        "sales-clean-md",
        """
## 2. Clean

Drop the rows a sales report must not count: a missing `units`, a negative
`unit_price` (a refund typed into the sales sheet), or fewer than `min_units` units.
Then add the revenue of each line. The stage builds a new frame instead of changing
`raw` in place. Mutating a declared input would make the kernel's `raw` disagree with
the cached one (NBP201).
""",
    ),
    code(
        "sales-clean",
        """
%%stage clean --in raw --out sales
valid = raw["units"].notna() & (raw["unit_price"] > 0) & (raw["units"] >= min_units)
sales = raw[valid].astype({"units": "int64"}).reset_index(drop=True)
sales["revenue"] = revenue(sales)
print(f"kept {len(sales)} of {len(raw)} rows")
""",
    ),
    md(
        "sales-branches-md",
        """
## 3. Two independent aggregations

Both stages read `sales` only, and neither reads the other's output. `by_region`
totals orders, units and revenue per region. `by_month` sums the revenue per month
and region.
""",
    ),
    code(
        "sales-by-region",
        """
%%stage by_region --in sales --out region_totals
region_totals = (
    sales.groupby("region", as_index=False)
    .agg(orders=("order_id", "count"), units=("units", "sum"), revenue=("revenue", "sum"))
    .sort_values("revenue", ascending=False, ignore_index=True)
)
region_totals
""",
    ),
    code(
        "sales-by-month",
        """
%%stage by_month --in sales --out monthly
monthly = (
    sales.assign(month=sales["date"].dt.strftime("%Y-%m"))
    .groupby(["month", "region"], as_index=False)
    .agg(revenue=("revenue", "sum"))
)
print(f"{monthly['month'].nunique()} months x {monthly['region'].nunique()} regions")
""",
    ),
    md(
        "sales-report-md",
        """
## 4. Report

One row per region: orders, units, revenue in `currency`, the region's share of
the total revenue, and its best month. The stage writes `output/report.csv`, which
`--file-out` declares as produced here. The stage also outputs `summary` for the
cells below. It creates the `output` folder if needed.
""",
    ),
    code(
        "sales-report",
        """
%%stage report --in region_totals monthly --out summary --file-out output/report.csv
best = monthly.loc[monthly.groupby("region")["revenue"].idxmax(), ["region", "month"]]
summary = region_totals.merge(best.rename(columns={"month": "best_month"}), on="region")
summary["share"] = (summary["revenue"] / summary["revenue"].sum()).round(4)
summary["revenue"] = summary["revenue"].round(2)
summary["currency"] = currency
report_path = Path("output/report.csv")
report_path.parent.mkdir(parents=True, exist_ok=True)
summary.to_csv(report_path, index=False)
summary
""",
    ),
    md(
        "sales-explore-md",
        """
## Explore

Reads stage outputs only. Exploration cells are never exported.
""",
    ),
    code(
        "sales-explore",
        """
total = summary["revenue"].sum()
print(f"total revenue 2024: {total:,.2f} {currency}, best region: {summary.loc[0, 'region']}")
""",
    ),
]

HIDDEN_STATE: list[Cell] = [
    md(
        "hidden-title",
        """
# Hidden state: a notebook that breaks the promise

**This notebook is broken on purpose.** It looks like a pipeline, and a live kernel
that ran its cells in the order they were last run may even show results. But it
depends on state that no top-to-bottom run, `nbpipe run` or exported script can
reproduce. `nbpipe check hidden_state.ipynb` should report each hazard below. The
note above each cell explains the hazard and its fix:

| | code | hazard | where |
| --- | --- | --- | --- |
| (a) | NBP101 (error) | a stage reads another stage's output without `--in` | `report` reads `sales` |
| (b) | NBP201 (warning; fails at run) | a stage mutates its declared input in place | `clean` sets `raw["units"]` |
| (c) | NBP202 (warning) | a plain data cell binds a name that a stage reads | `threshold`, read by `big_orders` |
| (d) | NBP203 (warning) | saved execution counts are out of order | `def describe` ran as [9], the cell above as [10] |
| (e) | NBP208 (error) | a cell uses a name that only a later cell binds | `print(describe(big))` |
| (f) | NBP206 (warning) | a stage reads a file path not declared with `--file-in` | `load` reads `data/sales.csv` |

Because `big_orders` reads `threshold` without declaring it, `nbpipe check` also
reports that read as an undeclared input (NBP101), next to (c). `sales_etl.ipynb`
shows the same kind of pipeline done right.
""",
    ),
    code("hidden-load-ext", "%load_ext nbpipe", count=1),
    md("hidden-setup-md", "## Setup"),
    code("hidden-setup", "import pandas as pd", count=2),
    md(
        "hidden-load-md",
        """
## (f) NBP206: an undeclared file

The stage reads `data/sales.csv` without `--file-in data/sales.csv`. The cache cannot
see the file, so a new CSV would still restore the old `raw`.
**Fix:** `%%stage load --file-in data/sales.csv --out raw`.
""",
    ),
    code(
        "hidden-load",
        """
%%stage load --out raw
raw = pd.read_csv("data/sales.csv", parse_dates=["date"])
""",
        count=3,
    ),
    md(
        "hidden-clean-md",
        """
## (b) NBP201: a stage mutates its input in place

`raw["units"] = …` changes the `raw` object that stage `load` produced. In the kernel,
`raw` now differs from what `load` returned and cached, and re-running `clean` sees
already-filled units. So when it runs, `clean` fails with NBP201, in the kernel as in
every batch target, and `big_orders` cannot get `sales`. **Fix:** work on a new frame, e.g.
`sales = raw.assign(units=raw["units"].fillna(0))`.
""",
    ),
    code(
        "hidden-clean",
        """
%%stage clean --in raw --out sales
raw["units"] = raw["units"].fillna(0)
sales = raw[raw["unit_price"] > 0]
""",
        count=4,
    ),
    md(
        "hidden-threshold-md",
        """
## (c) NBP202: hidden cell state

A plain cell, not a stage, computes `threshold` from a stage output, and stage
`big_orders` below uses it. No batch target runs plain cells, so `nbpipe run` and the
exported script have no `threshold`. **Fix:** compute it inside a stage and declare
it, e.g. `%%stage threshold --in sales --out threshold`, then
`%%stage big_orders --in sales threshold --out big`.
""",
    ),
    code("hidden-threshold", 'threshold = sales["units"].quantile(0.9)', count=5),
    code(
        "hidden-big-orders",
        """
%%stage big_orders --in sales --out big
big = sales[sales["units"] >= threshold]
""",
        count=6,
    ),
    md(
        "hidden-report-md",
        """
## (a) NBP101: an undeclared input

`report` declares only `big` but also reads `sales`, which stage `clean` outputs. The
graph therefore misses the edge `clean → report`, so a change in `clean` would not
re-run `report`. In the kernel, the `%%stage` magic refuses the read with a
`NameError` and a hint. **Fix:** `%%stage report --in big sales --out shares`.
""",
    ),
    code(
        "hidden-report",
        """
%%stage report --in big --out shares
shares = (big["region"].value_counts() / sales["region"].value_counts()).round(3)
""",
        count=7,
    ),
    md(
        "hidden-describe-use-md",
        """
## (e) NBP208: a name used before it is bound

This cell calls `describe`, which is defined only in the cell below. It worked in
the author's kernel, because they defined `describe` first. A fresh top-to-bottom run
fails here with a `NameError`. **Fix:** move the definition above its first use,
into the setup section.
""",
    ),
    code("hidden-describe-use", "print(describe(big))", count=10),
    md(
        "hidden-describe-def-md",
        """
## (d) NBP203: run out of order

The saved execution counts tell the story: this cell ran as [9], and the cell above
ran as [10], after it. (Execution [8] was the first attempt at the cell above, which
failed.) A later cell with a smaller count means the saved outputs and the kernel's
state came from an order that the notebook does not show. **Fix:** restart the
kernel and run all cells, after fixing (e).
""",
    ),
    code(
        "hidden-describe-def",
        '''
def describe(df):
    """One line about a frame of order lines."""
    return f"{len(df)} order lines, {int(df['units'].sum())} units"
''',
        count=9,
    ),
]
