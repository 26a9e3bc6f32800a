"""Applying a column mapping: a user's table or records become the contract frame.

:func:`apply_mapping` turns the user's table into the contract's canonical frame
(:mod:`parcelrisk.contract.frames`), checked against a variant of the contract in which
every role except the id and the time may be missing, and the roles listed under
``free`` take any non-blank value. Every problem in the data (a named column that does
not exist, a label that is not binary, a time that does not parse, a duplicate id, a
value the contract refuses) is reported at once in one
:class:`~parcelrisk.contract.problems.MappedDataError`, naming the user's columns.
:func:`records_frame` does the same for JSON-like records in the user's column names (the
HTTP service), and :func:`read_mapped` for a file. Nothing is dropped or coerced
silently: the only conversions are parsing text to numbers and times, reading the label
values the mapping declares, and writing whole numbers in text columns as their decimal
text.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from parcelrisk.contract.files import read_file
from parcelrisk.contract.frames import check
from parcelrisk.contract.mapping_spec import FREEABLE_KINDS, ColumnMapping
from parcelrisk.contract.mapping_values import (
    binary_values,
    categories,
    numbers,
    role_values,
    row_ids,
    times,
)
from parcelrisk.contract.parse import NOT_UNICODE, as_text, is_unicode
from parcelrisk.contract.problems import (
    ContractError,
    ContractProblem,
    MappedDataError,
    python_value,
)
from parcelrisk.contract.records import (
    outcome_or_truth,
    record_problems,
    validate_records,
    without_outcomes,
)
from parcelrisk.contract.schema import FIELDS_BY_NAME
from parcelrisk.paths import check_table_file

_MAX_COLUMNS_LISTED = 40
#: Where a mapped frame keeps its counts of values made missing (``DataFrame.attrs``).
MADE_MISSING = "parcelrisk_made_missing"


def read_mapped(path: str | Path, mapping: ColumnMapping, *, outcomes: bool = True) -> pd.DataFrame:
    """Read a CSV or Parquet table through a mapping (see :func:`apply_mapping`).

    CSV is read as text (:func:`parcelrisk.contract.files.read_file`); values are read in
    the dialect of :mod:`parcelrisk.contract.parse`, as the mapping says.
    """
    path = Path(path)
    check_table_file(path)
    return apply_mapping(read_file(path), mapping, outcomes=outcomes)


def apply_mapping(
    table: pd.DataFrame, mapping: ColumnMapping, *, outcomes: bool = True
) -> pd.DataFrame:
    """Turn a user's table into the contract's canonical frame.

    Parameters
    ----------
    table : pandas.DataFrame
        The user's table; columns the mapping does not name are ignored.
    mapping : ColumnMapping
        Which column plays which part.
    outcomes : bool, default True
        Read the label (and inspected flag): required for training and evaluation. Without
        outcomes (scoring) those columns are not read, even if present.

    Returns
    -------
    pandas.DataFrame
        The canonical frame of :func:`parcelrisk.contract.validate` (every contract
        column; roles the mapping does not name are missing), then the extra columns
        under the user's names (categorical as ``string``, numeric as ``float64``).
        ``outcome_at`` is the declaration time plus ``outcome_delay_days`` for inspected
        rows. RangeIndex.

    Raises
    ------
    MappedDataError
        Listing every problem, each naming the user's column, the row (0-based position
        in the table) and the value.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(table).__name__}")
    table = table.reset_index(drop=True)
    problems = _missing_columns(table, mapping, outcomes)
    ids = row_ids(table, mapping)
    frame = pd.DataFrame(
        _contract_columns(table, mapping, ids, problems, outcomes), index=table.index
    )
    extra = _extra_columns(table, mapping, ids, problems)
    canonical, contract_problems = check(frame, require_outcomes=outcomes, fields=mapping.fields())
    refused = _in_user_terms(contract_problems, mapping, problems, table)
    made: dict[str, int] = {}
    if mapping.on_invalid_missing:
        problems, refused, made = _invalid_as_missing(frame, mapping, problems, refused)
        if any(made.values()):
            canonical, contract_problems = check(
                frame, require_outcomes=outcomes, fields=mapping.fields()
            )
            refused = _in_user_terms(contract_problems, mapping, problems, table)
    problems += refused
    if problems:
        raise MappedDataError(problems)
    for column, values in extra.items():
        canonical[column] = values.to_numpy() if column in mapping.extra_numeric else values
    canonical.attrs[MADE_MISSING] = made
    return canonical


