"""Training: time split, labels known at the cut-off, selection-bias weights, fit, export.

Only inspected parcels have outcomes, and most inspections were chosen by the legacy
rules, so the labelled parcels over-represent what those rules look for. Each labelled
parcel is weighted by the inverse of the probability that it was inspected
(``inspection_propensity``), clipped at ``max_weight``: the weighted labelled set then
stands for all parcels (docs/model.md shows the effect against unweighted training).
A table that gives no propensities is fitted with every labelled parcel counting the same.

:func:`train` is the one training run for every table, generated or read through a
column mapping: fit, evaluate, export, report, and log to MLflow with a registry version
and a champion/challenger decision.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from parcelrisk import predict
from parcelrisk.artifact import LoadedModel, save_model
from parcelrisk.config import ModelConfig
from parcelrisk.contract import ColumnMapping, is_ground_truth, made_missing
from parcelrisk.evaluate import (
    PROMOTION_METRICS,
    Evaluation,
    evaluate,
    evaluate_scores,
    promotion_view,
    replayed_history,
)
from parcelrisk.features.pipeline import skipped, skips_said_once
from parcelrisk.labels import calibration_weights, labels_and_weights
from parcelrisk.model import features_of, make_model
from parcelrisk.policy import Policy
from parcelrisk.report import write_report
from parcelrisk.split import TimeSplit, training_split
from parcelrisk.tracking import REGISTERED_MODEL, NotComparable, example_input, log_run


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
    #: the calibration's own weights, where they differ from ``weight`` (else None)
    calibration_weight: np.ndarray | None = None


def fit_model(
    train: pd.DataFrame,
    *,
    lgbm_params: dict | None = None,
    value_threshold: float = 800.0,
    weighting: str = "calibration",
    max_weight: float = 100.0,
    validation_fraction: float = 0.2,
    early_stopping_rounds: int = 50,
    random_state: int = 0,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
    history_smoothing: float = 5.0,
    history: tuple[tuple[str, ...], ...] | None = None,
) -> FittedModel:
    """Fit the risk model on declarations in time order, with labels known at their end.

    ``extra_categorical`` and ``extra_numeric`` name extra input columns of ``train``
    (declared by a column mapping) to use as features too.
    """
    train = train.sort_values("declared_at", kind="stable")
    # the generator's hidden truth never enters the model, not even as a passenger column
    declarations = train.drop(columns=[c for c in train.columns if is_ground_truth(c)])
    y, w = labels_and_weights(declarations, train["declared_at"].max(), weighting, max_weight)
    calibration = calibration_weights(declarations, w > 0, weighting)
    model = make_model(
        lgbm_params=lgbm_params,
        value_threshold=value_threshold,
        validation_fraction=validation_fraction,
        early_stopping_rounds=early_stopping_rounds,
        random_state=random_state,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
        history_smoothing=history_smoothing,
        history=history,
    )
    model.named_steps["features"].fit(declarations)
    # the matrix of the scoring path: the classifier learns from what it will be given
    features = features_of(model, declarations)
    model.named_steps["classifier"].fit(
        features, y, sample_weight=w, calibration_weight=calibration
    )
    return FittedModel(model, features, y, w, skipped(declarations, features), calibration)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: model directory, report, evaluation and registry."""

    model_dir: Path
    report: Path
    evaluation: Evaluation
    registry: dict[str, Any] | None
    skipped: dict[str, list[str]]


def _noop(message: str) -> None:
    """Default progress callback: say nothing."""


