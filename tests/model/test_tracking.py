"""MLflow round trip: two real training runs into an embedded SQLite store in a tmp dir.

The first run registers version 1 as ``champion``; the second, on the same data with the
same settings, registers version 2 and, not beating the champion strictly, becomes
``challenger``. The registered pyfunc model must score like the exported directory.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from parcelrisk.artifact import load_model, read_metadata
from parcelrisk.config import ModelConfig
from parcelrisk.contract import (
    DECLARATION_COLUMNS,
    read_declarations,
    validate,
    write_declarations,
)
from parcelrisk.policy import Policy
from parcelrisk.predict import decide_frame
from parcelrisk.tracking import (
    CHALLENGER,
    CHAMPION,
    LOG_MODEL_NOISE,
    REGISTERED_MODEL,
    dropped_records,
    example_input,
    tracking_uri,
)
from parcelrisk.train import train

PLOTS = ("pr_curve.png", "calibration.png", "precision_at_budget.png", "feature_importance.png")
PNG = b"\x89PNG\r\n\x1a\n"


def mlflow_environment(mp: pytest.MonkeyPatch, home: Path) -> str:
    """Run in ``home`` with the embedded store; returns its tracking URI."""
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow infers a logged model's pip requirements by loading it in a fresh interpreter
    # (about 10 s a run here); give up at once and log its default requirements instead.
    # Only requirements.txt of the logged model changes; nothing tested depends on it.
    mp.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.chdir(home)
    return f"sqlite:///{home}/mlflow.db"


class _Records(logging.Handler):
    """Keeps every record MLflow logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def tracked(data, test_days, tmp_path_factory):
    """Two tracked trainings on the same data in one fresh MLflow store, each exporting a
    model refit on every parcel."""
    home = tmp_path_factory.mktemp("mlflow")
    config = ModelConfig(test_days=test_days, lgbm={"n_estimators": 100})
    records = _Records()
    logging.getLogger("mlflow").addHandler(records)
    with pytest.MonkeyPatch.context() as mp:
        uri = mlflow_environment(mp, home)
        try:
            runs = [
                train(data, replace(config, refit=refit), models_dir=home / "models",
                      reports_dir=home / "reports")
                for refit in (True, True)
            ]  # fmt: skip
        finally:
            logging.getLogger("mlflow").removeHandler(records)
        yield SimpleNamespace(home=home, uri=uri, config=config, first=runs[0], second=runs[1],
                              logged=records.records)  # fmt: skip
        mlflow.set_tracking_uri(None)  # forget the tmp store (and the env var MLflow set)


@pytest.fixture
def client(tracked, monkeypatch) -> MlflowClient:
    mlflow_environment(monkeypatch, tracked.home)
    mlflow.set_tracking_uri(tracked.uri)
    return MlflowClient(tracking_uri=tracked.uri)


def test_logging_a_model_drops_only_the_understood_mlflow_warnings(tracked):
    messages = [(r.name, r.getMessage()) for r in tracked.logged]
    for logger, start in LOG_MODEL_NOISE.items():
        assert not [m for name, m in messages if name == logger and m.startswith(start)]
    # the filters are gone after log_model, and never dropped anything else
    for name in LOG_MODEL_NOISE:
        assert logging.getLogger(name).filters == []
    kept = _Records()
    logger = logging.getLogger("mlflow.pyfunc")
    logger.addHandler(kept)
    try:
        with dropped_records(LOG_MODEL_NOISE):
            logger.warning(LOG_MODEL_NOISE["mlflow.pyfunc"] + ", ...")
            logger.warning("another warning")
        logger.warning(LOG_MODEL_NOISE["mlflow.pyfunc"] + " (outside the block)")
    finally:
        logger.removeHandler(kept)
    assert [r.getMessage() for r in kept.records] == [
        "another warning",
        LOG_MODEL_NOISE["mlflow.pyfunc"] + " (outside the block)",
    ]


def test_the_store_lives_in_the_working_directory(tracked):
    assert (tracked.home / "mlflow.db").is_file()
    assert (tracked.home / "mlartifacts").is_dir()
    assert tracked.first.model_dir != tracked.second.model_dir
    assert tracked.first.model_dir.parent == tracked.home / "models"


