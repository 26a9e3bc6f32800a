"""The risk model: one pipeline from raw declarations to a calibrated violation probability.

``make_model`` returns a scikit-learn ``Pipeline`` of two steps: ``features`` (the feature
union: ``model[:-1].transform(frame)``, or the same faster with :func:`features_of`, is
exactly the matrix explanations are computed on) and ``classifier``
(:class:`RiskClassifier`: LightGBM plus Platt calibration).
"""

from __future__ import annotations

import functools
from numbers import Integral, Real
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, check_scalar, validate_data

from parcelrisk.features import build_features
from parcelrisk.features.cache import DerivedCache
from parcelrisk.features.columns import Columns
from parcelrisk.features.live import LiveHistory
from parcelrisk.features.pipeline import transform as transform_features
from parcelrisk.split import time_holdout
from parcelrisk.treeshap import LeafTables, leaf_tables

CATEGORY_PREFIX = "category__"

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


#: LightGBM parameters the classifier sets itself (``random_state``, ``n_jobs``, quiet).
_SET_BY_CLASSIFIER = frozenset({"random_state", "n_jobs", "verbose", "verbosity"})


@functools.cache
def _lgbm_names() -> tuple[frozenset[str], frozenset[str]]:
    """LightGBM's canonical parameter names (a hint suggests those) and every name it
    takes: ``LGBMClassifier``'s parameters and every parameter and alias of the installed
    LightGBM (read once, from its C API)."""
    import inspect

    from lightgbm.basic import _ConfigAliases

    aliases = _ConfigAliases._get_all_param_aliases()
    names = set(inspect.signature(lgb.LGBMClassifier.__init__).parameters) - {"self", "kwargs"}
    names |= set(aliases)
    return frozenset(names), frozenset(names.union(*aliases.values()))


def check_lgbm_params(params: dict[str, Any], where: str = "lgbm") -> None:
    """Refuse keys LightGBM does not know (a typo such as ``num_leafs`` would be ignored
    silently by LightGBM) and those the classifier sets itself, naming a close known one.

    Known: the parameters of ``lightgbm.LGBMClassifier`` and every LightGBM parameter and
    alias of the installed version.
    """
    import difflib

    names, known = _lgbm_names()
    problems = []
    for key in params:
        if key in _SET_BY_CLASSIFIER:
            own = "; set random_state at the top of the config" if key == "random_state" else ""
            problems.append(f"{key!r} is set by parcelrisk itself, not under lgbm{own}")
        elif key not in known:
            close = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{key!r} is not a LightGBM parameter{hint}")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


class RiskClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM early-stopped on the latest labelled rows, refit on all of them, calibrated.

    Rows with zero sample weight (parcels without an outcome) are ignored, so the
    feature pipeline can be fitted on every declaration while the classifier learns
    from inspected ones only. Rows must come in time order. The fit:

    1. boosts on the earlier labelled rows, watching the (weighted) log loss of the latest
       ``validation_fraction`` of them (:func:`parcelrisk.split.time_holdout`), and stops
       after ``early_stopping_rounds`` rounds without a better one (``n_estimators`` of
       ``lgbm_params`` is the cap): ``n_trees_`` trees;
    2. fits the Platt calibration on that booster's margins of the validation rows, which
       it never learned from;
    3. refits the booster with ``n_trees_`` trees on every labelled row, the newest
       included: the booster that scores.

    The labels are binary (violation found or not); the larger one is the positive class.

    Parameters
    ----------
    lgbm_params
        Parameters of ``lightgbm.LGBMClassifier``.
    validation_fraction
        Share of the (latest) labelled rows early stopping and calibration watch.
    early_stopping_rounds
        Rounds without a better validation loss after which boosting stops.
    random_state
        Seed of LightGBM.
    n_jobs
        Threads LightGBM trains on (None: all cores). A model depends on it (sums of
        gradients are added in another order), so the default is the one models have
        always been trained with.
    """

    def __init__(
        self,
        lgbm_params=None,
        validation_fraction: float = 0.2,
        early_stopping_rounds: int = 50,
        random_state=0,
        n_jobs=2,
    ):
        self.lgbm_params = lgbm_params
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing features: LightGBM's missing values
        tags.classifier_tags.multi_class = False
        return tags

    def fit(
        self, X: pd.DataFrame | np.ndarray, y, sample_weight=None, calibration_weight=None
    ) -> RiskClassifier:
        """Early-stop on the latest labelled rows, calibrate on them, refit on all.

        ``calibration_weight`` (one per row; default ``sample_weight``) weights the
        calibration fit only: the booster learns from ``sample_weight``, whose non-zero
        rows are the labelled ones.
        """
        self._check_params()
        values, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind != "binary":
            raise ValueError(
                f"Only binary classification is supported (violation or not): y is {kind}, "
                f"with the labels {np.unique(y).tolist()[:10]}"
            )
        w = _sample_weight(sample_weight, len(y))
        rows = np.flatnonzero(w > 0)
        if not len(rows):
            raise ValueError("every sample_weight is zero: no parcel has an outcome to learn")
        self.classes_ = np.unique(y[rows])
        if len(self.classes_) < 2:
            raise ValueError(
                f"the labelled rows hold only one class ({self.classes_[0]!r}); need "
                "violations and not"
            )
        positive = (y == self.classes_[-1]).astype(int)
        f = self.validation_fraction
        fit_rows, val_rows = time_holdout(rows, f)
        if len(fit_rows) < 50 or len(val_rows) < 20:
            raise ValueError(
                f"too few labelled parcels to train and validate: {len(rows)} have an outcome; "
                f"need at least {_fewest_rows(f)} (50 to train and 20 to validate with "
                f"validation_fraction={f})"
            )
        for part, name in ((fit_rows, "training"), (val_rows, "validation")):
            if len(np.unique(positive[part])) < 2:
                raise ValueError(f"the {name} rows hold only one class; need violations and not")
        params = {**DEFAULT_LGBM_PARAMS, **(self.lgbm_params or {})}
        names = getattr(self, "feature_names_in_", ())
        categorical = [c for c in names if str(c).startswith(CATEGORY_PREFIX)] or "auto"

        def rows_of(part):  # a frame as it is: LightGBM takes names and categories from it
            return X.iloc[part] if isinstance(X, pd.DataFrame) else values[part]

        watch = self._booster(params)
        watch.fit(
            rows_of(fit_rows), positive[fit_rows], sample_weight=w[fit_rows],
            eval_X=(rows_of(val_rows),), eval_y=(positive[val_rows],),
            eval_sample_weight=[w[val_rows]], categorical_feature=categorical,
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        self.n_trees_ = int(watch.best_iteration_ or params["n_estimators"])
        margin = watch.booster_.predict(
            values[val_rows], raw_score=True, num_iteration=self.n_trees_
        )
        cw = w if calibration_weight is None else _sample_weight(calibration_weight, len(y))
        self.calibration_ = _platt(margin, positive[val_rows], cw[val_rows])
        self.booster_ = self._booster({**params, "n_estimators": self.n_trees_})
        self.booster_.fit(
            rows_of(rows), positive[rows], sample_weight=w[rows], categorical_feature=categorical
        )
        return self

    def _booster(self, params: dict) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            **params, random_state=self.random_state, n_jobs=self.n_jobs, verbose=-1
        )

    def _check_params(self) -> None:
        if self.lgbm_params is not None and not isinstance(self.lgbm_params, dict):
            raise TypeError(f"lgbm_params must be a dict or None, got {self.lgbm_params!r}")
        check_lgbm_params(self.lgbm_params or {}, "lgbm_params")
        check_scalar(self.validation_fraction, "validation_fraction", Real, min_val=0,
                     max_val=1, include_boundaries="neither")  # fmt: skip
        check_scalar(self.early_stopping_rounds, "early_stopping_rounds", Integral, min_val=1)
        seeds = (Integral, np.random.RandomState, np.random.Generator)
        if self.random_state is not None and not isinstance(self.random_state, seeds):
            raise TypeError(
                f"random_state must be an int, a numpy RandomState or Generator, or None; "
                f"got {self.random_state!r}"
            )
        if self.n_jobs is not None:
            check_scalar(self.n_jobs, "n_jobs", Integral)

    def _matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``X`` as the float64 matrix the booster reads, checked against the fitted input."""
        check_is_fitted(self, "booster_")
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            _check_columns(X.columns, self.feature_names_in_)
        values = matrix_values(X)
        if values.ndim != 2 or values.shape[1] != self.n_features_in_:
            found = values.shape[1] if values.ndim == 2 else f"shape {values.shape}, not 2-D: no"
            raise ValueError(
                f"X has {found} features, but RiskClassifier is expecting "
                f"{self.n_features_in_} features as input"
            )
        return values

    def decision_function(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw LightGBM margin (log-odds before calibration): what TreeSHAP explains."""
        values = self._matrix(X)
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
        values = self._matrix(X)
        tables = self.leaf_tables()
        if tables is None:
            return self.booster_.booster_.predict(
                values, pred_contrib=True, **prediction_threads(len(values))
            )
        return tables.contributions(values)

    def leaf_tables(self) -> LeafTables | None:
        """The booster's TreeSHAP tables: built on first use (about 0.1 s for 300 trees of
        15 leaves) and kept beside the classifier while its booster lives (never on it,
        so never in its pickle). None for boosters they do not cover."""
        check_is_fitted(self, "booster_")
        return _TABLES.get(self.booster_)

    def calibrated_logit(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of a margin: ``a * margin + b``."""
        a, b = self.calibration_
        return a * np.asarray(margin) + b

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probabilities, columns (no violation, violation)."""
        p = probability_of_margin(self.decision_function(X), self.calibration_)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The positive class where the calibrated probability is at least 0.5."""
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]


