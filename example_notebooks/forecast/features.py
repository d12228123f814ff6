# %% [markdown]
# # Features: daily revenue and its lags
#
# A jupytext percent notebook. `--in orders@ingest.ipynb` reads the output `orders` of
# the notebook `ingest.ipynb`; editing its stage makes these stages stale.

# %%
# %load_ext nbpipe

# %%
import pandas as pd

LAGS = (1, 7)

# %%
# %%stage daily --in orders@ingest.ipynb --out daily
daily = orders.groupby("date")["revenue"].sum().asfreq("D", fill_value=0.0).to_frame()

# %%
# %%stage features --in daily --out table
table = daily.copy()
for lag in LAGS:
    table[f"lag_{lag}"] = table["revenue"].shift(lag)
table["mean_7"] = table["revenue"].shift(1).rolling(7).mean()
table["weekday"] = table.index.day_of_week
table = table.dropna()
