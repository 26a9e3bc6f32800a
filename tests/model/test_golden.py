"""Decisions on generated data are pinned: probability, lane and reasons of 2,000 parcels.

``tests/golden/decisions.json.gz`` holds the decisions of the session model (see
``conftest.py``) for the first 2,000 parcels of its test window, every parcel explained,
sent as JSON records. A change to the code that moves any probability or contribution by
more than rounding (a relative 1e-12), any lane, or any reason's text, group, feature or
value fails here. Write the file anew only for a change meant to alter decisions, and
say so in its commit: ``PARCELRISK_WRITE_GOLDEN=1 pytest tests/model/test_golden.py``.

Numbers are compared to rounding, not to the bit, because the session model is trained
anew on each machine and LightGBM's sums round differently on different processors: the
same code and locked packages gave 1,270 of these 2,000 probabilities a last-bit
difference (at most 1.2e-15 relative) between two machines. Bit-for-bit equality of
scoring paths on one machine is tested elsewhere (replay, decide against decide_frame).
"""

from __future__ import annotations

import gzip
import json
import math
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
    now = json.loads(json.dumps(now, ensure_ascii=False))
    for got, want in zip(now, golden, strict=True):
        assert _same(got, want), f"decision of {want['parcel_id']} changed: {got} != {want}"


def _same(got, want) -> bool:
    """Equal, floats to a relative 1e-12 (and ints and bools never taken for floats)."""
    if isinstance(want, float) and type(got) is float:
        return math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_same(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(g, w) for g, w in zip(got, want, strict=True))
        )
    return type(got) is type(want) and got == want


def test_the_comparison_can_fail():
    assert _same({"p": [0.1, "a"]}, {"p": [0.1 + 1e-17, "a"]})
    assert not _same({"p": [0.1, "a"]}, {"p": [0.1000001, "a"]})
    assert not _same({"p": 1}, {"p": 1.0}) and not _same({"p": "a"}, {"p": "b"})
    assert not _same({"p": 0.1}, {"p": 0.1, "q": 1})
