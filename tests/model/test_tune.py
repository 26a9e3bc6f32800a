"""`parcelrisk tune`: a real Optuna study on the example table of examples/byo/, with real
LightGBM fits and a real MLflow store in a fresh working directory.

The example's test window is its latest 20% of rows (``--test-fraction 0.2``); a budget
of 100 ms per parcel keeps every trial feasible where timings must not decide a result.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from parcelrisk.cli import app
from parcelrisk.config import load_config
from parcelrisk.contract import load_mapping, read_table
from parcelrisk.split import cutoff_for
from parcelrisk.train import fit_model, fit_settings, train
from parcelrisk.tune import (
    TrialFits,
    TrialResult,
    tune,
    validation_figures,
    validation_window,
    validation_windows,
    window_agreement,
    write_config,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "byo"
DATA, MAPPING = EXAMPLE / "declarations.csv", EXAMPLE / "mapping.yaml"
CONFIG = Path(__file__).parents[2] / "configs" / "model.yaml"
ROOMY_MS = 100.0
PIPELINE_LOG = "parcelrisk.features.pipeline"


def in_home(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Work in ``home`` with its own embedded MLflow store."""
    mp.chdir(home)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="module")
def table() -> SimpleNamespace:
    mapping = load_mapping(MAPPING)
    frame = read_table(DATA, mapping, outcomes=True)
    cutoff = cutoff_for(frame, test_fraction=0.2, timezone=mapping.timezone)
    return SimpleNamespace(frame=frame, mapping=mapping, cutoff=cutoff, config=load_config(CONFIG))


def run(table, frame: pd.DataFrame | None = None, **options):
    """A three-trial study on the example (or ``frame``), seed 0, one validation window."""
    settings = {"trials": 3, "minutes": 5, "shap_budget_ms": ROOMY_MS, "seed": 0, "folds": 1,
                **options}  # fmt: skip
    return tune(frame if frame is not None else table.frame, table.config, mapping=table.mapping,
                cutoff=table.cutoff, **settings)  # fmt: skip


@pytest.fixture(scope="module")
def study(table, tmp_path_factory) -> SimpleNamespace:
    home = tmp_path_factory.mktemp("tune")
    with pytest.MonkeyPatch.context() as mp:
        in_home(mp, home)
        result = run(table)
        mlflow.set_tracking_uri(None)
    return SimpleNamespace(home=home, result=result)


def said(caplog) -> list[str]:
    """The messages the feature pipeline logged (what a fit skipped)."""
    return [r.getMessage() for r in caplog.records if r.name == PIPELINE_LOG]


def outcome(result) -> list[tuple]:
    """What a study found, trial by trial (not the timings)."""
    return [(t.number, t.objective, t.config) for t in result.trials]


def test_each_trial_is_a_child_run_of_one_parent(study):
    client = MlflowClient(tracking_uri=f"sqlite:///{study.home}/mlflow.db")
    parent = client.get_run(study.result.run_id)
    assert parent.data.tags["best_trial"] == str(study.result.best.number)
    assert parent.data.metrics["trials_run"] == 3
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(int(c.data.tags["trial"]) for c in children) == [0, 1, 2]
    by_trial = {int(c.data.tags["trial"]): c for c in children}
    for t in study.result.trials:
        logged = by_trial[t.number].data
        assert logged.metrics["validation.pr_auc"] == pytest.approx(t.objective)
        assert logged.metrics["shap_ms_per_parcel"] == pytest.approx(t.shap_ms)
        assert logged.tags["feasible"] == "true"
        assert float(logged.params["lgbm.num_leaves"]) == t.config.lgbm["num_leaves"]


def test_trial_0_runs_the_base_config_and_the_others_search(study, table):
    defaults, *searched = study.result.trials
    assert defaults.config.history_smoothing == table.config.history_smoothing
    for name, value in table.config.lgbm.items():
        assert defaults.config.lgbm[name] == value
    assert all(t.config != defaults.config for t in searched)
    assert study.result.best.objective == max(t.objective for t in study.result.trials)


