"""How values given as text are read: the one dialect of every reader of declarations.

Values come as text wherever the data has no types: a CSV file of declarations
(:mod:`parcelrisk.contract.files`), the text columns of a user's table and the values of
records read through a column mapping (:mod:`parcelrisk.contract.mapping_values`), and
timestamps in contract data, which JSON can only send as text
(:mod:`parcelrisk.contract.checks`). Each kind is read by one function here, so every
path accepts the same text. Each reader words its problems in its own terms.

Missing
    A null, or text that is empty or only white space, is a missing value (for numbers,
    booleans and timestamps; text fields keep their text, see below).
Numbers (:func:`parse_numbers`)
    Decimal notation, surrounding white space ignored: an optional sign, digits, an
    optional decimal point and exponent (``12``, ``-0.5``, ``.5``, ``1e3``). Whole numbers
    are read exactly (up to 2**63 - 1). ``inf`` and ``infinity`` (any case) and
    exponents beyond the float range read as infinities, which every field refuses as not
    finite. Not numbers: ``nan``, thousands separators (``1,000``, ``1_000``), decimal
    commas (``0,25``), hexadecimal, digits other than ASCII.
Booleans (:func:`parse_booleans`)
    ``true`` or ``1`` and ``false`` or ``0``, case and surrounding white space ignored
    (``TRUE``, `` False ``). A column mapping may declare other values (``Y`` / ``N``);
    they compare the same way (:func:`label_text`), and a number in a typed column as
    its digits when it is whole (``1.0`` is ``1``; the text ``"1.0"`` is not).
Timestamps (:func:`parse_timestamps`)
    ISO 8601, surrounding white space ignored: a date, then optionally ``T`` or a space
    and a time (``2025-03-01``, ``2025-03-01T08:15:00.5``, ``20250301T081500``), then
    optionally an offset: ``Z``, ``+HH``, ``+HHMM`` or ``+HH:MM`` (or ``-``), with or
    without white space before it. A column mapping may give a ``strftime`` format
    instead; its times carry an offset only if the format has ``%z`` (or ``%Z``, or ends
    in a literal ``Z``). A time without an offset is refused in contract data ("timestamp
    has no timezone") and read in the mapping's timezone in a mapped table, where a wall
    time in a daylight-saving gap or overlap is refused rather than guessed. Timestamps
    are kept in UTC with nanosecond resolution: years 1677 to 2262.
Text (:func:`as_text`)
    Kept exactly as written, never stripped; text that is not valid Unicode (an unpaired
    surrogate) is refused (:func:`is_unicode`). Through a column mapping, whole numbers
    (an integer column, a JSON integer) become their decimal text (``12345`` ->
    ``"12345"``); contract data must give strings.

Data that has types (Parquet files, DataFrames, JSON records in the contract's fields)
gives numbers and booleans as such: there, the string ``"2"`` for ``quantity`` is
refused by :mod:`parcelrisk.contract.checks`, not parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

NOT_UNICODE = "text is not valid Unicode: it holds an unpaired surrogate (such as a lone \\ud800)"
OUT_OF_RANGE = "timestamp out of range (years 1677 to 2262)"
#: The range of the canonical frame's nanosecond timestamps.
EARLIEST, LATEST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
#: Boolean text: the values read as true, and those read as false.
TRUE, FALSE = ("1", "true"), ("0", "false")

# An ISO 8601 date and time ending in an offset, after the ASCII white space pandas skips.
# ASCII classes and no flags: [0-9], not \d (any Unicode digit in Python's ``re``), and
# pyarrow strings keep their vectorised regex engine.
_OFFSET = r"[^T ]+[T ][0-9:.,]+[\t\n\v\f\r ]*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"


def only_text(s: pd.Series) -> bool:
    """Whether every value is a string or missing (a CSV column): vectorised paths apply."""
    if ptypes.is_object_dtype(s.dtype):
        return ptypes.infer_dtype(s, skipna=True) in ("string", "empty")
    return ptypes.is_string_dtype(s.dtype)


def blank(s: pd.Series) -> np.ndarray:
    """Where ``s`` holds no value: a null, or text that is empty or only white space."""
    missing = s.isna().to_numpy(dtype=bool)
    if only_text(s):
        empty = s.astype("string").str.strip().eq("")
    elif ptypes.is_object_dtype(s.dtype):
        empty = s.map(lambda v: isinstance(v, str) and not v.strip())
    else:
        return missing
    return missing | empty.to_numpy(dtype=bool, na_value=False)


def parse_numbers(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Read text as numbers.

    Parameters
    ----------
    text : pandas.Series
        Strings, or missing values.

    Returns
    -------
    numbers : pandas.Series
        Nullable numbers (``Int64`` where every value is whole, else ``Float64``), NA
        where missing or not a number.
    unparsed : numpy.ndarray
        Where a value is given but is not a number.
    """
    missing = blank(text)
    numbers = pd.to_numeric(text.mask(missing), errors="coerce", dtype_backend="numpy_nullable")
    return numbers, numbers.isna().to_numpy(dtype=bool) & ~missing


