"""Evaluation report: a markdown file with the comparison tables, the targets and plots.

``evaluation.md`` reads without the code: what each view is, what a budget is a share of,
tables of at most six columns, "n/a" with its reason where a figure cannot be computed,
and whether the model beats logistic regression by more than noise (:data:`NOISE_RULE`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # figures drawn straight to files: no pyplot state
from sklearn.metrics import average_precision_score, precision_recall_curve

from parcelrisk.evaluate import budget_rows, label_views, promotion_view

#: Logistic regression's name among the scorers (:func:`parcelrisk.evaluate.evaluate`).
LOGISTIC = "logistic regression"


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def pr_curve_figure(y, scores: Mapping[str, np.ndarray], title: str, w=None) -> Figure:
    """Precision-recall curve of each scorer on one view."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y, s, sample_weight=w)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend()
    fig.tight_layout()
    return fig


def plot_pr_curves(y, scores: dict[str, np.ndarray], path: Path, title: str, w=None) -> Path:
    """Precision-recall curve of each scorer on one view, written to ``path``."""
    return _save(pr_curve_figure(y, scores, title, w), path)


def calibration_figure(
    y, probabilities: Mapping[str, np.ndarray], title: str, w=None, bins: int = 20
) -> Figure:
    """Observed rate against mean predicted probability over equal-mass bins, per model."""
    y = np.asarray(y, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    top = 0.0
    for name, p in probabilities.items():
        p = np.asarray(p, float)
        groups = [g for g in np.array_split(np.argsort(p), bins) if len(g)]
        mean_p = [np.average(p[g], weights=w[g]) for g in groups]
        rate = [np.average(y[g], weights=w[g]) for g in groups]
        ax.plot(mean_p, rate, marker="o", label=name)
        top = max(top, *mean_p, *rate)
    ax.plot([0, top * 1.05], [0, top * 1.05], color="grey", lw=1, ls="--")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    if len(probabilities) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_calibration(y, p, path: Path, title: str, w=None, bins: int = 20) -> Path:
    """Observed rate against mean predicted probability, written to ``path``."""
    return _save(calibration_figure(y, {"parcelrisk": p}, title, w, bins), path)


def precision_at_budget_figure(table: pd.DataFrame, view: str) -> Figure:
    """Precision at each inspection budget, one bar group per scorer."""
    budgets = [c for c in table.columns if c.startswith("precision@")]
    data = table.xs(view, level="view")[budgets]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    data.T.plot.bar(ax=ax, rot=0)
    ax.set(
        xlabel="inspection budget (share of all parcels)",
        ylabel="precision",
        title=f"precision at budget ({view.replace('_', ' ')})",
    )
    fig.tight_layout()
    return fig


def plot_precision_at_budget(table: pd.DataFrame, view: str, path: Path) -> Path:
    """Precision at each inspection budget, written to ``path``."""
    return _save(precision_at_budget_figure(table, view), path)


#: What each evaluation view is, in words: its rows, its labels and why it is reported.
VIEW_TEXT = {
    "random": "Rows: the test parcels of the random compliance sample (inspection_reason "
    "`random`). Labels: whether their inspection found a violation. Why: they were chosen "
    "at random, not by the targeting rules, so this is the only unbiased sample of the "
    "violation rate; it is small, so its figures are noisy.",
    "inspected": "Rows: every inspected (labelled) test parcel. Labels: whether the "
    "inspection found a violation. Why: the largest labelled set, but most of it was "
    "selected by the targeting rules, so it over-represents what those rules look for: "
    "it is what a naive evaluation would report.",
    "inspected_ipw": "Rows: the same inspected test parcels, each weighted by 1 / its "
    "inspection propensity. Labels: the inspection outcome. Why: the weights undo the "
    "targeting, so the figures estimate all parcels, as far as the propensities are right.",
    "ground_truth": "Rows: every test parcel. Labels: the generator's hidden truth "
    "(generated data only; the model never sees it). Why: what the model would find if "
    "every parcel were inspected, detection errors included.",
}

#: The columns of the ranking table of a view, and their headings.
RANKING_COLUMNS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "brier": "Brier score",
                   "ece": "calibration error (ECE)"}  # fmt: skip

#: Resamples of the paired bootstrap of the noise rule (:func:`pr_auc_difference`).
BOOTSTRAP_RESAMPLES = 200
#: The rule that says whether one scorer beats another by more than noise.
NOISE_RULE = (
    "parcelrisk beats logistic regression on a view only when the 95% paired bootstrap "
    f"interval ({BOOTSTRAP_RESAMPLES} resamples of the view's rows) of its PR-AUC minus "
    "logistic regression's lies above zero"
)


def budget_text(rows: int, budgets: tuple[float, ...]) -> str:
    """What an inspection budget is, as :mod:`parcelrisk.evaluate` measures it."""
    shown = ", ".join(f"{b:.0%} = {budget_rows(b, rows):,} parcels" for b in budgets)
    return (
        f"An inspection budget is a share of all {rows:,} test-window parcels, inspected "
        f"highest scores first ({shown}; at least one; equal scores in an order drawn "
        "from the seed), the same parcels in every view. Each view then counts among the "
        "selected parcels it has labels for: precision is the violative share of them "
        "(weighted in the IPW view), recall the share of the view's violations selected, "
        "and caught the violations selected (a count of parcels)."
    )


