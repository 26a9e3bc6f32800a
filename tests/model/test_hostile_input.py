"""No input breaks decide(): every record either scores or is refused with a ContractError.

The HTTP service turns a ContractError into a 422 and anything else into a 500, so this is
the property behind "no input makes the service return 500". Records are valid test-window
parcels with fields replaced by hostile values (seeded, so a failure is reproducible).
"""

from __future__ import annotations

import json

import pytest

from hostile import assert_scored_or_refused, mutated_batches
from parcelrisk.artifact import LoadedModel
from parcelrisk.contract import DECLARATION_COLUMNS
from parcelrisk.policy import Policy
from parcelrisk.predict import decide
from parcelrisk.tracking import example_input

HOSTILE = [
    None, "", " ", "\x00", "😀" * 50, "礼物 подарок هدية", "x" * 100_000, "'; DROP TABLE x;--",
    0, -1, 1, 2**63, -(2**63) - 1, 10**400, 1e308, -1e-308, float("nan"), float("inf"),
    True, False, [], [1, 2], {}, {"a": 1}, "1e3", "2025-02-30T00:00:00Z",
    "2025-03-10T08:00:00", "2025-03-10T08:00:00+14:00", "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z", "NaN", "null", "6109.10.0012", "61", "CN", "cnszx",
    "abc\ud800def", "\udfff",  # unpaired surrogates: what JSON's "\ud800" escape decodes to
]  # fmt: skip


@pytest.fixture(scope="module")
def model_and_records(fitted, split, tmp_path_factory):
    model = LoadedModel(fitted.pipeline, {"version": "fuzz"}, tmp_path_factory.mktemp("m"))
    records = json.loads(example_input(split.test, 40).to_json(orient="records"))
    return model, records


def test_hostile_records_score_or_are_refused_never_crash(model_and_records):
    model, records = model_and_records
    assert_scored_or_refused(
        model,
        mutated_batches(records, DECLARATION_COLUMNS, HOSTILE, n=150, seed=7, stray="not_a_field"),
    )


def test_odd_but_valid_values_score(model_and_records):
    model, records = model_and_records
    odd = dict(records[0], parcel_id="ODD", description="", seller_name="😀" * 300,
               recipient_address="улица " * 333, carrier="never seen", marketplace=None,
               hts_code=None, declared_value_usd=0.0, quantity=10**9)  # fmt: skip
    (result,) = decide(model, [odd], Policy(), explain_all=True)
    assert result["parcel_id"] == "ODD" and result["reasons"]
    json.dumps(result, allow_nan=False)
