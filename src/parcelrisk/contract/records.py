"""Records validation: JSON-like records (one request) against the contract.

Records are checked like a frame (:func:`parcelrisk.contract.validate`), and stricter: a
key that is not a contract field is an error (a client misspelling a field must hear
about it), with the closest field name as a suggestion. Small batches of plain, valid
records take the fast path of :mod:`parcelrisk.contract.plain`.

Records sent for scoring carry declarations only: :func:`without_outcomes` refuses their
outcome and ground-truth fields (:func:`parcelrisk.contract.records_frame` applies it, in
the contract's names or a mapping's).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import pandas as pd

from parcelrisk.contract.frames import check
from parcelrisk.contract.plain import plain_frame
from parcelrisk.contract.problems import ContractError, ContractProblem
from parcelrisk.contract.schema import (
    FIELDS,
    FIELDS_BY_NAME,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    Field,
    Kind,
    Role,
    is_ground_truth,
)

_FIELD_NAMES = frozenset(FIELDS_BY_NAME)
_ANY_FIELD = "a contract field: " + ", ".join(FIELDS_BY_NAME)
_OBJECT = "an object"
#: Why a record sent for scoring may not hold an outcome or ground-truth field.
NOT_FOR_SCORING = "outcome and ground-truth fields are not accepted for scoring"
_LEAVE_OUT = "no such field: records sent for scoring hold declarations only; leave it out"


def check_limits(records: Sequence[Any]) -> None:
    """Refuse records whose text values break the contract's limits, before any other work
    on them: a value of a contract field of free text longer than ``MAX_TEXT_LENGTH``
    characters, of any other contract field longer than ``MAX_ID_LENGTH``, of any other key
    (a mapping's columns) longer than ``MAX_TEXT_LENGTH``; or holding the NUL character
    (no database text can hold it). Cost: one pass over the values.

    Raises
    ------
    ContractError
        Listing every such value (shown cut short).
    """
    problems = []
    for row, record in enumerate(records):
        if not isinstance(record, Mapping):
            continue  # the records check says what a record must be
        for key, value in record.items():
            if type(value) is not str:
                continue
            fld = FIELDS_BY_NAME.get(key)
            limit = MAX_ID_LENGTH if fld is not None and fld.kind is not Kind.TEXT else (
                MAX_TEXT_LENGTH)  # fmt: skip
            reason = None
            if len(value) > limit:
                reason = f"{len(value):,} characters; at most {limit:,}"
            elif "\x00" in value:
                reason = "holds the NUL character"
            if reason is not None:
                pid = record.get("parcel_id")
                problems.append(ContractProblem(
                    row, pid if type(pid) is str and len(pid) <= MAX_ID_LENGTH else None,
                    str(key)[:MAX_ID_LENGTH], value[:40] + "...", reason,
                    f"text of at most {limit:,} characters, without NUL",
                ))  # fmt: skip
    if problems:
        raise ContractError(problems)


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
        problems += record_problems(i, record, _FIELD_NAMES, "parcel_id", _ANY_FIELD)
        record = record if isinstance(record, Mapping) else {}
        # record by record (one record's values are near each other in memory)
        for name, values in columns.items():
            values.append(record.get(name))
    frame = pd.DataFrame({n: pd.Series(v, dtype=object) for n, v in columns.items()})
    out, more = check(frame, require_outcomes=require_outcomes, fields=fields)
    problems += more
    if problems:
        raise ContractError(problems)
    return out


def record_problems(
    i: int, record: Any, known: AbstractSet[str], id_key: str, allowed: str
) -> list[ContractProblem]:
    """Problems of record ``i`` as a whole: not an object, or keys that are not ``known``.

    Each unknown key is named with the closest known key as a suggestion; ``allowed``
    says which keys are known, and ``id_key`` is the key of the record's parcel id.
    """
    if not isinstance(record, Mapping):
        return [ContractProblem(i, None, "(record)", record, "record is not an object", _OBJECT)]
    if record.keys() <= known:
        return []
    pid = record.get(id_key)
    pid = pid if isinstance(pid, str) and pid else None
    problems = []
    for key in record:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), list(known), n=1)
        reason = "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
        problems.append(ContractProblem(i, pid, str(key), record[key], reason, allowed))
    return problems


def outcome_or_truth(key: str) -> str | None:
    """What a contract field is if records sent for scoring may not hold it, else None:
    an outcome (known only after an inspection) or ground truth (``gt_*`` too)."""
    if is_ground_truth(key):
        return "ground truth of generated data"
    field = FIELDS_BY_NAME.get(key)
    if field is not None and field.role is Role.OUTCOME:
        return "an inspection outcome, known only after the inspection"
    return None


def without_outcomes(
    records: Sequence[Any], refused: Callable[[str], str | None], id_key: str
) -> tuple[list[Any], list[ContractProblem]]:
    """Records for scoring without their outcome and ground-truth keys, and a problem for each.

    ``refused(key)`` says what a key is (as :func:`outcome_or_truth` does) if records sent
    for scoring may not hold it, else None; ``id_key`` is the key of a record's parcel id.
    Nothing of a refused key is kept: the caller raises with the problems.
    """
    kept, problems = [], []
    for i, record in enumerate(records):
        found = {}
        if isinstance(record, Mapping):
            found = {k: what for k in record if (what := refused(str(k))) is not None}
        if not found:
            kept.append(record)  # a record that is not an object: record_problems names it
            continue
        pid = record.get(id_key)
        pid = pid if isinstance(pid, str) and pid else None
        problems += [
            ContractProblem(i, pid, str(k), record[k], f"{NOT_FOR_SCORING} ({what})", _LEAVE_OUT)
            for k, what in found.items()
        ]
        kept.append({k: v for k, v in record.items() if k not in found})
    return kept, problems