def made_missing(frame: pd.DataFrame) -> dict[str, int]:
    """Per role read with ``on_invalid: missing``: how many of its values were made missing.

    Empty for a frame not read through a mapping that declares such roles (or when pandas
    did not carry the count along: take it from the frame :func:`apply_mapping` returns).
    """
    return dict(frame.attrs.get(MADE_MISSING, {}))


def _invalid_as_missing(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    problems: list[ContractProblem],
    refused: list[ContractProblem],
) -> tuple[list[ContractProblem], list[ContractProblem], dict[str, int]]:
    """Values of ``on_invalid: missing`` roles that were refused, made missing in ``frame``.

    Returns the problems left (reading, then contract) and the count per role. Only values
    of a row are made missing; a column that is absent stays a problem.
    """
    role_of = {mapping.roles[r]: r for r in mapping.on_invalid_missing}
    rows: dict[str, set[int]] = {role: set() for role in mapping.on_invalid_missing}

    def keep(p: ContractProblem) -> bool:
        role = role_of.get(p.field)
        if role is None or p.row < 0:
            return True
        rows[role].add(p.row)
        return False

    problems, refused = [p for p in problems if keep(p)], [p for p in refused if keep(p)]
    for role, at in rows.items():
        if at and role in frame.columns:
            mask = np.zeros(len(frame), dtype=bool)
            mask[sorted(at)] = True
            frame[role] = frame[role].mask(mask)
    return problems, refused, {role: len(at) for role, at in rows.items()}


def _contract_columns(
    table: pd.DataFrame,
    mapping: ColumnMapping,
    ids: np.ndarray,
    problems: list[ContractProblem],
    outcomes: bool,
) -> dict[str, pd.Series]:
    """The contract fields the table's columns give, read in the mapping's terms."""
    present = set(table.columns)
    parsed: dict[str, pd.Series] = {}
    if mapping.id in present:
        parsed["parcel_id"] = as_text(table[mapping.id])
    if mapping.time in present:
        parsed["declared_at"] = times(table[mapping.time], mapping, ids, problems)
    for role, column in mapping.roles.items():
        if column in present:
            parsed[role] = role_values(role, table[column], column, ids, problems)
    if outcomes:
        parsed.update(_outcomes(table, mapping, parsed.get("declared_at"), ids, problems))
    return parsed


def _extra_columns(
    table: pd.DataFrame, mapping: ColumnMapping, ids: np.ndarray, problems: list[ContractProblem]
) -> dict[str, pd.Series]:
    """The extra columns the table has: numbers or categories."""
    extra = {}
    for column in mapping.extra:
        if column in table.columns:
            read = numbers if column in mapping.extra_numeric else categories
            extra[column] = read(table[column], column, ids, problems)
    return extra


def records_frame(
    records: Sequence[Mapping[str, Any]], mapping: ColumnMapping | None
) -> pd.DataFrame:
    """Canonical frame of JSON-like records in a mapping's column names (scoring only).

    With no mapping, the records are contract records
    (:func:`parcelrisk.contract.validate_records`). Either way they hold declarations only:
    an outcome or ground-truth field (the contract's, or the mapping's label, inspected
    and outcome role columns) is refused, as is a key the mapping does not name.

    Raises
    ------
    ContractError
        Listing every problem (a :class:`MappedDataError` naming the user's columns when
        there is a mapping).
    """
    if mapping is None:
        records, problems = without_outcomes(records, outcome_or_truth, "parcel_id")
        try:
            frame = validate_records(records)
        except ContractError as err:
            problems += err.problems
        if problems:
            raise ContractError(problems)
        return frame
    outcome_columns = mapping.outcome_columns()
    known = _record_columns(mapping)
    accepted = frozenset(known) - set(outcome_columns)
    allowed = "a column of the mapping: " + ", ".join(c for c in known if c in accepted)

    def refused(key: str) -> str | None:
        if key in outcome_columns:
            return f"the mapping's {outcome_columns[key]} column"
        return None if key in accepted else outcome_or_truth(key)

    records, problems = without_outcomes(records, refused, mapping.id)
    rows = []
    for i, record in enumerate(records):
        problems += record_problems(i, record, accepted, mapping.id, allowed)
        record, unreadable = _without_unreadable(
            i, record if isinstance(record, Mapping) else {}, accepted, mapping.id
        )
        problems += unreadable
        rows.append(record)
    table = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in known})
    try:
        frame = apply_mapping(table, mapping, outcomes=False)
    except MappedDataError as err:
        problems += err.problems
    if problems:
        raise MappedDataError(problems)
    return frame


