"""The customs register read through its mapping: zero masses missing and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customs_example import DATA, MAPPING
from parcelrisk.contract import load_mapping, made_missing, read_table


def test_zero_masses_are_made_missing_and_counted():
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    zero = (raw["net_mass_kg"] == "0").to_numpy()
    frame = read_table(DATA, load_mapping(MAPPING))
    assert len(frame) == len(raw)  # no row dropped
    weight = frame["weight_kg"].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(weight), zero)
    assert np.array_equal(weight[~zero], raw["net_mass_kg"][~zero].astype(float).to_numpy())
    assert made_missing(frame)["weight_kg"] == zero.sum() == 1_311
    # every other value of the table reads as it is: the won prices, the day-only dates
    assert (
        frame["declared_value_usd"].to_numpy().tolist()
        == raw["item_price_krw"].astype(float).tolist()
    )
    local = frame["declared_at"].dt.tz_convert("Asia/Seoul")
    assert (local.dt.strftime("%Y%m%d") == raw["declared_on"]).all()
    assert (local.dt.hour == 0).all()
