"""Feedback for retraining: the audit log's inputs joined with the outcomes recorded for them.

The audit store only appends and reads; assembling training data from what it holds is
this module's job. The result is declarations with outcomes, from the same edge as any
table (:mod:`parcelrisk.contract`), ready for :func:`parcelrisk.train.train`.
"""

from __future__ import annotations

import pandas as pd

from parcelrisk.audit import AuditStore
from parcelrisk.contract import FIELDS_BY_NAME, ColumnMapping, records_frame, validate_records


def labelled_declarations(store: AuditStore, mapping: ColumnMapping | None = None) -> pd.DataFrame:
    """Logged inputs of parcels with a recorded outcome, as declarations for training.

    The latest logged input and the latest outcome of each parcel (its highest version:
    a correction replaces what it corrects) are joined; ``outcome_at`` of an inspected
    parcel is when the outcome became known as it was recorded (else when it was
    recorded). Every outcome the store accepts (:class:`parcelrisk.outcomes.Outcome`)
    reads back.

    Parameters
    ----------
    mapping : ColumnMapping, optional
        The column mapping of the model that logged the decisions: its inputs are
        records in the user's column names, read through it (extras included).

    Raises
    ------
    ValueError
        If no outcome is recorded, or if the logged inputs are not contract records
        and no mapping is given.
    """
    outcomes = pd.DataFrame(store.outcomes())
    if outcomes.empty:
        raise ValueError(f"no outcomes recorded in {store.url}")
    latest = outcomes.drop_duplicates("parcel_id", keep="last").set_index("parcel_id")
    records = {d["parcel_id"]: d["input"] for d in store.decisions()}
    inputs, known = [], []
    for pid, o in latest.iterrows():
        if pid in records:
            inputs.append(records[pid])
            known.append({
                "inspected": bool(o["inspected"]),
                "violation_found": _optional(o["violation_found"], bool),
                "violation_type": _optional(o["violation_type"], str),
                "inspection_reason": _optional(o["inspection_reason"], str),
                "inspection_propensity": _optional(o["inspection_propensity"], float),
                # a result's time: of inspected parcels only (the contract's rule)
                "outcome_at": _utc(_known_at(o)).isoformat() if o["inspected"] else None,
            })  # fmt: skip
    if mapping is None:
        foreign = sorted({k for r in inputs for k in r if k not in FIELDS_BY_NAME})
        if foreign:
            raise ValueError(
                f"the audit store {store.url} holds records in a column mapping's names "
                f"(keys {', '.join(map(repr, foreign[:5]))} are not contract fields); "
                "pass the model's mapping: labelled_declarations(store, mapping=model.mapping)"
            )
        return validate_records(
            [{**r, **k} for r, k in zip(inputs, known, strict=True)], require_outcomes=True
        )
    frame = records_frame(inputs, mapping)
    outcome = validate_records(
        [{"parcel_id": p, "declared_at": t.isoformat(), **k}
         for p, t, k in zip(frame["parcel_id"], frame["declared_at"], known, strict=True)],
        require_outcomes=True, fields=mapping.fields(),
    )  # fmt: skip
    for column in known[0] if known else ():
        frame[column] = outcome[column].to_numpy()
    return frame


def _known_at(outcome: pd.Series):
    """When a recorded outcome became known: its ``outcome_at``, else its recording time."""
    given = outcome.get("outcome_at")
    return outcome["recorded_at"] if given is None or pd.isna(given) else given


def _optional(value, kind):
    """``value`` converted by ``kind``, or None when it is missing."""
    return None if value is None or pd.isna(value) else kind(value)


def _utc(value):
    """A stored time in UTC: SQLite gives it back naive (it was written in UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