@skips_said_once()  # the evaluation fit and the refit skip the same inputs
def train(
    frame: pd.DataFrame,
    config: ModelConfig,
    *,
    mapping: ColumnMapping | None = None,
    cutoff: pd.Timestamp | None = None,
    out: str | Path | None = None,
    models_dir: str | Path = "models",
    reports_dir: str | Path = "reports",
    track: bool = True,
    name: str = REGISTERED_MODEL,
    progress: Callable[[str], None] = _noop,
) -> TrainResult:
    """Split by time, fit, evaluate against baselines, export, report, log to MLflow.

    Parameters
    ----------
    frame : pandas.DataFrame
        Declarations with outcomes from the edge
        (:func:`parcelrisk.contract.read_table` / ``canonical_frame(..., outcomes=True)``).
    config : ModelConfig
        Training and evaluation settings.
    mapping : ColumnMapping, optional
        The column mapping the table was read through: exported with the model, which then
        reads records in the user's column names; its extra columns become features.
    cutoff : pandas.Timestamp, optional
        Start of the test window (default: the last ``config.test_days`` days).
    out : path, optional
        Model directory (default ``models_dir/parcelrisk-<version>``).
    track : bool, default True
        Log the run to MLflow and register the model as ``name``: alias ``champion`` if
        it beats the current champion on this test window, else ``challenger``.
    """
    made = made_missing(frame)  # read before any operation that may drop the frame's attrs
    if any(made.values()):
        progress("invalid values read as missing (on_invalid: missing): "
                 + ", ".join(f"{role} {n:,}" for role, n in made.items()))  # fmt: skip
    split = training_split(frame, config.test_days, cutoff)
    settings = fit_settings(config, split.train, mapping)
    weighting = settings["weighting"]
    progress(f"fitting on {len(split.train):,} parcels declared before {split.cutoff:%Y-%m-%d}")
    fitted = fit_model(split.train, **settings)
    progress(f"evaluating on {len(split.test):,} parcels from {split.cutoff:%Y-%m-%d}")
    evaluation = evaluate(
        fitted.pipeline, split.test, train_features=fitted.features, y=fitted.y,
        weight=fitted.weight, train=split.train, budgets=config.budgets,
        seed=config.random_state, validation_fraction=config.validation_fraction,
        early_stopping_rounds=config.early_stopping_rounds,
        outcome_delay_days=config.outcome_delay_days,
    )  # fmt: skip
    version = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    exported, window = fitted, (split.train["declared_at"].min(), split.cutoff)
    if config.refit:  # the deployed model learns from the newest labels too
        window = (frame["declared_at"].min(), frame["declared_at"].max())
        progress(f"refitting on all {len(frame):,} parcels to {window[1]:%Y-%m-%d} for export")
        exported = fit_model(frame, **settings)
    metadata = _metadata(version, split, fitted, exported, window, evaluation, config, weighting)
    metadata["made_missing"] = made
    out = Path(out) if out else Path(models_dir) / f"parcelrisk-{version}"
    model_dir = save_model(exported.pipeline, out, metadata, mapping=mapping)
    fitted_on = "every parcel (refit)" if config.refit else "the parcels before the test window"
    progress(f"model exported to {model_dir}: fitted on {fitted_on}, {window[0]} .. {window[1]}")
    report = write_report(evaluation, split.test, Path(reports_dir) / version, metadata)
    progress(f"report written to {report}")
    registry = None
    if track:
        progress("logging the run to MLflow")
        registry = _track(model_dir, report, evaluation, metadata, config, split, name, mapping)
    return TrainResult(model_dir, report, evaluation, registry, exported.skipped)


def _has_propensities(frame: pd.DataFrame) -> bool:
    """Whether the table gives inspection propensities (to weight its labelled parcels)."""
    return bool(frame["inspection_propensity"].notna().any())


def _metadata(
    version, split: TimeSplit, fitted, exported, window, evaluation, config, weighting
) -> dict[str, Any]:
    """What every exported model records: windows, sizes, settings, features, importance,
    and the evaluation (of ``fitted``, the model fitted before the test window; the
    exported model is ``exported``, fitted on ``window``: the same one without a refit)."""
    classifier = exported.pipeline[-1]
    booster = classifier.booster_
    columns = list(exported.features.columns)
    gains = booster.booster_.feature_importance("gain").tolist()
    view = promotion_view(evaluation.views)
    return {
        "name": "parcelrisk",
        "version": version,
        "training_window": {"start": str(window[0]), "end": str(window[1])},
        "refit": exported is not fitted,
        "evaluation_training_window": {
            "start": str(split.train["declared_at"].min()),
            "end": str(split.cutoff),
        },
        "test_window": {"start": str(split.cutoff), "end": str(split.test["declared_at"].max())},
        "n_train_parcels": len(exported.features),
        "evaluation_n_train_parcels": len(fitted.features),
        "n_labelled": int((exported.weight > 0).sum()),
        "n_trees": classifier.n_trees_,
        "evaluation_n_trees": fitted.pipeline[-1].n_trees_,
        "weighting": weighting,
        "value_threshold": config.value_threshold,
        "lgbm_params": booster.get_params(),
        "feature_names": columns,
        **exported.skipped,
        "importance": dict(zip(columns, gains, strict=True)),
        "promotion_metric": PROMOTION_METRICS[view],
        "promotion_score": evaluation.promotion_score,
        "metrics": evaluation.metrics(),
        "evaluation": {"model": version, **evaluation.summary()},
    }


