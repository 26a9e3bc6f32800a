"""Inspection labels: the inverse-propensity weights that undo the selection bias."""

from __future__ import annotations

import numpy as np
import pandas as pd


def inverse_propensity(frame: pd.DataFrame) -> np.ndarray:
    """``1 / inspection_propensity`` of every parcel; inspected parcels must have one in (0, 1].

    Raises
    ------
    ValueError
        Naming the inspected parcels whose propensity is missing, zero or above 1.
    """
    propensity = frame["inspection_propensity"].to_numpy(dtype=float)
    inspected = frame["inspected"].fillna(False).to_numpy(dtype=bool)
    bad = inspected & ~((propensity > 0) & (propensity <= 1))
    if bad.any():
        ids = frame["parcel_id"].to_numpy()[bad][:5].tolist()
        raise ValueError(
            f"{bad.sum()} inspected parcel(s) have no usable inspection_propensity (it must "
            f"lie in (0, 1] to weight and evaluate them), e.g. {ids}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / propensity
