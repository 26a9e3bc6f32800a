"""Check declaration frames and records against the contract in :mod:`parcelrisk.schema`.

:func:`validate` takes a frame, checks every contract column at once (vectorised per
column) and returns a new canonical frame, or raises :class:`ContractError` listing every
problem found, in every row and field. :func:`validate_records` does the same for a list
of JSON-like records (the HTTP service), and :func:`check` returns the problems instead of
raising (used by :mod:`parcelrisk.io` to merge its own parse problems).

Checks beyond each field's kind
-------------------------------
* Blank (whitespace-only) text counts as missing in a required id or label field; in an
  optional label field it is an error. Free text may be empty or blank (it is kept).
* ``parcel_id`` is unique; every duplicated row is reported.
* Outcomes (``inspection_reason``, ``violation_found``, ``violation_type``, ``outcome_at``)
  only for rows with ``inspected`` true; ``violation_type`` only where ``violation_found``
  is true. With ``require_outcomes``, ``inspected`` is required on every row and
  ``violation_found`` on every inspected row.

Canonical frame
---------------
* Every contract column exists, in :data:`parcelrisk.schema.FIELDS` order; columns not in
  the contract follow unchanged. Absent optional columns are added, all missing.
* Dtypes: :data:`CANONICAL_DTYPES` (``string``, ``Int64``, ``float64``, ``boolean``,
  ``datetime64[ns, UTC]``). Missing values are ``<NA>`` (``NaN`` / ``NaT`` for floats and
  timestamps).
* Values are never silently coerced across types. The only normalisations are those of an
  allowed format: an empty string means missing (except in free-text fields, where it is
  an empty text and kept: a blank description is a declaration, and a red flag); HTS codes
  lose their dots (``"6109.10.0012"`` becomes ``"6109100012"``); whole floats in an INT
  field become ints (``2.0`` -> ``2``); timestamps are converted to UTC with nanosecond
  resolution (lossless; timestamps outside years 1677-2262 are reported as out of range).
* The input frame is never modified; the output keeps the input's index.

Variants of the contract
------------------------
Every function takes ``fields``: the contract's fields with some made optional or given
a freer kind (same names, same order). Tables brought through a column mapping are
checked this way (:mod:`parcelrisk.mapping`): a role the table does not have is
optional, and a role whose values are the user's own codes is a free category.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from parcelrisk.contract.schema import FIELDS, FIELDS_BY_NAME, Field, Kind, Role

__all__ = [
    "CANONICAL_DTYPES",
    "ContractError",
    "ContractProblem",
    "check",
    "validate",
    "validate_records",
]

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

MISSING_COLUMN = "required column is missing"
MISSING_VALUE = "required value is missing"
NOT_INSPECTED = "outcome given for a parcel that was not inspected"
_OUT_OF_RANGE = "timestamp out of range (years 1677 to 2262)"
_MAX_LISTED = 50
_MAX_DUPLICATE_ROWS = 10
_FIELD_ORDER = {f.name: i for i, f in enumerate(FIELDS)}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TS_MIN, _TS_MAX = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")

# Formats, as patterns for ``Series.str.fullmatch``; ASCII classes only ([0-9], not \d,
# which matches any Unicode digit in Python's ``re``).
_PATTERNS: dict[Kind, str] = {
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
_HTS_LENGTHS = (6, 8, 10)
# What ``infer_dtype(skipna=True)`` says of object columns holding only numbers (not bools).
_NUMERIC_INFERRED = ("integer", "floating", "mixed-integer-float", "empty")
# A time of day followed by 'Z' or a UTC offset (+HH, +HHMM or +HH:MM).
_TZ_SUFFIX = r"[^T ]+[T ][0-9:.,]+(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"


@dataclass(frozen=True, slots=True)
class ContractProblem:
    """One value (or column) that breaks the declaration contract.

    Attributes
    ----------
    row : int
        0-based position of the row in the input; -1 for a problem with a whole column.
    parcel_id : str or None
        The row's parcel id, when it is a non-empty string.
    field : str
        Name of the field (column, or record key).
    value : object
        The offending value as given; None for a missing column.
    reason : str
        What is wrong, in a few words.
    allowed : str
        What the field accepts (:meth:`parcelrisk.schema.Field.allowed_text`).
    """

    row: int
    parcel_id: str | None
    field: str
    value: Any
    reason: str
    allowed: str

    def __str__(self) -> str:
        where = "column" if self.row < 0 else f"row {self.row}"
        if self.parcel_id is not None:
            where += f" (parcel_id {self.parcel_id!r})"
        if self.row < 0 and self.value is None:
            return f"{where} {self.field!r}: {self.reason}"
        return f"{where}: field {self.field!r} has value {self.value!r}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as a JSON-safe dict (non-JSON values become strings)."""
        return {
            "row": self.row,
            "parcel_id": json_safe(self.parcel_id),
            "field": json_safe(self.field),
            "value": json_safe(self.value),
            "reason": self.reason,
            "allowed": self.allowed,
        }


