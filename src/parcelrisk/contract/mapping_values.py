"""Reading the values of a user's columns: ids, text, times, numbers and yes/no values.

Each function reads one column of a user's table (text from a CSV, typed columns from
Parquet, or JSON values of records) and appends a
:class:`~parcelrisk.contract.problems.ContractProblem` per value it cannot read, naming
the user's column. :mod:`parcelrisk.contract.mapping_apply` puts the columns together.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from parcelrisk.contract.mapping_spec import Binary, ColumnMapping
from parcelrisk.contract.parse import label_text
from parcelrisk.contract.problems import ContractProblem, python_value
from parcelrisk.contract.schema import FIELDS_BY_NAME, Kind

# a time of day followed by 'Z' or a UTC offset: such values carry their own timezone
_FLOAT_MAX = float(np.finfo(float).max)  # a Python float: compares with any int exactly
# the range of the canonical frame's nanosecond timestamps
_EARLIEST, _LATEST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
_OFFSET = re.compile(r".*\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")


def row_ids(table: pd.DataFrame, mapping: ColumnMapping) -> np.ndarray:
    """Each row's id as a non-empty string, or None (for problem messages)."""
    if mapping.id not in table.columns:
        return np.full(len(table), None, dtype=object)
    values = text_values(table[mapping.id]).to_numpy(dtype=object, na_value=None)
    return np.array([v if isinstance(v, str) and v else None for v in values], dtype=object)


def _only_text(s: pd.Series) -> bool:
    """Whether every value is a string or missing (a CSV column): vectorised paths apply."""
    if ptypes.is_object_dtype(s.dtype):
        return ptypes.infer_dtype(s, skipna=True) in ("string", "empty")
    return ptypes.is_string_dtype(s.dtype)


def text_values(s: pd.Series) -> pd.Series:
    """Text as given; whole numbers (int columns, or ints among objects) as decimal text."""
    if ptypes.is_integer_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype):
        return s.astype("string")
    if ptypes.is_object_dtype(s.dtype) and not _only_text(s):
        return s.map(
            lambda v: str(v) if isinstance(v, int | np.integer) and not isinstance(v, bool) else v
        )
    return s


