"""Training: time split, labels known at the cut-off, selection-bias weights, fit.

Only inspected parcels have outcomes, and most inspections were chosen by the legacy
rules, so the labelled parcels over-represent what those rules look for. Each labelled
parcel is weighted by the inverse of the probability that it was inspected
(``inspection_propensity``), clipped at ``max_weight``: the weighted labelled set then
stands for all parcels (docs/model.md shows the effect against unweighted training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from parcelrisk.artifact import save_model
from parcelrisk.config import ModelConfig
from parcelrisk.contract import ColumnMapping, is_ground_truth
from parcelrisk.evaluate import Evaluation, evaluate_model, evaluate_window
from parcelrisk.features.pipeline import skipped
from parcelrisk.labels import inverse_propensity
from parcelrisk.model import make_model
from parcelrisk.report import write_report

WEIGHTINGS = ("ipw", "none")


@dataclass(frozen=True)
class TimeSplit:
    """Training parcels (declared before ``cutoff``) and test parcels (from it on)."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp


def split_by_time(frame: pd.DataFrame, test_days: float) -> TimeSplit:
    """Split into earlier (training) and the last ``test_days`` days (test); never at random."""
    end = frame["declared_at"].max()
    cutoff = (end - pd.Timedelta(days=test_days)).ceil("D")
    if not frame["declared_at"].min() < cutoff <= end:
        raise ValueError(
            f"test_days={test_days} leaves no training or no test parcels: data spans "
            f"{frame['declared_at'].min()} to {end}"
        )
    before = (frame["declared_at"] < cutoff).to_numpy()
    return TimeSplit(frame[before], frame[~before], cutoff)


def split_at(frame: pd.DataFrame, cutoff: pd.Timestamp) -> TimeSplit:
    """Split into parcels declared before ``cutoff`` (training) and from it on (test)."""
    before = (frame["declared_at"] < cutoff).to_numpy()
    if before.all() or not before.any():
        raise ValueError(
            f"a cut-off at {cutoff} leaves no training or no test parcels: data spans "
            f"{frame['declared_at'].min()} to {frame['declared_at'].max()}"
        )
    return TimeSplit(frame[before], frame[~before], cutoff)


def cutoff_for(
    frame: pd.DataFrame,
    *,
    test_from: str | None = None,
    test_fraction: float | None = None,
    timezone: str = "UTC",
) -> pd.Timestamp:
    """The training cut-off: a given time, or where the latest ``test_fraction`` of rows start.

    ``test_from`` is a date or time (ISO 8601; in ``timezone`` unless it has an offset). With
    ``test_fraction`` the cut-off is the declaration time of the first row of the latest
    ``test_fraction`` of the rows in time order (rows declared at that very time are test
    rows too, so the test share can be a little larger).
    """
    if (test_from is None) == (test_fraction is None):
        raise ValueError("give exactly one of test_from (a date) and test_fraction")
    if test_from is not None:
        try:
            stamp = pd.Timestamp(test_from)
        except ValueError as err:
            raise ValueError(f"test_from {test_from!r} is not a date (YYYY-MM-DD)") from err
        local = stamp.tz_localize(timezone) if stamp.tzinfo is None else stamp
        return local.tz_convert("UTC")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie between 0 and 1, got {test_fraction}")
    times = frame["declared_at"].sort_values(kind="stable")
    return times.iloc[min(int(len(times) * (1 - test_fraction)), len(times) - 1)]