class ContractError(ValueError):
    """Data that breaks the declaration contract; lists every problem found.

    Parameters
    ----------
    problems : iterable of ContractProblem
        All problems; kept in ``.problems``, sorted by row and then by contract field
        order. The message lists the first 50.
    """

    #: What the problems are with, in the first line of the message.
    heading = "with the declaration contract"

    def __init__(self, problems: Iterable[ContractProblem]) -> None:
        self.problems: list[ContractProblem] = sorted(problems, key=_problem_key)
        super().__init__(self._message())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))

    def _message(self) -> str:
        n = len(self.problems)
        lines = [f"{n} problem{'' if n == 1 else 's'} {self.heading}:"]
        lines += [f"  {p}" for p in self.problems[:_MAX_LISTED]]
        if n > _MAX_LISTED:
            lines.append(f"  ... and {n - _MAX_LISTED} more")
        return "\n".join(lines)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Return all problems as JSON-safe dicts.

        Returns
        -------
        list of dict
            One dict per problem with keys ``row``, ``parcel_id``, ``field``, ``value``,
            ``reason`` and ``allowed``. Missing values (None, NaN, NA, NaT) become None;
            values JSON cannot hold (infinities, timestamps, other objects) become strings.
        """
        return [p.to_dict() for p in self.problems]


def validate(
    frame: pd.DataFrame,
    *,
    require_outcomes: bool = False,
    fields: Sequence[Field] | None = None,
) -> pd.DataFrame:
    """Check a frame of declarations against the contract and return its canonical form.

    Parameters
    ----------
    frame : pandas.DataFrame
        Declarations, one per row. Columns may be typed (float64, Int64, bool, string,
        datetime64 with a timezone, ...) or object columns holding Python values.
    require_outcomes : bool, default False
        Also require ``inspected`` on every row and ``violation_found`` on inspected rows
        (for training data).
    fields : sequence of Field, optional
        A variant of the contract (see the module docstring); default
        :data:`parcelrisk.schema.FIELDS`.

    Returns
    -------
    pandas.DataFrame
        A new frame in canonical form (see the module docstring): every contract column in
        contract order and canonical dtype, then the other columns unchanged.

    Raises
    ------
    ContractError
        Listing every problem in every row and field.
    TypeError
        If ``frame`` is not a DataFrame.
    """
    out, problems = check(frame, require_outcomes=require_outcomes, fields=fields)
    if problems:
        raise ContractError(problems)
    return out


def validate_records(
    records: Sequence[Mapping[str, Any]],
    *,
    require_outcomes: bool = False,
    fields: Sequence[Field] | None = None,
) -> pd.DataFrame:
    """Check JSON-like records against the contract and return the canonical frame.

    A key absent from a record means a missing value. Unlike :func:`validate`, keys that
    are not contract fields are errors (a client misspelling a field must hear about it).

    Parameters
    ----------
    records : sequence of mapping
        One dict per declaration, values as Python objects (str, int, float, bool, None,
        aware datetimes or ISO 8601 strings for timestamps).
    require_outcomes : bool, default False
        As for :func:`validate`.
    fields : sequence of Field, optional
        As for :func:`validate`.

    Returns
    -------
    pandas.DataFrame
        The canonical frame, one row per record, with a RangeIndex.

    Raises
    ------
    ContractError
        Listing every unknown key and every problem of every record.
    """
    plain = fields is None and not require_outcomes and len(records) <= _FAST_MAX_RECORDS
    if plain and (fast := _plain_records(records)) is not None:
        return fast
    columns: dict[str, list[Any]] = {f.name: [] for f in FIELDS}
    problems: list[ContractProblem] = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            problems.append(
                ContractProblem(i, None, "(record)", record, "record is not an object", "an object")
            )
            record = {}
        if not record.keys() <= _FIELD_NAMES:
            problems += _unknown_keys(i, record)
        # record by record (one record's values are near each other in memory)
        for name, values in columns.items():
            values.append(record.get(name))
    frame = pd.DataFrame({n: pd.Series(v, dtype=object) for n, v in columns.items()})
    out, more = check(frame, require_outcomes=require_outcomes, fields=fields)
    problems += more
    if problems:
        raise ContractError(problems)
    return out


# --- fast path for small batches of plain records -------------------------------------------
#
# A request of a few parcels spends most of its validation time building pandas objects.
# Plain records (strings, numbers, bools, ISO 8601 strings with a zone, no outcomes) are
# checked value by value here; anything else, including every invalid record, goes to the
# vectorised checks, which alone name problems. The two paths give identical frames
# (tests/unit/test_validation.py compares them on valid and hostile records).

_FAST_MAX_RECORDS = 1000
_FAST_RE = {kind: re.compile(pattern) for kind, pattern in _PATTERNS.items()}
_FAST_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_FALL_BACK = object()  # a value the fast path cannot take: use the vectorised checks
_EMPTY_IS_MISSING = (STRING_KINDS - {Kind.TEXT}) | {Kind.TIMESTAMP}
_PLAIN_FIELDS = tuple(f for f in FIELDS if f.role in (Role.KEY, Role.INPUT))  # what a client sends
_PLAIN_NAMES = frozenset(f.name for f in _PLAIN_FIELDS)
_FIELD_NAMES = frozenset(FIELDS_BY_NAME)


def _plain_value(fld: Field, value: Any) -> Any:
    """The canonical value of a plain valid ``value`` (None if missing), or _FALL_BACK."""
    kind = fld.kind
    if value is None or (type(value) is str and value == "" and kind in _EMPTY_IS_MISSING):
        return _FALL_BACK if fld.required else None
    if kind in STRING_KINDS:
        if type(value) is not str or not is_unicode(value):
            return _FALL_BACK
        if kind is Kind.TEXT:
            return value
        if kind in (Kind.ID, Kind.CATEGORY):
            return value if value.strip() else _FALL_BACK
        if kind is Kind.ENUM:
            return value if value in fld.allowed else _FALL_BACK
        if not _FAST_RE[kind].fullmatch(value):
            return _FALL_BACK
        if kind is Kind.HTS:
            value = value.replace(".", "")
            return value if len(value) in _HTS_LENGTHS else _FALL_BACK
        return value
    if kind in (Kind.INT, Kind.FLOAT):
        if type(value) not in (int, float) or (kind is Kind.INT and type(value) is not int):
            return _FALL_BACK
        if not (math.isfinite(value) and -(2**53) <= value <= 2**53):  # beyond: vectorised
            return _FALL_BACK
        if fld.min_value is not None and not (
            value >= fld.min_value if fld.min_inclusive else value > fld.min_value
        ):
            return _FALL_BACK
        return float(value) if kind is Kind.FLOAT else value
    if kind is Kind.BOOL:
        return value if type(value) is bool else _FALL_BACK
    if type(value) is not str or not _FAST_ISO.fullmatch(value):
        return _FALL_BACK
    try:
        stamp = pd.Timestamp(value).tz_convert("UTC")
    except (ValueError, OverflowError):  # e.g. 30 February
        return _FALL_BACK
    return stamp if _TS_MIN <= stamp <= _TS_MAX else _FALL_BACK


def plain_columns(records: Sequence[Any]) -> dict[str, list[Any]] | None:
    """Canonical values of small batches of plain, valid records, column by column.

    For up to 1,000 records whose values are plain and valid (strings, numbers, bools,
    ISO 8601 strings with a zone; no outcomes), returns each key and input field's
    canonical values (None where missing, ``pandas.Timestamp`` in UTC for timestamps),
    exactly the values :func:`validate_records` would put in its frame. Returns None for
    anything else: such records must go through :func:`validate_records`, which alone
    names problems.
    """
    if len(records) > _FAST_MAX_RECORDS:
        return None
    columns: dict[str, list[Any]] = {f.name: [] for f in _PLAIN_FIELDS}
    for record in records:
        if type(record) is not dict or not record.keys() <= _PLAIN_NAMES:
            return None
        for fld in _PLAIN_FIELDS:
            value = _plain_value(fld, record.get(fld.name))
            if value is _FALL_BACK:
                return None
            columns[fld.name].append(value)
    ids = columns["parcel_id"]
    if len(set(ids)) != len(ids):
        return None
    return columns


def _plain_records(records: Sequence[Any]) -> pd.DataFrame | None:
    """The canonical frame of plain, valid records, or None to use the vectorised checks."""
    columns = plain_columns(records)
    if columns is None:
        return None
    out = {}  # arrays, not Series: no index alignment
    for fld in FIELDS:
        values = columns.get(fld.name, [None] * len(records))
        if fld.kind is Kind.FLOAT:
            out[fld.name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            out[fld.name] = pd.array(values, dtype=CANONICAL_DTYPES[fld.kind])
    return pd.DataFrame(out, copy=False)


def check(
    frame: pd.DataFrame,
    *,
    require_outcomes: bool = False,
    fields: Sequence[Field] | None = None,
) -> tuple[pd.DataFrame, list[ContractProblem]]:
    """Check a frame like :func:`validate`, but return the problems instead of raising.

    Parameters
    ----------
    frame : pandas.DataFrame
        Declarations, as for :func:`validate`.
    require_outcomes : bool, default False
        As for :func:`validate`.
    fields : sequence of Field, optional
        As for :func:`validate`.

    Returns
    -------
    frame : pandas.DataFrame
        The canonical frame; values that failed a check of their own column are missing
        (whole-frame problems, such as duplicate ids, leave values in place).
    problems : list of ContractProblem
        Every problem found, sorted by row and then contract field order; empty if valid.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    fields = _contract_variant(fields)
    by_name = {f.name: f for f in fields}
    n = len(frame)
    problems = _column_problems(frame, require_outcomes, fields)
    sources = {f.name: _source(frame, f.name) for f in fields if f.name in frame.columns}
    checked = {
        f.name: _check_column(f, sources[f.name]) if f.name in sources else _absent(f, n)
        for f in fields
    }
    for name in sources:
        if by_name[name].required:
            checked[name].add(checked[name].missing, MISSING_VALUE)
    _check_duplicates(checked["parcel_id"])
    _check_outcomes(checked, require_outcomes, "inspected" in sources)
    problems += _row_problems(checked, sources, by_name)
    return _assemble(frame, checked), sorted(problems, key=_problem_key)