def test_the_winner_config_loads_and_trains(study, table, tmp_path, monkeypatch):
    in_home(monkeypatch, tmp_path)
    path = write_config(study.result, tmp_path / "tuned.yaml", data=str(DATA))
    text = path.read_text()
    assert text.startswith("# Model settings found by `parcelrisk tune`")
    assert f"winner: trial {study.result.best.number}" in text
    loaded = load_config(path)
    assert loaded == study.result.best.config
    trained = train(table.frame, loaded, mapping=table.mapping, cutoff=table.cutoff,
                    out=tmp_path / "model", track=False)  # fmt: skip
    assert trained.model_dir.is_dir() and trained.evaluation.promotion_score > 0.5


def test_the_test_window_is_never_read(study, table, tmp_path, monkeypatch):
    in_home(monkeypatch, tmp_path)
    frame = table.frame.copy()
    late = (frame["declared_at"] >= table.cutoff).to_numpy()
    rng = np.random.default_rng(1)
    frame.loc[late, "violation_found"] = rng.permutation(~frame.loc[late, "violation_found"])
    frame.loc[late, "declared_value_usd"] = rng.permutation(frame.loc[late, "declared_value_usd"])
    assert outcome(run(table, frame)) == outcome(study.result)


def test_the_validation_window_is_read(study, table, tmp_path, monkeypatch):
    """The counterpart of the test above: the same change inside the training period's
    validation window changes the study's figures (so that test can fail)."""
    in_home(monkeypatch, tmp_path)
    period = table.frame[table.frame["declared_at"] < table.cutoff]
    _, validation = validation_window(period, table.config.validation_fraction)
    frame = table.frame.copy()
    frame.loc[validation.index, "violation_found"] = ~frame.loc[validation.index, "violation_found"]
    changed = run(table, frame, trials=1)
    assert changed.defaults.objective != study.result.defaults.objective


def test_a_budget_no_trial_meets_is_an_error_not_a_winner(table, tmp_path, monkeypatch):
    in_home(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match=r"no trial of 2 met the SHAP budget of 1e-09 ms per "
                       r"parcel: the cheapest, trial \d, costs"):  # fmt: skip
        run(table, trials=2, shap_budget_ms=1e-9)
    runs = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db").search_runs(
        [mlflow.get_experiment_by_name("parcelrisk").experiment_id],
        "tags.mlflow.runName = 'tune'",
    )
    mlflow.set_tracking_uri(None)
    assert [r.data.tags["best_trial"] for r in runs] == ["none"]


def test_the_cli_exits_2_and_writes_nothing_when_no_trial_is_feasible(tmp_path, monkeypatch):
    in_home(monkeypatch, tmp_path)
    out = tmp_path / "tuned.yaml"
    result = CliRunner().invoke(app, [
        "tune", "--data", str(DATA), "--mapping", str(MAPPING), "--config", str(CONFIG),
        "--test-fraction", "0.2", "--trials", "1", "--minutes", "1", "--out", str(out),
        "--shap-budget-ms", "0.000001",
    ])  # fmt: skip
    mlflow.set_tracking_uri(None)
    assert result.exit_code == 2, result.output
    assert "no trial of 1 met the SHAP budget of 1e-06 ms" in " ".join(result.output.split())
    assert not out.exists()


def test_a_refit_on_the_cached_features_is_the_model_fit_model_gives(table):
    """Trials sharing a history smoothing refit only the classifier: the same model, with
    the config's LightGBM settings and seed."""
    period = table.frame[table.frame["declared_at"] < table.cutoff]
    earlier, validation = validation_window(period, table.config.validation_fraction)
    fits = TrialFits(earlier, table.mapping)
    fits.pipeline(table.config)  # fits and caches the feature pipeline
    other = replace(table.config, lgbm={**table.config.lgbm, "num_leaves": 7}, random_state=3)
    cached = fits.pipeline(other)
    settings = fit_settings(other, earlier, table.mapping)
    assert settings["weighting"] == "none"  # the example gives no propensities, as in train
    direct = fit_model(earlier, **settings).pipeline
    np.testing.assert_array_equal(
        cached.predict_proba(validation)[:, 1], direct.predict_proba(validation)[:, 1]
    )
    assert cached[-1].booster_.get_params()["num_leaves"] == 7


