"""The plain LightGBM: what a data scientist fits by hand on a table's raw columns.

Every evaluation fits it on the same training rows, labels and weights as the model and
scores the same test rows, so the report can say what parcelrisk's features add over the
table as it is. "Raw" means the declared fields the table gives (every input field of
the contract with a value in some training row, and the mapping's extra columns), each
as it is: numbers as numbers, everything else (ids, codes, countries, text) as a
category whose codes are learned on the training rows (values seen fewer than 20 times
and unseen values read as missing; columns with more than 255 such values as the code,
a number).
Nothing is derived: no history, no ratios, no text features, no time.

Its fitting procedure is the model's own (:class:`parcelrisk.model.RiskClassifier`:
early-stopped on the latest labelled rows, calibrated on them, refit on all), with
LightGBM's customary shape for a first try: 63 leaves, no depth cap, learning rate 0.05,
no subsampling and no regularisation (:data:`PLAIN_LGBM_PARAMS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from parcelrisk.contract import (
    FIELDS_BY_NAME,
    INPUT_COLUMNS,
    Kind,
    is_ground_truth,
)
from parcelrisk.model import CATEGORY_PREFIX, RiskClassifier

#: The plain LightGBM's shape: LightGBM's defaults with 63 leaves, stopped early.
PLAIN_LGBM_PARAMS: dict[str, float | int] = {
    "n_estimators": 2000,
    "learning_rate": 0.05,
    "num_leaves": 63,
    "max_depth": -1,
    "min_child_samples": 20,
    "subsample": 1.0,
    "subsample_freq": 0,
    "colsample_bytree": 1.0,
    "reg_lambda": 0.0,
    # LightGBM's own categorical settings, whatever the model's defaults become
    "min_data_per_group": 100,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
}
_NUMERIC_KINDS = (Kind.INT, Kind.FLOAT, Kind.BOOL)
#: A column with more kept values than this is given as its code, a number, not a category.
MAX_CATEGORIES = 255


class RawColumns(TransformerMixin, BaseEstimator):
    """A declarations frame's raw columns as LightGBM reads them: numbers, category codes.

    ``fit`` picks the columns with a value in some row (contract input fields, then any
    column that is neither a contract field nor generated ground truth: a mapping's
    extra columns) and learns each categorical column's vocabulary, most frequent first:
    the values seen at least ``min_count`` times in the training declarations (as the
    model's own category codes; rarer values read as missing). Without that floor, ids,
    names and addresses with tens of thousands of values make every boosting round
    take about 0.6 s on a thousand labelled rows; for the same reason a column with more
    than :data:`MAX_CATEGORIES` kept values is given as its code, the value's frequency
    rank, as a number (as LightGBM's documentation advises for high cardinality).
    """

    def __init__(self, min_count: int = 20):
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y=None) -> RawColumns:
        """Learn which columns there are and each categorical column's codes."""
        # outcomes, inspection fields and the generator's truth are contract fields too
        extra = [c for c in X.columns if c not in FIELDS_BY_NAME and not is_ground_truth(c)]
        given = [c for c in (*INPUT_COLUMNS, *extra) if c in X and X[c].notna().any()]
        self.numeric_ = [c for c in given if _is_numeric(X[c], c)]
        self.categories_ = {}
        for c in given:
            if c not in self.numeric_:
                counts = X[c].astype("string").value_counts()
                self.categories_[c] = pd.Index(counts.index[counts >= self.min_count])
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns as floats, categorical ones as ``category__<column>`` codes."""
        check_is_fitted(self, "numeric_")
        out = {c: X[c].to_numpy(dtype=float, na_value=np.nan) for c in self.numeric_}
        for c, vocabulary in self.categories_.items():
            codes = vocabulary.get_indexer(X[c].astype("string")).astype(float)
            codes[codes < 0] = np.nan  # missing or not seen in training
            # many values: the code (the value's frequency rank) as a number, as LightGBM's
            # documentation advises for high-cardinality features
            out[c if len(vocabulary) > MAX_CATEGORIES else f"{CATEGORY_PREFIX}{c}"] = codes
        return pd.DataFrame(out, index=X.index)


def _is_numeric(s: pd.Series, column: str) -> bool:
    spec = FIELDS_BY_NAME.get(column)
    if spec is not None:
        return spec.kind in _NUMERIC_KINDS
    return pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def plain_lightgbm(
    train: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    validation_fraction: float = 0.2,
    early_stopping_rounds: int = 50,
    seed: int = 0,
) -> Pipeline:
    """Fit the plain LightGBM on the raw columns of ``train`` (in time order): a pipeline
    whose ``predict_proba`` takes declarations."""
    classifier = RiskClassifier(
        lgbm_params=PLAIN_LGBM_PARAMS,
        validation_fraction=validation_fraction,
        early_stopping_rounds=early_stopping_rounds,
        random_state=seed,
    )
    return Pipeline([("raw", RawColumns()), ("lightgbm", classifier)]).fit(
        train, y, lightgbm__sample_weight=weight
    )
