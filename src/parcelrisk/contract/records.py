"""Records validation: JSON-like records (one request) against the contract.

Records are checked like a frame (:func:`parcelrisk.contract.validate`), and stricter: a
key that is not a contract field is an error (a client misspelling a field must hear
about it), with the closest field name as a suggestion. Small batches of plain, valid
records take the fast path of :mod:`parcelrisk.contract.plain`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from parcelrisk.contract.frames import check
from parcelrisk.contract.plain import plain_frame
from parcelrisk.contract.problems import ContractError, ContractProblem
from parcelrisk.contract.schema import FIELDS, FIELDS_BY_NAME, Field

_FIELD_NAMES = frozenset(FIELDS_BY_NAME)


def validate_records(
    records: Sequence[Mapping[str, Any]],
    *,
    require_outcomes: bool = False,
    fields: Sequence[Field] | None = None,
) -> pd.DataFrame:
    """Check JSON-like records against the contract and return the canonical frame.

    A key absent from a record means a missing value. Unlike
    :func:`parcelrisk.contract.validate`, keys that are not contract fields are errors (a
    client misspelling a field must hear about it).

    Parameters
    ----------
    records : sequence of mapping
        One dict per declaration, values as Python objects (str, int, float, bool, None,
        aware datetimes or ISO 8601 strings for timestamps).
    require_outcomes : bool, default False
        As for :func:`parcelrisk.contract.validate`.
    fields : sequence of Field, optional
        As for :func:`parcelrisk.contract.validate`.

    Returns
    -------
    pandas.DataFrame
        The canonical frame, one row per record, with a RangeIndex.

    Raises
    ------
    ContractError
        Listing every unknown key and every problem of every record.
    """
    if fields is None and not require_outcomes and (fast := plain_frame(records)) is not None:
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
