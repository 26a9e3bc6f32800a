"""TreeSHAP from per-leaf tables equals LightGBM's ``pred_contrib``.

The tables must reproduce LightGBM's decisions exactly (numeric splits with each missing
type, categorical splits, values LightGBM treats specially) and TreeSHAP's values to
rounding, for the project's model and for boosters built to reach every branch.
"""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pytest

from parcelrisk import model
from parcelrisk.model import RiskClassifier, features_of, matrix_values
from parcelrisk.treeshap import MAX_PATH_FEATURES, leaf_tables

TOLERANCE = 1e-10  # contributions are O(0.01-1); pred_contrib rounds differently
_ZERO = float(np.float32(1e-35))  # LightGBM reads |x| <= this as 0
NEAR_ZERO = [v for z in (_ZERO, -_ZERO) for v in (z, np.nextafter(z, 0), np.nextafter(z, 2 * z))]
NEAR_ZERO += [1e-35, -1e-35, 1.00000001e-35, -1.00000001e-35, 1e-30, 0.0, -0.0]


def _hostile(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rows with NaN, exact zeros, tiny values, negatives, fractions and huge values put in
    at random: every special case of LightGBM's decisions."""
    rng = np.random.default_rng(seed)
    out = values.copy()
    for share, fill in (
        (0.15, lambda n: np.full(n, np.nan)),
        (0.10, lambda n: np.zeros(n)),
        (0.03, lambda n: rng.choice(NEAR_ZERO, n)),
        (0.05, lambda n: -rng.random(n) * 3),
        (0.05, lambda n: rng.random(n) * 40),
        (0.02, lambda n: rng.choice([1e12, -1e12, 3e9, np.inf, -np.inf], n)),
    ):
        mask = rng.random(out.shape) < share
        out[mask] = fill(int(mask.sum()))
    return out


def _assert_matches_lightgbm(booster: lgb.Booster, values: np.ndarray) -> None:
    """Tables equal ``pred_contrib``, and base value + contributions equal the margin, for
    the booster in memory and for the booster saved and read back (how models are served)."""
    _assert_tables_match(booster, values)
    _assert_tables_match(lgb.Booster(model_str=booster.model_to_string()), values)


def _assert_tables_match(booster: lgb.Booster, values: np.ndarray) -> None:
    tables = leaf_tables(booster)
    assert tables is not None
    ours = tables.contributions(values)
    theirs = booster.predict(values, pred_contrib=True)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    margin = booster.predict(values, raw_score=True)
    np.testing.assert_allclose(ours.sum(axis=1), margin, rtol=0, atol=1e-9)
    assert np.array_equal(tables.margin(values), margin)  # bit for bit


@pytest.fixture(scope="module")
def matrix(fitted, split) -> np.ndarray:
    return matrix_values(features_of(fitted.pipeline, split.test))


def test_model_contributions_equal_pred_contrib(fitted, matrix):
    booster = fitted.pipeline[-1].booster_.booster_
    _assert_matches_lightgbm(booster, matrix[:3000])
    _assert_matches_lightgbm(booster, _hostile(matrix[:3000]))


def test_classifier_uses_the_tables_and_agrees_with_lightgbm(fitted, matrix):
    classifier = fitted.pipeline[-1]
    assert classifier.leaf_tables() is not None
    ours = classifier.contributions(matrix[:500])
    theirs = classifier.booster_.booster_.predict(matrix[:500], pred_contrib=True)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)


def test_a_row_gets_the_same_values_in_any_batch(fitted, matrix):
    """Rows are independent: one row alone, or inside a batch split over threads, gets
    bit-identical contributions (replayed reasons depend on it)."""
    tables = fitted.pipeline[-1].leaf_tables()
    batch = tables.contributions(matrix[:2000])
    for i in (0, 999, 1000, 1999):
        assert np.array_equal(tables.contributions(matrix[i : i + 1])[0], batch[i])
    assert np.array_equal(tables.contributions(matrix[1000:2000]), batch[1000:])


def test_tables_are_rebuilt_after_unpickling(fitted, matrix):
    """The tables live beside the classifier, never on it: explaining adds no attribute,
    a pickle holds none of them, and an unpickled copy builds its own."""
    classifier = fitted.pipeline[-1]
    attributes = dict(vars(classifier))
    tables = classifier.leaf_tables()
    classifier.contributions(matrix[:5])
    classifier.predict_proba(matrix[:5])
    assert vars(classifier).keys() == attributes.keys()
    assert all(vars(classifier)[k] is v for k, v in attributes.items())
    copy = pickle.loads(pickle.dumps(classifier))
    assert classifier.leaf_tables() is tables  # pickling leaves the live object alone
    assert copy.leaf_tables() is not tables
    assert np.array_equal(copy.contributions(matrix[:50]), classifier.contributions(matrix[:50]))


