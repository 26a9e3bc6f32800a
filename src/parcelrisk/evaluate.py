"""Honest evaluation on a later time window, in every view the data supports, against
baselines. The same code evaluates every table, generated or brought through a mapping.

Labels are biased: targeted inspections over-represent what the legacy rules look for.
So every scorer is measured on

- the **random** compliance sample (an unbiased, small view of the truth), where the
  data marks one;
- **all inspected** (labelled) parcels (large, biased: what a naive evaluation would
  report; on a table where every row is labelled, the usual view);
- all inspected parcels **weighted by 1 / inspection propensity** (``inspected_ipw``:
  large and, if the propensities are right, unbiased), where the data gives them;
- and, for generated data, the **ground truth** of every parcel.

Inspection budgets are shares of *all* test parcels: the top 1% of scores is what an
officer with capacity for 1% of the day's parcels would open.

The model is evaluated as it is served: the test window is replayed through the live
entity history (:mod:`parcelrisk.features.live`), each parcel seeing the training state,
every test parcel declared before it and every outcome known before it (of test parcels,
and of training parcels whose outcome came after training), each known
``outcome_delay_days`` after its ``outcome_at``. Beside it the same model scores every
parcel against the training state alone (**history frozen at the cut-off**), which is
what the live history is worth.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from parcelrisk import predict
from parcelrisk.artifact import LoadedModel
from parcelrisk.baselines import plain_lightgbm
from parcelrisk.config import BUDGETS, ModelConfig
from parcelrisk.features.live import LiveHistory, Outcomes
from parcelrisk.labels import inverse_propensity, labels_and_weights
from parcelrisk.model import features_of
from parcelrisk.policy import Policy

logger = logging.getLogger(__name__)


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


def label_views(test: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each evaluation view the test parcels support, as (rows it sees, labels, weights).

    Rows are a mask over all test parcels; labels and weights are given for every parcel
    and only meaningful on the view's rows. Views, where the data has what they need:

    - ``random``: the random compliance sample (rows whose ``inspection_reason`` is
      ``random``), an unbiased view of the truth;
    - ``inspected``: every labelled (inspected) parcel, always;
    - ``inspected_ipw``: the same weighted by 1 / ``inspection_propensity``, when every
      inspected test parcel has one;
    - ``ground_truth``: every parcel, by the generator's hidden truth (generated data).
    """
    found = test["violation_found"].fillna(False).to_numpy(dtype=bool)
    inspected = test["inspected"].fillna(False).to_numpy(dtype=bool)
    random = test["inspection_reason"].eq("random").fillna(False).to_numpy(dtype=bool)
    ones = np.ones(len(test))
    views = {}
    if random.any():
        views["random"] = (random, found, ones)
    views["inspected"] = (inspected, found, ones)
    if _has_propensity(test, inspected):
        views["inspected_ipw"] = (inspected, found, inverse_propensity(test))
    if _given(test, "gt_violation"):
        truth = test["gt_violation"].to_numpy(dtype=bool)
        views["ground_truth"] = (np.ones(len(test), dtype=bool), truth, ones)
    return views


def _given(frame: pd.DataFrame, column: str) -> bool:
    """Whether ``frame`` has ``column`` with a value in every row (the generator's truth)."""
    return column in frame and len(frame) > 0 and bool(frame[column].notna().all())


def _has_propensity(frame: pd.DataFrame, rows: np.ndarray) -> bool:
    """Whether every one of ``rows`` (and at least one) has a usable inspection propensity."""
    p = frame["inspection_propensity"].to_numpy(dtype=float)[rows]
    return bool(len(p)) and bool(((p > 0) & (p <= 1)).all())


#: The plain LightGBM's name among the scorers (:mod:`parcelrisk.baselines`).
PLAIN = "plain LightGBM"

#: What the promotion score measures, per promotion view.
PROMOTION_METRICS = {
    "inspected_ipw": "roc_auc on inspected test parcels weighted by 1/propensity",
    "inspected": "roc_auc on inspected test parcels",
}


def promotion_view(views: Iterable[str]) -> str:
    """The view models are compared on: inspected with IPW where it exists, else inspected."""
    return "inspected_ipw" if "inspected_ipw" in set(views) else "inspected"


def budget_rows(share: float, n: int) -> int:
    """How many of ``n`` parcels a budget of ``share`` selects (at least one)."""
    return max(1, round(share * n))


