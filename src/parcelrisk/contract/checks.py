"""Per-kind checks: one column of declarations against one field of the contract.

:func:`check_column` checks every value of a column at once (vectorised) against its
field's kind (:class:`parcelrisk.contract.Kind`): its type, its format, its range. It
returns a :class:`Checked` column: the canonical values (:data:`CANONICAL_DTYPES`; missing
where no value was given or the value was refused) and the issues found, row by row.
Whole-frame rules (required columns, unique ids, outcomes of inspected parcels only) are
:mod:`parcelrisk.contract.frames`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from parcelrisk.contract.parse import NOT_UNICODE, OUT_OF_RANGE, is_unicode, parse_timestamps, to_ns
from parcelrisk.contract.schema import Field, Kind

STRING_KINDS = frozenset(
    {Kind.ID, Kind.TEXT, Kind.CATEGORY, Kind.ENUM, Kind.COUNTRY, Kind.HTS, Kind.PORT, Kind.LOCODE}
)
#: Output dtype of each kind of field.
CANONICAL_DTYPES: dict[Kind, Any] = {
    **{kind: pd.StringDtype() for kind in STRING_KINDS},
    Kind.INT: pd.Int64Dtype(),
    Kind.FLOAT: np.dtype("float64"),
    Kind.BOOL: pd.BooleanDtype(),
    Kind.TIMESTAMP: pd.DatetimeTZDtype(unit="ns", tz="UTC"),
}

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Formats, as patterns for ``Series.str.fullmatch``; ASCII classes only ([0-9], not \d,
# which matches any Unicode digit in Python's ``re``).
PATTERNS: dict[Kind, str] = {
    Kind.COUNTRY: "[A-Z]{2}",
    Kind.HTS: r"[0-9]+(?:\.[0-9]+)*",
    Kind.PORT: "[0-9]{4}",
    Kind.LOCODE: "[A-Z]{2}[A-Z0-9]{3}",
}
_FORMAT_REASONS: dict[Kind, str] = {
    Kind.COUNTRY: "must be two upper-case letters (ISO 3166-1 alpha-2)",
    Kind.HTS: "must be 6, 8 or 10 digits, optionally separated by dots",
    Kind.PORT: "must be four digits",
    Kind.LOCODE: "must be two upper-case letters and three upper-case letters or digits",
}
HTS_LENGTHS = (6, 8, 10)
# What ``infer_dtype(skipna=True)`` says of object columns holding only numbers (not bools).
_NUMERIC_INFERRED = ("integer", "floating", "mixed-integer-float", "empty")


@dataclass
class Checked:
    """A checked column: canonical values (NA where missing or invalid) and its issues."""

    values: pd.Series
    missing: np.ndarray  # bool: no value was given (null, NaN, NaT, empty string)
    issues: list[tuple[np.ndarray, str | list[str]]] = field(default_factory=list)

    def add(self, mask: np.ndarray, reason: str) -> None:
        """Record ``reason`` for every row where ``mask`` is true."""
        if mask.any():
            self.issues.append((np.flatnonzero(mask), reason))

    def add_each(self, positions: np.ndarray, reasons: list[str]) -> None:
        """Record one reason per position."""
        if len(positions):
            self.issues.append((positions, reasons))

    @property
    def invalid(self) -> np.ndarray:
        """Rows with at least one issue."""
        mask = np.zeros(len(self.missing), dtype=bool)
        for positions, _ in self.issues:
            mask[positions] = True
        return mask


def absent_column(fld: Field, n: int) -> Checked:
    """The checked column of a field the data does not have: all missing."""
    values = pd.Series(index=pd.RangeIndex(n), dtype=CANONICAL_DTYPES[fld.kind])
    return Checked(values, np.ones(n, dtype=bool))


def check_column(fld: Field, s: pd.Series) -> Checked:
    """Check every value of column ``s`` against field ``fld``; text that is not Unicode is
    an issue of its own."""
    try:
        return _check_kind(fld, s)
    except UnicodeEncodeError:  # e.g. JSON with an unpaired "\ud800" escape
        bad = s.map(lambda v: isinstance(v, str) and not is_unicode(v)).to_numpy(dtype=bool)
        checked = _check_kind(fld, s.where(~bad))
        checked.add(bad, NOT_UNICODE)
        checked.missing = checked.missing & ~bad
        return checked


def _check_kind(fld: Field, s: pd.Series) -> Checked:
    if fld.kind in STRING_KINDS:
        return _check_strings(fld, s)
    if fld.kind in (Kind.INT, Kind.FLOAT):
        return _check_numbers(fld, s)
    if fld.kind is Kind.BOOL:
        return _check_bools(s)
    return _check_timestamps(s)


def is_text_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a dtype of strings (not object)."""
    return not ptypes.is_object_dtype(dtype) and ptypes.is_string_dtype(dtype)


