"""Inspection labels known at a time, and the inverse-propensity weights that undo the
selection bias."""

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


#: How labelled parcels are weighted: ``ipw`` (booster and calibration by 1 / propensity,
#: clipped at ``max_weight``), ``calibration`` (the booster unweighted, the calibration
#: by the unclipped 1 / propensity: :func:`calibration_weights`), ``none``.
WEIGHTINGS = ("ipw", "calibration", "none")


def labels_and_weights(
    frame: pd.DataFrame,
    known_at: pd.Timestamp,
    weighting: str = "ipw",
    max_weight: float = 100.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and sample weights of the parcels whose outcome was recorded by ``known_at``.

    Parcels without a recorded outcome get weight 0 (they still shape the history
    features). Weights of labelled parcels average 1.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting {weighting!r} is not one of {WEIGHTINGS}")
    labelled = frame["inspected"].fillna(False).to_numpy(dtype=bool) & (
        frame["outcome_at"] <= known_at
    ).fillna(False).to_numpy(dtype=bool)
    y = frame["violation_found"].fillna(False).to_numpy(dtype=bool) & labelled
    w = np.zeros(len(frame))
    if weighting == "ipw":
        w[labelled] = np.minimum(inverse_propensity(frame)[labelled], max_weight)
    else:
        w[labelled] = 1.0
    if labelled.any():
        w /= w[labelled].mean()
    return y.astype(int), w


def calibration_weights(
    frame: pd.DataFrame, labelled: np.ndarray, weighting: str
) -> np.ndarray | None:
    """The weights the calibration uses when they differ from the booster's: under
    ``weighting="calibration"`` the unclipped 1 / propensity of the ``labelled`` parcels
    (a mask: those with a sample weight; 0 elsewhere, averaging 1 over them); None
    otherwise."""
    if weighting != "calibration":
        return None
    labelled = np.asarray(labelled, dtype=bool)
    w = np.where(labelled, inverse_propensity(frame), 0.0)
    if labelled.any():
        w[labelled] /= w[labelled].mean()
    return w
