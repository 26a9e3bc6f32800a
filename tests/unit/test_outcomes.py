"""Inspection outcomes: the store takes only what retraining and the live history can use;
a duplicate is not written twice; a correction is a new version with who and when."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelrisk.artifact import LoadedModel
from parcelrisk.audit import OUTCOME_FIELDS, AuditStore, Decision
from parcelrisk.contract import INSPECTION_REASONS, VIOLATION_TYPES, to_records
from parcelrisk.contract.schema import MAX_ID_LENGTH
from parcelrisk.feedback import labelled_declarations
from parcelrisk.history_store import HistoryFollower
from parcelrisk.labels import labels_and_weights
from parcelrisk.outcomes import Outcome, outcome_problems
from parcelrisk.synth import generate
from parcelrisk.train import fit_model

PARCELS = 3


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    frame = generate(rows=20_000, days=10, seed=5)
    return LoadedModel(fit_model(frame).pipeline, {"version": "o-1"}, Path("."))


@pytest.fixture(scope="module")
def records(model) -> list[dict]:
    frame = generate(rows=200, days=2, seed=6, start="2025-06-01")
    return to_records(frame.head(PARCELS))


def _store(url: str, records: list[dict]) -> AuditStore:
    store = AuditStore(url)
    store.append_decisions(
        Decision("r1", r["parcel_id"], r, "o-1", 0.5, "review", None) for r in records
    )
    return store


def test_the_outcome_fields_are_the_rules_fields():
    assert tuple(Outcome.model_fields) == OUTCOME_FIELDS


@pytest.mark.parametrize(
    ("outcome", "said"),
    [
        ({"inspected": True}, "an inspected parcel needs violation_found"),
        ({"inspected": False, "violation_found": False}, "violation_found given for a parcel"),
        ({"inspected": False, "outcome_at": "2025-06-02T00:00:00Z"}, "outcome_at given for"),
        ({"inspected": "true", "violation_found": True}, "inspected: Input should be a valid bool"),
        ({"inspected": 1, "violation_found": True}, "inspected: Input should be a valid bool"),
        ({"inspected": True, "violation_found": False, "inspection_propensity": "0.5"},
         "inspection_propensity: Input should be a valid number"),
        ({"inspected": True, "violation_found": False, "inspection_propensity": 0},
         "inspection_propensity: Input should be greater than 0"),
        ({"inspected": True, "violation_found": False, "violation_type": "counterfeit"},
         "violation_type given but violation_found is not true"),
        ({"inspected": True, "violation_found": True, "violation_type": "fraud"},
         "violation_type: Input should be"),
        ({"inspected": True, "violation_found": True, "outcome_at": "2999-01-01T00:00:00Z"},
         "outcome_at is in the future"),
        ({"inspected": True, "violation_found": True, "outcome_at": "2025-06-02T00:00:00"},
         "outcome_at: Input should have timezone info"),
        ({"inspected": True, "violation_found": True, "violation_fund": True},
         "violation_fund: Extra inputs are not permitted"),
        ({"parcel_id": "P\x00", "inspected": False}, "must not contain control characters"),
        ({"parcel_id": "x" * (MAX_ID_LENGTH + 1), "inspected": False}, "at most 128 characters"),
    ],
)  # fmt: skip
def test_outcomes_training_could_not_use_are_refused_naming_them(records, store_url, outcome, said):
    store = _store(store_url, records)
    pid = records[0]["parcel_id"]
    good = {"parcel_id": pid, "inspected": True, "violation_found": False}
    with pytest.raises(ValueError, match=r"outcomes\[1\] \(parcel_id '") as err:
        store.append_outcomes([good, {"parcel_id": pid, **outcome}])
    assert said in str(err.value)
    assert store.outcomes() == []  # all or none


def test_a_duplicate_is_not_written_twice_and_a_correction_is_a_new_version(records, store_url):
    store = _store(store_url, records)
    p1, p2 = records[0]["parcel_id"], records[1]["parcel_id"]
    at = datetime(2025, 6, 3, 12, tzinfo=UTC)
    found = {"parcel_id": p1, "inspected": True, "violation_found": True, "outcome_at": at}
    first = store.append_outcomes([found, {"parcel_id": p2, "inspected": False}], recorded_by="a")
    assert (first.new, first.corrections, first.duplicates) == (2, 0, 0)
    # the same again, its time in another zone: nothing is written
    again = {**found, "outcome_at": at.astimezone(datetime.now().astimezone().tzinfo)}
    twice = store.append_outcomes([again, again, {"parcel_id": p2, "inspected": False}])
    assert (twice.new, twice.corrections, twice.duplicates) == (0, 0, 3)
    fixed = {**found, "violation_found": False}
    corrected = store.append_outcomes([fixed], recorded_by="b")
    assert (corrected.new, corrected.corrections, corrected.duplicates) == (0, 1, 0)
    rows = store.outcomes()
    assert [(r["parcel_id"], r["version"], r["recorded_by"]) for r in rows] == [
        (p1, 1, "a"), (p2, 1, "a"), (p1, 2, "b"),
    ]  # fmt: skip
    labelled = labelled_declarations(store).set_index("parcel_id")
    assert not labelled.loc[p1, "violation_found"]  # the correction is what training reads


def test_a_model_weighted_by_propensities_needs_them_on_inspected_outcomes():
    inspected = Outcome(parcel_id="P1", inspected=True, violation_found=False)
    released = Outcome(parcel_id="P2", inspected=False)
    assert outcome_problems([released, inspected], "none") == []
    [problem] = outcome_problems([released, inspected], "calibration")
    assert (problem["row"], problem["parcel_id"], problem["field"]) == (
        1, "P1", "inspection_propensity")  # fmt: skip
    assert problem["reason"].startswith("required for an inspected parcel")


_ANY_TIME = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_OUTCOMES = st.fixed_dictionaries(
    {"parcel": st.integers(0, PARCELS - 1)},
    optional={
        "inspected": st.one_of(st.booleans(), st.just("true"), st.just(1), st.none()),
        "violation_found": st.one_of(st.booleans(), st.none(), st.just("false")),
        "violation_type": st.one_of(st.none(), st.sampled_from((*VIOLATION_TYPES, "fraud"))),
        "inspection_reason": st.one_of(st.none(), st.sampled_from((*INSPECTION_REASONS, "x"))),
        "inspection_propensity": st.one_of(
            st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 2)
        ),
        "outcome_at": st.one_of(
            st.none(),
            _ANY_TIME,
            _ANY_TIME.map(lambda t: t.isoformat()),
            st.just(datetime(2025, 6, 2, 8)),
            st.just("yesterday"),
        ),
    },
)


@st.composite
def _valid_outcomes(draw) -> dict:
    """Outcomes the rule admits: every combination of what an inspection can say."""
    parcel = draw(st.integers(0, PARCELS - 1))
    propensity = draw(st.floats(min_value=1e-6, max_value=1.0))
    if not draw(st.booleans()):
        return {"parcel": parcel, "inspected": False, "inspection_propensity": propensity}
    found = draw(st.booleans())
    outcome = {"parcel": parcel, "inspected": True, "violation_found": found,
               "inspection_propensity": propensity,
               "inspection_reason": draw(st.sampled_from((None, *INSPECTION_REASONS))),
               "outcome_at": draw(st.one_of(st.none(), st.datetimes(
                   min_value=datetime(1970, 1, 2), max_value=datetime(2026, 1, 1),
                   timezones=st.just(UTC))))}  # fmt: skip
    if found:
        outcome["violation_type"] = draw(st.sampled_from((None, *VIOLATION_TYPES)))
    return outcome


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_valid_outcomes(), _OUTCOMES), min_size=1, max_size=8))
def test_any_sequence_of_accepted_outcomes_leaves_training_and_the_live_history_working(
    model, records, sent
):
    """Each outcome goes in alone, as the service would take it (the store's rule and the
    model's propensity rule); whatever was accepted, retraining reads it back and weights it,
    and a live history reads the log."""
    with tempfile.TemporaryDirectory() as root:
        store = _store(f"sqlite:///{root}/audit.db", records)
        accepted = 0
        for draw in sent:
            outcome = {k: v for k, v in draw.items() if k != "parcel"}
            outcome["parcel_id"] = records[draw["parcel"]]["parcel_id"]
            try:
                checked = Outcome.model_validate(outcome)
            except ValueError:
                with pytest.raises(ValueError, match=r"outcomes\[0\]"):
                    store.append_outcomes([outcome])
                continue
            if outcome_problems([checked], "calibration"):
                continue
            accepted += store.append_outcomes([outcome]).recorded
        if accepted:
            frame = labelled_declarations(store)
            now = datetime.now(UTC) + timedelta(minutes=10)
            for weighting in ("calibration", "ipw", "none"):
                labels_and_weights(frame, now, weighting)
        follower = HistoryFollower(store, model)
        assert follower.catch_up().outcomes == accepted
        store.engine.dispose()