def _dtype_noun(dtype: Any) -> str:
    """How a type error names a typed column's values."""
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if is_text_dtype(dtype):
        return "str"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    return str(dtype)


def _nulls(s: pd.Series) -> np.ndarray:
    return s.isna().to_numpy(dtype=bool)


def _object_types(
    s: pd.Series, accept: type | tuple[type, ...], reason: Any
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-value type check of an object column.

    Returns the accepted mask, the positions of non-null values not accepted, and a reason
    for each (``reason(value)``).
    """
    values = s.to_numpy(dtype=object)
    ok = np.fromiter((isinstance(v, accept) for v in values), dtype=bool, count=len(values))
    bad = np.flatnonzero(~ok & ~_nulls(s))
    return ok, bad, [reason(values[i]) for i in bad]


def _type_reason(expected: str) -> Any:
    return lambda v: f"expected {expected}, got {type(v).__name__}"


def _as_strings(s: pd.Series, result: Checked) -> pd.Series:
    """The column as ``string`` dtype, non-strings reported and set to NA."""
    if ptypes.is_object_dtype(s.dtype):
        if ptypes.infer_dtype(s, skipna=True) not in ("string", "empty"):
            ok, bad, reasons = _object_types(s, str, _type_reason("a string"))
            result.add_each(bad, reasons)
            s = s.where(ok)
    elif not is_text_dtype(s.dtype):
        result.add(~_nulls(s), f"expected a string, got {_dtype_noun(s.dtype)}")
        s = pd.Series(pd.NA, index=s.index, dtype=object)
    return s.astype(pd.StringDtype())


def _check_strings(fld: Field, s: pd.Series) -> Checked:
    result = Checked(s, np.zeros(len(s), dtype=bool))
    strings = _as_strings(s, result)
    if fld.kind is Kind.TEXT:  # free text may say nothing: "" is an empty text, kept
        empty = np.zeros(len(s), dtype=bool)
    else:
        empty = strings.eq("").to_numpy(dtype=bool, na_value=False)
    result.missing = (_nulls(s) & ~result.invalid) | empty
    if fld.kind in (Kind.ID, Kind.CATEGORY):
        blank = strings.str.strip().eq("").to_numpy(dtype=bool, na_value=False) & ~empty
        if fld.required:
            result.missing = result.missing | blank
        else:
            result.add(blank, "must not be blank")
    present = strings.notna().to_numpy() & ~empty
    if fld.kind is Kind.ENUM:
        allowed = strings.isin(fld.allowed).to_numpy(dtype=bool, na_value=False)
        result.add(present & ~allowed, "must be one of " + ", ".join(map(repr, fld.allowed)))
    elif fld.kind in PATTERNS:
        ok = strings.str.fullmatch(PATTERNS[fld.kind]).to_numpy(dtype=bool, na_value=False)
        if fld.kind is Kind.HTS:
            strings = strings.str.replace(".", "", regex=False)
            ok = ok & strings.str.len().isin(HTS_LENGTHS).to_numpy(dtype=bool, na_value=False)
        result.add(present & ~ok, _FORMAT_REASONS[fld.kind])
    result.values = strings.mask(result.missing | result.invalid)
    return result


def _is_number(value: Any) -> bool:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return False
    return not isinstance(value, int) or _INT64_MIN <= value <= _INT64_MAX


def _number_reason(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return "number out of range"
    return f"expected a number, got {type(value).__name__}"


def _typed_numbers(s: pd.Series, result: Checked) -> pd.Series:
    """Object columns as a nullable numeric series, non-numbers reported and set to NA."""
    if not ptypes.is_object_dtype(s.dtype):
        return s
    if ptypes.infer_dtype(s, skipna=True) in _NUMERIC_INFERRED:  # numbers only: vectorised
        try:
            return pd.to_numeric(s, dtype_backend="numpy_nullable")
        except (ValueError, TypeError, OverflowError):  # e.g. ints beyond 64 bits
            pass
    values = s.to_numpy(dtype=object)
    ok = np.fromiter(map(_is_number, values), dtype=bool, count=len(values))
    bad = np.flatnonzero(~ok & ~_nulls(s))
    result.add_each(bad, [_number_reason(values[i]) for i in bad])
    clean = pd.Series(np.where(ok, values, None), dtype=object)
    return pd.to_numeric(clean, dtype_backend="numpy_nullable")


def _check_numbers(fld: Field, s: pd.Series) -> Checked:
    result = Checked(s, _nulls(s))
    s = _typed_numbers(s, result)
    is_number = ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype)
    if not is_number:
        result.add(~_nulls(s), f"expected a number, got {_dtype_noun(s.dtype)}")
        s = pd.Series(np.full(len(s), np.nan))
    x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    result.missing = np.isnan(x) & ~result.invalid
    result.add(np.isinf(x), "must be finite")
    finite = np.isfinite(x)
    if fld.kind is Kind.INT:
        result.add(finite & (x != np.trunc(x)), "expected a whole number")
        result.add(finite & ((x < _INT64_MIN) | (x >= 2.0**63)), "number out of range")
    if fld.min_value is not None:
        below = x < fld.min_value if fld.min_inclusive else x <= fld.min_value
        op = ">=" if fld.min_inclusive else ">"
        result.add(finite & below & ~result.invalid, f"must be a number {op} {fld.min_value:g}")
    valid = ~result.missing & ~result.invalid
    result.values = _canonical_numbers(fld, s, x, valid)
    return result


def _canonical_numbers(fld: Field, s: pd.Series, x: np.ndarray, valid: np.ndarray) -> pd.Series:
    if fld.kind is Kind.FLOAT:
        return pd.Series(np.where(valid, x, np.nan))
    if ptypes.is_integer_dtype(s.dtype):  # exact, even beyond 2**53
        ints = s.to_numpy(dtype=np.int64, na_value=0)
    else:
        ints = np.where(valid, x, 0).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(np.where(valid, ints, 0), ~valid))


def _check_bools(s: pd.Series) -> Checked:
    result = Checked(s, _nulls(s))
    if ptypes.is_object_dtype(s.dtype) and ptypes.infer_dtype(s, skipna=True) == "boolean":
        pass  # bools only: ``astype("boolean")`` below
    elif ptypes.is_object_dtype(s.dtype):
        ok, bad, reasons = _object_types(s, (bool, np.bool_), _type_reason("true or false"))
        result.add_each(bad, reasons)
        s = pd.Series(pd.array(np.where(ok, s.to_numpy(dtype=object), None), dtype="boolean"))
    elif not ptypes.is_bool_dtype(s.dtype):
        result.add(~result.missing, f"expected true or false, got {_dtype_noun(s.dtype)}")
        s = pd.Series(index=s.index, dtype="boolean")
    result.values = s.astype("boolean")
    return result


def _check_timestamps(s: pd.Series) -> Checked:
    result = Checked(s, _nulls(s))
    nat = pd.Series(pd.NaT, index=s.index, dtype=CANONICAL_DTYPES[Kind.TIMESTAMP])
    if ptypes.is_object_dtype(s.dtype) or is_text_dtype(s.dtype):
        utc = _timestamps_from_objects(s, result)
    elif ptypes.is_datetime64_any_dtype(s.dtype) and getattr(s.dtype, "tz", None) is None:
        result.add(~result.missing, "timestamp has no timezone")
        utc = nat
    elif ptypes.is_datetime64_any_dtype(s.dtype):
        utc = _to_ns(s.dt.tz_convert("UTC"), result)
    else:
        result.add(~result.missing, f"expected a timestamp, got {_dtype_noun(s.dtype)}")
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
    n = len(s)
    is_str, aware = ~result.missing, np.zeros(n, dtype=bool)
    inferred = ptypes.infer_dtype(s, skipna=True) if ptypes.is_object_dtype(s.dtype) else ""
    if inferred == "datetime":  # datetimes only: vectorised if all share one timezone
        try:
            same_tz = pd.to_datetime(s, cache=False)
        except (ValueError, TypeError):  # mixed timezones, or aware and naive
            same_tz = None
        if same_tz is not None and getattr(same_tz.dtype, "tz", None) is not None:
            return _to_ns(same_tz.dt.tz_convert("UTC"), result)
    if inferred not in ("", "string", "empty"):
        values = s.to_numpy(dtype=object)
        is_str = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=n)
        aware = np.fromiter(map(_is_aware, values), dtype=bool, count=n) & ~result.missing
        bad = np.flatnonzero(~is_str & ~aware & ~result.missing)
        result.add_each(bad, [_timestamp_reason(values[i]) for i in bad])
    utc = pd.Series(pd.NaT, index=s.index, dtype=CANONICAL_DTYPES[Kind.TIMESTAMP])
    if is_str.any():
        utc = _parse_iso(s.where(is_str), result)
    if aware.any():
        aware_utc = pd.to_datetime(s.where(aware), utc=True, cache=False)
        utc = utc.where(~aware, _to_ns(aware_utc, result))
    return utc


def _parse_iso(s: pd.Series, result: Checked) -> pd.Series:
    """Parse ISO 8601 strings (NA elsewhere) to UTC; blank strings count as missing."""
    times = parse_timestamps(s)
    result.missing = result.missing | (times.missing & s.notna().to_numpy())
    result.add(times.unparsed, "must be an ISO 8601 timestamp")
    result.add(times.local, "timestamp has no timezone")
    result.add(times.out_of_range, OUT_OF_RANGE)
    return times.utc