def labels_and_weights(
    frame: pd.DataFrame,
    known_at: pd.Timestamp,
    weighting: str = "ipw",
    max_weight: float = 100.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and sample weights of the parcels whose outcome was recorded by ``known_at``.

    Parcels without a recorded outcome get weight 0 (they still shape the history
    features). Weights of labelled parcels average 1.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting {weighting!r} is not one of {WEIGHTINGS}")
    labelled = frame["inspected"].fillna(False).to_numpy(dtype=bool) & (
        frame["outcome_at"] <= known_at
    ).fillna(False).to_numpy(dtype=bool)
    y = frame["violation_found"].fillna(False).to_numpy(dtype=bool) & labelled
    w = np.zeros(len(frame))
    if weighting == "ipw":
        w[labelled] = np.minimum(inverse_propensity(frame)[labelled], max_weight)
    else:
        w[labelled] = 1.0
    if labelled.any():
        w /= w[labelled].mean()
    return y.astype(int), w


@dataclass(frozen=True)
class FittedModel:
    """A fitted pipeline with the training matrix, labels and weights it was fitted on.

    ``skipped``: inputs missing in every training declaration and the features this left
    empty (:func:`parcelrisk.features.pipeline.skipped`).
    """

    pipeline: Pipeline
    features: pd.DataFrame
    y: np.ndarray
    weight: np.ndarray
    skipped: dict[str, list[str]] = field(default_factory=dict)


def fit_model(
    train: pd.DataFrame,
    *,
    lgbm_params: dict | None = None,
    value_threshold: float = 800.0,
    weighting: str = "ipw",
    max_weight: float = 100.0,
    calibration_fraction: float = 0.2,
    random_state: int = 0,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
) -> FittedModel:
    """Fit the risk model on declarations in time order, with labels known at their end.

    ``extra_categorical`` and ``extra_numeric`` name extra input columns of ``train``
    (declared by a column mapping) to use as features too.
    """
    train = train.sort_values("declared_at", kind="stable")
    # the generator's hidden truth never enters the model, not even as a passenger column
    declarations = train.drop(columns=[c for c in train.columns if is_ground_truth(c)])
    y, w = labels_and_weights(declarations, train["declared_at"].max(), weighting, max_weight)
    model = make_model(
        lgbm_params=lgbm_params,
        value_threshold=value_threshold,
        calibration_fraction=calibration_fraction,
        random_state=random_state,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
    )
    features = model.named_steps["features"].fit_transform(declarations)
    model.named_steps["classifier"].fit(features, y, sample_weight=w)
    return FittedModel(model, features, y, w, skipped(declarations, features))


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: model directory, report, evaluation and registry."""

    model_dir: Path
    report: Path
    evaluation: Evaluation
    registry: dict[str, Any] | None


def _noop(message: str) -> None:
    """Default progress callback: say nothing."""


def train(
    frame: pd.DataFrame,
    config: ModelConfig,
    *,
    models_dir: str | Path = "models",
    reports_dir: str | Path = "reports",
    track: bool = True,
    progress: Callable[[str], None] = _noop,
    cutoff: pd.Timestamp | None = None,
    out: str | Path | None = None,
) -> TrainResult:
    """Split by time, fit, evaluate against baselines, export, and log to MLflow.

    ``frame`` must satisfy the contract with outcomes (``validate(..., require_outcomes=True)``).
    The test window starts at ``cutoff`` (default: the last ``config.test_days`` days); the
    model goes to ``out`` (default: ``models_dir/parcelrisk-<version>``).
    """
    split = split_by_time(frame, config.test_days) if cutoff is None else split_at(frame, cutoff)
    progress(f"fitting on {len(split.train):,} parcels declared before {split.cutoff:%Y-%m-%d}")
    fitted = _fit(split.train, config, config.weighting)
    progress(f"evaluating on {len(split.test):,} parcels from {split.cutoff:%Y-%m-%d}")
    evaluation = evaluate_model(
        fitted.pipeline, split.test, train_features=fitted.features, y=fitted.y,
        weight=fitted.weight, budgets=config.budgets, seed=config.random_state,
    )  # fmt: skip
    version = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    metadata = _metadata(version, split, fitted, evaluation, config)
    out = Path(out) if out else Path(models_dir) / f"parcelrisk-{version}"
    model_dir = save_model(fitted.pipeline, out, metadata)
    progress(f"model exported to {model_dir}")
    report = write_report(evaluation, split.test, Path(reports_dir) / version, metadata)
    progress(f"report written to {report}")
    registry = None
    if track:
        progress("logging the run to MLflow")
        registry = _track(model_dir, report, evaluation, metadata, config, split.test)
    return TrainResult(model_dir, report, evaluation, registry)


def _metadata(version, split, fitted, evaluation, config) -> dict[str, Any]:
    key = ("parcelrisk", "inspected_ipw")
    return {
        **_fit_metadata(version, split, fitted, config, config.weighting),
        "promotion_metric": "roc_auc on inspected test parcels weighted by 1/propensity",
        "promotion_score": float(evaluation.table.loc[key, "roc_auc"]),
        "metrics": evaluation.metrics(),
    }


def _fit_metadata(version, split, fitted, config, weighting: str) -> dict[str, Any]:
    """What every exported model records: windows, sizes, settings, features, importance."""
    booster = fitted.pipeline[-1].booster_
    return {
        "name": "parcelrisk",
        "version": version,
        "training_window": {
            "start": str(split.train["declared_at"].min()),
            "end": str(split.cutoff),
        },
        "test_window": {"start": str(split.cutoff), "end": str(split.test["declared_at"].max())},
        "n_train_parcels": len(split.train),
        "n_labelled": int((fitted.weight > 0).sum()),
        "weighting": weighting,
        "value_threshold": config.value_threshold,
        "lanes": dict(config.lanes),
        "lgbm_params": booster.get_params(),
        "feature_names": list(fitted.features.columns),
        **fitted.skipped,
        "importance": dict(
            zip(
                fitted.features.columns,
                booster.booster_.feature_importance("gain").tolist(),
                strict=True,
            )
        ),
    }


def _fit(train: pd.DataFrame, config: ModelConfig, weighting: str, **extra) -> FittedModel:
    """:func:`fit_model` with the settings of ``config`` (and ``weighting``)."""
    return fit_model(
        train,
        lgbm_params=config.lgbm,
        value_threshold=config.value_threshold,
        weighting=weighting,
        max_weight=config.max_weight,
        calibration_fraction=config.calibration_fraction,
        random_state=config.random_state,
        **extra,
    )


def _track(model_dir, report, evaluation, metadata, config, test) -> dict[str, Any]:
    from parcelrisk.evaluate import evaluate_scores
    from parcelrisk.tracking import example_input, log_run

    plots = sorted(report.parent.glob("*.png"))
    importance = report.parent / "feature_importance.csv"

    def champion_score(champion) -> float:
        p = champion.predict(example_input(test, len(test)))["probability"].to_numpy()
        return evaluate_scores(test, p)["inspected_ipw"]["roc_auc"]

    return log_run(
        model_dir=model_dir,
        params={
            **{f"lgbm.{k}": v for k, v in (config.lgbm or {}).items()},
            "weighting": config.weighting,
            "max_weight": config.max_weight,
            "value_threshold": config.value_threshold,
            "test_days": config.test_days,
            "calibration_fraction": config.calibration_fraction,
        },
        metrics=evaluation.metrics(),
        tags={
            "model_version": metadata["version"],
            "training_window": f"{metadata['training_window']['start']} .. "
            f"{metadata['training_window']['end']}",
            "test_window": f"{metadata['test_window']['start']} .. "
            f"{metadata['test_window']['end']}",
        },
        artifacts=[report, importance, *plots],
        input_example=example_input(test),
        promotion_score=champion_score,
        new_score=metadata["promotion_score"],
    )


@dataclass(frozen=True)
class MappedTrainResult:
    """What training on a mapped table produced: the model directory and its evaluation."""

    model_dir: Path
    evaluation: dict[str, Any]
    skipped: dict[str, list[str]]


def train_mapped(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    config: ModelConfig,
    cutoff: pd.Timestamp,
    *,
    out: str | Path | None = None,
    models_dir: str | Path = "models",
    progress: Callable[[str], None] = _noop,
) -> MappedTrainResult:
    """Train on a table read through a column mapping, evaluate on its test window, export.

    ``frame`` is :func:`parcelrisk.mapping.apply_mapping`'s output. Parcels declared before
    ``cutoff`` train (with the labels known by their last declaration, as in
    :func:`fit_model`), the others test (:func:`parcelrisk.evaluate.evaluate_window`).
    Labelled parcels are weighted by inverse propensity only if the mapping gives
    ``inspection_propensity`` and ``config.weighting`` is ``ipw``; otherwise equally.
    The mapping is exported with the model; MLflow is not used.
    """
    split = split_at(frame, cutoff)
    has_propensity = split.train["inspection_propensity"].notna().any()
    weighting = config.weighting if has_propensity else "none"
    progress(f"fitting on {len(split.train):,} parcels declared before {cutoff:%Y-%m-%d %H:%M}")
    fitted = _fit(
        split.train, config, weighting,
        extra_categorical=mapping.extra_categorical, extra_numeric=mapping.extra_numeric,
    )  # fmt: skip
    progress(f"evaluating on {len(split.test):,} parcels from {cutoff:%Y-%m-%d %H:%M}")
    evaluation = evaluate_window(fitted.pipeline, split.test, cutoff, seed=config.random_state)
    version = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    metadata = {
        **_fit_metadata(version, split, fitted, config, weighting),
        "evaluation": {"model": version, **evaluation},
    }
    out = Path(out) if out else Path(models_dir) / f"parcelrisk-{version}"
    model_dir = save_model(fitted.pipeline, out, metadata, mapping=mapping)
    progress(f"model exported to {model_dir}")
    return MappedTrainResult(model_dir, metadata["evaluation"], fitted.skipped)