def write_markdown(
    table: pd.DataFrame,
    targets: list[tuple[str, str, bool]],
    header: dict[str, str],
    plots: list[Path],
    path: Path,
    baseline: str | None = None,
    *,
    rows: int | None = None,
    budgets: tuple[float, ...] = (),
    versus_logistic: Mapping[str, str] | None = None,
    live: str | None = None,
) -> Path:
    """The report: run header, target checks, the model against logistic regression (the
    ``versus_logistic`` sentence of each view) and the plain LightGBM (the ``baseline``
    sentence), the model as served against history frozen at the cut-off (``live``), what a
    budget is (``rows``: test-window parcels, ``budgets``: the shares evaluated), then per
    view a paragraph, a ranking table and a budget table, and the plots."""
    lines = ["# parcelrisk evaluation", ""]
    lines += [f"- **{k}**: {v}" for k, v in header.items()]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**NO**'} |" for t, m, ok in targets]
    if versus_logistic:
        lines += ["", "## Against logistic regression", "", f"The rule: {NOISE_RULE}.", ""]
        lines += [f"- {view.replace('_', ' ')}: {text}" for view, text in versus_logistic.items()]
    if baseline:
        lines += ["", "## Against a plain LightGBM", "", baseline]
    if live:
        lines += ["", "## Live history", "", live]
    lines += ["", "## Views and budgets", ""]
    lines += [
        "Every scorer is measured in each view the test data supports: the same scores, "
        "different rows and labels. The ranking table gives figures over all of a view's "
        "rows; the budget table what an officer inspecting a share of the parcels finds."
    ]
    if rows is not None and budgets:
        lines += ["", budget_text(rows, budgets)]
    labels = _budgets(table)
    for view in table.index.get_level_values("view").unique():
        part = table.xs(view, level="view")
        first = part.iloc[0]
        lines += ["", f"## View: {view.replace('_', ' ')}", ""]
        lines += [f"{VIEW_TEXT.get(view, '')} {int(first['n']):,} parcels, "
                  f"{int(first['positives']):,} of them violative.".strip()]  # fmt: skip
        lines += ["", _ranking_table(part), "", _budget_table(part, labels)]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    path.write_text("\n".join(lines) + "\n")
    return path


def _budgets(table: pd.DataFrame) -> list[str]:
    """The budgets of a comparison table, as its column names spell them (``1%``)."""
    return [c.removeprefix("precision@") for c in table.columns if c.startswith("precision@")]


def not_available(metric: str, row: Mapping[str, Any]) -> str:
    """Why a figure of a view's row cannot be computed, in words (in place of NaN)."""
    ranking = metric in ("roc_auc", "pr_auc")
    if (ranking or metric.startswith("recall@")) and row["positives"] == 0:
        return "n/a (no labelled positives)"
    if ranking and row["positives"] == row["n"]:
        return "n/a (no labelled negatives)"
    if metric in ("brier", "ece"):
        return "n/a (not a probability)"
    if metric.startswith("precision@"):
        return "n/a (no selected parcel in this view)"
    return "n/a"


def _figure(metric: str, row: Mapping[str, Any]) -> str:
    value = row.get(metric)
    if value is None or pd.isna(value):
        return not_available(metric, row)
    if metric.startswith("caught@"):
        return f"{int(value):,}"
    return f"{value:.4f}"


def _markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ranking_table(part: pd.DataFrame) -> str:
    """Scorers x ranking and calibration figures of one view."""
    columns = [c for c in RANKING_COLUMNS if c in part.columns]
    rows = [[str(scorer), *(_figure(c, row) for c in columns)] for scorer, row in part.iterrows()]
    return _markdown(["scorer", *(RANKING_COLUMNS[c] for c in columns)], rows)


def _budget_table(part: pd.DataFrame, budgets: list[str]) -> str:
    """(budget, scorer) x precision, recall and violations caught, of one view."""
    rows = [
        [budget, str(scorer), *(_figure(f"{m}@{budget}", row)
                                for m in ("precision", "recall", "caught"))]
        for budget in budgets
        for scorer, row in part.iterrows()
    ]  # fmt: skip
    return _markdown(["budget", "scorer", "precision", "recall", "violations caught"], rows)


def pr_auc_difference(
    y, ours, theirs, w=None, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float, float, float] | None:
    """PR-AUC of ``ours`` and of ``theirs`` on the same rows, and the 2.5% and 97.5%
    quantiles of their difference (ours minus theirs) over paired bootstrap resamples of
    the rows (resamples without both classes are skipped). None when the rows lack a
    class."""
    y = np.asarray(y, bool)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    if y.all() or not y.any():
        return None
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)

    def pr_aucs(i) -> tuple[float, float]:
        return (average_precision_score(y[i], ours[i], sample_weight=w[i]),
                average_precision_score(y[i], theirs[i], sample_weight=w[i]))  # fmt: skip

    def gap(i) -> float:
        mine, other = pr_aucs(i)
        return mine - other

    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(resamples)]
    gaps = [gap(i) for i in draws if 0 < y[i].sum() < len(i)]
    low, high = np.quantile(gaps, [0.025, 0.975])
    mine, other = pr_aucs(np.arange(len(y)))
    return float(mine), float(other), float(low), float(high)


