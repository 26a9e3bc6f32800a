"""No record in the user's columns breaks decide() on a mapped model: it scores or is refused.

The model is the one trained on examples/byo through its mapping; records are rows of the
example table with values replaced by hostile ones (seeded, so a failure is reproducible).
"""

from __future__ import annotations

import pandas as pd
import pytest

from byo_example import DATA
from hostile import assert_scored_or_refused, mutated_batches
from parcelrisk.artifact import load_model

HOSTILE = [
    None, "", " ", "\x00", "😀" * 50, "x" * 100_000, 0, -1, 1, 2**63, 10**400, 1e308,
    float("nan"), float("inf"), "inf", "1e999", True, False, [], {"a": 1}, "Y", "N", "yes",
    2025, 20250301, "31/12/9999 10:00", "01/01/0001 00:00", "30/02/2025 10:00",
    "9999-12-31T23:59:59Z", "2025-03-10T08:00:00", "gt_violation", "NaN", "null",
    "abc\ud800def", "\udfff",  # unpaired surrogates: what JSON's "\ud800" escape decodes to
]  # fmt: skip


@pytest.fixture(scope="module")
def model_and_records(trained):
    table = pd.read_csv(DATA, dtype=str, keep_default_na=False, na_values=[""]).tail(40)
    # as sent for scoring: without the label
    return load_model(trained.model), table.drop(columns=["illicit"]).to_dict(orient="records")


def test_hostile_user_records_score_or_are_refused_never_crash(model_and_records):
    model, records = model_and_records
    batches = mutated_batches(
        records, list(records[0]), HOSTILE, n=150, seed=11, stray="gt_violation"
    )
    assert_scored_or_refused(model, batches)
