"""Extra inputs a column mapping declares: columns of the user's table with no contract role.

Numeric columns pass through as numbers; categorical ones become integer codes of their
frequent values (rare, unseen and missing values are NaN), as :class:`CategoryCodes`
does for the contract's categories. Output columns keep the user's column names.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, check_scalar

from parcelrisk.features.base import FeatureTransformer, check_strings, validate_declarations
from parcelrisk.features.columns import Columns
from parcelrisk.features.groups import EXTRA, FeatureSpec
from parcelrisk.features.routing import CategoryCodes


class ExtraFeatures(FeatureTransformer):
    """Declared extra inputs: numbers as they are, categories as codes of frequent values.

    Parameters
    ----------
    categorical
        Columns to encode as categories.
    numeric
        Columns of numbers (already parsed, e.g. by :func:`parcelrisk.contract.apply_mapping`).
    min_count
        Occurrences in the training data a category needs to get its own code.
    """

    PART = "extra"

    def __init__(self, categorical=(), numeric=(), min_count: int = 20):
        self.categorical = categorical
        self.numeric = numeric
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y=None) -> ExtraFeatures:
        """Learn the vocabulary of each categorical column."""
        check_strings(self.categorical, "categorical")
        check_strings(self.numeric, "numeric")
        check_scalar(self.min_count, "min_count", Integral, min_val=1)
        validate_declarations(self, X)
        self.codes_ = CategoryCodes(columns=tuple(self.categorical), min_count=self.min_count)
        self.codes_.fit(X)
        return self

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "codes_")
        absent = [c for c in (*self.categorical, *self.numeric) if c not in cols]
        if absent:
            raise ValueError(
                f"the model uses extra input column(s) {absent} that the data does not have; "
                "read the data with the column mapping the model was trained with"
            )
        out = self.codes_.transform_columns(cols)
        out.update((c, cols.number(c)) for c in self.numeric)
        return out

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """The categorical then the numeric columns, each a feature of its own name."""
        return tuple(self.spec_of(c) for c in (*self.categorical, *self.numeric))

    @classmethod
    def spec_of(cls, feature: str) -> FeatureSpec:
        """Every extra feature is an extra input, named after its column."""
        return FeatureSpec(feature, EXTRA)