def test_a_winner_with_declared_history_keys_round_trips_through_its_file(study, tmp_path):
    keys = (("seller", "hts6"), ("recipient",))
    best = replace(study.result.best, config=replace(study.result.best.config, history=keys))
    result = replace(study.result, best=best)
    loaded = load_config(write_config(result, tmp_path / "tuned.yaml", data=str(DATA)))
    assert loaded.history == keys and loaded == best.config


def test_folds_are_consecutive_windows_and_a_trial_scores_their_mean(
    table, tmp_path, monkeypatch, caplog
):
    period = table.frame[table.frame["declared_at"] < table.cutoff]
    fraction = table.config.validation_fraction
    windows = validation_windows(period, fraction, 3)
    first = validation_window(period, fraction)
    assert windows[0][0].equals(first[0]) and windows[0][1].equals(first[1])
    for (earlier, _), (before, latest) in itertools.pairwise(windows):
        assert len(latest) == len(first[1])  # the same share each
        assert pd.concat([before, latest]).equals(earlier)  # just before the later window
    with pytest.raises(ValueError, match="under a quarter of them; use fewer folds"):
        validation_windows(period, fraction, 4)
    in_home(monkeypatch, tmp_path)
    with caplog.at_level(logging.INFO, logger=PIPELINE_LOG):
        trial = run(table, trials=1, folds=3).defaults
        said_in_study = said(caplog)
        each = [
            validation_figures(TrialFits(earlier, table.mapping).pipeline(table.config),
                               latest, table.config, earlier)["pr_auc"]
            for earlier, latest in windows
        ]  # fmt: skip
    assert trial.objective == pytest.approx(np.mean(each)) and len(set(each)) == 3
    assert trial.per_window == pytest.approx(each)  # each window's objective, latest first
    # three fits on the same table: what they skip is said once in the study, each time after
    assert len(said_in_study) == 1 and said(caplog) == said_in_study * 4


def test_a_cached_refit_keeps_the_calibration_weights_of_a_table_with_propensities(split):
    """Generated data gives propensities: the default weighting calibrates on 1 / propensity,
    and a trial refitting the cached classifier must calibrate the same way."""
    config = load_config(CONFIG)
    assert config.weighting == "calibration"
    fits = TrialFits(split.train, None)
    fits.pipeline(config)
    other = replace(config, lgbm={**config.lgbm, "num_leaves": 7})
    cached = fits.pipeline(other)
    direct = fit_model(split.train, **fit_settings(other, split.train)).pipeline
    assert cached[-1].calibration_ == direct[-1].calibration_
    np.testing.assert_array_equal(
        cached.predict_proba(split.test)[:, 1], direct.predict_proba(split.test)[:, 1]
    )


def test_the_windows_agreement_is_the_mean_rank_correlation_between_windows(table):
    """Windows that rank the trials alike agree (+1), opposite rankings disagree (-1); a
    study with one window or under five trials has no agreement to measure."""

    def trials(*per_window):
        return [TrialResult(n, table.config, float(np.mean(w)), {}, 0.0, True, tuple(w))
                for n, w in enumerate(per_window)]  # fmt: skip

    alike = trials((0.1, 0.3), (0.2, 0.5), (0.3, 0.6), (0.4, 0.61), (0.5, 0.9))
    assert window_agreement(alike) == pytest.approx(1.0)
    opposite = trials((0.1, 0.9), (0.2, 0.8), (0.3, 0.7), (0.4, 0.6), (0.5, 0.5))
    assert window_agreement(opposite) == pytest.approx(-1.0)
    # three windows: the first two agree, the third ranks the other way (+1, -1, -1)
    mixed = trials(*[(x, x, 1 - x) for x in (0.1, 0.2, 0.3, 0.4, 0.5)])
    assert window_agreement(mixed) == pytest.approx((1 - 1 - 1) / 3)
    assert window_agreement(alike[:4]) is None
    assert window_agreement(trials(*[(x,) for x in (0.1, 0.2, 0.3, 0.4, 0.5)])) is None
