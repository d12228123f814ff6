"""Realistic plain notebooks (no stages) for ``nbpipe annotate``: cells plus the names to compare."""

from __future__ import annotations

from tests.analysis_notebooks.build import CellSpec

WORD_STATS: list[CellSpec] = [
    ("md", "# Word statistics"),
    "import re\nfrom collections import Counter",
    ("params", "min_length = 3\ntop_n = 5"),
    ("md", "## Load the text"),
    'text = """The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.\n'
    'A quick brown dog? No: the quick fox!"""\nprint(len(text))',
    ("md", "## Tokenize"),
    'words = [w.lower() for w in re.findall(r"[A-Za-z]+", text)]\nwords = [w for w in words if len(w) >= min_length]',
    "counts = Counter(words)",
    "counts.update(['fox', 'fox'])",
    ("md", "## Top words"),
    "top = counts.most_common(top_n)\nshare = {w: round(c / sum(counts.values()), 3) for w, c in top}",
    "top",
    "for word, count in top:\n    print(f'{word:>8} {count}')",
]

REGRESSION: list[CellSpec] = [
    ("md", "# A small regression"),
    "import numpy as np\nimport pandas as pd",
    ("params", "n_points = 200\nnoise = 0.3\nseed = 7"),
    ("md", "## Simulate data"),
    "rng = np.random.default_rng(seed)\nx = rng.uniform(-2, 2, size=n_points)\n"
    "y = 1.5 * x - 0.5 + rng.normal(scale=noise, size=n_points)",
    "df = pd.DataFrame({'x': x, 'y': y})\ndf.loc[df.index % 17 == 0, 'y'] = np.nan",
    "df = df.dropna().reset_index(drop=True)\nprint(len(df))",
    ("md", "## Fit"),
    "design = np.column_stack([df['x'], np.ones(len(df))])\ncoef, *_ = np.linalg.lstsq(design, df['y'], rcond=None)",
    "residuals = df['y'] - design @ coef\nrmse = float(np.sqrt((residuals ** 2).mean()))",
    "df.describe()",
    "print(f'slope={coef[0]:.3f} intercept={coef[1]:.3f} rmse={rmse:.3f}')",
]

#: name -> (cells, variables whose repr must match between the plain and the annotated run)
PLAIN = {"word_stats": (WORD_STATS, ["top", "share"]), "regression": (REGRESSION, ["coef", "rmse"])}