def _contract_variant(fields: Sequence[Field] | None) -> tuple[Field, ...]:
    """The fields to check against: the contract, or a variant with the same names."""
    if fields is None:
        return FIELDS
    fields = tuple(fields)
    if [f.name for f in fields] != [f.name for f in FIELDS]:
        raise ValueError("fields must be the contract's fields, same names in the same order")
    return fields


# --- per-column checks -------------------------------------------------------------------


@dataclass
class _Checked:
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


def _source(frame: pd.DataFrame, name: str) -> pd.Series:
    """The first column called ``name``, positionally indexed, with plain values."""
    s = frame.iloc[:, int(np.flatnonzero(frame.columns == name)[0])].reset_index(drop=True)
    if isinstance(s.dtype, pd.CategoricalDtype) or (
        isinstance(s.dtype, pd.ArrowDtype) and not _is_text_dtype(s.dtype)
    ):
        s = s.astype(object)
    return s


def _absent(fld: Field, n: int) -> _Checked:
    values = pd.Series(index=pd.RangeIndex(n), dtype=CANONICAL_DTYPES[fld.kind])
    return _Checked(values, np.ones(n, dtype=bool))


def _check_column(fld: Field, s: pd.Series) -> _Checked:
    try:
        return _check_kind(fld, s)
    except UnicodeEncodeError:  # e.g. JSON with an unpaired "\ud800" escape
        bad = s.map(lambda v: isinstance(v, str) and not is_unicode(v)).to_numpy(dtype=bool)
        checked = _check_kind(fld, s.where(~bad))
        checked.add(bad, NOT_UNICODE)
        checked.missing = checked.missing & ~bad
        return checked