#: The TreeSHAP tables of each fitted booster (see :meth:`RiskClassifier.leaf_tables`).
_TABLES: DerivedCache[LeafTables | None] = DerivedCache(lambda model: leaf_tables(model.booster_))


def _fewest_rows(fraction: float) -> int:
    """The fewest labelled rows that leave 50 to train on and 20 to validate on."""
    n = 70
    while n - round(n * fraction) < 50 or round(n * fraction) < 20:
        n += 1
    return n


def _sample_weight(sample_weight, n: int) -> np.ndarray:
    """Sample weights as floats, one per row (all 1 when not given)."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}; expected ({n},), one per row")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    return w


def _check_columns(columns: pd.Index, fitted: np.ndarray) -> None:
    """Refuse a feature frame whose columns are not the ones the classifier was fitted on."""
    if len(columns) == len(fitted) and (columns.to_numpy() == fitted).all():
        return
    differ = [i for i, (a, b) in enumerate(zip(columns, fitted, strict=False)) if a != b]
    where = (
        f"column {differ[0]} is {columns[differ[0]]!r}, fitted on {fitted[differ[0]]!r}"
        if differ
        else f"{len(columns)} columns, fitted on {len(fitted)}"
    )
    raise ValueError(f"the feature columns are not those RiskClassifier was fitted on: {where}")


def features_of(
    model: Pipeline, data: pd.DataFrame | Columns, live: LiveHistory | None = None
) -> pd.DataFrame:
    """The feature matrix the model's classifier reads for ``data`` (validated declarations),
    as ``model[:-1].transform(data)`` gives it; with ``live``, the entity history counts the
    events appended to it after training too (:mod:`parcelrisk.features.live`)."""
    return transform_features(model.named_steps["features"], data, live)


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
    validation_fraction: float = 0.2,
    early_stopping_rounds: int = 50,
    random_state: int = 0,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
    history_smoothing: float = 5.0,
    history: tuple[tuple[str, ...], ...] | None = None,
) -> Pipeline:
    """The risk model pipeline: ``features`` then ``classifier``.

    ``extra_categorical`` and ``extra_numeric`` name extra input columns (see
    :func:`parcelrisk.features.build_features`).
    """
    features = build_features(
        value_threshold=value_threshold,
        history_smoothing=history_smoothing,
        history=history,
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
                    validation_fraction=validation_fraction,
                    early_stopping_rounds=early_stopping_rounds,
                    random_state=random_state,
                ),
            ),
        ]
    )
