"""Live entity history: appended declarations and outcomes count exactly as in training.

One generated data set (20,000 parcels over 20 days): the feature union is fitted on the
first 14 days; the "later" parcels (the last 6 days) are scored against a live history
that is appended to as a service would append to it. Features must not depend on how the
later parcels were cut into requests, and appending every later declaration and outcome
must give the features of a model fitted on everything (training semantics).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from parcelrisk.features import build_features
from parcelrisk.features.events import seconds
from parcelrisk.features.history import EntityHistory
from parcelrisk.features.live import LiveHistory, Outcomes
from parcelrisk.features.pipeline import transform
from parcelrisk.synth import generate

ROWS, DAYS, SEED, TRAIN_DAYS = 20_000, 20, 1, 14
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(rows=ROWS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module")
def cutoff(frame) -> pd.Timestamp:
    return frame["declared_at"].min().floor("D") + TRAIN_DAYS * DAY


@pytest.fixture(scope="module")
def train(frame, cutoff) -> pd.DataFrame:
    return frame[frame["declared_at"] < cutoff]


@pytest.fixture(scope="module")
def later(frame, cutoff) -> pd.DataFrame:
    return frame[frame["declared_at"] >= cutoff].sort_values("declared_at", kind="stable")


@pytest.fixture(scope="module")
def union(train):
    return build_features().fit(train)


def history_of(union) -> EntityHistory:
    return dict(union.transformer_list)["history"]


def live_of(union, **kwargs) -> LiveHistory:
    return LiveHistory(history_of(union), **kwargs)


def outcomes_of(rows: pd.DataFrame) -> Outcomes:
    """The recorded outcomes of ``rows`` (inspected or not), in outcome time order."""
    rows = rows[rows["outcome_at"].notna()].sort_values("outcome_at", kind="stable")
    return Outcomes(
        declarations=rows,
        at=seconds(rows["outcome_at"]),
        inspected=rows["inspected"].fillna(False).to_numpy(bool),
        violation_found=rows["violation_found"].fillna(False).to_numpy(bool),
    )


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    a, e = actual.to_numpy(dtype=float), expected.to_numpy(dtype=float)
    differing = [c for i, c in enumerate(expected.columns)
                 if not np.array_equal(a[:, i], e[:, i], equal_nan=True)]  # fmt: skip
    assert not differing, f"features differ: {differing}"


def one_by_one(union, rows: pd.DataFrame, live: LiveHistory, outcomes=None) -> pd.DataFrame:
    """Each parcel scored alone against ``live``, then appended to it (as the service
    does), with each outcome appended once its time has passed."""
    pending = [] if outcomes is None else list(range(len(outcomes)))
    out = []
    t = seconds(rows["declared_at"])
    for i in range(len(rows)):
        due = [k for k in pending if outcomes.at[k] < t[i]]
        if due:
            live.append(None, _take(outcomes, due))
            pending = [k for k in pending if k not in set(due)]
        one = rows.iloc[[i]]
        out.append(transform(union, one, live))
        live.append(one)
    return pd.concat(out)


def _take(outcomes: Outcomes, rows: list[int]) -> Outcomes:
    return Outcomes(outcomes.declarations.iloc[rows], outcomes.at[rows],
                    outcomes.inspected[rows], outcomes.violation_found[rows])  # fmt: skip


@pytest.fixture(scope="module")
def first_later(later) -> pd.DataFrame:
    """The first 400 later parcels, in time order."""
    return later.iloc[:400]


def test_parcels_sent_one_by_one_get_the_features_of_one_batch(union, first_later):
    batch = transform(union, first_later)
    alone = one_by_one(union, first_later, live_of(union))
    assert_same(alone, batch)
    # and the live history changed something: without it, parcels alone see less
    frozen = pd.concat([transform(union, first_later.iloc[[i]]) for i in range(50)])
    assert not np.array_equal(frozen.to_numpy(), batch.iloc[:50].to_numpy(), equal_nan=True)


@pytest.mark.parametrize("size", [10, 1000])
def test_requests_of_any_size_in_shuffled_order_get_the_same_features(union, later, size):
    rows = later.iloc[:2000]
    expected = transform(union, rows)
    live, parts = live_of(union), []
    rng = np.random.default_rng(size)
    for start in range(0, len(rows), size):
        request = rows.iloc[start : start + size]
        request = request.iloc[rng.permutation(len(request))]
        parts.append(transform(union, request, live))
        live.append(request)
    assert_same(pd.concat(parts).loc[rows.index], expected)
    assert len(live.layers) <= 2 * np.log2(len(rows)), "layers are merged as they pile up"


def test_a_parcel_sent_twice_counts_once(union, later):
    rows = later.iloc[:300]
    live = live_of(union)
    live.append(rows)
    size = len(live)
    live.append(rows.iloc[:100])  # retries of parcels already held add nothing
    assert len(live) == size
    again = live_of(union)
    again.append(pd.concat([rows.iloc[:50], rows]))
    assert_same(transform(union, later.iloc[300:400], again),
                transform(union, later.iloc[300:400], live))  # fmt: skip


def test_appending_everything_later_gives_the_features_of_a_model_fitted_on_everything(
    union, frame, train, later
):
    """The replayed evaluation's definition: every later declaration, and every outcome
    recorded after training (of training parcels too), appended; a parcel then sees what a
    model fitted on the whole table would have seen for it."""
    live = live_of(union)
    late_training = train[train["outcome_at"] > train["declared_at"].max()]
    assert len(late_training), "the data must have outcomes recorded after training"
    live.append(later, outcomes_of(pd.concat([late_training, later])))
    everything = build_features().fit(frame)
    expected = everything.transform(later)
    history = [c for c in expected.columns if c.startswith("history__")]
    assert_same(transform(union, later, live)[history], expected[history])


def test_outcomes_change_later_parcels_of_the_same_seller_only(union, later):
    rows = later.iloc[:3000]
    seller = rows["seller_id"].value_counts().index[0]
    mine = rows[rows["seller_id"] == seller]
    first = mine.iloc[:1]
    at = first["declared_at"].iloc[0] + pd.Timedelta(hours=1)
    live = live_of(union)
    live.append(rows)
    before = transform(union, mine, live)
    found = Outcomes(first, seconds(pd.Series([at])), np.array([True]), np.array([True]))
    live.append(None, found)
    after = transform(union, mine, live)
    t = mine["declared_at"]
    moved = after["history__seller_n_violations"] - before["history__seller_n_violations"]
    assert (moved[t > at] == 1).all() and (moved[t > at]).size > 0
    assert (moved[t <= at] == 0).all() and (t <= at).any()
    others = rows[rows["seller_id"] != seller].iloc[:200]
    assert_same(transform(union, others, live)[["history__seller_n_violations"]],
                transform(union, others)[["history__seller_n_violations"]])  # fmt: skip


def test_a_corrected_outcome_replaces_the_earlier_one_from_its_own_time(union, later):
    rows = later.iloc[:3000]
    seller = rows["seller_id"].value_counts().index[0]
    mine = rows[rows["seller_id"] == seller]
    t0 = mine["declared_at"].iloc[0]
    live = live_of(union)
    live.append(rows)
    one = mine.iloc[:1]

    def record(hours, found):
        at = seconds(pd.Series([t0 + pd.Timedelta(hours=hours)]))
        live.append(None, Outcomes(one, at, np.array([True]), np.array([found])))

    base = transform(union, mine, live)["history__seller_n_violations"]
    record(1, True)
    record(30, False)  # the correction
    record(30, False)  # the same outcome again changes nothing
    now = transform(union, mine, live)["history__seller_n_violations"] - base
    hours = (mine["declared_at"] - t0) / pd.Timedelta(hours=1)
    assert (now[(hours > 1) & (hours <= 30)] == 1).all()
    assert (now[(hours <= 1) | (hours > 30)] == 0).all()
    assert ((hours > 1) & (hours <= 30)).any() and (hours > 30).any()


def test_frozen_history_ignores_the_batch_and_a_live_history_of_another_model(union, later):
    rows = later.iloc[:200]
    frozen = transform(union, rows, live_of(union, batch_events=False))
    alone = pd.concat([transform(union, rows.iloc[[i]]) for i in range(len(rows))])
    assert_same(frozen, alone)
    other = build_features().fit(later)
    with pytest.raises(ValueError, match="another model"):
        transform(union, rows, LiveHistory.of(SimpleNamespace(named_steps={"features": other})))


def test_a_late_filing_sees_what_was_declared_before_it_and_counts_for_later_parcels(union, later):
    """A parcel appended after parcels declared later than it (a late filing): it sees the
    held parcels declared before it, not those after; once appended, it counts for every
    parcel scored after that and declared after it, as in one batch of all of them."""
    rows = later.iloc[:600]
    late, others = rows.iloc[[300]], rows.drop(index=rows.index[300])
    live = live_of(union)
    live.append(others)
    assert_same(transform(union, late, live), transform(union, rows).loc[late.index])
    live.append(late)
    assert_same(transform(union, others, live), transform(union, rows).loc[others.index])