def parse_booleans(
    values: pd.Series, true: tuple[str, ...] = TRUE, false: tuple[str, ...] = FALSE
) -> tuple[pd.Series, np.ndarray]:
    """Read yes/no values as booleans.

    Parameters
    ----------
    values : pandas.Series
        Text, or typed values (numbers, bools) of a column mapping's table.
    true, false : tuple of str
        The values read as true and as false, compared as :func:`label_text` gives them.

    Returns
    -------
    booleans : pandas.Series
        ``boolean``, NA where missing or neither.
    unparsed : numpy.ndarray
        Where a value is given but is neither true nor false.
    """
    missing = blank(values)
    if only_text(values):
        text = values.astype("string").str.strip().str.lower()
    else:
        text = values.map(lambda v: None if v is None or v is pd.NA else label_text(v))
    text = text.mask(missing)
    yes = text.isin([label_text(v) for v in true]).to_numpy(dtype=bool)
    no = text.isin([label_text(v) for v in false]).to_numpy(dtype=bool)
    booleans = pd.Series(pd.arrays.BooleanArray(yes, ~(yes | no)), index=values.index)
    return booleans, ~(yes | no | missing)


def label_text(value: Any) -> str:
    """A yes/no value as comparable text: lower case, whole numbers without '.0'."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return str(value).strip().lower()


@dataclass(frozen=True)
class Times:
    """Timestamps read from text, and where the text could not be read.

    Attributes
    ----------
    utc : pandas.Series
        ``datetime64[ns, UTC]``; NaT where missing or refused.
    missing, unparsed, local, nonexistent, out_of_range : numpy.ndarray
        Where no value is given; where it is not a time in the format; where the time has
        no offset (refused when no timezone is given); where such a wall time does not
        exist or is ambiguous in the timezone; where it falls outside years 1677 to 2262.
    """

    utc: pd.Series
    missing: np.ndarray
    unparsed: np.ndarray
    local: np.ndarray
    nonexistent: np.ndarray
    out_of_range: np.ndarray


def parse_timestamps(
    text: pd.Series, *, fmt: str | None = None, timezone: str | None = None
) -> Times:
    """Read text as timestamps in UTC.

    Parameters
    ----------
    text : pandas.Series
        Strings, or missing values.
    fmt : str, optional
        A ``strftime`` format; default ISO 8601.
    timezone : str, optional
        IANA timezone of times without an offset; None refuses them.
    """
    strings = text.astype("string").str.strip()
    missing = strings.isna().to_numpy() | strings.eq("").to_numpy(dtype=bool, na_value=False)
    strings = strings.mask(missing)
    parsed = _to_utc(strings, fmt)
    failed = parsed.isna().to_numpy() & ~missing
    in_other_unit = np.zeros(len(text), dtype=bool)
    if failed.any():  # a column's unit is inferred (ns if one value has 9 digits): retry
        in_other_unit[failed] = _to_utc(strings[failed], fmt).notna().to_numpy()
    local = ~missing & ~failed & ~_has_offset(strings, fmt)
    nonexistent = np.zeros(len(text), dtype=bool)
    if timezone is None:
        parsed = parsed.mask(local)
    elif timezone != "UTC" and local.any():  # wall times, read in the timezone
        parsed = parsed.copy()
        parsed[local] = localize(parsed[local].dt.tz_localize(None), timezone)
        nonexistent = local & parsed.isna().to_numpy()
    utc, outside = to_ns(parsed)
    return Times(utc, missing, failed & ~in_other_unit, local, nonexistent, outside | in_other_unit)


def _to_utc(strings: pd.Series, fmt: str | None) -> pd.Series:
    return pd.to_datetime(strings, utc=True, format=fmt or "ISO8601", errors="coerce")


def _has_offset(strings: pd.Series, fmt: str | None) -> np.ndarray:
    if fmt is not None:  # a format says whether its times carry an offset
        offset = "%z" in fmt or "%Z" in fmt or fmt.endswith("Z")
        return np.full(len(strings), offset)
    return strings.str.fullmatch(_OFFSET).to_numpy(dtype=bool, na_value=False)


def localize(naive: pd.Series, timezone: str) -> pd.Series:
    """Wall times in ``timezone`` to UTC; a time in a DST gap or overlap becomes NaT."""
    local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC")


def to_ns(utc: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps in nanoseconds (NaT outside their range), and where they were outside."""
    outside = ((utc < EARLIEST) | (utc > LATEST)).to_numpy(dtype=bool, na_value=False)
    return utc.mask(outside).dt.as_unit("ns"), outside


def as_text(s: pd.Series) -> pd.Series:
    """Text as given; whole numbers (int columns, or ints among objects) as decimal text."""
    if ptypes.is_integer_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype):
        return s.astype("string")
    if ptypes.is_object_dtype(s.dtype) and not only_text(s):
        return s.map(
            lambda v: str(v) if isinstance(v, int | np.integer) and not isinstance(v, bool) else v
        )
    return s


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (encodes as UTF-8: no unpaired surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
