"""Reading the values of a user's columns: ids, text, times, numbers and yes/no values.

Each function reads one column of a user's table (text from a CSV, typed columns from
Parquet, or JSON values of records) in the dialect of :mod:`parcelrisk.contract.parse`
and appends a :class:`~parcelrisk.contract.problems.ContractProblem` per value it cannot
read, naming the user's column. :mod:`parcelrisk.contract.mapping_apply` puts the columns
together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from parcelrisk.contract.mapping_spec import Binary, ColumnMapping
from parcelrisk.contract.parse import (
    OUT_OF_RANGE,
    as_text,
    blank,
    localize,
    only_text,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
    to_ns,
)
from parcelrisk.contract.problems import ContractProblem, python_value
from parcelrisk.contract.schema import FIELDS_BY_NAME, Kind

_FLOAT_MAX = float(np.finfo(float).max)  # a Python float: compares with any int exactly


@dataclass(frozen=True)
class _Column:
    """A user's column being read, and the list its problems go to."""

    s: pd.Series
    name: str
    ids: np.ndarray
    problems: list[ContractProblem]

    def refuse(self, mask: np.ndarray, reason: str | Callable[[Any], str], allowed: str) -> None:
        """A problem for every row where ``mask`` is true (``reason`` of the value, or text)."""
        for i in np.flatnonzero(mask):
            value = self.s.iloc[i]
            why = reason if isinstance(reason, str) else reason(value)
            self.problems.append(
                ContractProblem(int(i), self.ids[i], self.name, python_value(value), why, allowed)
            )


def row_ids(table: pd.DataFrame, mapping: ColumnMapping) -> np.ndarray:
    """Each row's id as a non-empty string, or None (for problem messages)."""
    if mapping.id not in table.columns:
        return np.full(len(table), None, dtype=object)
    values = as_text(table[mapping.id]).to_numpy(dtype=object, na_value=None)
    return np.array([v if isinstance(v, str) and v else None for v in values], dtype=object)


def categories(
    s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """An extra categorical column as ``string``; values that are not text are problems."""
    values = as_text(s)
    if not ptypes.is_object_dtype(values.dtype):
        return values.astype("string")
    ok = values.map(lambda v: isinstance(v, str) or v is None or v is pd.NA or v != v)
    ok = ok.to_numpy(dtype=bool)
    reason = _got("expected text")
    _Column(s, column, ids, problems).refuse(~ok, reason, "text, or missing")
    return values.where(ok, None).astype("string")


def times(
    s: pd.Series, mapping: ColumnMapping, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """Times in UTC: with an offset as given, without one in the mapping's timezone.

    Values that are neither text nor timestamps (JSON numbers, booleans) and times outside
    the nanosecond range of the canonical frame are problems, not guesses or crashes.
    """
    what = f"format {mapping.time_format!r}" if mapping.time_format else "ISO 8601"
    allowed = f"a time in {what} (timezone {mapping.timezone} unless the value has an offset)"
    col = _Column(s, mapping.time, ids, problems)
    if ptypes.is_datetime64_any_dtype(s.dtype):
        has_tz = getattr(s.dtype, "tz", None) is not None
        utc = s.dt.tz_convert("UTC") if has_tz else localize(s, mapping.timezone)
        nonexistent = utc.isna().to_numpy() & s.notna().to_numpy()
        utc, outside = to_ns(utc)
    else:
        wrong = np.zeros(len(s), dtype=bool)
        if not only_text(s):
            wrong = ~blank(s) & ~s.map(_time_like).to_numpy(dtype=bool)
        col.refuse(wrong, _got("expected text or a timestamp"), allowed)
        read = parse_timestamps(s.mask(wrong), fmt=mapping.time_format, timezone=mapping.timezone)
        col.refuse(read.unparsed, f"not a time in {what}", allowed)
        utc, nonexistent, outside = read.utc, read.nonexistent, read.out_of_range
    col.refuse(outside, OUT_OF_RANGE, allowed)
    col.refuse(
        nonexistent,
        f"this local time does not exist or is ambiguous in {mapping.timezone} "
        "(a daylight-saving change)",
        allowed,
    )
    return utc


def _got(expected: str) -> Callable[[Any], str]:
    return lambda value: f"{expected}, got {type(value).__name__}"


def _time_like(value: Any) -> bool:
    """Whether a value of an untyped time column is text, a timestamp or missing."""
    if isinstance(value, str | datetime | np.datetime64) or value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value  # NaN


def numbers(
    s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """Numbers as float64 (NaN where missing); values that are not finite numbers are problems."""
    missing = blank(s)
    if ptypes.is_bool_dtype(s.dtype):
        values, bad = np.full(len(s), np.nan), ~missing
    elif ptypes.is_numeric_dtype(s.dtype):
        values, bad = s.to_numpy(dtype=float, na_value=np.nan), np.zeros(len(s), dtype=bool)
    elif only_text(s):
        parsed, bad = parse_numbers(s)
        values = parsed.to_numpy(dtype=float, na_value=np.nan)
    else:
        values = _json_numbers(s, missing)
        bad = np.isnan(values) & ~missing
    infinite = np.isinf(values)
    col = _Column(s, column, ids, problems)
    col.refuse(bad, "not a number", "a finite number")
    col.refuse(infinite, "not a finite number", "a finite number")
    return pd.Series(np.where(bad | infinite, np.nan, values), index=s.index)


def _json_numbers(s: pd.Series, missing: np.ndarray) -> np.ndarray:
    """Floats of mixed values (JSON): text parsed, numbers as given, NaN for the rest."""
    is_text = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    is_bool = s.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
    text, _ = parse_numbers(s.where(is_text))
    typed = s.mask(is_text | is_bool | missing).map(_beyond_float_infinite)
    typed = pd.to_numeric(typed, errors="coerce").to_numpy(dtype=float)
    return np.where(is_text, text.to_numpy(dtype=float, na_value=np.nan), typed)


def _beyond_float_infinite(value: Any) -> Any:
    """A whole number beyond float range as an infinity (not finite)."""
    if isinstance(value, int) and abs(value) > _FLOAT_MAX:
        return np.inf if value > 0 else -np.inf
    return value


def role_values(
    role: str, s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """The values of a contract role: numbers for a numeric field, else text."""
    if FIELDS_BY_NAME[role].kind in (Kind.INT, Kind.FLOAT):
        return numbers(s, column, ids, problems)  # validation refuses fractions for INT
    return as_text(s)


def binary_values(
    s: pd.Series, spec: Binary, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """True, False or NA per row; values outside the declared ones are problems."""
    values, bad = parse_booleans(s, spec.positive, spec.negative)
    if bad.any():
        seen = pd.Series(s[bad].astype(str)).value_counts()
        shown = ", ".join(f"{v!r} ({n} rows)" for v, n in seen.head(5).items())
        reason = (
            f"not a yes/no value; values found that are neither: {shown}; declare them "
            "under positive or negative in the mapping"
        )
        _Column(s, spec.column, ids, problems).refuse(bad, reason, spec.allowed())
    return values
