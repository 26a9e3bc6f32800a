"""Whole-frame validation: a frame of declarations against the contract, all at once.

:func:`validate` takes a frame, checks every contract column at once (vectorised per
column) and returns a new canonical frame, or raises :class:`ContractError` listing every
problem found, in every row and field; :func:`check` returns the problems instead of
raising (used by :mod:`parcelrisk.contract.files` to merge its own parse problems).
Each column is checked by :mod:`parcelrisk.contract.checks`; records go through
:mod:`parcelrisk.contract.records`.

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
* Every contract column exists, in :data:`parcelrisk.contract.FIELDS` order; columns not in
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
checked this way (:mod:`parcelrisk.contract.mapping_apply`): a role the table does not have is
optional, and a role whose values are the user's own codes is a free category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from parcelrisk.contract.checks import (
    STRING_KINDS,
    Checked,
    absent_column,
    check_bools,
    check_numbers,
    check_strings,
    is_text_dtype,
)
from parcelrisk.contract.checks_time import check_timestamps
from parcelrisk.contract.parse import NOT_UNICODE, is_unicode
from parcelrisk.contract.problems import ContractError, ContractProblem, problem_order, python_value
from parcelrisk.contract.schema import FIELDS, FIELDS_BY_NAME, Field, Kind

MISSING_COLUMN = "required column is missing"
MISSING_VALUE = "required value is missing"
NOT_INSPECTED = "outcome given for a parcel that was not inspected"
_MAX_DUPLICATE_ROWS = 10


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
        :data:`parcelrisk.contract.FIELDS`.

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
        f.name: _check_column(f, sources[f.name]) if f.name in sources else absent_column(f, n)
        for f in fields
    }
    for name in sources:
        if by_name[name].required:
            checked[name].add(checked[name].missing, MISSING_VALUE)
    _check_duplicates(checked["parcel_id"])
    _check_outcomes(checked, require_outcomes, "inspected" in sources)
    problems += _row_problems(checked, sources, by_name)
    return _assemble(frame, checked), sorted(problems, key=problem_order)


def _contract_variant(fields: Sequence[Field] | None) -> tuple[Field, ...]:
    """The fields to check against: the contract, or a variant with the same names."""
    if fields is None:
        return FIELDS
    fields = tuple(fields)
    if [f.name for f in fields] != [f.name for f in FIELDS]:
        raise ValueError("fields must be the contract's fields, same names in the same order")
    return fields


def _check_column(fld: Field, s: pd.Series) -> Checked:
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
        return check_strings(fld, s)
    if fld.kind in (Kind.INT, Kind.FLOAT):
        return check_numbers(fld, s)
    if fld.kind is Kind.BOOL:
        return check_bools(s)
    return check_timestamps(s)


def _source(frame: pd.DataFrame, name: str) -> pd.Series:
    """The first column called ``name``, positionally indexed, with plain values."""
    s = frame.iloc[:, int(np.flatnonzero(frame.columns == name)[0])].reset_index(drop=True)
    if isinstance(s.dtype, pd.CategoricalDtype) or (
        isinstance(s.dtype, pd.ArrowDtype) and not is_text_dtype(s.dtype)
    ):
        s = s.astype(object)
    return s


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


def _check_duplicates(ids: Checked) -> None:
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


def _is_true(col: Checked) -> np.ndarray:
    return col.values.to_numpy(dtype=bool, na_value=False)


def _given(col: Checked) -> np.ndarray:
    return col.values.notna().to_numpy() & ~col.invalid


def _check_outcomes(
    checked: dict[str, Checked], require_outcomes: bool, has_inspected: bool
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
    checked: dict[str, Checked], sources: dict[str, pd.Series], by_name: dict[str, Field]
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
                ContractProblem(int(p), ids[p], name, python_value(v), r, allowed)
                for p, v, r in zip(positions, list(values), reasons, strict=True)
            ]
    return problems


def _assemble(frame: pd.DataFrame, checked: dict[str, Checked]) -> pd.DataFrame:
    contract = pd.DataFrame({name: col.values for name, col in checked.items()})
    extra = [i for i, c in enumerate(frame.columns) if c not in FIELDS_BY_NAME]
    others = frame.iloc[:, extra].reset_index(drop=True)
    out = pd.concat([contract, others], axis=1) if extra else contract
    out.index = frame.index
    return out
