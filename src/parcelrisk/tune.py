"""Hyper-parameter search: an Optuna study on the training period, never the test window.

The study sees only the parcels declared before the training cut-off (the one
:func:`parcelrisk.train.train` uses). Inside that period the latest
``validation_fraction`` of the rows (:func:`parcelrisk.split.time_holdout`) are the
validation window, and with ``folds`` above 1 the same share before it the next one, and
so on (:func:`validation_windows`): for each window a trial fits on the rows before it
with :func:`parcelrisk.train.fit_model` and is scored on it by the scoring core, as the
test window is scored after training.

**Objective**: PR-AUC (average precision), the mean over the validation windows, in the
promotion view of :mod:`parcelrisk.evaluate` (inspected parcels weighted by 1 / propensity where the
table gives propensities, else every inspected parcel). Officers open the top of the
ranking, and PR-AUC rewards precision there over every labelled parcel of the window;
precision at a 5% or 10% budget sees only the few labelled parcels among the selected
ones and is noisier on a window this small, and ROC-AUC weighs the bottom of the ranking
as much as the top.

**SHAP budget**: every reason a parcel gets costs an exact TreeSHAP pass, so each trial's
model is timed (:func:`shap_cost_ms`); a trial over the budget is infeasible and cannot
win (docs/tuning.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from parcelrisk import predict
from parcelrisk.config import ModelConfig
from parcelrisk.contract import ColumnMapping
from parcelrisk.evaluate import evaluate_scores, promotion_view, replayed_history
from parcelrisk.features.pipeline import skips_said_once
from parcelrisk.model import DEFAULT_LGBM_PARAMS, RiskClassifier
from parcelrisk.policy import Policy
from parcelrisk.split import time_holdout, training_split
from parcelrisk.tracking import configure
from parcelrisk.train import FittedModel, fit_model, fit_settings

#: The metric of the promotion view the study maximises (see the module docstring).
OBJECTIVE = "pr_auc"

#: Validation parcels whose TreeSHAP cost is timed, and how many timings (the best counts).
SHAP_ROWS, SHAP_REPEATS = 300, 3

#: History smoothing values tried: a few, so that trials share fitted feature pipelines.
SMOOTHING_CHOICES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)

#: LightGBM parameters searched: (type, low, high, log scale). A base config's value outside
#: a range widens it, so the defaults can always be run as trial 0.
SPACE: dict[str, tuple[type, float, float, bool]] = {
    "num_leaves": (int, 4, 63, True),
    "max_depth": (int, 2, 8, False),
    "min_child_samples": (int, 5, 300, True),
    "learning_rate": (float, 0.01, 0.3, True),
    "n_estimators": (int, 50, 1000, True),
    "reg_lambda": (float, 1e-3, 100.0, True),
    "reg_alpha": (float, 0.0, 10.0, False),  # linear: LightGBM's default is 0
    "cat_smooth": (float, 1.0, 300.0, True),
    "cat_l2": (float, 1.0, 300.0, True),
    "min_data_per_group": (int, 10, 2000, True),
    "max_cat_threshold": (int, 4, 64, True),
    "colsample_bytree": (float, 0.4, 1.0, False),
    "subsample": (float, 0.5, 1.0, False),
}

#: LightGBM's own defaults of searched parameters the shipped settings may leave out
#: (LightGBM 4 documentation, "Parameters").
LIGHTGBM_DEFAULTS: dict[str, float] = {
    "reg_alpha": 0.0,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
    "min_data_per_group": 100,
    "max_cat_threshold": 32,
}


#: Fewest trials the windows' agreement is measured on (:func:`window_agreement`).
AGREEMENT_MIN_TRIALS = 5


@dataclass(frozen=True)
class TrialResult:
    """One trial: its settings, validation figures (the means over the windows), its
    objective in each window (latest first) and TreeSHAP cost (ms per parcel)."""

    number: int
    config: ModelConfig
    objective: float
    metrics: dict[str, float]
    shap_ms: float
    feasible: bool
    per_window: tuple[float, ...] = ()


@dataclass(frozen=True)
class TuneResult:
    """The winner (best feasible trial), the defaults (trial 0), every trial, the windows
    and how far the windows agree on the ranking of the trials (:func:`window_agreement`)."""

    best: TrialResult
    defaults: TrialResult
    trials: tuple[TrialResult, ...]
    window: dict[str, Any]
    shap_budget_ms: float
    run_id: str
    window_agreement: float | None = None


def _noop(trial: TrialResult) -> None:
    """Default progress callback: say nothing."""


def tune(
    frame: pd.DataFrame,
    config: ModelConfig,
    *,
    mapping: ColumnMapping | None = None,
    cutoff: pd.Timestamp | None = None,
    trials: int = 30,
    minutes: float = 10.0,
    shap_budget_ms: float = 0.5,
    seed: int = 0,
    folds: int = 3,
    progress: Callable[[TrialResult], None] = _noop,
) -> TuneResult:
    """Search model settings on the training period; return the best feasible trial.

    Parameters
    ----------
    frame, config, mapping, cutoff
        As for :func:`parcelrisk.train.train`: the training period is what ``train`` would
        fit on (before ``cutoff``, default the last ``config.test_days`` days); the rest is
        dropped before anything else happens.
    trials, minutes
        The study stops after ``trials`` trials or once ``minutes`` have passed (a trial
        under way finishes), whichever comes first. Trial 0 runs ``config`` itself.
    shap_budget_ms
        Largest TreeSHAP cost per parcel a winner may have.
    seed
        Seed of the TPE sampler.
    folds
        Validation windows each trial is scored on (:func:`validation_windows`): the
        objective and figures are their means, so a setting must do well on several
        stretches of time, not on the noise of one window. The TreeSHAP cost is timed on
        the latest window's model.

    Every trial is logged to MLflow (:mod:`parcelrisk.tracking`) as a child run of one
    parent run, whose id the result holds.

    Raises
    ------
    ValueError
        If the validation window cannot be scored, or no trial meets the SHAP budget.
    """
    if trials < 1 or minutes <= 0 or shap_budget_ms <= 0 or folds < 1:
        raise ValueError(
            f"trials and folds must be at least 1 and minutes and shap_budget_ms above 0; "
            f"got trials={trials}, folds={folds}, minutes={minutes}, "
            f"shap_budget_ms={shap_budget_ms}"
        )
    split = training_split(frame, config.test_days, cutoff)
    period = split.train  # the test window goes no further than this line
    windows = validation_windows(period, config.validation_fraction, folds)
    fits = [TrialFits(earlier, mapping) for earlier, _ in windows]
    window = _window(period, split.cutoff, windows)
    study = _study(config, seed)

    def run(trial) -> float:
        settings = _suggest(trial, config)
        pipelines = [fit.pipeline(settings) for fit in fits]
        per_window = [
            validation_figures(pipeline, validation, settings, earlier)
            for pipeline, (earlier, validation) in zip(pipelines, windows, strict=True)
        ]
        shap_ms = shap_cost_ms(pipelines[0][-1], per_window[0]["features"])
        figures = {k: float(np.mean([w[k] for w in per_window]))
                   for k in per_window[0] if k not in ("probability", "features")}  # fmt: skip
        trial.set_constraint("shap_budget", shap_ms - shap_budget_ms)  # > 0: infeasible
        result = TrialResult(trial.number, settings, figures[OBJECTIVE], figures, shap_ms,
                             shap_ms <= shap_budget_ms,
                             tuple(w[OBJECTIVE] for w in per_window))  # fmt: skip
        results.append(result)
        _log_trial(mlflow, result)
        progress(result)
        return result.objective

    results: list[TrialResult] = []
    mlflow = configure()
    with skips_said_once(), mlflow.start_run(run_name="tune") as parent:
        mlflow.log_params({"trials": trials, "minutes": minutes, "seed": seed, "folds": folds,
                           "shap_budget_ms": shap_budget_ms, "objective": OBJECTIVE})  # fmt: skip
        mlflow.set_tags({k: str(v) for k, v in window.items()})
        study.optimize(run, n_trials=trials, timeout=minutes * 60)
        mlflow.set_tag("best_trial", "none")  # until a winner is known
        result = _result(results, window, shap_budget_ms, parent.info.run_id)
        _log_outcome(mlflow, result)
    return result


def validation_window(period: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training period in time order, split into earlier rows and the latest ``fraction``."""
    ordered = period.sort_values("declared_at", kind="stable")
    earlier, latest = time_holdout(np.arange(len(ordered)), fraction)
    return ordered.iloc[earlier], ordered.iloc[latest]