def _top(score: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Mask of the top ``share`` of scores; ties broken at random (coarse rule scores)."""
    k = budget_rows(share, len(score))
    order = np.lexsort((rng.random(len(score)), -np.asarray(score, float)))
    mask = np.zeros(len(score), dtype=bool)
    mask[order[:k]] = True
    return mask


def evaluate_scores(
    test: pd.DataFrame,
    score: np.ndarray,
    *,
    is_probability: bool = True,
    budgets: tuple[float, ...] = BUDGETS,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Metrics of one scorer on the test parcels, per view (see :func:`label_views`).

    At each budget b the scorer selects the top b of *all* test parcels (ties broken by
    a random order drawn from ``seed``); each view reports the precision, recall and
    number of violations caught among the parcels it can see.
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
    """Comparison table, target checks, the raw test scores of every scorer and the window.

    ``table``: one row per (scorer, view), one column per metric; ``scores``: scorer ->
    (score of every test parcel, whether it is a probability).
    """

    table: pd.DataFrame
    targets: list[tuple[str, str, bool]]
    scores: dict[str, tuple[np.ndarray, bool]]
    window: dict[str, str]
    budgets: tuple[float, ...]

    @property
    def views(self) -> list[str]:
        """The views the test window supports, in order."""
        return list(self.table.index.get_level_values("view").unique())

    @property
    def promotion_score(self) -> float:
        """The model's ROC-AUC on the promotion view (:func:`promotion_view`)."""
        return float(self.table.loc[("parcelrisk", promotion_view(self.views)), "roc_auc"])

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

    def versus_plain(self, view: str) -> str | None:
        """The model against the plain LightGBM on the same test rows of ``view``, in words;
        a budget where it does not catch more is stated as a finding. None without a plain
        LightGBM in the evaluation."""
        if (PLAIN, view) not in self.table.index:
            return None
        ours, plain = self.table.loc[("parcelrisk", view)], self.table.loc[(PLAIN, view)]
        figures, behind = [], []
        for b in self.budgets:
            mine, theirs = ours.get(f"precision@{b:.0%}"), plain.get(f"precision@{b:.0%}")
            if pd.isna(mine) or pd.isna(theirs):
                continue
            figures.append(
                f"{b:.0%} of rows {mine:.3f} against {theirs:.3f} ({mine - theirs:+.3f})"
            )
            if mine <= theirs:
                behind.append(f"{b:.0%}" + (" (a tie)" if mine == theirs else ""))
        text = (
            f"Against a plain LightGBM on the table's raw columns ({view.replace('_', ' ')}, "
            f"the same test rows), precision at {'; '.join(figures)}"
        )
        if pd.notna(ours.get("roc_auc")) and pd.notna(plain.get("roc_auc")):
            text += f"; ROC-AUC {ours['roc_auc']:.3f} against {plain['roc_auc']:.3f}"
        if not behind:
            return text + ". parcelrisk catches more violations at every budget."
        return text + (
            f". **Finding: parcelrisk does not beat the plain LightGBM at {', '.join(behind)} "
            "of rows on this table**: its derived features and fitting add nothing there that "
            "the raw columns do not give. Declare the table's entities and pairs under "
            "history: in the mapping or change the model settings, and measure again."
        )

    def versus_frozen(self, view: str) -> str | None:
        """What the live history is worth on ``view``, in words: the model as served
        (replayed through the live history) against the same model scoring every parcel
        with its history frozen at the training cut-off. None without the frozen scores."""
        if (FROZEN, view) not in self.table.index:
            return None
        served, frozen = self.table.loc[("parcelrisk", view)], self.table.loc[(FROZEN, view)]
        figures = [
            f"{b:.0%} of rows {served[f'precision@{b:.0%}']:.3f} against "
            f"{frozen[f'precision@{b:.0%}']:.3f}"
            for b in self.budgets
            if pd.notna(served.get(f"precision@{b:.0%}"))
            and pd.notna(frozen.get(f"precision@{b:.0%}"))
        ]
        text = (
            f"The figures of parcelrisk are those the service gives: the test window replayed "
            f"in time order through the live history (each parcel sees every test parcel "
            f"declared before it and every outcome known before it). Scoring each parcel "
            f"with the history frozen at the training cut-off instead ({view.replace('_', ' ')}"
            f"): precision at {'; '.join(figures) or 'no budget'}"
        )
        if pd.notna(served.get("roc_auc")) and pd.notna(frozen.get("roc_auc")):
            text += f"; ROC-AUC {served['roc_auc']:.3f} against {frozen['roc_auc']:.3f}"
        return text + "."

    def summary(self) -> dict[str, Any]:
        """The model on the labelled (inspected) test parcels, as one JSON-ready dict.

        ``test_from``, ``test_to`` (ISO 8601, UTC), ``rows`` (test parcels), ``labelled``,
        ``positives``, ``roc_auc``, ``pr_auc``, and ``selected``, ``precision``, ``recall``
        keyed by budget (``"0.01"``, ``"0.05"``, ...): at budget b the ``round(b * rows)``
        highest scores of *all* test rows are selected; precision is the violative share
        of the selected rows that are labelled, recall the share of the labelled
        violations selected. Figures that cannot be computed are None.
        """
        row = self.table.loc[("parcelrisk", "inspected")]
        rows = len(self.scores["parcelrisk"][0])
        keys = {b: f"{b:g}" for b in self.budgets}
        return {
            **self.window,
            "rows": rows,
            "labelled": int(row["n"]),
            "positives": int(row["positives"]),
            "roc_auc": _or_none(row.get("roc_auc")),
            "pr_auc": _or_none(row.get("pr_auc")),
            "selected": {k: budget_rows(b, rows) for b, k in keys.items()},
            "precision": {k: _or_none(row[f"precision@{b:.0%}"]) for b, k in keys.items()},
            "recall": {k: _or_none(row[f"recall@{b:.0%}"]) for b, k in keys.items()},
        }


#: scikit-learn's warning about features a table leaves empty (they are skipped, as intended).
_EMPTY_FEATURES = "Skipping features without any observed values"


def logistic_baseline(train_features: pd.DataFrame, y, w) -> Pipeline:
    """Logistic regression on the same feature matrix and weights as the risk model."""
    rows = np.asarray(w) > 0
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000),
    )
    with warnings.catch_warnings():  # features a table leaves empty: skipped, as intended
        warnings.filterwarnings("ignore", _EMPTY_FEATURES)
        return model.fit(
            train_features[rows],
            np.asarray(y)[rows],
            logisticregression__sample_weight=np.asarray(w)[rows],
        )


