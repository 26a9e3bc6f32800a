"""Honest evaluation on a later time window, three ways, against baselines.

Labels are biased: targeted inspections over-represent what the legacy rules look for.
So every scorer is measured on

- the **random** compliance sample (an unbiased, small view of the truth),
- **all inspected** parcels (large, biased: what a naive evaluation would report),
- all inspected parcels **weighted by 1 / inspection propensity** (``inspected_ipw``:
  large and, if the propensities are right, unbiased),
- and, for generated data, the **ground truth** of every parcel.

Inspection budgets are shares of *all* parcels: the top 1% of scores is what an officer
with capacity for 1% of the day's parcels would open.

:func:`labelled_metrics` is the plain view for tables brought through a column mapping
(no propensities, no random stratum, no ground truth): ranking metrics on the labelled
test rows and precision and recall at budgets of 1%, 5% and 10% of the test rows, as in
the customs-targeting literature.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from parcelrisk.labels import inverse_propensity
from parcelrisk.model import features_of

BUDGETS = (0.01, 0.02, 0.05)
#: Budgets of :func:`labelled_metrics` (shares of the test rows).
LABELLED_BUDGETS = (0.01, 0.05, 0.10)


def expected_calibration_error(y, p, weight=None, bins: int = 20) -> float:
    """Weighted mean gap between predicted and observed rates over equal-mass score bins."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, float)
    order = np.argsort(p, kind="stable")
    edges = np.linspace(0, len(p), bins + 1).astype(int)
    gap = 0.0
    for lo, hi in itertools.pairwise(edges):
        idx = order[lo:hi]
        if len(idx) and w[idx].sum() > 0:
            wb = w[idx]
            gap += wb.sum() * abs(np.average(y[idx], weights=wb) - np.average(p[idx], weights=wb))
    return float(gap / w.sum())


def _ranking_metrics(y, score, w, is_probability: bool) -> dict[str, float]:
    y = np.asarray(y, bool)
    out = {"n": float(len(y)), "positives": float(y.sum())}
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, score, sample_weight=w))
        out["pr_auc"] = float(average_precision_score(y, score, sample_weight=w))
    if is_probability:
        out["brier"] = float(np.average((np.asarray(score) - y) ** 2, weights=w))
        out["ece"] = expected_calibration_error(y, score, w)
    return out


