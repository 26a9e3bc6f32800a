"""Routing and categorical features: transshipment, freight, and coded categories.

Categories (carrier, port, lading port, countries, mode, ...) become integer codes over
a vocabulary learned at fit time; rare, unseen and missing values become NaN, which
LightGBM treats as missing. Unseen values are valid data, never errors.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.utils.validation import check_is_fitted, check_scalar

from parcelrisk.features.base import FeatureTransformer, check_strings, validate_declarations
from parcelrisk.features.columns import Columns, index_of
from parcelrisk.features.groups import FILER, RECIPIENT, ROUTING, SELLER, FeatureSpec

#: The contract's categorical inputs and the input group of each one's code.
CATEGORICAL = (
    *(FeatureSpec(name, ROUTING) for name in (
        "mode", "carrier", "port_of_entry", "export_country", "origin_country", "lading_port",
    )),
    FeatureSpec("filer_type", FILER),
    FeatureSpec("marketplace", SELLER),
    FeatureSpec("seller_country", SELLER),
    FeatureSpec("recipient_state", RECIPIENT),
    FeatureSpec("recipient_address_type", RECIPIENT),
)  # fmt: skip
CATEGORICAL_COLUMNS = tuple(spec.name for spec in CATEGORICAL)


class CategoryCodes(FeatureTransformer):
    """Integer codes of categorical columns; values seen fewer than ``min_count`` times -> NaN.

    Parameters
    ----------
    columns
        Columns to encode (a code is in the input group :data:`CATEGORICAL` gives its
        column, in none for other columns).
    min_count
        Occurrences in the training data a value needs to get its own code.
    """

    PART = "category"
    FEATURES = CATEGORICAL

    def __init__(self, columns=CATEGORICAL_COLUMNS, min_count: int = 20):
        self.columns = columns
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y=None) -> CategoryCodes:
        """Learn each column's vocabulary of frequent values."""
        check_strings(self.columns, "columns")
        check_scalar(self.min_count, "min_count", Integral, min_val=1)
        validate_declarations(self, X)
        self.vocabulary_ = {}
        for col in self.columns:
            counts = X[col].astype("string").value_counts()
            self.vocabulary_[col] = pd.Index(sorted(counts[counts >= self.min_count].index))
        return self

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "vocabulary_")
        codes = {}
        for col in self.columns:
            code = index_of(self.vocabulary_[col], cols.text(col)).astype(float)
            code[code < 0] = np.nan
            codes[col] = code
        return codes

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """A code per column in ``columns``, in order."""
        return tuple(self.spec_of(c) or FeatureSpec(c, None) for c in self.columns)


class RoutingFeatures(FeatureTransformer):
    """Transshipment and freight cues."""

    PART = "routing"
    FEATURES = tuple(
        FeatureSpec(name, ROUTING)
        for name in ("transshipment", "origin_not_seller_country", "freight_per_kg",
                     "freight_vs_value_log")
    )  # fmt: skip

    def fit(self, X: pd.DataFrame, y=None) -> RoutingFeatures:
        """Nothing to learn but the input's columns (see :func:`validate_declarations`)."""
        validate_declarations(self, X)
        return self

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "n_features_in_")
        origin = cols.text("origin_country")
        freight = cols.number("freight_cost_usd")
        return {
            "transshipment": differs(origin, cols.text("export_country")),
            "origin_not_seller_country": differs(origin, cols.text("seller_country")),
            "freight_per_kg": freight / cols.number("weight_kg"),
            "freight_vs_value_log": np.log1p(freight) - np.log1p(cols.number("declared_value_usd")),
        }


def differs(a: pa.Array, b: pa.Array) -> np.ndarray:
    """1.0 where two text columns differ, 0.0 where equal, NaN where either is missing."""
    return pc.not_equal(a, b).to_numpy(zero_copy_only=False).astype(float)
