"""evaluation.md reads without the code: views explained, budgets defined, no NaN, narrow
tables, and a plain sentence when the model does not beat logistic regression."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from parcelrisk.evaluate import budget_rows, evaluate, label_views
from parcelrisk.report import (
    NOISE_RULE,
    VIEW_TEXT,
    not_available,
    pr_auc_difference,
    versus_logistic,
    write_markdown,
    write_report,
)

METADATA = {"version": "test", "training_window": {"start": "a", "end": "b"},
            "test_window": {"start": "c", "end": "d"}, "n_labelled": 1, "n_train_parcels": 2,
            "weighting": "calibration"}  # fmt: skip


@pytest.fixture(scope="module")
def evaluation(fitted, split):
    return evaluate(fitted.pipeline, split.test, train_features=fitted.features, y=fitted.y,
                    weight=fitted.weight)  # fmt: skip


@pytest.fixture(scope="module")
def report(evaluation, fitted, split, tmp_path_factory):
    meta = {**METADATA, "feature_names": list(fitted.features.columns)}
    path = write_report(evaluation, split.test, tmp_path_factory.mktemp("report"), meta)
    return path.read_text()


def _tables(text: str) -> list[list[str]]:
    """Each markdown table of the text, as its lines."""
    return [block.splitlines() for block in re.findall(r"(?:^\|.*\|\n)+", text, re.M)]


def test_every_view_is_explained_in_words(report, evaluation):
    assert evaluation.views == ["random", "inspected", "inspected_ipw", "ground_truth"]
    for view in evaluation.views:
        row = evaluation.table.loc[("parcelrisk", view)]
        assert (f"## View: {view.replace('_', ' ')}\n\n{VIEW_TEXT[view]} {int(row['n']):,} "
                f"parcels, {int(row['positives']):,} of them violative.") in report  # fmt: skip


def test_the_budget_is_defined_as_a_share_of_all_test_parcels(report, split, evaluation):
    n = len(split.test)
    assert f"An inspection budget is a share of all {n:,} test-window parcels" in report
    for b in evaluation.budgets:
        assert f"{b:.0%} = {budget_rows(b, n):,} parcels" in report


def test_no_nan_and_no_wide_table(report):
    assert not re.search(r"\bnan\b", report, re.I)
    assert "| legacy rules | " in report and "n/a (not a probability)" in report
    tables = _tables(report)
    assert len(tables) >= 9  # targets, and a ranking and a budget table per view
    for lines in tables:
        assert all(line.count("|") - 1 <= 6 for line in lines), lines[0]


def test_a_figure_that_cannot_be_computed_says_why(evaluation, tmp_path):
    table = evaluation.table.copy()
    random = table.index.get_level_values("view") == "random"
    table.loc[random, ["positives", "roc_auc", "pr_auc"]] = [0, np.nan, np.nan]
    table.loc[random, [c for c in table.columns if c.startswith("recall@")]] = np.nan
    text = write_markdown(table, [], {}, [], tmp_path / "e.md").read_text()
    part = text[text.index("## View: random") : text.index("## View: inspected")]
    assert "| parcelrisk | n/a (no labelled positives) | n/a (no labelled positives) |" in part
    assert not re.search(r"\bnan\b", text, re.I)
    row = {"n": 10, "positives": 10}
    assert not_available("roc_auc", row) == "n/a (no labelled negatives)"
    assert not_available("precision@1%", row) == "n/a (no selected parcel in this view)"


def test_pr_auc_difference_is_the_difference_of_the_two_pr_aucs(evaluation, split):
    rows, y, w = label_views(split.test)["inspected_ipw"]
    ours = evaluation.scores["parcelrisk"][0][rows]
    theirs = evaluation.scores["logistic regression"][0][rows]
    mine, other, low, high = pr_auc_difference(y[rows], ours, theirs, w[rows])
    assert mine == average_precision_score(y[rows], ours, sample_weight=w[rows])
    assert other == average_precision_score(y[rows], theirs, sample_weight=w[rows])
    assert mine == evaluation.table.loc[("parcelrisk", "inspected_ipw"), "pr_auc"]
    assert low < high
    assert pr_auc_difference(np.zeros(5, bool), ours[:5], theirs[:5]) is None


def test_a_tie_with_logistic_regression_is_said_in_words(evaluation, split, report):
    views = label_views(split.test)
    # logistic regression that scores as parcelrisk does, but for a tiny jitter: a tie
    ours = evaluation.scores["parcelrisk"][0]
    jitter = np.random.default_rng(0).normal(0, 1e-6, len(ours))
    tie = replace(evaluation, scores={**evaluation.scores,
                                      "logistic regression": (ours + jitter, True)})  # fmt: skip
    for text in versus_logistic(tie, views).values():
        assert "does not beat logistic regression by more than noise" in text, text
    # against random scores, the ground truth's 12,594 parcels are no tie
    noise = np.random.default_rng(1).random(len(ours))
    worse = replace(evaluation, scores={**evaluation.scores,
                                        "logistic regression": (noise, True)})  # fmt: skip
    assert versus_logistic(worse, views)["ground_truth"].endswith(
        "parcelrisk beats logistic regression."
    )
    # the report states the rule and one sentence per view
    assert f"## Against logistic regression\n\nThe rule: {NOISE_RULE}." in report
    for view, text in versus_logistic(evaluation, views).items():
        assert f"- {view.replace('_', ' ')}: {text}" in report


def test_the_report_sets_the_served_figures_beside_history_frozen_at_the_cut_off(
    report, evaluation
):
    """The model is evaluated as served (the window replayed through the live history);
    scoring with history frozen at the cut-off is measured beside it, and differs."""
    frozen = "parcelrisk with history frozen at cut-off"
    served, still = (evaluation.scores[s][0] for s in ("parcelrisk", frozen))
    assert np.mean(np.abs(served - still) > 1e-9) > 0.1
    p1 = evaluation.table.loc[("parcelrisk", "ground_truth"), "precision@1%"]
    f1 = evaluation.table.loc[(frozen, "ground_truth"), "precision@1%"]
    section = report[report.index("## Live history") : report.index("## Views and budgets")]
    assert "The figures of parcelrisk are those the service gives" in section
    assert f"1% of rows {p1:.3f} against {f1:.3f}" in section
    assert f"| {frozen} | " in report
