"""Commodity value features: value per unit and per kg against what is typical for the HTS
heading, declared value against the listed price, bunching just under the value threshold.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, check_scalar

from parcelrisk.features.base import FeatureTransformer, validate_declarations
from parcelrisk.features.columns import Columns
from parcelrisk.features.groups import COMMODITY_TYPE, DECLARED_VALUE, MISSING_DATA, FeatureSpec
from parcelrisk.features.text import distinct, heading

_OPTIONAL = (
    "listed_price_usd", "hts_code", "lading_port", "freight_cost_usd", "marketplace",
    "seller_account_age_days",
)  # fmt: skip


class CommodityFeatures(FeatureTransformer):
    """Value, weight and threshold features of the declared commodity.

    Parameters
    ----------
    value_threshold
        Value threshold of the low-value regime in USD (de minimis); configuration,
        since the rule changes.
    bunching_band
        Share of the threshold just under it that counts as bunching (0.12: the 12%
        below the threshold).
    """

    PART = "commodity"
    FEATURES = (
        *(FeatureSpec(name, DECLARED_VALUE) for name in (
            "value_log", "quantity", "weight_kg", "value_per_unit_log", "value_per_kg_log",
            "value_per_kg_vs_heading", "unit_price_vs_heading", "declared_vs_listed",
            "threshold_gap", "just_under_threshold",
        )),
        FeatureSpec("hts_chapter", COMMODITY_TYPE),
        FeatureSpec("n_missing_optional", MISSING_DATA),
    )  # fmt: skip

    def __init__(self, value_threshold: float = 800.0, bunching_band: float = 0.12):
        self.value_threshold = value_threshold
        self.bunching_band = bunching_band

    def fit(self, X: pd.DataFrame, y=None) -> CommodityFeatures:
        """Learn the typical (median) value per kg and unit price of each HTS heading."""
        check_scalar(self.value_threshold, "value_threshold", Real, min_val=0,
                     include_boundaries="neither")  # fmt: skip
        check_scalar(self.bunching_band, "bunching_band", Real, min_val=0, max_val=1,
                     include_boundaries="neither")  # fmt: skip
        validate_declarations(self, X)
        heading = X["hts_code"].astype("string").str[:4]
        per_kg = np.log1p(X["declared_value_usd"] / X["weight_kg"])
        unit = np.log1p(_listed_or_declared_unit(X))
        # each median over the parcels that give its inputs (a table may lack weights)
        frame = pd.DataFrame({"heading": heading, "per_kg": per_kg, "unit": unit})
        self.typical_per_kg_ = frame.groupby("heading")["per_kg"].median().dropna().to_dict()
        self.typical_unit_ = frame.groupby("heading")["unit"].median().dropna().to_dict()
        self.overall_per_kg_ = float(frame.loc[heading.notna(), "per_kg"].median())
        self.overall_unit_ = float(frame.loc[heading.notna(), "unit"].median())
        return self

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "typical_per_kg_")
        value = cols.number("declared_value_usd")
        qty = cols.number("quantity")
        weight = cols.number("weight_kg")
        codes, headings = distinct(heading(cols))
        known = ~cols.missing("hts_code")
        per_kg = np.log1p(value / weight)
        per_unit = np.log1p(value / qty)
        typical_kg = _typical(headings, self.typical_per_kg_, self.overall_per_kg_)[codes]
        typical_unit = _typical(headings, self.typical_unit_, self.overall_unit_)[codes]
        listed = cols.number("listed_price_usd")
        listed_total = listed * qty
        unit = np.where(np.isnan(listed), value / qty, listed)
        gap = (self.value_threshold - value) / self.value_threshold
        missing = sum(cols.missing(c) for c in _OPTIONAL)
        return {
            "value_log": np.log1p(value),
            "quantity": qty,
            "weight_kg": weight,
            "value_per_unit_log": per_unit,
            "value_per_kg_log": per_kg,
            "value_per_kg_vs_heading": per_kg - np.where(known, typical_kg, self.overall_per_kg_),
            "unit_price_vs_heading": np.log1p(unit)
            - np.where(known, typical_unit, self.overall_unit_),
            "declared_vs_listed": np.where(listed_total > 0, value / listed_total, np.nan),
            "threshold_gap": gap,
            "just_under_threshold": np.where(
                np.isnan(gap), np.nan, (gap > 0) & (gap <= self.bunching_band)
            ),
            "hts_chapter": np.where(known, _chapters(headings)[codes], np.nan),
            "n_missing_optional": missing.astype(float),
        }


def _listed_or_declared_unit(X: pd.DataFrame) -> pd.Series:
    """Listed unit price where given, else declared value per unit."""
    declared_unit = X["declared_value_usd"] / X["quantity"].astype(float)
    return X["listed_price_usd"].fillna(declared_unit)


def _typical(headings: list[str], typical: dict, overall: float) -> np.ndarray:
    """Typical value of each heading learned at fit (``overall`` for headings not seen)."""
    return np.array([typical.get(h, overall) for h in headings], dtype=float)


def _chapters(headings: list[str]) -> np.ndarray:
    """HTS chapter (first two characters as a number) of each heading; NaN if not a number."""
    firsts = [h[:2] for h in headings]
    if all(f.isascii() and f.isdigit() for f in firsts):  # contract codes: digits only
        return np.array([float(f) for f in firsts], dtype=float)
    return pd.to_numeric(pd.Series(firsts, dtype="string"), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