def evaluate(
    pipeline: Pipeline,
    test: pd.DataFrame,
    *,
    train_features: pd.DataFrame | None = None,
    y: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    train: pd.DataFrame | None = None,
    budgets: tuple[float, ...] = BUDGETS,
    seed: int = 0,
    validation_fraction: float = 0.2,
    early_stopping_rounds: int = 50,
    outcome_delay_days: float = 0.0,
) -> Evaluation:
    """Score the test window with the model and its baselines, and check the targets.

    The model scores the window through the scoring core
    (:func:`parcelrisk.predict.score`) against the live history the service would have
    had (:func:`replayed_history`: the window's declarations, and the outcomes known
    ``outcome_delay_days`` after their ``outcome_at``, of its parcels and of ``train``'s),
    and, as :data:`FROZEN`, against the training state alone. Baselines: the
    selection in use ("legacy rules": the inspection propensity, where every test parcel
    has one), logistic regression on the same features and weights (fitted on
    ``train_features``, ``y`` and ``weight``, when given with both classes labelled),
    the plain LightGBM on the raw columns of the same training declarations ``train``
    (:mod:`parcelrisk.baselines`, with the same labels, weights, validation share and
    early stopping; when ``train`` is given too) and, on generated data, the
    Bayes-optimal ranking by the true probability.

    Raises
    ------
    ValueError
        If the test window is empty.
    """
    if test.empty:
        raise ValueError("the test window holds no parcel: nothing to evaluate")
    live = replayed_history(pipeline, test, train, outcome_delay_days)
    scored = predict.score(pipeline, test, Policy(), explain="none", live=live)
    frozen = LiveHistory.of(pipeline, batch_events=False)
    scores = {
        "parcelrisk": (scored.probability, True),
        FROZEN: (predict.score(pipeline, test, Policy(), explain="none", live=frozen).probability,
                 True),
    }  # fmt: skip
    if _has_propensity(test, np.ones(len(test), dtype=bool)):
        scores["legacy rules"] = (test["inspection_propensity"].to_numpy(dtype=float), False)
    if train_features is not None and len(np.unique(np.asarray(y)[np.asarray(weight) > 0])) == 2:
        lr = logistic_baseline(train_features, y, weight)
        with warnings.catch_warnings():  # as when fitted
            warnings.filterwarnings("ignore", _EMPTY_FEATURES)
            scores["logistic regression"] = (lr.predict_proba(scored.features)[:, 1], True)
        if train is not None:
            try:
                plain = plain_lightgbm(
                    train.loc[train_features.index], y, weight, seed=seed,
                    validation_fraction=validation_fraction,
                    early_stopping_rounds=early_stopping_rounds,
                )  # fmt: skip
            except ValueError as err:  # too few labels to early-stop and calibrate it
                logger.warning("no plain LightGBM baseline in this evaluation: %s", err)
            else:
                scores[PLAIN] = (plain.predict_proba(test)[:, 1], True)
    if _given(test, "gt_violation_prob"):
        scores["bayes optimal"] = (test["gt_violation_prob"].to_numpy(dtype=float), True)
    table = compare(test, scores, seed=seed, budgets=budgets)
    window = {
        "test_from": test["declared_at"].min().isoformat(),
        "test_to": test["declared_at"].max().isoformat(),
    }
    return Evaluation(table, _targets(table), scores, window, tuple(budgets))


