"""No record in the user's columns breaks decide() on a mapped model: it scores or is refused.

The model is the one trained on examples/byo through its mapping; records are rows of the
example table with values replaced by hostile ones (seeded, so a failure is reproducible).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from conftest import DATA
from hostile import assert_scored_or_refused
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
    return load_model(trained.model), table.to_dict(orient="records")


def test_hostile_user_records_score_or_are_refused_never_crash(model_and_records):
    model, records = model_and_records
    columns = list(records[0])
    rng = random.Random(11)
    batches = []
    for _ in range(150):
        batch = [dict(r) for r in rng.sample(records, rng.randint(1, 5))]
        for record in batch:
            for name in rng.sample(columns, rng.randint(1, 4)):
                if rng.random() < 0.15:
                    record.pop(name, None)
                else:
                    record[name] = rng.choice(HOSTILE)
            if rng.random() < 0.05:
                record["gt_violation"] = 1
        batches.append(batch)
    assert_scored_or_refused(model, batches)
