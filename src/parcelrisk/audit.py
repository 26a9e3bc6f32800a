"""The audit store: every scoring decision and every inspection outcome, append-only.

SQLite by default (a file, write-ahead log), any SQLAlchemy URL (e.g. PostgreSQL) by
configuration. Decisions keep the input exactly as received (canonical JSON) with its
SHA-256, the model version, probability, lane and the reasons that were returned, so a
decision can be found by parcel id, read and replayed. The store has no update or delete
operation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

_META = sa.MetaData()
DECISIONS = sa.Table(
    "decisions",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.Text, nullable=False, index=True),
    sa.Column("parcel_id", sa.Text, nullable=False, index=True),
    sa.Column("input_json", sa.Text, nullable=False),
    sa.Column("input_sha256", sa.String(64), nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("lane", sa.String(16), nullable=False),
    sa.Column("reasons_json", sa.Text, nullable=True),
)
OUTCOMES = sa.Table(
    "outcomes",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("parcel_id", sa.Text, nullable=False, index=True),
    sa.Column("inspected", sa.Boolean, nullable=False),
    sa.Column("violation_found", sa.Boolean, nullable=True),
    sa.Column("violation_type", sa.String(32), nullable=True),
    sa.Column("inspection_reason", sa.String(16), nullable=True),
    sa.Column("inspection_propensity", sa.Float, nullable=True),
)


def canonical_json(record: Mapping[str, Any]) -> str:
    """The record as JSON with sorted keys and no spaces: the form that is hashed."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a record."""
    return _sha256(canonical_json(record))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    """One scoring decision as written to the store."""

    request_id: str
    parcel_id: str
    record: Mapping[str, Any]
    model_version: str
    probability: float
    lane: str
    reasons: list[dict] | None


class AuditStore:
    """Append-only store of decisions and outcomes behind a SQLAlchemy engine.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``sqlite:///audit.db`` (the default form) or
        ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        _META.create_all(self.engine)

    def append_decisions(self, decisions: Iterable[Decision]) -> int:
        """Write decisions in one transaction (all or none); returns how many."""
        now = datetime.now(UTC)
        rows = [_decision_row(d, canonical_json(d.record), now) for d in decisions]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(DECISIONS.insert(), rows)
        return len(rows)

    def append_outcomes(self, outcomes: Iterable[Mapping[str, Any]]) -> int:
        """Record inspection results (parcel_id, inspected, violation_found, violation_type)."""
        now = datetime.now(UTC)
        rows = [
            {
                "recorded_at": now,
                "parcel_id": o["parcel_id"],
                "inspected": bool(o["inspected"]),
                "violation_found": o.get("violation_found"),
                "violation_type": o.get("violation_type"),
                "inspection_reason": o.get("inspection_reason"),
                "inspection_propensity": o.get("inspection_propensity"),
            }
            for o in outcomes
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(OUTCOMES.insert(), rows)
        return len(rows)

    def decisions(
        self,
        parcel_id: str | None = None,
        since: datetime | None = None,
        request_id: str | None = None,
    ):
        """Logged decisions, oldest first: all, or those matching every filter given (one
        parcel, one request, logged at or after ``since``)."""
        query = sa.select(DECISIONS).order_by(DECISIONS.c.id)
        if parcel_id is not None:
            query = query.where(DECISIONS.c.parcel_id == parcel_id)
        if request_id is not None:
            query = query.where(DECISIONS.c.request_id == request_id)
        if since is not None:
            query = query.where(DECISIONS.c.logged_at >= since)
        with self.engine.connect() as conn:
            return [_decoded(dict(row._mapping)) for row in conn.execute(query)]

    def labelled_declarations(self, mapping=None):
        """Logged inputs of parcels with a recorded outcome, as a contract frame for training.

        The latest logged input and the latest outcome of each parcel are joined;
        ``outcome_at`` is when the outcome was recorded.

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
        import pandas as pd

        from parcelrisk.contract import FIELDS_BY_NAME, records_frame, validate_records

        outcomes = pd.DataFrame(self.outcomes())
        if outcomes.empty:
            raise ValueError(f"no outcomes recorded in {self.url}")
        latest = outcomes.drop_duplicates("parcel_id", keep="last").set_index("parcel_id")
        records = {d["parcel_id"]: d["input"] for d in self.decisions()}
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
                    "outcome_at": _utc(o["recorded_at"]).isoformat(),
                })  # fmt: skip
        if mapping is None:
            foreign = sorted({k for r in inputs for k in r if k not in FIELDS_BY_NAME})
            if foreign:
                raise ValueError(
                    f"the audit store {self.url} holds records in a column mapping's names "
                    f"(keys {', '.join(map(repr, foreign[:5]))} are not contract fields); "
                    "pass the model's mapping: labelled_declarations(mapping=model.mapping)"
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

    def outcomes(self) -> list[dict]:
        """All recorded outcomes, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(OUTCOMES).order_by(OUTCOMES.c.id))
            return [dict(row._mapping) for row in rows]


def _decision_row(d: Decision, input_json: str, now: datetime) -> dict[str, Any]:
    """The table row of a decision whose input is ``input_json`` (its canonical JSON)."""
    return {
        "logged_at": now,
        "request_id": d.request_id,
        "parcel_id": d.parcel_id,
        "input_json": input_json,
        "input_sha256": _sha256(input_json),
        "model_version": d.model_version,
        "probability": float(d.probability),
        "lane": d.lane,
        "reasons_json": None if d.reasons is None else json.dumps(d.reasons),
    }


def _optional(value, kind):
    """``value`` converted by ``kind``, or None when it is missing."""
    import pandas as pd

    return None if value is None or pd.isna(value) else kind(value)


def _utc(value):
    """A stored time in UTC: SQLite gives it back naive (it was written in UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _decoded(row: dict) -> dict:
    row["input"] = json.loads(row.pop("input_json"))
    reasons = row.pop("reasons_json")
    row["reasons"] = None if reasons is None else json.loads(reasons)
    return row


def _sqlite_wal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a decision answered is on disk, also after a power loss (NORMAL may lose the
    # last commits then); measured +0.2 to +0.6 ms per commit (docs/serving.md)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
