"""Per-kind checks: one column of declarations against one field of the contract.

Each check takes every value of a column at once (vectorised) and tests it against its
field's kind (:class:`parcelrisk.contract.Kind`): its type, its format, its range. It
returns a :class:`Checked` column: the canonical values (:data:`CANONICAL_DTYPES`; missing
where no value was given or the value was refused) and the issues found, row by row.
Strings, numbers and booleans are checked here, timestamps in
:mod:`parcelrisk.contract.checks_time`; :mod:`parcelrisk.contract.frames` picks the check
of each field and applies the whole-frame rules (required columns, unique ids, outcomes
of inspected parcels only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

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


def is_text_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a dtype of strings (not object)."""
    return not ptypes.is_object_dtype(dtype) and ptypes.is_string_dtype(dtype)


def dtype_noun(dtype: Any) -> str:
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


def nulls(s: pd.Series) -> np.ndarray:
    """Where ``s`` is null (None, NaN, NA, NaT)."""
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
    bad = np.flatnonzero(~ok & ~nulls(s))
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
        result.add(~nulls(s), f"expected a string, got {dtype_noun(s.dtype)}")
        s = pd.Series(pd.NA, index=s.index, dtype=object)
    return s.astype(pd.StringDtype())


def check_strings(fld: Field, s: pd.Series) -> Checked:
    """Check a column of a text kind: strings, blank rules, enums and code formats."""
    result = Checked(s, np.zeros(len(s), dtype=bool))
    strings = _as_strings(s, result)
    if fld.kind is Kind.TEXT:  # free text may say nothing: "" is an empty text, kept
        empty = np.zeros(len(s), dtype=bool)
    else:
        empty = strings.eq("").to_numpy(dtype=bool, na_value=False)
    result.missing = (nulls(s) & ~result.invalid) | empty
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
    bad = np.flatnonzero(~ok & ~nulls(s))
    result.add_each(bad, [_number_reason(values[i]) for i in bad])
    clean = pd.Series(np.where(ok, values, None), dtype=object)
    return pd.to_numeric(clean, dtype_backend="numpy_nullable")


def check_numbers(fld: Field, s: pd.Series) -> Checked:
    """Check a column of numbers: finite, whole for INT fields, at least the minimum."""
    result = Checked(s, nulls(s))
    s = _typed_numbers(s, result)
    is_number = ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype)
    if not is_number:
        result.add(~nulls(s), f"expected a number, got {dtype_noun(s.dtype)}")
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


def check_bools(s: pd.Series) -> Checked:
    """Check a column of booleans: bools only (no 0/1, no text)."""
    result = Checked(s, nulls(s))
    if ptypes.is_object_dtype(s.dtype) and ptypes.infer_dtype(s, skipna=True) == "boolean":
        pass  # bools only: ``astype("boolean")`` below
    elif ptypes.is_object_dtype(s.dtype):
        ok, bad, reasons = _object_types(s, (bool, np.bool_), _type_reason("true or false"))
        result.add_each(bad, reasons)
        s = pd.Series(pd.array(np.where(ok, s.to_numpy(dtype=object), None), dtype="boolean"))
    elif not ptypes.is_bool_dtype(s.dtype):
        result.add(~result.missing, f"expected true or false, got {dtype_noun(s.dtype)}")
        s = pd.Series(index=s.index, dtype="boolean")
    result.values = s.astype("boolean")
    return result