def versus_logistic(evaluation, views: Mapping[str, tuple]) -> dict[str, str]:
    """Per view, parcelrisk against logistic regression in one sentence, by the noise rule
    (:data:`NOISE_RULE`); empty without logistic regression in the evaluation."""
    if LOGISTIC not in evaluation.scores:
        return {}
    ours, theirs = evaluation.scores["parcelrisk"][0], evaluation.scores[LOGISTIC][0]
    out = {}
    for view, (rows, y, w) in views.items():
        found = pr_auc_difference(y[rows], ours[rows], theirs[rows], w[rows])
        if found is None:
            out[view] = "no comparison (the view's labels have one class only)."
            continue
        mine, other, low, high = found
        figures = (
            f"PR-AUC {mine:.3f} against {other:.3f} ({mine - other:+.3f}, 95% interval "
            f"{low:+.3f} to {high:+.3f})"
        )
        if low > 0:
            out[view] = f"{figures}: parcelrisk beats logistic regression."
        else:
            out[view] = (f"{figures}: **parcelrisk does not beat logistic regression by more "
                         "than noise here.**")  # fmt: skip
    return out


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    """Gain importance of the strongest features."""
    data = importance.sort_values().tail(top)
    fig = Figure(figsize=(7, 0.3 * len(data) + 1))
    ax = fig.subplots()
    ax.barh(data.index, data.to_numpy())
    ax.set(xlabel="total gain", title="feature importance")
    fig.tight_layout()
    return fig


def plot_importance(importance: pd.Series, path: Path, top: int = 20) -> Path:
    """Gain importance of the strongest features, written to ``path``."""
    return _save(importance_figure(importance, top), path)


def headline_view(views) -> str:
    """The view the report plots: the ground truth on generated data, else the promotion
    view (inspected with IPW where the data gives propensities, else inspected)."""
    return "ground_truth" if "ground_truth" in set(views) else promotion_view(views)


def write_report(evaluation, test: pd.DataFrame, out_dir: Path, metadata: dict) -> Path:
    """Write ``evaluation.md``, ``metrics.json``, feature importance and plots to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    views = label_views(test)
    view = headline_view(views)
    rows, y, w = views[view]
    scores = {name: s[rows] for name, (s, _) in evaluation.scores.items()}
    calibrated = promotion_view(views)
    inspected, found, weight = views[calibrated]
    ours = evaluation.scores["parcelrisk"][0]
    booster = metadata["feature_names"]
    gains = pd.Series(metadata.get("importance", {}), dtype=float)
    plots = [
        plot_pr_curves(
            y[rows], scores, out_dir / "pr_curve.png", f"precision-recall ({view})", w[rows]
        ),
        plot_calibration(
            found[inspected], ours[inspected], out_dir / "calibration.png",
            f"calibration ({calibrated.replace('_', ' ')})", weight[inspected],
        ),
        plot_precision_at_budget(evaluation.table, view, out_dir / "precision_at_budget.png"),
    ]  # fmt: skip
    if len(gains):
        gains.rename("gain").to_csv(out_dir / "feature_importance.csv", index_label="feature")
        plots.append(plot_importance(gains, out_dir / "feature_importance.png"))
    header = {
        "model version": metadata["version"],
        **_windows(metadata),
        "labelled training parcels": f"{metadata['n_labelled']:,} of "
        f"{metadata['n_train_parcels']:,} (weighting: {metadata['weighting']})",
        "features": str(len(booster)),
    }
    made = metadata.get("made_missing") or {}
    if made:
        header["invalid values read as missing (on_invalid: missing)"] = ", ".join(
            f"{role} {n:,}" for role, n in made.items()
        )
    (out_dir / "metrics.json").write_text(json.dumps(evaluation.metrics(), indent=2) + "\n")
    return write_markdown(
        evaluation.table, evaluation.targets, header, plots, out_dir / "evaluation.md",
        baseline=evaluation.versus_plain(view), rows=len(test), budgets=evaluation.budgets,
        versus_logistic=versus_logistic(evaluation, views), live=evaluation.versus_frozen(view),
    )  # fmt: skip


def _windows(metadata: dict[str, Any]) -> dict[str, str]:
    """The windows of the evaluated model and, when it was refit, of the exported one."""

    def span(window: dict[str, str]) -> str:
        return f"{window['start']} .. {window['end']}"

    test = span(metadata["test_window"])
    if not metadata.get("refit"):
        return {"training window": span(metadata["training_window"]), "test window": test}
    return {
        "evaluated model's training window": span(metadata["evaluation_training_window"]),
        "test window": test,
        "exported model": f"refit on every parcel {span(metadata['training_window'])} "
        f"({metadata['n_trees']} trees; the evaluated model had "
        f"{metadata['evaluation_n_trees']})",
    }
