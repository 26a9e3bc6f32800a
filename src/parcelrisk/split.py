"""Time splits: training parcels before a cut-off, test parcels from it on; never at random."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TimeSplit:
    """Training parcels (declared before ``cutoff``) and test parcels (from it on)."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp


def split_by_time(frame: pd.DataFrame, test_days: float) -> TimeSplit:
    """Split into earlier (training) and the last ``test_days`` days (test); never at random."""
    end = frame["declared_at"].max()
    cutoff = (end - pd.Timedelta(days=test_days)).ceil("D")
    if not frame["declared_at"].min() < cutoff <= end:
        raise ValueError(
            f"test_days={test_days} leaves no training or no test parcels: data spans "
            f"{frame['declared_at'].min()} to {end}"
        )
    before = (frame["declared_at"] < cutoff).to_numpy()
    return TimeSplit(frame[before], frame[~before], cutoff)


def training_split(
    frame: pd.DataFrame, test_days: float, cutoff: pd.Timestamp | None = None
) -> TimeSplit:
    """The split every training run uses: at ``cutoff`` when given, else the last
    ``test_days`` days are the test window."""
    return split_by_time(frame, test_days) if cutoff is None else split_at(frame, cutoff)


def split_at(frame: pd.DataFrame, cutoff: pd.Timestamp) -> TimeSplit:
    """Split into parcels declared before ``cutoff`` (training) and from it on (test)."""
    before = (frame["declared_at"] < cutoff).to_numpy()
    if before.all() or not before.any():
        raise ValueError(
            f"a cut-off at {cutoff} leaves no training or no test parcels: data spans "
            f"{frame['declared_at'].min()} to {frame['declared_at'].max()}"
        )
    return TimeSplit(frame[before], frame[~before], cutoff)


def cutoff_for(
    frame: pd.DataFrame,
    *,
    test_from: str | None = None,
    test_fraction: float | None = None,
    timezone: str = "UTC",
) -> pd.Timestamp:
    """The training cut-off: a given time, or where the latest ``test_fraction`` of rows start.

    ``test_from`` is a date or time (ISO 8601; in ``timezone`` unless it has an offset). With
    ``test_fraction`` the cut-off is the declaration time of the first row of the latest
    ``test_fraction`` of the rows in time order (rows declared at that very time are test
    rows too, so the test share can be a little larger).
    """
    if (test_from is None) == (test_fraction is None):
        raise ValueError("give exactly one of test_from (a date) and test_fraction")
    if test_from is not None:
        try:
            stamp = pd.Timestamp(test_from)
        except ValueError as err:
            raise ValueError(f"test_from {test_from!r} is not a date (YYYY-MM-DD)") from err
        local = stamp.tz_localize(timezone) if stamp.tzinfo is None else stamp
        return local.tz_convert("UTC")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie between 0 and 1, got {test_fraction}")
    times = frame["declared_at"].sort_values(kind="stable")
    return times.iloc[min(int(len(times) * (1 - test_fraction)), len(times) - 1)]


def time_holdout(rows, fraction: float):
    """Split row positions (in time order) into earlier rows and the latest ``fraction``.

    The one validation window of every fit (early stopping, calibration, baselines): the
    latest rows of a training period, never a random sample. Returns ``(earlier, latest)``
    as arrays of the given positions; ``latest`` has ``round(len(rows) * fraction)`` rows.
    """
    rows = np.asarray(rows)
    if not 0 < fraction < 1:
        raise ValueError(f"a holdout fraction must lie between 0 and 1, got {fraction}")
    n_late = round(len(rows) * fraction)
    return rows[: len(rows) - n_late], rows[len(rows) - n_late :]
