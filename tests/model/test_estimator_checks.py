"""scikit-learn's estimator checks on every feature transformer and on the classifier.

Every check runs; those expected to fail are listed below with the reason, and run in
strict mode (a listed check that starts to pass fails here, so the list stays true).
They fail for two reasons of design, not of contract:

- the feature transformers read declarations by column name, so they are fitted on a
  pandas frame of declarations and refuse anything else, while most checks fit on an
  unnamed numeric array;
- the classifier needs at least 50 labelled rows to train and 20 later ones to calibrate
  (its error message is pinned in ``test_model.py``), while most checks fit on 10-30.

What those checks would show is tested below on declarations and on a real feature
matrix instead: fit returns self and records its input, transform and predict add and
change no attribute, a pickle scores bit for bit alike, refitting gives the same
result, names out are checked against the names in.

Parameters are checked in ``fit`` with the public ``sklearn.utils.check_scalar`` (and a
tuple-or-list check); no private validation (``_validate_params``, ``_fit_context``,
``sklearn.utils._param_validation``) is used.
"""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from parcelrisk.features.commodity import CommodityFeatures
from parcelrisk.features.extra import ExtraFeatures
from parcelrisk.features.history import EntityHistory
from parcelrisk.features.party import PartyFeatures
from parcelrisk.features.routing import CategoryCodes, RoutingFeatures
from parcelrisk.features.text import DescriptionFeatures
from parcelrisk.model import RiskClassifier

TRANSFORMERS = [
    EntityHistory(), DescriptionFeatures(n_features=2**12), CommodityFeatures(), RoutingFeatures(),
    CategoryCodes(), PartyFeatures(), ExtraFeatures(categorical=("carrier",), numeric=("n",)),
]  # fmt: skip

_ON_ARRAYS = (
    "fits on an unnamed numeric array: the transformer reads declarations by column name "
    "and takes only a DataFrame of them (tested on declarations in this module)"
)
#: The checks that fit a transformer on arrays (all those that fit it at all).
_TRANSFORMER_FAILS = dict.fromkeys(
    [
        "check_fit_score_takes_y", "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
        "check_readonly_memmap_input", "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data",
        "check_dtype_object", "check_estimators_empty_data_messages",
        "check_pipeline_consistency", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array",
        "check_transformer_general", "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance",
        "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
        "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
        "check_fit1d", "check_fit2d_predict1d",
    ],
    _ON_ARRAYS,
)  # fmt: skip

_TOO_FEW = (
    "fits on fewer labelled rows than the classifier needs (50 to train and 20 later ones "
    "to calibrate; tested on a real feature matrix in this module)"
)
_CLASSIFIER_FAILS = {
    **dict.fromkeys(
        [
            "check_fit_score_takes_y", "check_estimators_overwrite_params",
            "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
            "check_readonly_memmap_input", "check_n_features_in_after_fitting",
            "check_estimators_dtypes", "check_sample_weights_pandas_series",
            "check_sample_weights_not_an_array", "check_sample_weights_list",
            "check_sample_weights_shape", "check_sample_weights_not_overwritten",
            "check_sample_weight_equivalence_on_dense_data", "check_dtype_object",
            "check_pipeline_consistency", "check_estimators_pickle",
            "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
            "check_classifiers_classes", "check_supervised_y_2d",
            "check_decision_proba_consistency", "check_methods_sample_order_invariance",
            "check_methods_subset_invariance", "check_fit2d_1feature", "check_dict_unchanged",
            "check_fit_idempotent", "check_fit2d_predict1d",
        ],
        _TOO_FEW,
    ),
    "check_positive_only_tag_during_fit": (
        "fits on iris, sorted by class: the latest rows, which calibrate (rows come in "
        "time order), hold one class only"
    ),
    "check_classifiers_train": (
        "requires predict == (decision_function > 0); decision_function is the booster's "
        "raw margin (what TreeSHAP explains), predict thresholds the Platt-calibrated "
        "probability, so they differ near the boundary by design"
    ),
}  # fmt: skip


def _expected_failures(estimator) -> dict[str, str]:
    return _CLASSIFIER_FAILS if isinstance(estimator, RiskClassifier) else _TRANSFORMER_FAILS