#: The scorer name of the model scored against its training state alone.
FROZEN = "parcelrisk with history frozen at cut-off"


def replayed_history(
    pipeline: Pipeline,
    test: pd.DataFrame,
    earlier: pd.DataFrame | None = None,
    outcome_delay_days: float = 0.0,
) -> LiveHistory:
    """The live history a service would have built over the test window: every declaration
    and every outcome known after the model's training state ends (of the window's parcels
    and of the ``earlier`` ones), each outcome known ``outcome_delay_days`` after its
    ``outcome_at``.
    Scoring the window against it gives each parcel what scoring it alone, in time order,
    with every earlier declaration and outcome logged, would (see
    tests/service/test_live_history_http.py)."""
    live = LiveHistory.of(pipeline)
    declared, known = test, test
    if earlier is not None:  # what came after the model's state ended, before the window
        after = live.history.cutoff_
        declared = pd.concat([earlier[earlier["declared_at"] > after], test])
        known = pd.concat([earlier[(earlier["outcome_at"] > after).fillna(False)], test])
    live.append(declared, Outcomes.of_table(known, pd.Timedelta(days=outcome_delay_days)))
    return live


def _targets(table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """Targets: calibration error; on generated data, precision@1% vs Bayes and legacy."""
    out = []
    view = promotion_view(table.index.get_level_values("view"))
    ece = table.loc[("parcelrisk", view), "ece"]
    name = view.replace("_ipw", ", IPW").replace("_", " ")
    out.append((f"expected calibration error <= 0.02 ({name})", f"{ece:.4f}", ece <= 0.02))
    if ("bayes optimal", "ground_truth") not in table.index or "precision@1%" not in table:
        return out
    ours = table.loc[("parcelrisk", "ground_truth"), "precision@1%"]
    bayes = table.loc[("bayes optimal", "ground_truth"), "precision@1%"]
    out.append((
        "precision@1% (ground truth) >= 90% of Bayes-optimal",
        f"{ours:.4f} = {ours / bayes:.1%} of {bayes:.4f}", ours >= 0.9 * bayes,
    ))  # fmt: skip
    if ("legacy rules", "ground_truth") in table.index:
        legacy = table.loc[("legacy rules", "ground_truth"), "precision@1%"]
        out.append((
            "precision@1% (ground truth) >= 2x legacy rules",
            f"{ours:.4f} = {ours / legacy:.2f}x {legacy:.4f}", ours >= 2 * legacy,
        ))  # fmt: skip
    return out


def evaluate_exported(
    model: LoadedModel, frame: pd.DataFrame, config: ModelConfig
) -> tuple[Evaluation, pd.DataFrame]:
    """Evaluate an exported model on ``frame`` from the model's own training cut-off on.

    Returns the evaluation and the test window: the parcels declared from the cut-off
    recorded in the model's metadata. Parcels declared before it, if the data has any,
    refit the logistic baseline with the model's own feature pipeline and the labels known
    by their end.

    Raises
    ------
    ValueError
        If ``frame`` lacks columns the model reads (extra columns of its mapping), or no
        parcel of it was declared after the cut-off.
    """
    meta = model.metadata
    features_of(model.pipeline, frame.head(1))  # data the model cannot read is refused first
    cutoff = pd.Timestamp(meta["training_window"]["end"])
    # a refit model learned from every parcel up to the end of its window, the last included
    before = ((frame["declared_at"] <= cutoff) if meta.get("refit") else
              (frame["declared_at"] < cutoff)).to_numpy()  # fmt: skip
    if before.all():
        refit = (
            f" (it was refit on every parcel up to then; the evaluation of the model fitted "
            f"before {meta['test_window']['start']} is in its metadata.json and report; "
            "train with --no-refit to export the evaluated model itself)"
            if meta.get("refit") else ""
        )  # fmt: skip
        raise ValueError(
            f"no parcel in the data ({frame['declared_at'].min()} .. "
            f"{frame['declared_at'].max()}) was declared after the model's training data "
            f"ended, {cutoff}{refit}: nothing to evaluate"
        )
    fit = {}
    if before.any():
        train = frame[before].sort_values("declared_at", kind="stable")
        weighting = model.metadata.get("weighting", config.weighting)
        y, w = labels_and_weights(train, train["declared_at"].max(), weighting, config.max_weight)
        fit = {"train_features": features_of(model.pipeline, train), "y": y, "weight": w,
               "train": train}  # fmt: skip
    test = frame[~before]
    return evaluate(
        model.pipeline, test, budgets=config.budgets, seed=config.random_state,
        validation_fraction=config.validation_fraction,
        early_stopping_rounds=config.early_stopping_rounds,
        outcome_delay_days=config.outcome_delay_days, **fit,
    ), test  # fmt: skip
