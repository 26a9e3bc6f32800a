"""Edge cases of training, scoring and evaluation: missing propensities, empty batches, budgets."""

import numpy as np
import pytest

from parcelrisk.artifact import LoadedModel
from parcelrisk.evaluate import evaluate
from parcelrisk.labels import labels_and_weights
from parcelrisk.policy import Policy
from parcelrisk.predict import DECISION_COLUMNS, decide_frame


def test_inspected_parcel_without_propensity_is_named(split):
    train = split.train.copy()
    row = np.flatnonzero(train["inspected"].to_numpy(dtype=bool))[0]
    train.iloc[row, train.columns.get_loc("inspection_propensity")] = np.nan
    pid = train["parcel_id"].iloc[row]
    with pytest.raises(ValueError, match=rf"1 inspected parcel\(s\) have no usable .*{pid}"):
        labels_and_weights(train, train["declared_at"].max())


def test_empty_batch_scores_to_an_empty_result(fitted, split, tmp_path):
    model = LoadedModel(fitted.pipeline, {"version": "t"}, tmp_path)
    out = decide_frame(model, split.test.iloc[:0], Policy())
    assert tuple(out.columns) == DECISION_COLUMNS and out.empty


def test_evaluation_reports_the_configured_budgets(fitted, split):
    evaluation = evaluate(
        fitted.pipeline, split.test, train_features=fitted.features, y=fitted.y,
        weight=fitted.weight, budgets=(0.01, 0.03),
    )  # fmt: skip
    columns = [c for c in evaluation.table.columns if c.startswith("precision@")]
    assert columns == ["precision@1%", "precision@3%"]