def _check_kind(fld: Field, s: pd.Series) -> _Checked:
    if fld.kind in STRING_KINDS:
        return _check_strings(fld, s)
    if fld.kind in (Kind.INT, Kind.FLOAT):
        return _check_numbers(fld, s)
    if fld.kind is Kind.BOOL:
        return _check_bools(s)
    return _check_timestamps(s)


def _is_text_dtype(dtype: Any) -> bool:
    return not ptypes.is_object_dtype(dtype) and ptypes.is_string_dtype(dtype)


def _dtype_noun(dtype: Any) -> str:
    """How a type error names a typed column's values."""
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if _is_text_dtype(dtype):
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


def _as_strings(s: pd.Series, result: _Checked) -> pd.Series:
    """The column as ``string`` dtype, non-strings reported and set to NA."""
    if ptypes.is_object_dtype(s.dtype):
        if ptypes.infer_dtype(s, skipna=True) not in ("string", "empty"):
            ok, bad, reasons = _object_types(s, str, _type_reason("a string"))
            result.add_each(bad, reasons)
            s = s.where(ok)
    elif not _is_text_dtype(s.dtype):
        result.add(~_nulls(s), f"expected a string, got {_dtype_noun(s.dtype)}")
        s = pd.Series(pd.NA, index=s.index, dtype=object)
    return s.astype(pd.StringDtype())


