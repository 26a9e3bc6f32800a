"""The plain LightGBM: the table's raw declared columns, nothing known only afterwards."""

from __future__ import annotations

import numpy as np

from parcelrisk.baselines import RawColumns, plain_lightgbm
from parcelrisk.contract import FIELDS_BY_NAME, Role
from parcelrisk.evaluate import PLAIN, evaluate
from parcelrisk.model import CATEGORY_PREFIX


def test_raw_columns_are_declared_inputs_and_extras_never_outcomes_or_truth(split):
    train = split.train.assign(channel="web", duty=1.5)  # two extra columns of a mapping
    raw = RawColumns().fit(train)
    used = [*raw.numeric_, *raw.categories_]
    assert "channel" in raw.categories_ and "duty" in raw.numeric_
    for column in used:
        spec = FIELDS_BY_NAME.get(column)
        assert spec is None or spec.role is Role.INPUT, column  # no key, outcome, truth
    assert not {"inspection_propensity", "inspection_reason", "declared_at"} & set(used)
    assert all(train[c].notna().any() for c in used)  # columns the data gives


def test_categories_are_learned_on_the_training_rows_and_unseen_values_are_missing(split):
    train = split.train
    raw = RawColumns().fit(train)
    common = train["carrier"].value_counts().index[:3].tolist()
    test = split.test.head(5).assign(carrier=["never seen", None, *common])
    codes = raw.transform(test)[f"{CATEGORY_PREFIX}carrier"].to_numpy()
    assert np.isnan(codes[:2]).all() and not np.isnan(codes[2:]).any()
    first = train["carrier"].value_counts().index[0]  # the most frequent value is code 0
    assert raw.transform(test.assign(carrier=first))[f"{CATEGORY_PREFIX}carrier"].eq(0).all()


def test_every_evaluation_with_training_rows_scores_the_plain_lightgbm(fitted, split):
    evaluation = evaluate(
        fitted.pipeline, split.test, train_features=fitted.features, y=fitted.y,
        weight=fitted.weight, train=split.train,
    )  # fmt: skip
    assert (PLAIN, "ground_truth") in evaluation.table.index
    p, is_probability = evaluation.scores[PLAIN]
    assert is_probability and len(p) == len(split.test) and ((p > 0) & (p < 1)).all()
    # fitted by hand the same way, it scores the same test rows the same
    sorted_train = split.train.loc[fitted.features.index]
    again = plain_lightgbm(sorted_train, fitted.y, fitted.weight).predict_proba(split.test)[:, 1]
    assert np.array_equal(again, p)
    text = evaluation.versus_plain("ground_truth")
    assert text.startswith("Against a plain LightGBM on the table's raw columns (ground truth")
    ours = evaluation.table.loc[("parcelrisk", "ground_truth"), "precision@5%"]
    plain = evaluation.table.loc[(PLAIN, "ground_truth"), "precision@5%"]
    assert f"5% of rows {ours:.3f} against {plain:.3f}" in text
    assert ("Finding" in text) == any(
        evaluation.table.loc[("parcelrisk", "ground_truth"), f"precision@{b:.0%}"]
        <= evaluation.table.loc[(PLAIN, "ground_truth"), f"precision@{b:.0%}"]
        for b in evaluation.budgets
    )


def test_a_model_that_does_not_beat_the_plain_lightgbm_is_a_finding_in_words(fitted, split):
    evaluation = evaluate(
        fitted.pipeline, split.test, train_features=fitted.features, y=fitted.y,
        weight=fitted.weight, train=split.train,
    )  # fmt: skip
    table = evaluation.table.copy()
    table.loc[(PLAIN, "inspected"), "precision@10%"] = 1.0  # a plain model that does better
    table.loc[(PLAIN, "inspected"), "precision@5%"] = table.loc[
        ("parcelrisk", "inspected"), "precision@5%"
    ]
    worse = type(evaluation)(table, evaluation.targets, evaluation.scores, evaluation.window,
                             evaluation.budgets)  # fmt: skip
    text = worse.versus_plain("inspected")
    assert "**Finding: parcelrisk does not beat the plain LightGBM at " in text, text
    assert "5% (a tie), 10% of rows" in text, text
    assert worse.versus_plain("no such view") is None


def test_rare_values_are_missing_and_many_values_are_a_number_not_a_category(split):
    rows = 6_000
    train = split.train.head(rows).assign(
        broker=[f"B{i % 300}" for i in range(rows)],  # 300 values, 20 rows each
        office=[f"O{i % 50}" for i in range(rows)],  # 50 values
        rare=[f"R{i % 1000}" for i in range(rows)],  # 1,000 values, 6 rows each
    )
    raw = RawColumns().fit(train)
    assert len(raw.categories_["broker"]) == 300 and len(raw.categories_["rare"]) == 0
    out = raw.transform(train)
    assert "broker" in out and f"{CATEGORY_PREFIX}broker" not in out  # a number
    assert f"{CATEGORY_PREFIX}office" in out and "office" not in out  # a category
    assert out[f"{CATEGORY_PREFIX}rare"].isna().all()  # seen under 20 times: missing


def test_too_few_labels_for_the_plain_lightgbm_leave_it_out_with_a_warning(fitted, split, caplog):
    first = np.flatnonzero(fitted.weight > 0)[:60]  # 60 labelled: under the 98 it needs
    rows = np.arange(first[-1] + 1)
    assert len(np.unique(fitted.y[first])) == 2  # both classes: logistic regression fits
    with caplog.at_level("WARNING", logger="parcelrisk.evaluate"):
        evaluation = evaluate(
            fitted.pipeline, split.test, train_features=fitted.features.iloc[rows],
            y=fitted.y[rows], weight=fitted.weight[rows], train=split.train,
        )  # fmt: skip
    assert PLAIN not in evaluation.scores and "logistic regression" in evaluation.scores
    assert "no plain LightGBM baseline in this evaluation: too few labelled parcels" in caplog.text
    assert evaluation.versus_plain("inspected") is None
