"""Scoring: one function used by the CLI, the batch job and the HTTP service."""

from __future__ import annotations

import numpy as np
import pandas as pd

from parcelrisk.artifact import LoadedModel
from parcelrisk.config import ModelConfig

LANES = ("inspect", "review", "release")


def assign_lanes(probability: np.ndarray, lanes: dict[str, float]) -> np.ndarray:
    """Lane of each probability: inspect, review or release, by the configured thresholds."""
    p = np.asarray(probability, dtype=float)
    return np.where(
        p >= lanes["inspect"], "inspect", np.where(p >= lanes["review"], "review", "release")
    ).astype(object)


def score(model: LoadedModel, declarations: pd.DataFrame) -> pd.DataFrame:
    """Calibrated violation probability and lane of validated declarations.

    ``declarations`` must already satisfy the contract (see :func:`parcelrisk.validation.validate`).
    Returns one row per parcel, in input order: ``parcel_id``, ``probability``, ``lane``.
    """
    if declarations.empty:
        return pd.DataFrame({"parcel_id": [], "probability": [], "lane": []})
    probability = model.pipeline.predict_proba(declarations)[:, 1]
    lanes = model.metadata.get("lanes") or ModelConfig().lanes
    return pd.DataFrame(
        {
            "parcel_id": declarations["parcel_id"].to_numpy(),
            "probability": probability,
            "lane": assign_lanes(probability, lanes),
        },
        index=declarations.index,
    )
