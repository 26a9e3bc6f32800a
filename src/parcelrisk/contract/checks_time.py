"""Per-kind checks of timestamps: one column against a timestamp field of the contract.

A timestamp is an aware datetime (typed column, or ``datetime`` objects with a timezone)
or an ISO 8601 string with an offset, read by :func:`parcelrisk.contract.parse.parse_timestamps`
(JSON has no timestamp type). Values are converted to UTC with nanosecond resolution;
naive times, other types and times outside years 1677 to 2262 are issues.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from parcelrisk.contract.checks import CANONICAL_DTYPES, Checked, dtype_noun, is_text_dtype, nulls
from parcelrisk.contract.parse import OUT_OF_RANGE, parse_timestamps, to_ns
from parcelrisk.contract.schema import Kind


def check_timestamps(s: pd.Series) -> Checked:
    """Check a column of timestamps: aware datetimes or ISO 8601 strings with an offset."""
    result = Checked(s, nulls(s))
    nat = pd.Series(pd.NaT, index=s.index, dtype=CANONICAL_DTYPES[Kind.TIMESTAMP])
    if ptypes.is_object_dtype(s.dtype) or is_text_dtype(s.dtype):
        utc = _timestamps_from_objects(s, result)
    elif ptypes.is_datetime64_any_dtype(s.dtype) and getattr(s.dtype, "tz", None) is None:
        result.add(~result.missing, "timestamp has no timezone")
        utc = nat
    elif ptypes.is_datetime64_any_dtype(s.dtype):
        utc = _to_ns(s.dt.tz_convert("UTC"), result)
    else:
        result.add(~result.missing, f"expected a timestamp, got {dtype_noun(s.dtype)}")
        utc = nat
    result.values = utc.mask(result.invalid)
    return result


def _to_ns(utc: pd.Series, result: Checked) -> pd.Series:
    """UTC timestamps in nanoseconds, those outside the nanosecond range reported."""
    ns, out_of_range = to_ns(utc)
    result.add(out_of_range, OUT_OF_RANGE)
    return ns


def _timestamp_reason(value: Any) -> str:
    if isinstance(value, datetime | np.datetime64):
        return "timestamp has no timezone"
    return f"expected a timestamp, got {type(value).__name__}"


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value is not pd.NaT and value.utcoffset() is not None


def _timestamps_from_objects(s: pd.Series, result: Checked) -> pd.Series:
    """Parse ISO 8601 strings and aware datetimes of an object or string column to UTC."""
    inferred = ptypes.infer_dtype(s, skipna=True) if ptypes.is_object_dtype(s.dtype) else ""
    if inferred == "datetime" and (same_tz := _one_timezone(s)) is not None:
        return _to_ns(same_tz, result)
    if inferred in ("", "string", "empty"):
        return _parse_iso(s, result)
    values = s.to_numpy(dtype=object)
    is_str = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(s))
    aware = np.fromiter(map(_is_aware, values), dtype=bool, count=len(s)) & ~result.missing
    bad = np.flatnonzero(~is_str & ~aware & ~result.missing)
    result.add_each(bad, [_timestamp_reason(values[i]) for i in bad])
    utc = pd.Series(pd.NaT, index=s.index, dtype=CANONICAL_DTYPES[Kind.TIMESTAMP])
    if is_str.any():
        utc = _parse_iso(s.where(is_str), result)
    if aware.any():
        aware_utc = pd.to_datetime(s.where(aware), utc=True, cache=False)
        utc = utc.where(~aware, _to_ns(aware_utc, result))
    return utc


def _one_timezone(s: pd.Series) -> pd.Series | None:
    """Datetimes that all share one timezone, in UTC (vectorised); None otherwise."""
    try:
        same_tz = pd.to_datetime(s, cache=False)
    except (ValueError, TypeError):  # mixed timezones, or aware and naive
        return None
    if getattr(same_tz.dtype, "tz", None) is None:
        return None
    return same_tz.dt.tz_convert("UTC")


def _parse_iso(s: pd.Series, result: Checked) -> pd.Series:
    """Parse ISO 8601 strings (NA elsewhere) to UTC; blank strings count as missing."""
    times = parse_timestamps(s)
    result.missing = result.missing | (times.missing & s.notna().to_numpy())
    result.add(times.unparsed, "must be an ISO 8601 timestamp")
    result.add(times.local, "timestamp has no timezone")
    result.add(times.out_of_range, OUT_OF_RANGE)
    return times.utc