def _record_columns(mapping: ColumnMapping) -> list[str]:
    """The columns a record in the mapping's columns is read into (its outcome role columns
    included: the mapping names them, and records may not fill them)."""
    return list(dict.fromkeys([mapping.id, mapping.time, *mapping.roles.values(),
                               *mapping.extra]))  # fmt: skip


def _without_unreadable(
    i: int, record: Mapping[str, Any], known: frozenset[str], id_key: str
) -> tuple[Mapping[str, Any], list[ContractProblem]]:
    """The record without its text that is not valid Unicode (nothing downstream can read
    such text), and a problem for each known key that held some."""
    unreadable = {k for k, v in record.items() if isinstance(v, str) and not is_unicode(v)}
    if not unreadable:
        return record, []
    pid = record.get(id_key)
    pid = pid if isinstance(pid, str) and is_unicode(pid) else None
    problems = [
        ContractProblem(i, pid, str(key), record[key], NOT_UNICODE, "valid Unicode text")
        for key in unreadable & known
    ]
    return {k: v for k, v in record.items() if k not in unreadable}, problems


def _missing_columns(
    table: pd.DataFrame, mapping: ColumnMapping, outcomes: bool
) -> list[ContractProblem]:
    named = {mapping.id: "id", mapping.time: "time"}
    if outcomes:
        named[mapping.label.column] = "label"
        if mapping.inspected is not None:
            named[mapping.inspected.column] = "inspected"
    for role, column in mapping.roles.items():
        named.setdefault(column, f"role {role}")
    for column in mapping.extra:
        named.setdefault(column, "extra")
    columns = [str(c) for c in table.columns]
    listed = ", ".join(columns[:_MAX_COLUMNS_LISTED])
    if len(columns) > _MAX_COLUMNS_LISTED:
        listed += f", ... {len(columns) - _MAX_COLUMNS_LISTED} more"
    problems = []
    for column, where in named.items():
        if column not in table.columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(ContractProblem(
                -1, None, column, None,
                f"column named in the mapping ({where}) is not in the data{hint} (the data "
                f"has: {listed})",
                f"a column of the data: {listed}",
            ))  # fmt: skip
    return problems


def _outcomes(
    table: pd.DataFrame,
    mapping: ColumnMapping,
    declared_at: pd.Series | None,
    ids: np.ndarray,
    problems: list[ContractProblem],
) -> dict[str, pd.Series]:
    """Contract outcomes: inspected, violation_found and outcome_at."""
    if mapping.label.column not in table.columns:
        return {}
    found = binary_values(table[mapping.label.column], mapping.label, ids, problems)
    if mapping.inspected is None:
        inspected = found.notna().astype("boolean")
    elif mapping.inspected.column in table.columns:
        inspected = binary_values(table[mapping.inspected.column], mapping.inspected, ids, problems)
    else:
        return {}
    out = {"inspected": inspected, "violation_found": found}
    if declared_at is not None:
        known = declared_at + pd.Timedelta(days=mapping.outcome_delay_days)
        out["outcome_at"] = known.where(inspected.fillna(False).to_numpy(dtype=bool))
    return out


def _in_user_terms(
    contract: list[ContractProblem],
    mapping: ColumnMapping,
    reported: list[ContractProblem],
    table: pd.DataFrame,
) -> list[ContractProblem]:
    """Contract problems in the user's columns and values, minus those already reported."""
    seen = {(p.row, p.field) for p in reported}
    out = []
    for p in contract:
        column = mapping.user_column(p.field)
        if (p.row, column) in seen or (p.row < 0 and any(q.field == column for q in reported)):
            continue
        value = p.value
        if p.row >= 0 and column in table.columns and p.field != "outcome_at":
            value = python_value(table[column].iloc[p.row])  # as the user wrote it
        out.append(replace(p, field=column, value=value, reason=_user_reason(p, mapping)))
    return out


def _user_reason(p: ContractProblem, mapping: ColumnMapping) -> str:
    """A contract problem's reason in the mapping's terms: the label, ``free``, the role."""
    reason = p.reason
    if p.field == "violation_found" and mapping.inspected is not None:
        reason = reason.replace("outcome", "label")
    if p.field not in mapping.roles:
        return reason
    if FIELDS_BY_NAME[p.field].kind in FREEABLE_KINDS and "must" in reason:
        reason += f"; or list {p.field!r} under free in the mapping to accept any value"
    return reason + f" (role {p.field})"