def _top(score: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Mask of the top ``share`` of scores; ties broken at random (coarse rule scores)."""
    k = max(1, round(share * len(score)))
    order = np.lexsort((rng.random(len(score)), -np.asarray(score, float)))
    mask = np.zeros(len(score), dtype=bool)
    mask[order[:k]] = True
    return mask


def label_views(test: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each evaluation view of the test parcels as (rows it sees, labels, weights).

    Rows are a mask over all test parcels; labels and weights are given for every parcel
    and only meaningful on the view's rows. Views: ``random``, ``inspected``,
    ``inspected_ipw`` and, when the frame has the generator's truth, ``ground_truth``.
    """
    found = test["violation_found"].fillna(False).to_numpy(dtype=bool)
    inspected = test["inspected"].fillna(False).to_numpy(dtype=bool)
    random = test["inspection_reason"].eq("random").fillna(False).to_numpy(dtype=bool)
    ones = np.ones(len(test))
    views = {
        "random": (random, found, ones),
        "inspected": (inspected, found, ones),
        "inspected_ipw": (inspected, found, inverse_propensity(test)),
    }
    if "gt_violation" in test:
        truth = test["gt_violation"].fillna(False).to_numpy(dtype=bool)
        views["ground_truth"] = (np.ones(len(test), dtype=bool), truth, ones)
    return views


def evaluate_scores(
    test: pd.DataFrame,
    score: np.ndarray,
    *,
    is_probability: bool = True,
    budgets: tuple[float, ...] = BUDGETS,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Metrics of one scorer on the test parcels, per view (random, inspected, inspected_ipw,
    ground truth).

    At each budget b the scorer selects the top b of *all* test parcels; each view reports
    the precision, recall and number of violations caught among the parcels it can see.
    """
    score = np.asarray(score, float)
    rng = np.random.default_rng(seed)
    selected = {b: _top(score, b, rng) for b in budgets}
    out = {}
    for view, (rows, y, w) in label_views(test).items():
        y, w = y[rows], w[rows]
        metrics = _ranking_metrics(y, score[rows], w, is_probability)
        for b in budgets:
            pick = selected[b][rows]
            precision, recall = _precision_recall(pick, y, w)
            metrics[f"precision@{b:.0%}"] = precision
            metrics[f"recall@{b:.0%}"] = recall
            metrics[f"caught@{b:.0%}"] = float((pick & y).sum())
        out[view] = metrics
    return out


def _precision_recall(pick: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted precision and recall of the picked rows among the rows of one view."""
    hits = (w * (pick & y)).sum()
    return _ratio(hits, (w * pick).sum()), _ratio(hits, (w * y).sum())


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def labelled_metrics(
    test: pd.DataFrame,
    score: np.ndarray,
    *,
    budgets: tuple[float, ...] = LABELLED_BUDGETS,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of scores on the labelled test rows, as one JSON-ready dict.

    At each budget b the ``round(b * rows)`` highest scores of *all* test rows are
    selected (at least one; ties broken by a random order drawn from ``seed``, so
    the same call gives the same result); precision is the violative share of the
    selected rows that are labelled, recall the share of the labelled violations that
    are selected. When every row is labelled this is the usual precision and recall at
    the top b of the rows. Metrics that cannot be computed (no labelled row, one class
    only) are None.

    Returns
    -------
    dict
        ``rows``, ``labelled``, ``positives``, ``roc_auc``, ``pr_auc``, and ``selected``,
        ``precision``, ``recall`` keyed by budget (``"0.01"``, ``"0.05"``, ``"0.1"``).
    """
    score = np.asarray(score, float)
    rng = np.random.default_rng(seed)
    labelled = test["inspected"].fillna(False).to_numpy(dtype=bool)
    labelled &= test["violation_found"].notna().to_numpy(dtype=bool)
    found = test["violation_found"].fillna(False).to_numpy(dtype=bool)
    y = found[labelled]
    ranking = _ranking_metrics(y, score[labelled], None, False)
    out: dict[str, Any] = {
        "rows": len(test),
        "labelled": int(labelled.sum()),
        "positives": int(y.sum()),
        "roc_auc": _or_none(ranking.get("roc_auc")),
        "pr_auc": _or_none(ranking.get("pr_auc")),
        "selected": {},
        "precision": {},
        "recall": {},
    }
    for b in budgets:
        pick = _top(score, b, rng) if len(score) else np.zeros(0, dtype=bool)
        precision, recall = _precision_recall(pick[labelled], y, np.ones(len(y)))
        out["selected"][f"{b:g}"] = int(pick.sum())
        out["precision"][f"{b:g}"] = _or_none(precision)
        out["recall"][f"{b:g}"] = _or_none(recall)
    return out


def _or_none(value: float | None) -> float | None:
    """A float, or None where it cannot be computed (JSON has no NaN)."""
    return None if value is None or not np.isfinite(value) else float(value)


def compare(
    test: pd.DataFrame,
    scores: Mapping[str, tuple[np.ndarray, bool]],
    seed: int = 0,
    budgets: tuple[float, ...] = BUDGETS,
) -> pd.DataFrame:
    """One row per (scorer, view), one column per metric; scores maps name -> (score, is_prob)."""
    rows = []
    for name, (score, is_prob) in scores.items():
        views = evaluate_scores(test, score, is_probability=is_prob, budgets=budgets, seed=seed)
        rows += [{"scorer": name, "view": view, **metrics} for view, metrics in views.items()]
    return pd.DataFrame(rows).set_index(["scorer", "view"])


@dataclass(frozen=True)
class Evaluation:
    """Comparison table, target checks and the raw test scores of every scorer."""

    table: pd.DataFrame
    targets: list[tuple[str, str, bool]]
    scores: dict[str, tuple[np.ndarray, bool]]

    def metrics(self) -> dict[str, float]:
        """Flat ``scorer.view.metric`` dictionary, e.g. ``parcelrisk.random.precision_at_1pct``."""
        flat = {}
        for (scorer, view), row in self.table.iterrows():
            key = scorer.replace(" ", "_")
            for metric, value in row.items():
                name = str(metric).replace("@", "_at_").replace("%", "pct")
                if pd.notna(value):
                    flat[f"{key}.{view}.{name}"] = float(value)
        return flat


def logistic_baseline(train_features: pd.DataFrame, y, w) -> Pipeline:
    """Logistic regression on the same feature matrix and weights as the risk model."""
    rows = np.asarray(w) > 0
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000),
    )
    return model.fit(
        train_features[rows],
        np.asarray(y)[rows],
        logisticregression__sample_weight=np.asarray(w)[rows],
    )


def evaluate_model(
    pipeline: Pipeline,
    test: pd.DataFrame,
    *,
    train_features: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray,
    budgets: tuple[float, ...] = BUDGETS,
    seed: int = 0,
) -> Evaluation:
    """Score the test window with the model and its baselines, and check the targets.

    Baselines: the legacy rule selector, logistic regression on the same features and
    weights, and (on generated data) the Bayes-optimal ranking by the true probability.
    """
    from parcelrisk.synth.labelling import legacy_rule_score

    test_features = features_of(pipeline, test)
    scores = {
        "parcelrisk": (pipeline[-1].predict_proba(test_features)[:, 1], True),
        "legacy rules": (legacy_rule_score(test), False),
        "logistic regression": (
            logistic_baseline(train_features, y, weight).predict_proba(test_features)[:, 1],
            True,
        ),
    }
    if "gt_violation_prob" in test:
        scores["bayes optimal"] = (test["gt_violation_prob"].to_numpy(dtype=float), True)
    table = compare(test, scores, seed=seed, budgets=budgets)
    return Evaluation(table, _targets(table), scores)


def _targets(table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """Targets on generated data: precision@1% vs Bayes and legacy; calibration error."""
    out = []
    ece = table.loc[("parcelrisk", "inspected_ipw"), "ece"]
    out.append(("expected calibration error <= 0.02 (inspected, IPW)", f"{ece:.4f}", ece <= 0.02))
    if ("bayes optimal", "ground_truth") not in table.index or "precision@1%" not in table:
        return out
    ours = table.loc[("parcelrisk", "ground_truth"), "precision@1%"]
    bayes = table.loc[("bayes optimal", "ground_truth"), "precision@1%"]
    legacy = table.loc[("legacy rules", "ground_truth"), "precision@1%"]
    out.append((
        "precision@1% (ground truth) >= 90% of Bayes-optimal",
        f"{ours:.4f} = {ours / bayes:.1%} of {bayes:.4f}", ours >= 0.9 * bayes,
    ))  # fmt: skip
    out.append((
        "precision@1% (ground truth) >= 2x legacy rules",
        f"{ours:.4f} = {ours / legacy:.2f}x {legacy:.4f}", ours >= 2 * legacy,
    ))  # fmt: skip
    return out


def evaluate_exported(model, frame: pd.DataFrame, config, reports_dir):
    """Evaluate an exported model on ``frame`` split at the model's own training cut-off.

    Parcels declared before the cut-off recorded in the model's metadata form the
    training window (the logistic baseline is refitted there with the model's own
    feature pipeline); the rest is the test window. Returns the evaluation and the
    report path.
    """
    from pathlib import Path

    from parcelrisk.report import write_report
    from parcelrisk.train import labels_and_weights

    cutoff = pd.Timestamp(model.metadata["training_window"]["end"])
    before = (frame["declared_at"] < cutoff).to_numpy()
    if before.all() or not before.any():
        raise ValueError(
            f"the data ({frame['declared_at'].min()} .. {frame['declared_at'].max()}) must "
            f"have parcels both before and after the model's training cut-off {cutoff}"
        )
    train = frame[before].sort_values("declared_at", kind="stable")
    y, w = labels_and_weights(
        train, train["declared_at"].max(), config.weighting, config.max_weight
    )
    features = features_of(model.pipeline, train)
    evaluation = evaluate_model(
        model.pipeline, frame[~before], train_features=features, y=y, weight=w,
        budgets=config.budgets, seed=config.random_state,
    )  # fmt: skip
    out = Path(reports_dir) / f"{model.version}-evaluate"
    return evaluation, write_report(evaluation, frame[~before], out, model.metadata)


def evaluate_window(
    pipeline: Pipeline, frame: pd.DataFrame, cutoff: pd.Timestamp, *, seed: int = 0
) -> dict[str, Any]:
    """:func:`labelled_metrics` of the parcels declared from ``cutoff`` on, scored as one batch.

    Earlier parcels are not scored (they are the model's training window). Adds
    ``test_from`` and ``test_to`` (ISO 8601, UTC) to the metrics.

    Raises
    ------
    ValueError
        If no parcel was declared at or after ``cutoff``.
    """
    test = frame[(frame["declared_at"] >= cutoff).to_numpy()]
    if test.empty:
        raise ValueError(
            f"no parcel in the data ({frame['declared_at'].min()} .. "
            f"{frame['declared_at'].max()}) was declared at or after the model's training "
            f"cut-off {cutoff}: nothing to evaluate"
        )
    score = pipeline.predict_proba(test)[:, 1]
    window = {"test_from": cutoff.isoformat(), "test_to": test["declared_at"].max().isoformat()}
    return {**window, **labelled_metrics(test, score, seed=seed)}