NOT_UNICODE = "text is not valid Unicode: it holds an unpaired surrogate (such as a lone \\ud800)"


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (encodes as UTF-8: no unpaired surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_strings(fld: Field, s: pd.Series) -> _Checked:
    result = _Checked(s, np.zeros(len(s), dtype=bool))
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
    elif fld.kind in _PATTERNS:
        ok = strings.str.fullmatch(_PATTERNS[fld.kind]).to_numpy(dtype=bool, na_value=False)
        if fld.kind is Kind.HTS:
            strings = strings.str.replace(".", "", regex=False)
            ok = ok & strings.str.len().isin(_HTS_LENGTHS).to_numpy(dtype=bool, na_value=False)
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


def _typed_numbers(s: pd.Series, result: _Checked) -> pd.Series:
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


def _check_numbers(fld: Field, s: pd.Series) -> _Checked:
    result = _Checked(s, _nulls(s))
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


def _check_bools(s: pd.Series) -> _Checked:
    result = _Checked(s, _nulls(s))
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


def _check_timestamps(s: pd.Series) -> _Checked:
    result = _Checked(s, _nulls(s))
    nat = pd.Series(pd.NaT, index=s.index, dtype=CANONICAL_DTYPES[Kind.TIMESTAMP])
    if ptypes.is_object_dtype(s.dtype) or _is_text_dtype(s.dtype):
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


def _to_ns(utc: pd.Series, result: _Checked) -> pd.Series:
    """UTC timestamps in nanoseconds, those outside the nanosecond range reported."""
    out_of_range = ((utc < _TS_MIN) | (utc > _TS_MAX)).to_numpy(dtype=bool)
    result.add(out_of_range, _OUT_OF_RANGE)
    return utc.mask(out_of_range).dt.as_unit("ns")


def _timestamp_reason(value: Any) -> str:
    if isinstance(value, datetime | np.datetime64):
        return "timestamp has no timezone"
    return f"expected a timestamp, got {type(value).__name__}"


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value is not pd.NaT and value.utcoffset() is not None


def _timestamps_from_objects(s: pd.Series, result: _Checked) -> pd.Series:
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


def _iso_to_utc(strings: pd.Series) -> pd.Series:
    return pd.to_datetime(strings, utc=True, format="ISO8601", errors="coerce")


def _parse_iso(s: pd.Series, result: _Checked) -> pd.Series:
    """Parse ISO 8601 strings (NA elsewhere) to UTC; empty strings count as missing."""
    strings = s.astype(pd.StringDtype())
    empty = strings.eq("").to_numpy(dtype=bool, na_value=False)
    result.missing = result.missing | empty
    given = strings.notna().to_numpy() & ~empty
    parsed = _iso_to_utc(strings.mask(empty))
    failed = given & _nulls(parsed)
    if failed.any():  # a column's unit is inferred (ns if one value has 9 digits): retry
        in_other_unit = np.zeros(len(s), dtype=bool)
        in_other_unit[failed] = _iso_to_utc(strings[failed]).notna().to_numpy()
        result.add(in_other_unit, _OUT_OF_RANGE)
        result.add(failed & ~in_other_unit, "must be an ISO 8601 timestamp")
    has_tz = strings.str.fullmatch(_TZ_SUFFIX).to_numpy(dtype=bool, na_value=False)
    result.add(given & parsed.notna().to_numpy() & ~has_tz, "timestamp has no timezone")
    return _to_ns(parsed.mask(~has_tz), result)


# --- whole-frame checks ------------------------------------------------------------------


def _column_problems(
    frame: pd.DataFrame, require_outcomes: bool, fields: tuple[Field, ...]
) -> list[ContractProblem]:
    names = set(frame.columns)
    problems = []
    for fld in fields:
        required = fld.required or (require_outcomes and fld.name == "inspected")
        if required and fld.name not in names:
            problems.append(_column_problem(fld, MISSING_COLUMN))
        elif fld.name in names and (frame.columns == fld.name).sum() > 1:
            problems.append(_column_problem(fld, "column appears more than once"))
    return problems


def _column_problem(fld: Field, reason: str) -> ContractProblem:
    return ContractProblem(-1, None, fld.name, None, reason, fld.allowed_text())


def _check_duplicates(ids: _Checked) -> None:
    values = ids.values
    dup = values.duplicated(keep=False).to_numpy() & values.notna().to_numpy()
    if not dup.any():
        return
    positions = np.flatnonzero(dup)
    groups = pd.Series(positions).groupby(values.iloc[positions].to_numpy()).agg(list)
    reasons = {}
    for rows in groups:
        for row in rows:
            others = [r for r in rows if r != row]
            shown = str(others[:_MAX_DUPLICATE_ROWS])
            if len(others) > _MAX_DUPLICATE_ROWS:
                shown = shown[:-1] + f", ... {len(others) - _MAX_DUPLICATE_ROWS} more]"
            reasons[row] = f"duplicate parcel_id; also at rows {shown}"
    ids.add_each(positions, [reasons[p] for p in positions])


def _is_true(col: _Checked) -> np.ndarray:
    return col.values.to_numpy(dtype=bool, na_value=False)


def _given(col: _Checked) -> np.ndarray:
    return col.values.notna().to_numpy() & ~col.invalid


def _check_outcomes(
    checked: dict[str, _Checked], require_outcomes: bool, has_inspected: bool
) -> None:
    """Outcomes only for inspected parcels; with ``require_outcomes``, outcomes present."""
    inspected, found = checked["inspected"], checked["violation_found"]
    is_inspected = _is_true(inspected)
    not_inspected = ~is_inspected & ~inspected.invalid
    kind_given = _given(checked["violation_type"])
    for name in ("inspection_reason", "violation_found", "violation_type", "outcome_at"):
        checked[name].add(_given(checked[name]) & not_inspected, NOT_INSPECTED)
    checked["violation_type"].add(
        kind_given & is_inspected & ~_is_true(found) & ~found.invalid,
        "violation type given but violation_found is not true",
    )
    if require_outcomes:
        if has_inspected:
            inspected.add(inspected.missing, MISSING_VALUE + " (outcomes are required)")
        found.add(is_inspected & found.missing, MISSING_VALUE + " for an inspected parcel")


def _row_problems(
    checked: dict[str, _Checked], sources: dict[str, pd.Series], by_name: dict[str, Field]
) -> list[ContractProblem]:
    """One problem per (row, issue) of every column."""
    if not any(col.issues for col in checked.values()):
        return []
    ids = checked["parcel_id"].values.to_numpy(dtype=object, na_value=None)
    problems = []
    for name, col in checked.items():
        allowed = by_name[name].allowed_text()
        source = sources.get(name)
        for positions, reasons in col.issues:
            values = [None] * len(positions) if source is None else source.iloc[positions]
            if isinstance(reasons, str):
                reasons = [reasons] * len(positions)
            problems += [
                ContractProblem(int(p), ids[p], name, _plain(v), r, allowed)
                for p, v, r in zip(positions, list(values), reasons, strict=True)
            ]
    return problems


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _assemble(frame: pd.DataFrame, checked: dict[str, _Checked]) -> pd.DataFrame:
    contract = pd.DataFrame({name: col.values for name, col in checked.items()})
    extra = [i for i, c in enumerate(frame.columns) if c not in FIELDS_BY_NAME]
    others = frame.iloc[:, extra].reset_index(drop=True)
    out = pd.concat([contract, others], axis=1) if extra else contract
    out.index = frame.index
    return out


# --- records and problems ----------------------------------------------------------------


def _unknown_keys(i: int, record: Mapping[str, Any]) -> list[ContractProblem]:
    pid = record.get("parcel_id")
    pid = pid if isinstance(pid, str) and pid else None
    problems = []
    for key in record:
        if key in FIELDS_BY_NAME:
            continue
        close = difflib.get_close_matches(str(key), list(FIELDS_BY_NAME), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(
            ContractProblem(
                i,
                pid,
                str(key),
                record[key],
                "unknown field" + hint,
                "a contract field: " + ", ".join(FIELDS_BY_NAME),
            )
        )
    return problems


def _problem_key(p: ContractProblem) -> tuple[int, int, str]:
    return (p.row, _FIELD_ORDER.get(p.field, len(FIELDS)), p.field)


def json_safe(value: Any) -> Any:
    """A JSON-serialisable stand-in for ``value``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value if math.isfinite(value) else str(value)
    if isinstance(value, str) and not is_unicode(value):  # shown escaped, never lost
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)