def test_tracking_uri_defaults_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracking_uri() == "http://tracking.example:5000"


def test_first_run_is_champion_second_identical_run_is_challenger(tracked, client):
    first, second = tracked.first.registry, tracked.second.registry
    assert (first["version"], first["alias"], first["reason"]) == ("1", CHAMPION, "no champion yet")
    assert (second["version"], second["alias"]) == ("2", CHALLENGER)
    # the refit champion learned from the whole test window: no honest score for it
    assert second["reason"].startswith(
        "champion v1 kept: no honest comparison: it was trained on data up to"
    ), second["reason"]

    assert str(client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(REGISTERED_MODEL, CHALLENGER).version) == "2"
    aliases = client.get_registered_model(REGISTERED_MODEL).aliases
    assert {k: str(v) for k, v in aliases.items()} == {CHAMPION: "1", CHALLENGER: "2"}
    for run in (first, second):
        version = client.get_model_version(REGISTERED_MODEL, run["version"])
        assert version.run_id == run["run_id"]


def test_a_champion_scored_on_the_same_parcels_is_kept_unless_strictly_beaten(tracked, client):
    from parcelrisk.tracking import _promote

    assert _promote(client, REGISTERED_MODEL, "3", lambda champion: (0.7, 0.7)) == (
        CHALLENGER, "champion v1 kept: 0.7000 <= 0.7000"
    )  # fmt: skip
    assert _promote(client, REGISTERED_MODEL, "3", lambda champion: (0.7, 0.71)) == (
        CHAMPION, "beats champion v1: 0.7100 > 0.7000"
    )  # fmt: skip


def test_champion_scores_like_the_exported_directory(tracked, client, split):
    champion = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    inputs = example_input(split.test, 300)
    assert len(inputs) == 300 and set(inputs.columns) <= set(DECLARATION_COLUMNS)
    got = champion.predict(inputs)
    exported = load_model(tracked.first.model_dir)
    expected = decide_frame(exported, validate(inputs), Policy())
    assert list(got.columns) == ["parcel_id", "probability", "lane"]
    np.testing.assert_array_equal(got["parcel_id"], expected["parcel_id"])
    np.testing.assert_array_equal(got["probability"], expected["probability"])
    np.testing.assert_array_equal(got["lane"], expected["lane"])
    # the JSON-like example input scores like the canonical declarations it came from
    direct = exported.pipeline.predict_proba(split.test.head(300))[:, 1]
    np.testing.assert_array_equal(got["probability"], direct)
    # a frame as read_declarations gives it (timestamps with a timezone, outcome and
    # ground-truth columns) scores the same
    path = write_declarations(split.test.head(300), tracked.home / "later.parquet")
    from_file = champion.predict(read_declarations(path))
    np.testing.assert_array_equal(from_file["probability"], got["probability"])
    # the challenger was trained on the same data with the same settings: same scores
    challenger = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHALLENGER}")
    np.testing.assert_array_equal(challenger.predict(inputs)["probability"], got["probability"])


def test_run_has_params_metrics_tags_and_artifacts(tracked, client, tmp_path):
    run_id = tracked.first.registry["run_id"]
    run = client.get_run(run_id)
    params = run.data.params
    assert params["weighting"] == "calibration"
    assert float(params["test_days"]) == tracked.config.test_days
    assert params["lgbm.n_estimators"] == "100"
    for key in ("max_weight", "value_threshold", "validation_fraction"):
        assert float(params[key]) == getattr(tracked.config, key)
    expected = {k: v for k, v in tracked.first.evaluation.metrics().items() if np.isfinite(v)}
    assert run.data.metrics.keys() == expected.keys()
    assert run.data.metrics == pytest.approx(expected, rel=1e-12)
    assert "parcelrisk.inspected_ipw.roc_auc" in run.data.metrics
    assert run.data.tags["model_version"] == read_metadata(tracked.first.model_dir)["version"]
    logged = {a.path for a in client.list_artifacts(run_id)}
    assert {"evaluation.md", "feature_importance.csv", *PLOTS} <= logged
    report = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="evaluation.md", dst_path=str(tmp_path)
    )
    assert Path(report).read_text() == tracked.first.report.read_text()


