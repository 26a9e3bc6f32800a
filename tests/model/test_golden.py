"""Decisions on generated data are pinned: probability, lane and reasons of 2,000 parcels.

``tests/golden/decisions.json.gz`` holds the decisions of the session model (see
``conftest.py``) for the first 2,000 parcels of its test window, every parcel explained,
sent as JSON records. A change to the code that moves any probability by one bit, any
lane, or any reason's text, group, feature, value or contribution fails here. Write the
file anew only for a change meant to alter decisions, and say so in its commit:
``PARCELRISK_WRITE_GOLDEN=1 pytest tests/model/test_golden.py``.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from parcelrisk.artifact import LoadedModel
from parcelrisk.contract import DECLARATION_COLUMNS
from parcelrisk.policy import Policy
from parcelrisk.predict import decide

GOLDEN = Path(__file__).parents[1] / "golden" / "decisions.json.gz"
PARCELS = 2_000
#: Lanes that put parcels in all three lanes of the session model's test window.
POLICY = Policy(inspect=0.3, review=0.1, top=3, direction="both")


def _decisions(fitted, split) -> list[dict]:
    model = LoadedModel(fitted.pipeline, {"version": "golden"}, Path("."))
    table = split.test[list(DECLARATION_COLUMNS)].iloc[:PARCELS]
    records = json.loads(table.to_json(orient="records", date_format="iso", date_unit="us"))
    return decide(model, records, POLICY, explain_all=True)


def test_decisions_equal_the_golden_file(fitted, split):
    now = _decisions(fitted, split)
    if os.environ.get("PARCELRISK_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(GOLDEN, "wt", encoding="utf-8") as fh:
            json.dump(now, fh, ensure_ascii=False)
        pytest.skip(f"wrote {GOLDEN}")
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
        golden = json.load(fh)
    assert len(golden) == PARCELS
    assert {d["lane"] for d in golden} == {"inspect", "review", "release"}
    # JSON round trip: floats are written in their shortest exact form, so == is bit equality
    now = json.loads(json.dumps(now, ensure_ascii=False))
    for got, want in zip(now, golden, strict=True):
        assert got == want, f"decision of {want['parcel_id']} changed"
