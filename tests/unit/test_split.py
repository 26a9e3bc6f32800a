"""Time splits at a given date or at the latest fraction of rows; never at random."""

from __future__ import annotations

import pandas as pd
import pytest

from parcelrisk.split import cutoff_for, split_at


@pytest.fixture
def frame() -> pd.DataFrame:
    times = ["2025-03-01T10:00Z", "2025-03-02T10:00Z", "2025-03-03T10:00Z", "2025-03-03T10:00Z",
             "2025-03-04T10:00Z"]  # fmt: skip
    # rows out of time order: the split must not depend on row order
    return pd.DataFrame({"declared_at": pd.to_datetime(times, utc=True)}).iloc[[3, 0, 4, 1, 2]]


def test_a_fraction_cuts_at_the_first_of_the_latest_rows_and_keeps_ties_together(frame):
    cutoff = cutoff_for(frame, test_fraction=0.5)
    assert cutoff == pd.Timestamp("2025-03-03T10:00Z")
    split = split_at(frame, cutoff)
    assert len(split.train) == 2 and len(split.test) == 3  # both rows at the cut-off test
    assert split.train["declared_at"].max() < split.test["declared_at"].min()


def test_a_date_is_read_in_the_given_timezone_unless_it_has_an_offset(frame):
    assert cutoff_for(frame, test_from="2025-03-03") == pd.Timestamp("2025-03-03T00:00Z")
    local = cutoff_for(frame, test_from="2025-03-03", timezone="Asia/Seoul")
    assert local == pd.Timestamp("2025-03-02T15:00Z")
    assert cutoff_for(frame, test_from="2025-03-03T00:00+01:00", timezone="Asia/Seoul") == (
        pd.Timestamp("2025-03-02T23:00Z")
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of test_from"),
        ({"test_from": "2025-03-03", "test_fraction": 0.2}, "exactly one of test_from"),
        ({"test_fraction": 1.0}, "between 0 and 1"),
        ({"test_from": "next tuesday"}, "'next tuesday' is not a date"),
    ],
)
def test_bad_split_arguments_are_refused(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cutoff_for(frame, **kwargs)


def test_a_cutoff_that_leaves_a_side_empty_is_refused(frame):
    with pytest.raises(ValueError, match="leaves no training or no test parcels"):
        split_at(frame, pd.Timestamp("2025-03-01T10:00Z"))