def test_report_has_the_targets_table_and_plots(tracked):
    report = tracked.first.report
    assert report.parent.parent == tracked.home / "reports"
    text = report.read_text()
    assert "## Targets\n\n| target | measured | met |\n|---|---|---|\n" in text
    targets = tracked.first.evaluation.targets
    assert len(targets) == 3  # calibration, and on generated data: vs Bayes, vs legacy rules
    for target, measured, met in targets:
        assert f"| {target} | {measured} | {'yes' if met else '**NO**'} |" in text
    for view in ("random", "inspected", "inspected ipw", "ground truth"):
        assert f"## View: {view}\n" in text
    assert "| parcelrisk |" in text and "| legacy rules |" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert set(PLOTS) <= set(links)
    for link in links:
        assert (report.parent / link).read_bytes()[:8] == PNG, link


def test_registry_alias_resolves_to_the_exported_model_directory(tracked, client):
    from parcelrisk.tracking import registered_model_dir

    champion = registered_model_dir(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    assert read_metadata(champion)["version"] == read_metadata(tracked.first.model_dir)["version"]
    assert load_model(champion).version == load_model(tracked.first.model_dir).version


def test_alias_version_names_the_version_or_none(tracked, client, tmp_path, monkeypatch):
    from parcelrisk.tracking import alias_version

    assert (alias_version(), alias_version(CHALLENGER)) == ("1", "2")
    assert alias_version("nobody") is None
    mlflow_environment(monkeypatch, tmp_path)  # a fresh store: nothing registered yet
    assert alias_version() is None
    mlflow.set_tracking_uri(None)


def test_a_champion_this_installation_cannot_score_is_kept_with_the_reason(tracked, client):
    from parcelrisk.tracking import _promote

    def broken(champion):
        raise AttributeError("'EntityHistory' object has no attribute 'skipped_entities_'")

    alias, reason = _promote(client, REGISTERED_MODEL, "2", broken)
    assert alias == CHALLENGER
    assert reason.startswith("champion v1 kept: this installation could not score it")
    assert "skipped_entities_" in reason


def test_the_default_model_is_the_champion_not_the_newest_directory(tracked, client, monkeypatch):
    from parcelrisk.tracking import default_model

    for name in ("PARCELRISK_MODEL_URI", "PARCELRISK_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    models = tracked.home / "models"
    assert max(models.glob("parcelrisk-*")) == tracked.second.model_dir  # the challenger
    directory, which = default_model(models)
    assert load_model(directory).version == load_model(tracked.first.model_dir).version
    assert which.startswith(f"models:/{REGISTERED_MODEL}@{CHAMPION} (v1, registry sqlite:///")

    # a name with no champion in the registry: the newest exported model, and why
    directory, which = default_model(models, name="elsewhere")
    assert directory == tracked.second.model_dir
    assert "no champion of 'elsewhere' in the registry" in which

    monkeypatch.setenv("PARCELRISK_MODEL_URI", f"models:/{REGISTERED_MODEL}@{CHALLENGER}")
    directory, which = default_model(models)
    assert load_model(directory).version == load_model(tracked.second.model_dir).version
    monkeypatch.setenv("PARCELRISK_MODEL_DIR", "ignored/while/a/uri/is/set")
    assert default_model(models)[0] == directory
    monkeypatch.delenv("PARCELRISK_MODEL_URI")
    assert default_model(models) == (
        Path("ignored/while/a/uri/is/set"),
        "ignored/while/a/uri/is/set (PARCELRISK_MODEL_DIR)",
    )


def test_without_a_registry_the_default_model_is_the_newest_and_no_store_is_made(
    tracked, tmp_path, monkeypatch
):
    from parcelrisk.tracking import default_model

    for name in ("PARCELRISK_MODEL_URI", "PARCELRISK_MODEL_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    directory, which = default_model(tracked.home / "models")
    assert directory == tracked.second.model_dir
    assert which.endswith(f"(no registry at sqlite:///{tmp_path}/mlflow.db)")
    assert not (tmp_path / "mlflow.db").exists()