@parametrize_with_checks(
    [*TRANSFORMERS, RiskClassifier()],
    expected_failed_checks=_expected_failures,
    xfail_strict=True,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# --- the same properties on the data the estimators are made for --------------------------


@pytest.fixture(scope="module")
def declarations(split) -> pd.DataFrame:
    train = split.train.iloc[:6000].copy()
    train["n"] = np.arange(len(train), dtype=float)  # an extra numeric input
    return train


def _state(estimator) -> str:
    return joblib.hash(vars(estimator))


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_a_transformer_keeps_scikit_learns_contract_on_declarations(transformer, declarations):
    later = declarations.iloc[-500:]
    transformer = clone(transformer)
    with pytest.raises(NotFittedError):
        transformer.get_feature_names_out()
    with pytest.raises(TypeError, match="reads declarations by column name: fit takes a pandas"):
        clone(transformer).fit(declarations.to_numpy())
    assert transformer.fit(declarations) is transformer
    assert transformer.n_features_in_ == declarations.shape[1]
    assert list(transformer.feature_names_in_) == list(declarations.columns)
    names = transformer.get_feature_names_out(declarations.columns)
    with pytest.raises(ValueError, match=r"input_features are not the columns .* name 1 is 'x'"):
        transformer.get_feature_names_out(["parcel_id", "x", *declarations.columns[2:]])
    with pytest.raises(
        ValueError, match=rf"input_features has 2 names, but .* on {declarations.shape[1]} columns"
    ):
        transformer.get_feature_names_out(["a", "b"])

    state = _state(transformer)
    features = transformer.transform(later)
    assert _state(transformer) == state  # transform adds and changes nothing on the object
    assert list(features.columns) == list(names)
    with pytest.raises(TypeError, match="transform takes a pandas DataFrame of declarations"):
        transformer.transform(later.to_numpy())

    copy = pickle.loads(pickle.dumps(transformer))
    np.testing.assert_array_equal(copy.transform(later).to_numpy(), features.to_numpy())
    again = transformer.fit(declarations).transform(later)
    np.testing.assert_array_equal(again.to_numpy(), features.to_numpy())  # fit is idempotent


@pytest.fixture(scope="module")
def matrix(fitted):
    rows = slice(0, 12_000)  # enough labelled rows to train and calibrate
    return fitted.features.iloc[rows], fitted.y[rows], fitted.weight[rows]


def _small() -> RiskClassifier:
    return RiskClassifier(lgbm_params={"n_estimators": 20})


def test_the_classifier_keeps_scikit_learns_contract_on_features(matrix):
    X, y, w = matrix
    classifier = _small()
    assert classifier.fit(X, y, sample_weight=w) is classifier
    assert classifier.n_features_in_ == X.shape[1]
    assert list(classifier.feature_names_in_) == list(X.columns)
    assert classifier.classes_.tolist() == [0, 1]
    rows = X.iloc[:300]

    state = _state(classifier)
    proba = classifier.predict_proba(rows)
    predicted = classifier.predict(rows)
    classifier.contributions(rows)
    assert _state(classifier) == state  # predicting adds and changes nothing on the object
    assert set(np.unique(predicted)) <= {0, 1}

    copy = pickle.loads(pickle.dumps(classifier))
    np.testing.assert_array_equal(copy.predict_proba(rows), proba)
    np.testing.assert_array_equal(classifier.fit(X, y, w).predict_proba(rows), proba)
    for weights in (list(w), pd.Series(w, index=X.index)):  # any array-like of weights
        np.testing.assert_array_equal(_small().fit(X, y, weights).predict_proba(rows), proba)

    expecting = f"X has 3 features, but RiskClassifier is expecting {X.shape[1]} features"
    with pytest.raises(ValueError, match=expecting):
        classifier.predict_proba(rows.to_numpy()[:, :3])
    renamed = rows.rename(columns={X.columns[4]: "nonsense"})
    with pytest.raises(ValueError, match=f"column 4 is 'nonsense', fitted on '{X.columns[4]}'"):
        classifier.predict(renamed)
    with pytest.raises(ValueError, match="sample_weight has shape \\(3,\\)"):
        _small().fit(X, y, sample_weight=w[:3])


def test_the_classifier_trains_on_as_many_threads_as_asked(matrix):
    X, y, w = matrix
    assert RiskClassifier().n_jobs == 2  # what models were always trained with
    assert _small().fit(X, y, w).booster_.get_params()["n_jobs"] == 2
    assert (
        RiskClassifier(lgbm_params={"n_estimators": 5}, n_jobs=1)
        .fit(X, y, w)
        .booster_.get_params()["n_jobs"]
        == 1
    )


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"validation_fraction": 1.5}, ValueError, "validation_fraction == 1.5, must be <"),
        ({"early_stopping_rounds": 0}, ValueError, "early_stopping_rounds == 0, must be >= 1"),
        ({"n_jobs": "two"}, TypeError, "n_jobs must be an instance of int"),
        ({"lgbm_params": [("n_estimators", 5)]}, TypeError, "lgbm_params must be a dict"),
        ({"random_state": "seed"}, TypeError, "random_state must be an int"),
    ],
)
def test_invalid_classifier_parameters_are_refused(matrix, params, error, message):
    X, y, w = matrix
    with pytest.raises(error, match=message):
        RiskClassifier(**params).fit(X, y, w)


def test_the_classifier_refuses_other_than_binary_labels(matrix):
    X, y, w = matrix
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        RiskClassifier().fit(X, y + np.arange(len(y)) % 3, w)
    with pytest.raises(ValueError, match="every sample_weight is zero"):
        RiskClassifier().fit(X, y, np.zeros(len(y)))