def categories(
    s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """An extra categorical column as ``string``; values that are not text are problems."""
    values = text_values(s)
    if not ptypes.is_object_dtype(values.dtype):
        return values.astype("string")
    ok = values.map(lambda v: isinstance(v, str) or v is None or v is pd.NA or v != v)
    for i in np.flatnonzero(~ok.to_numpy(dtype=bool)):
        problems.append(_problem(i, ids, column, s.iloc[i],
                                 f"expected text, got {type(s.iloc[i]).__name__}",
                                 "text, or missing"))  # fmt: skip
    return values.where(ok, None).astype("string")


def _problem(row: int, ids: np.ndarray, column: str, value: Any, reason: str, allowed: str):
    return ContractProblem(int(row), ids[row], column, python_value(value), reason, allowed)


def _is_missing(s: pd.Series) -> np.ndarray:
    missing = s.isna().to_numpy(dtype=bool)
    if _only_text(s):
        blank = s.astype("string").str.strip().eq("")
    elif ptypes.is_object_dtype(s.dtype):
        blank = s.map(lambda v: isinstance(v, str) and not v.strip())
    else:
        return missing
    return missing | blank.to_numpy(dtype=bool, na_value=False)


def times(
    s: pd.Series, mapping: ColumnMapping, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """Times in UTC: with an offset as given, without one in the mapping's timezone.

    Values that are neither text nor timestamps (JSON numbers, booleans) and times outside
    the nanosecond range of the canonical frame are problems, not guesses or crashes.
    """
    missing = _is_missing(s)
    what = f"format {mapping.time_format!r}" if mapping.time_format else "ISO 8601"
    allowed = f"a time in {what} (timezone {mapping.timezone} unless the value has an offset)"
    if ptypes.is_datetime64_any_dtype(s.dtype):
        has_tz = getattr(s.dtype, "tz", None) is not None
        utc = s.dt.tz_convert("UTC") if has_tz else _localize(s, mapping.timezone)
        unparsed = np.zeros(len(s), dtype=bool)
    else:
        wrong = np.zeros(len(s), dtype=bool)
        if not _only_text(s):
            wrong = ~missing & ~s.map(_time_like).to_numpy(dtype=bool)
        for i in np.flatnonzero(wrong):
            reason = f"expected text or a timestamp, got {type(s.iloc[i]).__name__}"
            problems.append(_problem(i, ids, mapping.time, s.iloc[i], reason, allowed))
        missing = missing | wrong
        text = s.astype("string").str.strip().mask(missing)
        fmt = mapping.time_format or "ISO8601"
        utc = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        unparsed = utc.isna().to_numpy() & ~missing
        local = ~text.str.fullmatch(_OFFSET).to_numpy(dtype=bool, na_value=False)
        if mapping.time_format and "%z" in mapping.time_format:
            local[:] = False
        if local.any() and mapping.timezone != "UTC":  # naive wall time, read in the timezone
            wall = utc[local].dt.tz_localize(None)
            utc = utc.copy()
            utc[local] = _localize(wall, mapping.timezone)
    # parsing may give a coarser unit than the canonical nanoseconds, with a wider range
    outside = ((utc < _EARLIEST) | (utc > _LATEST)).to_numpy(dtype=bool, na_value=False)
    for i in np.flatnonzero(outside):
        reason = "timestamp out of range (years 1677 to 2262)"
        problems.append(_problem(i, ids, mapping.time, s.iloc[i], reason, allowed))
    for i in np.flatnonzero(unparsed):
        problems.append(_problem(i, ids, mapping.time, s.iloc[i], f"not a time in {what}",
                                 allowed))  # fmt: skip
    for i in np.flatnonzero(utc.isna().to_numpy() & ~missing & ~unparsed):
        problems.append(_problem(i, ids, mapping.time, s.iloc[i],
                                 f"this local time does not exist or is ambiguous in "
                                 f"{mapping.timezone} (a daylight-saving change)",
                                 allowed))  # fmt: skip
    return utc.mask(outside).dt.as_unit("ns")


def _time_like(value: Any) -> bool:
    """Whether a value of an untyped time column is text, a timestamp or missing."""
    if isinstance(value, str | datetime | np.datetime64) or value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value  # NaN


def _localize(naive: pd.Series, timezone: str) -> pd.Series:
    """Wall times in ``timezone`` to UTC; a time in a DST gap or overlap becomes NaT."""
    local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC")


def numbers(
    s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """Numbers as float64 (NaN where missing); text that is not a finite number is a problem."""
    missing = _is_missing(s)
    if ptypes.is_bool_dtype(s.dtype):
        values = pd.Series(np.nan, index=s.index)
        bad = ~missing
    elif ptypes.is_numeric_dtype(s.dtype):
        values = pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=s.index)
        bad = np.zeros(len(s), dtype=bool)
    elif _only_text(s):
        text = s.astype("string").str.strip().mask(missing)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        bad = values.isna().to_numpy() & ~missing
    else:
        is_bool = s.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        text = s.mask(is_bool | missing)
        if ptypes.is_object_dtype(text.dtype):
            text = text.map(_number_like)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        bad = values.isna().to_numpy() & ~missing
    infinite = np.isinf(values.to_numpy())
    for i in np.flatnonzero(bad | infinite):
        reason = "not a finite number" if infinite[i] else "not a number"
        problems.append(_problem(i, ids, column, s.iloc[i], reason, "a finite number"))
    return values.mask(bad | infinite)


def _number_like(value: Any) -> Any:
    """Text stripped; a whole number beyond float range as an infinity (not finite)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and abs(value) > _FLOAT_MAX:
        return np.inf if value > 0 else -np.inf
    return value


def role_values(
    role: str, s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    if FIELDS_BY_NAME[role].kind in (Kind.INT, Kind.FLOAT):
        return numbers(s, column, ids, problems)  # validation refuses fractions for INT
    return text_values(s)


def binary_values(
    s: pd.Series, spec: Binary, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """True, False or NA per row; values outside the declared ones are problems."""
    missing = _is_missing(s)
    if _only_text(s):
        text = s.astype("string").str.strip().str.lower().mask(missing)
    else:
        text = s.map(lambda v: None if v is None or v is pd.NA else label_text(v))
        text = text.mask(missing)
    yes = text.isin([label_text(v) for v in spec.positive]).to_numpy(dtype=bool)
    no = text.isin([label_text(v) for v in spec.negative]).to_numpy(dtype=bool)
    bad = ~(yes | no | missing)
    if bad.any():
        seen = pd.Series(s[bad].astype(str)).value_counts()
        shown = ", ".join(f"{v!r} ({n} rows)" for v, n in seen.head(5).items())
        for i in np.flatnonzero(bad):
            problems.append(_problem(
                i, ids, spec.column, s.iloc[i],
                f"not a yes/no value; values found that are neither: {shown}; declare them "
                "under positive or negative in the mapping",
                spec.allowed(),
            ))  # fmt: skip
    return pd.Series(pd.arrays.BooleanArray(yes, ~(yes | no)), index=s.index)
