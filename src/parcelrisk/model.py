"""The risk model: one pipeline from raw declarations to a calibrated violation probability.

``make_model`` returns a scikit-learn ``Pipeline`` of two steps: ``features`` (the feature
union: ``model[:-1].transform(frame)``, or the same faster with :func:`features_of`, is
exactly the matrix explanations are computed on) and ``classifier``
(:class:`RiskClassifier`: LightGBM plus Platt calibration).
"""

from __future__ import annotations

import threading
from numbers import Real
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from parcelrisk.features import build_features
from parcelrisk.features.columns import Columns
from parcelrisk.features.pipeline import transform as transform_features
from parcelrisk.treeshap import LeafTables, leaf_tables

CATEGORY_PREFIX = "category__"

_TABLES_LOCK = threading.Lock()

DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 4,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


class RiskClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM on the labelled rows, then Platt calibration on the latest labelled rows.

    Rows with zero sample weight (parcels without an outcome) are ignored, so the
    feature pipeline can be fitted on every declaration while the classifier learns
    from inspected ones only. Rows must come in time order: the last
    ``calibration_fraction`` of the labelled rows calibrate, the others train.

    Parameters
    ----------
    lgbm_params
        Parameters of ``lightgbm.LGBMClassifier``.
    calibration_fraction
        Share of the (latest) labelled rows kept out of boosting to fit the calibration.
    random_state
        Seed of LightGBM.
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn convention)
        "lgbm_params": [dict, None],
        "calibration_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, lgbm_params=None, calibration_fraction: float = 0.2, random_state=0):
        self.lgbm_params = lgbm_params
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> RiskClassifier:
        """Fit the booster on earlier labelled rows and the calibration on later ones."""
        self._validate_params()
        self.__dict__.pop("_leaf_tables", None)  # tables of an earlier fit
        y = np.asarray(y, dtype=int)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        rows = np.flatnonzero(w > 0)
        n_cal = round(len(rows) * self.calibration_fraction)
        if len(rows) - n_cal < 50 or n_cal < 20:
            f = self.calibration_fraction
            need = max(int(np.ceil(50 / (1 - f))), int(np.ceil(20 / f)))
            raise ValueError(
                f"too few labelled parcels to train and calibrate: {len(rows)} have an outcome; "
                f"need at least {need} (50 to train and 20 to calibrate with "
                f"calibration_fraction={f})"
            )
        fit_rows, cal_rows = rows[: len(rows) - n_cal], rows[len(rows) - n_cal :]
        for part, name in ((fit_rows, "training"), (cal_rows, "calibration")):
            if len(np.unique(y[part])) < 2:
                raise ValueError(f"the {name} rows hold only one class; need violations and not")
        params = {**DEFAULT_LGBM_PARAMS, **(self.lgbm_params or {})}
        self.booster_ = lgb.LGBMClassifier(
            **params, random_state=self.random_state, n_jobs=2, verbose=-1
        )
        categorical = [c for c in X.columns if str(c).startswith(CATEGORY_PREFIX)]
        self.booster_.fit(
            X.iloc[fit_rows], y[fit_rows], sample_weight=w[fit_rows],
            categorical_feature=categorical or "auto",
        )  # fmt: skip
        margin = self.decision_function(X.iloc[cal_rows])
        self.calibration_ = _platt(margin, y[cal_rows], w[cal_rows])
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw LightGBM margin (log-odds before calibration): what TreeSHAP explains."""
        check_is_fitted(self, "booster_")
        values = matrix_values(X)
        tables = self.leaf_tables()
        if tables is None:
            return self.booster_.booster_.predict(
                values, raw_score=True, **prediction_threads(len(values))
            )
        return tables.margin(values)  # bit for bit LightGBM's raw score, without its overhead

    def contributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions of the margin (rows x features, then the base value:
        the layout of LightGBM's ``pred_contrib``). Computed from the booster's per-leaf
        tables (:mod:`parcelrisk.treeshap`); by ``pred_contrib`` for boosters they do not
        cover."""
        values = matrix_values(X)
        tables = self.leaf_tables()
        if tables is None:
            return self.booster_.booster_.predict(
                values, pred_contrib=True, **prediction_threads(len(values))
            )
        return tables.contributions(values)

    def leaf_tables(self) -> LeafTables | None:
        """The booster's TreeSHAP tables: built on first use (about 0.1 s for 300 trees of
        15 leaves), kept, and left out of pickles. None for boosters they do not cover."""
        check_is_fitted(self, "booster_")
        if "_leaf_tables" not in self.__dict__:
            with _TABLES_LOCK:
                if "_leaf_tables" not in self.__dict__:
                    self._leaf_tables = leaf_tables(self.booster_.booster_)
        return self._leaf_tables

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: the object keeps its tables
        state.pop("_leaf_tables", None)
        return state

    def calibrated_logit(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of a margin: ``a * margin + b``."""
        a, b = self.calibration_
        return a * np.asarray(margin) + b

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, columns (no violation, violation)."""
        p = probability_of_margin(self.decision_function(X), self.calibration_)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def features_of(model: Pipeline, data: pd.DataFrame | Columns) -> pd.DataFrame:
    """The feature matrix the model's classifier reads for ``data`` (validated declarations),
    as ``model[:-1].transform(data)`` gives it."""
    return transform_features(model.named_steps["features"], data)


def probability_of_margin(margin, calibration: tuple[float, float]) -> np.ndarray:
    """Calibrated probability of a margin: ``sigmoid(a * margin + b)``."""
    a, b = calibration
    return 1.0 / (1.0 + np.exp(-(a * np.asarray(margin, float) + b)))


#: Below this many rows LightGBM's own prediction (used for boosters the TreeSHAP tables do
#: not cover) runs on one thread: starting threads costs more than it saves. Measured on 2
#: idle cores (300 trees): 1 row 0.80 ms on one thread, 0.90 ms on two (pred_contrib 1.05 /
#: 1.53 ms); 20 rows 0.95 / 0.67 ms (pred_contrib 9.1 / 6.1 ms).
SMALL_BATCH_ROWS = 8


def matrix_values(features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """A feature matrix as the float64 array LightGBM reads (a frame's own data: the booster
    converting the frame itself costs more than predicting a few rows)."""
    values = features.to_numpy(dtype=float) if isinstance(features, pd.DataFrame) else features
    return np.ascontiguousarray(values, dtype=float)


def prediction_threads(n_rows: int) -> dict[str, int]:
    """LightGBM prediction parameters for a batch of ``n_rows`` rows."""
    return {"num_threads": 1} if n_rows < SMALL_BATCH_ROWS else {}


def _platt(margin: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted logistic fit of ``y`` on the margin: returns slope and intercept."""
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y, sample_weight=w / w.mean())
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def make_model(
    lgbm_params: dict | None = None,
    value_threshold: float = 800.0,
    calibration_fraction: float = 0.2,
    random_state: int = 0,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
) -> Pipeline:
    """The risk model pipeline: ``features`` then ``classifier``.

    ``extra_categorical`` and ``extra_numeric`` name extra input columns (see
    :func:`parcelrisk.features.build_features`).
    """
    features = build_features(
        value_threshold=value_threshold,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
    )
    return Pipeline(
        [
            ("features", features),
            (
                "classifier",
                RiskClassifier(
                    lgbm_params=lgbm_params,
                    calibration_fraction=calibration_fraction,
                    random_state=random_state,
                ),
            ),
        ]
    )