def validation_windows(
    period: pd.DataFrame, fraction: float, folds: int
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``folds`` consecutive validation windows at the end of the training period, latest
    first, each ``fraction`` of its rows, with the rows before it to fit on: the first is
    :func:`validation_window`, the next the same share just before it, and so on.

    Raises
    ------
    ValueError
        If the windows would leave under a quarter of the period to fit the earliest on.
    """
    earlier, latest = validation_window(period, fraction)
    out = [(earlier, latest)]
    size = len(latest)
    for _ in range(1, folds):
        earlier, latest = earlier.iloc[: len(earlier) - size], earlier.iloc[len(earlier) - size :]
        out.append((earlier, latest))
    if len(out[-1][0]) < len(period) / 4:
        raise ValueError(
            f"{folds} validation windows of {fraction:.0%} of the {len(period):,} training "
            f"parcels leave {len(out[-1][0]):,} to fit the earliest on, under a quarter of "
            "them; use fewer folds or a smaller validation_fraction"
        )
    return out


def validation_figures(
    pipeline: Pipeline,
    validation: pd.DataFrame,
    config: ModelConfig,
    earlier: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Figures of the promotion view on the validation window, and its feature matrix.

    The window is scored as the evaluation scores a test window: replayed through the live
    history (:func:`parcelrisk.evaluate.replayed_history`; ``earlier``: the rows the
    pipeline was fitted on, whose outcomes known later count too).

    Keys: ``pr_auc``, ``roc_auc``, ``precision@5%`` (each budget of ``config``),
    ``probability`` (each parcel's calibrated probability, in the window's order) and
    ``features`` (the matrix the probabilities come from).

    Raises
    ------
    ValueError
        If the window's labelled parcels do not hold both classes (no PR-AUC).
    """
    live = replayed_history(pipeline, validation, earlier, config.outcome_delay_days)
    scored = predict.score(pipeline, validation, Policy(), explain="none", live=live)
    views = evaluate_scores(validation, scored.probability, budgets=config.budgets,
                            seed=config.random_state)  # fmt: skip
    view = views[promotion_view(views)]
    if OBJECTIVE not in view:
        raise ValueError(
            f"the validation window ({len(validation):,} latest training parcels, "
            f"validation_fraction={config.validation_fraction}) has {view['n']:.0f} labelled "
            f"parcels, {view['positives']:.0f} violative: both classes are needed to score "
            "trials; raise validation_fraction or give a longer training period"
        )
    keep = [OBJECTIVE, "roc_auc", *(f"precision@{b:.0%}" for b in config.budgets)]
    return {**{k: float(view[k]) for k in keep}, "probability": scored.probability,
            "features": scored.features}  # fmt: skip


def shap_cost_ms(classifier: RiskClassifier, features: pd.DataFrame) -> float:
    """Exact TreeSHAP cost per parcel, in ms: the best of ``SHAP_REPEATS`` timings of
    :meth:`RiskClassifier.contributions` on the first ``SHAP_ROWS`` rows of ``features``
    (after one untimed pass that builds the model's TreeSHAP tables)."""
    rows = features.iloc[:SHAP_ROWS]
    classifier.contributions(rows)
    best = np.inf
    for _ in range(SHAP_REPEATS):
        start = time.perf_counter()
        classifier.contributions(rows)
        best = min(best, time.perf_counter() - start)
    return float(best * 1000 / len(rows))


def agreement_text(result: TuneResult) -> str:
    """One line on how far the validation windows agreed on the ranking of the trials."""
    if result.window_agreement is None:
        return (f"windows' agreement on the ranking of settings: not measured "
                f"({len(result.trials)} trial(s), {result.window['folds']} window(s); needs "
                f"{AGREEMENT_MIN_TRIALS} and 2)")  # fmt: skip
    return (f"windows' agreement on the ranking of settings (mean rank correlation between "
            f"windows): {result.window_agreement:+.2f}; near 0 the winner is chosen by the "
            "windows' noise (docs/tuning.md)")  # fmt: skip


def write_config(result: TuneResult, path: str | Path, *, data: str) -> Path:
    """Write the winner as a full model config (``parcelrisk train --config`` reads it)."""
    best, defaults = result.best, result.defaults
    header = [
        "Model settings found by `parcelrisk tune` (an Optuna TPE study); every setting of",
        "configs/model.yaml, explained there.",
        f"data: {data}",
        f"training period: {result.window['period_start']} .. {result.window['cutoff']}"
        " (the test window was never read)",
        f"validation window: {result.window['validation_start']} .. "
        f"{result.window['validation_end']} ({result.window['validation_rows']:,} parcels in "
        f"{result.window['folds']} window(s))",
        f"trials: {len(result.trials)}; winner: trial {best.number}",
        f"objective ({OBJECTIVE}, promotion view, mean of {result.window['folds']} "
        "validation window(s)): "
        f"{best.objective:.4f} (defaults, trial 0: {defaults.objective:.4f})",
        f"exact TreeSHAP cost: {best.shap_ms:.3f} ms per parcel "
        f"(budget {result.shap_budget_ms:g} ms)",
        agreement_text(result),
    ]
    settings = asdict(best.config)
    settings["budgets"] = list(settings["budgets"])
    if settings["history"] is not None:  # YAML lists, as a config file writes them
        settings["history"] = [list(key) for key in settings["history"]]
    text = "".join(f"# {line}\n" for line in header) + "\n"
    text += yaml.safe_dump(settings, sort_keys=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class TrialFits:
    """Fits on the earlier rows, one feature pipeline per history smoothing.

    The first trial with a smoothing value runs :func:`fit_model`; later ones refit only
    its classifier step (a clone with the trial's LightGBM parameters and seed) on the same
    matrix, labels and weights: the model fit_model would give, without rebuilding the
    features.
    """

    def __init__(self, earlier: pd.DataFrame, mapping: ColumnMapping | None) -> None:
        self.earlier, self.mapping = earlier, mapping
        self.fitted: dict[float, FittedModel] = {}

    def pipeline(self, config: ModelConfig) -> Pipeline:
        cached = self.fitted.get(config.history_smoothing)
        if cached is None:
            settings = fit_settings(config, self.earlier, self.mapping)  # as train fits
            cached = fit_model(self.earlier, **settings)
            self.fitted[config.history_smoothing] = cached
            return cached.pipeline
        classifier = clone(cached.pipeline[-1]).set_params(
            lgbm_params=dict(config.lgbm), random_state=config.random_state
        )
        classifier.fit(cached.features, cached.y, sample_weight=cached.weight,
                       calibration_weight=cached.calibration_weight)  # fmt: skip
        return Pipeline([*cached.pipeline.steps[:-1], ("classifier", classifier)])


def _study(config: ModelConfig, seed: int):
    """A seeded TPE study that knows the SHAP budget, with ``config`` enqueued as trial 0."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE models infeasible trials (their constraint) apart from feasible ones
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({**_effective_lgbm(config), "history_smoothing": config.history_smoothing})
    return study


def _effective_lgbm(config: ModelConfig) -> dict[str, Any]:
    """The value of every searched parameter under ``config`` (LightGBM's own default where
    neither the config nor :data:`~parcelrisk.model.DEFAULT_LGBM_PARAMS` sets it)."""
    params = {**LIGHTGBM_DEFAULTS, **DEFAULT_LGBM_PARAMS, **(config.lgbm or {})}
    return {name: params[name] for name in SPACE}


def _suggest(trial, base: ModelConfig) -> ModelConfig:
    """The trial's settings: ``base`` with the suggested LightGBM parameters and smoothing."""
    defaults = _effective_lgbm(base)
    lgbm = dict(base.lgbm or {})
    for name, (kind, low, high, log) in SPACE.items():
        low, high = min(low, defaults[name]), max(high, defaults[name])
        suggest = trial.suggest_int if kind is int else trial.suggest_float
        lgbm[name] = suggest(name, kind(low), kind(high), log=log)
    choices = sorted({*SMOOTHING_CHOICES, float(base.history_smoothing)})
    smoothing = trial.suggest_categorical("history_smoothing", choices)
    return replace(base, lgbm=lgbm, history_smoothing=float(smoothing))


def _window(period, cutoff, windows) -> dict[str, Any]:
    """Where the study looked: training period, validation windows and their sizes."""
    (earlier, latest), earliest = windows[0], windows[-1][1]
    return {
        "period_start": str(period["declared_at"].min()),
        "cutoff": str(cutoff),
        "validation_start": str(earliest["declared_at"].min()),
        "validation_end": str(latest["declared_at"].max()),
        "folds": len(windows),
        "fit_rows": len(earlier),
        "validation_rows": sum(len(v) for _, v in windows),
    }


def _result(results: list[TrialResult], window: dict, budget: float, run_id: str) -> TuneResult:
    """The best feasible trial; an error naming the cheapest one if none is feasible."""
    feasible = [r for r in results if r.feasible]
    if not feasible:
        cheapest = min(results, key=lambda r: r.shap_ms)
        raise ValueError(
            f"no trial of {len(results)} met the SHAP budget of {budget:g} ms per parcel: the "
            f"cheapest, trial {cheapest.number}, costs {cheapest.shap_ms:.3f} ms; raise "
            "--shap-budget-ms or run more trials"
        )
    best = max(feasible, key=lambda r: r.objective)
    return TuneResult(best, results[0], tuple(results), window, budget, run_id,
                      window_agreement(results))  # fmt: skip


def window_agreement(trials: Sequence[TrialResult]) -> float | None:
    """How far the validation windows agree on which settings are better: the mean, over
    pairs of windows, of the rank (Spearman) correlation of the trials' objectives in the
    two windows. None with one window or under :data:`AGREEMENT_MIN_TRIALS` trials.

    Near 0, each window ranks the settings its own way: the winner is chosen by the noise
    of the windows and its gain is unlikely to carry over to later parcels (docs/tuning.md,
    measured on the two example tables).
    """
    per_window = [t.per_window for t in trials]
    if len(per_window) < AGREEMENT_MIN_TRIALS or min(map(len, per_window)) < 2:
        return None
    ranks = pd.DataFrame(per_window).rank()
    pairs = ranks.corr().to_numpy()[np.triu_indices(ranks.shape[1], k=1)]
    return float(np.nanmean(pairs)) if np.isfinite(pairs).any() else None


def _log_trial(mlflow, result: TrialResult) -> None:
    """One child run: the trial's settings, its validation figures and SHAP cost."""
    with mlflow.start_run(run_name=f"trial {result.number}", nested=True):
        mlflow.log_params({**{f"lgbm.{k}": v for k, v in result.config.lgbm.items()},
                           "history_smoothing": result.config.history_smoothing})  # fmt: skip
        names = {k: "validation." + k.replace("@", "_at_").replace("%", "pct")
                 for k in result.metrics}  # fmt: skip
        mlflow.log_metrics({names[k]: v for k, v in result.metrics.items() if np.isfinite(v)})
        mlflow.log_metric("shap_ms_per_parcel", result.shap_ms)
        mlflow.set_tags({"trial": str(result.number), "feasible": str(result.feasible).lower()})


def _log_outcome(mlflow, result: TuneResult) -> None:
    """The parent run's summary: the winner, the defaults' objective, the trial count."""
    mlflow.log_metrics({
        f"best.{OBJECTIVE}": result.best.objective,
        f"defaults.{OBJECTIVE}": result.defaults.objective,
        "best.shap_ms_per_parcel": result.best.shap_ms,
        "trials_run": len(result.trials),
        "trials_feasible": sum(r.feasible for r in result.trials),
    })  # fmt: skip
    if result.window_agreement is not None:
        mlflow.log_metric("window_agreement", result.window_agreement)
    mlflow.set_tag("best_trial", str(result.best.number))