def test_a_refit_classifier_explains_its_new_booster(fitted):
    """Fitting again replaces the tables of the earlier fit (the calibration is fitted on
    margins of the new booster)."""
    x, y, w = fitted.features, fitted.y, fitted.weight
    classifier = RiskClassifier(lgbm_params={"n_estimators": 20}).fit(x, y, w)
    first = classifier.leaf_tables()
    classifier.fit(x, 1 - np.asarray(y), w)
    assert classifier.leaf_tables() is not first
    values = matrix_values(x.iloc[:2000])
    assert np.array_equal(
        classifier.decision_function(values),
        classifier.booster_.booster_.predict(values, raw_score=True),
    )


def test_a_classifier_without_tables_explains_and_scores_by_lightgbm(fitted, matrix, monkeypatch):
    # what leaf_tables() gives for a booster they cannot cover
    monkeypatch.setattr(model, "leaf_tables", lambda booster: None)
    classifier = pickle.loads(pickle.dumps(fitted.pipeline[-1]))  # a booster of its own
    assert classifier.leaf_tables() is None
    booster = classifier.booster_.booster_
    values = matrix[:300]
    assert np.array_equal(
        classifier.contributions(values), booster.predict(values, pred_contrib=True)
    )
    assert np.array_equal(
        classifier.decision_function(values), booster.predict(values, raw_score=True)
    )


def test_wrong_width_is_refused(fitted, matrix):
    with pytest.raises(ValueError, match="feature columns"):
        fitted.pipeline[-1].leaf_tables().contributions(matrix[:5, :-1])


def _data(n: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Numbers with NaN and zeros, and a category column with many levels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    x[:, 7] = rng.integers(0, 70, n)  # category codes beyond one 32-bit word
    x[rng.random(n) < 0.05, 7] = np.nan
    logit = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) ** 2 + (x[:, 7] % 3 == 0)
    y = (logit + rng.normal(size=n) > 0).astype(int)
    return x, y


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 15, "max_depth": 4},
        {"num_leaves": 31, "max_depth": -1, "min_data_in_leaf": 5},  # deep, unbalanced
        {"num_leaves": 15, "zero_as_missing": True},  # missing type Zero
        {"num_leaves": 15, "use_missing": False},  # missing type None: NaN counts as 0
        {"num_leaves": 7, "max_cat_to_onehot": 80},  # one-vs-rest category splits
    ],
    ids=["depth4", "deep", "zero-missing", "no-missing", "one-hot-categories"],
)
def test_boosters_of_every_kind_match(params):
    x, y = _data()
    data = lgb.Dataset(x, y, categorical_feature=[7], free_raw_data=False)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1,
         **params},
        data, num_boost_round=40,
    )  # fmt: skip
    _assert_matches_lightgbm(booster, x)
    _assert_matches_lightgbm(booster, _hostile(x, seed=2))


def test_single_leaf_trees_add_to_the_base_value_only():
    x = np.random.default_rng(0).normal(size=(200, 3))
    single = lgb.train(
        {"objective": "regression", "verbose": -1, "min_data_in_leaf": 1000},
        lgb.Dataset(x, x[:, 0]), num_boost_round=3,
    )  # fmt: skip
    _assert_matches_lightgbm(single, x)
    mixed = lgb.train(  # a single-leaf tree first, then ordinary ones
        {"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
        lgb.Dataset(x, x[:, 0]), num_boost_round=5, init_model=single,
    )  # fmt: skip
    assert mixed.dump_model()["tree_info"][0]["num_leaves"] == 1
    assert mixed.dump_model()["tree_info"][-1]["num_leaves"] > 1
    _assert_matches_lightgbm(mixed, x)


def test_thresholds_beyond_1e300_are_read_exactly():
    """The JSON dump writes a threshold of 1e300 or more as 1e300; the tables take the
    saved model's exact value, so huge feature values go the same way as in LightGBM."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 3))
    x[:, 0] = np.where(rng.random(3000) < 0.5, 1e305, 4e305) * rng.random(3000)
    y = (x[:, 0] > 2e305).astype(int) ^ (rng.random(3000) < 0.1)
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, y),
                        num_boost_round=10)  # fmt: skip
    huge = [t for t in booster.model_to_string().splitlines() if t.startswith("threshold=")]
    assert any("e+30" in t for t in huge)  # the case this test is about
    probe = np.vstack([x[:1000], x[:1000] * 1.0000001, np.full((3, 3), np.inf)])
    _assert_matches_lightgbm(booster, probe)


def test_boosters_outside_the_tables_fall_back_to_lightgbm():
    x, y = _data()
    deep = lgb.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 255, "max_depth": -1,
         "min_data_in_leaf": 1},
        lgb.Dataset(np.random.default_rng(3).normal(size=(4000, 40)),
                    np.random.default_rng(4).normal(size=4000)),
        num_boost_round=2,
    )  # fmt: skip
    dump = deep.dump_model()

    def widest(node, features=frozenset()):
        if "leaf_value" in node:
            return len(features)
        features = features | {node["split_feature"]}
        return max(widest(node["left_child"], features), widest(node["right_child"], features))

    assert max(widest(t["tree_structure"]) for t in dump["tree_info"]) > MAX_PATH_FEATURES
    assert leaf_tables(deep) is None
    multiclass = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lgb.Dataset(x, y + (x[:, 2] > 1)), num_boost_round=2,
    )  # fmt: skip
    assert leaf_tables(multiclass) is None
