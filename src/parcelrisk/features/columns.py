"""The input of every feature transformer: the columns of a batch of declarations as arrays.

Feature code reads text as pyarrow arrays (missing values are nulls) and numbers as float
numpy arrays (missing values are NaN): the operations on them cost microseconds for one
parcel and stay vectorised for a million, where pandas spends tens of microseconds on
every operation. A :class:`Columns` is made from a frame (training, batch scoring) or
straight from the canonical values of validated records (a scoring request; see
:func:`parcelrisk.contract.plain_columns`), with the same values either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from parcelrisk.features.cache import DerivedCache

#: The type of every text column (pyarrow's large_string).
TEXT = pa.large_string()
#: Up to this many values, :func:`index_of` looks them up one by one, a twin of its
#: vectorised lookups (bit-equal by test_feature_paths): measured 2.0 ms less per
#: one-parcel request. Set to 0 to look up vectorised always.
FEW_LOOKUPS = 16


class Columns:
    """Named columns of ``n`` declarations, converted on first use and kept.

    Use :meth:`of` to wrap a frame (or pass a ``Columns`` through) and
    :meth:`from_lists` for the canonical values of validated records.
    """

    def __init__(self, frame: pd.DataFrame | None, lists: Mapping[str, list] | None, n: int):
        self._frame, self._lists, self.n = frame, lists, n
        self._cache: dict[tuple[str, str], Any] = {}

    @classmethod
    def of(cls, data: pd.DataFrame | Columns) -> Columns:
        """``data`` itself if it already is a ``Columns``, else a view of the frame."""
        return data if isinstance(data, Columns) else cls(data, None, len(data))

    @classmethod
    def from_lists(cls, lists: Mapping[str, list[Any]]) -> Columns:
        """Columns of canonical values, one list per field: str, float, int, bool, None
        (missing) and ``pandas.Timestamp`` in UTC, as contract validation gives them."""
        return cls(None, lists, len(next(iter(lists.values()), [])))

    def take(self, rows: np.ndarray) -> Columns:
        """The declarations at positions ``rows`` (a frame's rows, or each list's values)."""
        if self._frame is not None:
            return Columns.of(self._frame.iloc[rows])
        return Columns.from_lists({k: [v[i] for i in rows] for k, v in self._lists.items()})

    @property
    def index(self) -> pd.Index:
        """Row labels of the frame (a RangeIndex for records)."""
        return pd.RangeIndex(self.n) if self._frame is None else self._frame.index

    def __contains__(self, name: str) -> bool:
        if self._frame is not None:
            return name in self._frame.columns
        return name in self._lists

    @property
    def lists(self) -> Mapping[str, list[Any]]:
        """The canonical values of a ``Columns`` made by :meth:`from_lists`."""
        if self._lists is None:
            raise TypeError("these columns come from a frame, not from lists of values")
        return self._lists

    def _values(self, name: str) -> list[Any]:
        return self._lists[name]

    def _get(self, kind: str, name: str, convert) -> Any:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = convert(name)
        return self._cache[key]

    def text(self, name: str) -> pa.Array:
        """A column as text (large_string; missing values as nulls)."""
        return self._get("text", name, self._text)

    def _text(self, name: str) -> pa.Array:
        if self._frame is None:
            return pa.array(self._values(name), TEXT)
        return text_array(self._frame[name])

    def strings(self, name: str) -> list[str | None]:
        """A text column as Python strings (missing values as None): for a few rows,
        cheaper to work on value by value than through pyarrow calls."""
        if self._frame is None:
            return self._values(name)  # the canonical values: str or None
        return self._get("strings", name, lambda name: self.text(name).to_pylist())

    def number(self, name: str) -> np.ndarray:
        """A column as float64 (missing values as NaN)."""
        return self._get("number", name, self._number)

    def _number(self, name: str) -> np.ndarray:
        if self._frame is None:
            values = self._values(name)
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        return self._frame[name].to_numpy(dtype=float, na_value=np.nan)

    def missing(self, name: str) -> np.ndarray:
        """Where a column's value is missing (every row when the column is absent)."""
        if name not in self:
            return np.ones(self.n, dtype=bool)
        return self._get("missing", name, self._missing)

    def _missing(self, name: str) -> np.ndarray:
        if self._frame is None:
            return np.array([v is None for v in self._values(name)], dtype=bool)
        return self._frame[name].isna().to_numpy(dtype=bool)

    def seconds(self, name: str) -> np.ndarray:
        """A timestamp column in whole seconds since the epoch (UTC)."""
        return self._get("seconds", name, self._seconds)

    def _seconds(self, name: str) -> np.ndarray:
        if self._frame is None:
            ns = np.array([v.value for v in self._values(name)], dtype="datetime64[ns]")
            return ns.astype("datetime64[s]").astype(np.int64)
        return np.asarray(self._frame[name], dtype="datetime64[s]").astype(np.int64)


def text_array(values: pd.Series) -> pa.Array:
    """A Series as one pyarrow large_string array (missing values as nulls)."""
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("string")
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if array.type == TEXT else array.cast(TEXT)


#: Vocabularies as pyarrow arrays, converted once per index (kept while it lives).
_ARROW: DerivedCache[pa.Array] = DerivedCache(
    lambda vocabulary: pa.array(vocabulary.to_numpy(dtype=object), TEXT)
)


def index_of(vocabulary: pd.Index, values: pa.Array) -> np.ndarray:
    """Position of each value in a vocabulary of distinct values; -1 if absent or missing."""
    if len(values) <= FEW_LOOKUPS:
        out = np.full(len(values), -1, dtype=np.intp)
        for i, value in enumerate(values.to_pylist()):
            if value is not None:
                try:
                    out[i] = vocabulary.get_loc(value)
                except KeyError:
                    pass
        return out
    if len(vocabulary) > 4 * len(values):  # pandas' index keeps its hash table: look up
        return vocabulary.get_indexer(values.to_numpy(zero_copy_only=False))
    # pyarrow hashes the vocabulary anew, which is cheaper than converting many values
    found = pc.index_in(values, value_set=_ARROW.get(vocabulary))  # null where absent or missing
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)


def as_frame(named: Mapping[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """Named feature arrays as one float frame (a single block: cheap for one row too)."""
    return pd.DataFrame(
        stack(list(named.values()), len(index)), index=index, columns=list(named), copy=False
    )


#: Rows written together by :func:`stack`: a block of rows stays in cache while every
#: column is written into it.
STACK_BLOCK = 4096


def stack(columns: list[np.ndarray], n: int) -> np.ndarray:
    """Columns as one C-ordered float matrix (n x columns): the layout LightGBM and the
    TreeSHAP kernel read, and one a frame wraps without a copy (``copy=False``; its
    ``to_numpy()`` is then this array)."""
    arrays = [np.asarray(c, dtype=float) for c in columns]
    if not arrays:
        return np.empty((n, 0))
    if n <= STACK_BLOCK:
        return np.ascontiguousarray(np.vstack(arrays).T)
    out = np.empty((n, len(arrays)))
    for start in range(0, n, STACK_BLOCK):
        block = out[start : start + STACK_BLOCK]
        for j, values in enumerate(arrays):
            block[:, j] = values[start : start + STACK_BLOCK]
    return out
