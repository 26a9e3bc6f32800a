"""Shared model-test data: one generated data set, its time split and one fitted model.

Everything is session-scoped and trained once: 40,000 parcels over 24 days (seed 0), the
last 7 days are the test window. Quality bounds in the tests are measured on exactly
this data; change it and the bounds must be measured again.
"""

from __future__ import annotations

import pandas as pd
import pytest

from parcelrisk.split import TimeSplit, split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import FittedModel, fit_model

ROWS, DAYS, SEED, TEST_DAYS = 40_000, 24, 0, 7


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    """Generated declarations with outcomes and ground truth (gt_ columns)."""
    return generate(rows=ROWS, days=DAYS, seed=SEED)


@pytest.fixture(scope="session")
def test_days() -> int:
    return TEST_DAYS


@pytest.fixture(scope="session")
def split(data, test_days) -> TimeSplit:
    return split_by_time(data, test_days)


@pytest.fixture(scope="session")
def fitted(split) -> FittedModel:
    """The risk model fitted on the training window with the default settings."""
    return fit_model(split.train)


@pytest.fixture(scope="session")
def test_scores(fitted, split):
    """Calibrated probabilities of the test window, scored as one batch."""
    return fitted.pipeline.predict_proba(split.test)[:, 1]