def fit_settings(
    config: ModelConfig, train: pd.DataFrame, mapping: ColumnMapping | None = None
) -> dict[str, Any]:
    """The keyword arguments of :func:`fit_model` for ``config`` on a table: every setting
    fit_model takes by its name (``lgbm`` as ``lgbm_params``); ``weighting: none`` when the
    training declarations ``train`` give no propensities; the mapping's extra columns, and
    its own history keys over the config's."""
    accepted = inspect.signature(fit_model).parameters
    settings = {f.name: getattr(config, f.name) for f in fields(config) if f.name in accepted}
    settings["lgbm_params"] = dict(config.lgbm or {})
    if not _has_propensities(train):
        settings["weighting"] = "none"
    if mapping is not None:
        settings["extra_categorical"] = mapping.extra_categorical
        settings["extra_numeric"] = mapping.extra_numeric
        settings["history"] = mapping.history or config.history
    return settings


def _spec(mapping: ColumnMapping | None) -> dict[str, Any] | None:
    return None if mapping is None else mapping.to_dict()


def _track(model_dir, report, evaluation, metadata, config, split, name, mapping):
    """Log the run, register the model and decide champion or challenger."""
    test = split.test
    view = promotion_view(evaluation.views)

    def champion_score(champion: LoadedModel) -> tuple[float, float]:
        """The champion's and the new model's score on the same test parcels: those
        declared after the champion's own training data ended (a refit champion may have
        learned from the rest of this test window)."""
        if _spec(champion.mapping) != _spec(mapping):
            raise ValueError(
                "it reads other columns (its column mapping differs from this model's); "
                f"register this one under another name than {name!r}"
            )
        seen = pd.Timestamp(champion.metadata["training_window"]["end"])
        unseen = (test["declared_at"] > seen).to_numpy()
        rows = test[unseen]
        old = None
        if len(rows):  # as served: the rows replayed through the champion's live history
            before = pd.concat([split.train, test[~unseen]])
            live = replayed_history(champion.pipeline, rows, before, config.outcome_delay_days)
            p = predict.score(champion.pipeline, rows, Policy(), explain="none", live=live)
            p = p.probability
            old = evaluate_scores(rows, p, budgets=config.budgets)[view].get("roc_auc")
        if old is None:
            raise NotComparable(
                f"it was trained on data up to {seen}, and the {len(rows):,} test parcels "
                "declared after that hold too few violations and non-violations to score it "
                "honestly"
            )
        ours = evaluation.scores["parcelrisk"][0][unseen]
        return old, evaluate_scores(rows, ours, budgets=config.budgets)[view]["roc_auc"]

    return log_run(
        model_dir=model_dir,
        name=name,
        params={
            **{f"lgbm.{k}": v for k, v in (config.lgbm or {}).items()},
            "weighting": metadata["weighting"],
            "max_weight": config.max_weight,
            "value_threshold": config.value_threshold,
            "test_days": config.test_days,
            "validation_fraction": config.validation_fraction,
            "early_stopping_rounds": config.early_stopping_rounds,
            "refit": config.refit,
            "column_mapping": "none" if mapping is None else "yes",
        },
        metrics=evaluation.metrics(),
        tags={
            "model_version": metadata["version"],
            "training_window": f"{metadata['training_window']['start']} .. "
            f"{metadata['training_window']['end']}",
            "test_window": f"{metadata['test_window']['start']} .. "
            f"{metadata['test_window']['end']}",
            "promotion_metric": metadata["promotion_metric"],
        },
        artifacts=sorted(report.parent.iterdir()),
        input_example=example_input(test) if mapping is None else None,
        promotion_score=champion_score,
    )
