"""Routing and categorical features: transshipment, freight, and coded categories.

Categories (carrier, port, lading port, countries, mode, ...) become integer codes over
a vocabulary learned at fit time; rare, unseen and missing values become NaN, which
LightGBM treats as missing. Unseen values are valid data, never errors.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

#: Categorical inputs by the source they come from.
CATEGORICAL_COLUMNS = (
    "mode", "carrier", "port_of_entry", "export_country", "origin_country", "lading_port",
    "filer_type", "marketplace", "seller_country", "recipient_state", "recipient_address_type",
)  # fmt: skip


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Integer codes of categorical columns; values seen fewer than ``min_count`` times -> NaN.

    Parameters
    ----------
    columns
        Columns to encode.
    min_count
        Occurrences in the training data a value needs to get its own code.
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn convention)
        "columns": [tuple, list],
        "min_count": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, columns=CATEGORICAL_COLUMNS, min_count: int = 20):
        self.columns = columns
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y=None) -> CategoryCodes:
        """Learn each column's vocabulary of frequent values."""
        self._validate_params()
        self.vocabulary_ = {}
        for col in self.columns:
            counts = X[col].astype("string").value_counts()
            self.vocabulary_[col] = pd.Index(sorted(counts[counts >= self.min_count].index))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Codes as floats (NaN for rare, unseen or missing values)."""
        check_is_fitted(self, "vocabulary_")
        codes = {}
        for col in self.columns:
            code = self.vocabulary_[col].get_indexer(X[col].astype("string")).astype(float)
            code[code < 0] = np.nan
            codes[col] = code
        return pd.DataFrame(codes, index=X.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The encoded column names."""
        return np.asarray(self.columns, dtype=object)


class RoutingFeatures(TransformerMixin, BaseEstimator):
    """Transshipment and freight cues."""

    def fit(self, X: pd.DataFrame, y=None) -> RoutingFeatures:
        """Nothing to learn; kept for the transformer interface."""
        self.fitted_ = True
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Routing features, one row per parcel."""
        check_is_fitted(self, "fitted_")
        origin = X["origin_country"].astype("string")
        freight = X["freight_cost_usd"].to_numpy(dtype=float)
        value = X["declared_value_usd"].to_numpy(dtype=float)
        return pd.DataFrame(
            {
                "transshipment": (origin != X["export_country"].astype("string")).to_numpy(
                    dtype=float
                ),
                "origin_not_seller_country": (
                    origin != X["seller_country"].astype("string")
                ).to_numpy(dtype=float),
                "freight_per_kg": freight / X["weight_kg"].to_numpy(dtype=float),
                "freight_vs_value_log": np.log1p(freight) - np.log1p(value),
            },
            index=X.index,
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the features :meth:`transform` returns."""
        return np.asarray(
            ["transshipment", "origin_not_seller_country", "freight_per_kg",
             "freight_vs_value_log"],
            dtype=object,
        )  # fmt: skip
