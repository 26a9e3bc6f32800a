"""The audit store: every scoring decision and every inspection outcome, append-only.

SQLite by default (a file, write-ahead log), any SQLAlchemy URL (e.g. PostgreSQL) by
configuration. Decisions keep the input exactly as received (canonical JSON) with its
SHA-256, the model version, the scoring policy (version and SHA-256; each policy used is
stored whole), probability, lane and the reasons that were returned, so a decision can be
found by parcel id, read and replayed. Outcomes are recorded only for parcels with a
logged decision and only as :class:`parcelrisk.outcomes.Outcome` admits them; an outcome
sent again is not written twice, and one that differs from its parcel's latest is a
correction with the next version, who recorded it (an API key id) and when. The store has
no update or delete operation.

The store is also the log the live entity history is built from
(:mod:`parcelrisk.history_store`): its decisions' inputs are the declarations, its
outcomes the outcomes, and a :class:`Position` (the last decision id and the last outcome
id) says how much of it a decision saw. Row ids are committed in order (SQLite has one
writer at a time; on PostgreSQL every append takes one transaction-level advisory lock),
so whatever a reader finds up to a position stays all there is up to it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:  # imported where used: the policy module (numpy), the outcome rule (pandas)
    from parcelrisk.outcomes import Outcome
    from parcelrisk.policy import Policy

#: The fields of an outcome (:class:`parcelrisk.outcomes.Outcome`), in the table's order.
OUTCOME_FIELDS = (
    "parcel_id", "inspected", "violation_found", "violation_type", "inspection_reason",
    "inspection_propensity", "outcome_at",
)  # fmt: skip

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
    sa.Column("policy_version", sa.Text, nullable=True),
    sa.Column("policy_sha256", sa.String(64), nullable=True),
    # the store position the decision's history saw (empty: decided before live history)
    sa.Column("seen_decisions", sa.Integer, nullable=True),
    sa.Column("seen_outcomes", sa.Integer, nullable=True),
    # the id of the API key the request came with (never the key; empty: none was set)
    sa.Column("key_id", sa.Text, nullable=True),
)
#: Every scoring policy a logged decision was made under, by the SHA-256 decisions record.
POLICIES = sa.Table(
    "policies",
    _META,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("policy_json", sa.Text, nullable=False),
    sa.Column("first_logged_at", sa.DateTime(timezone=True), nullable=False),
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
    # when the outcome became known (empty: when it was recorded)
    sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
    # 1 for a parcel's first outcome, n + 1 for a correction of its outcome n
    sa.Column("version", sa.Integer, nullable=True),
    # the id of the API key that recorded it (never the key; empty: none was set)
    sa.Column("recorded_by", sa.Text, nullable=True),
)
#: Columns added after a table's first release: a store made before them gets them (empty
#: for earlier rows, which predate scoring policies, live history and outcome times).
_ADDED_COLUMNS = {
    "decisions": ("policy_version", "policy_sha256", "seen_decisions", "seen_outcomes", "key_id"),
    "outcomes": ("outcome_at", "version", "recorded_by"),
}
#: Key of the PostgreSQL advisory lock every append holds until it commits, so that row
#: ids are committed in order (a reader never finds id 12 before id 11 is visible).
_APPEND_LOCK = 0x70726973  # "pris"
#: How long a SQLite write waits for the write lock before it fails (sqlite3's default).
_SQLITE_BUSY_MS = 5000


#: Most parcel ids in one ``IN`` list: below SQLite's smallest limit on bound parameters
#: (999) and well within PostgreSQL's.
_IN_CHUNK = 900


class UnscoredParcelsError(ValueError):
    """Outcomes for parcel ids with no logged decision; ``parcel_ids`` lists them."""

    def __init__(self, parcel_ids: list[str]) -> None:
        self.parcel_ids = parcel_ids
        shown = ", ".join(repr(p) for p in parcel_ids[:20])
        more = f" and {len(parcel_ids) - 20} more" if len(parcel_ids) > 20 else ""
        super().__init__(
            f"no logged decision for parcel id{'s' if len(parcel_ids) > 1 else ''} "
            f"{shown}{more}: outcomes are recorded only for parcels that were scored; "
            "none of these outcomes was recorded"
        )


def canonical_json(record: Mapping[str, Any]) -> str:
    """The record as JSON with sorted keys and no spaces: the form that is hashed."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a record."""
    return _sha256(canonical_json(record))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, order=True)
class Position:
    """How much of the log is meant: decisions up to id ``decisions`` and outcomes up to id
    ``outcomes`` (0: none)."""

    decisions: int = 0
    outcomes: int = 0

    def covers(self, other: Position) -> bool:
        """Whether everything up to ``other`` is also up to this position."""
        return self.decisions >= other.decisions and self.outcomes >= other.outcomes


@dataclass(frozen=True)
class Decision:
    """One scoring decision as written to the store; ``position``: what of the log its
    history saw."""

    request_id: str
    parcel_id: str
    record: Mapping[str, Any]
    model_version: str
    probability: float
    lane: str
    reasons: list[dict] | None
    policy: Policy | None = None
    position: Position | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class RecordedOutcomes:
    """What :meth:`AuditStore.append_outcomes` did: outcomes written for parcels that had
    none (``new``), written as corrections of a parcel's latest (``corrections``), and
    left out as equal to the parcel's latest (``duplicates``)."""

    new: int
    corrections: int
    duplicates: int

    @property
    def recorded(self) -> int:
        """Rows written."""
        return self.new + self.corrections


class AuditStoreError(ValueError):
    """An audit store that cannot be opened: its URL (password hidden) and what went wrong."""


def open_store(url: str) -> AuditStore:
    """The audit store at ``url``, to read: it must exist, and opening it creates nothing
    (no SQLite file, no table).

    Raises
    ------
    FileNotFoundError
        If ``url`` is SQLite and its file does not exist (or it is in memory).
    AuditStoreError
        As for :class:`AuditStore`, or if the database has no audit tables.
    """
    return AuditStore(url, create=False)


class AuditStore:
    """Append-only store of decisions and outcomes behind a SQLAlchemy engine.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``sqlite:///audit.db`` (the default form) or
        ``postgresql+psycopg://user@host/db``.
    create
        Make the store (its SQLite file, its tables) where it is missing; False to read a
        store that must exist: see :func:`open_store`.

    Raises
    ------
    AuditStoreError
        If the URL is malformed, names an unknown database or a driver that is not
        installed, or the database cannot be reached or opened.
    """

    def __init__(self, url: str, *, create: bool = True):
        self.url = url
        self.engine = _engine(url, create)
        with _opening(url):
            if create:
                _META.create_all(self.engine)
            elif not sa.inspect(self.engine).has_table(DECISIONS.name):
                raise AuditStoreError(
                    f"{_shown(url)} holds no audit log (it has no table {DECISIONS.name!r})"
                )
            _add_columns(self.engine)

    def append_decisions(self, decisions: Iterable[Decision]) -> int:
        """Write decisions, and any policy not yet stored, in one transaction (all or none);
        returns how many decisions."""
        now = datetime.now(UTC)
        decisions = list(decisions)
        rows = [_decision_row(d, canonical_json(d.record), now) for d in decisions]
        policies = {d.policy.sha256: d.policy for d in decisions if d.policy is not None}
        if rows:
            with self.engine.begin() as conn:
                self._in_order(conn)
                if policies:
                    stored = set(conn.execute(
                        sa.select(POLICIES.c.sha256).where(POLICIES.c.sha256.in_(policies))
                    ).scalars())  # fmt: skip
                    new = [_policy_row(p, now) for k, p in policies.items() if k not in stored]
                    if new:
                        conn.execute(_insert_new(self.engine.dialect.name), new)
                conn.execute(DECISIONS.insert(), rows)
        return len(rows)

    def policy(self, sha256: str) -> Policy:
        """The stored policy a decision recorded by its SHA-256.

        Raises
        ------
        KeyError
            If no policy with that SHA-256 was stored.
        """
        with self.engine.connect() as conn:
            text = conn.execute(
                sa.select(POLICIES.c.policy_json).where(POLICIES.c.sha256 == sha256)
            ).scalar_one_or_none()
        if text is None:
            raise KeyError(f"no policy with SHA-256 {sha256} in the audit store {self.url}")
        from parcelrisk.policy import policy_from_dict

        return policy_from_dict(json.loads(text), f"policy {sha256[:12]} of {self.url}")

    def append_outcomes(
        self, outcomes: Iterable[Mapping[str, Any] | Outcome], *, recorded_by: str | None = None
    ) -> RecordedOutcomes:
        """Record inspection results in one transaction, all or none.

        Each outcome must pass :class:`parcelrisk.outcomes.Outcome` (mappings are checked
        against it): the store takes no outcome that retraining or the live history could
        not use. An outcome equal to its parcel's latest (in the store or earlier in the
        same call) is a duplicate and not written again; one that differs is a correction:
        a new row with the next ``version`` of that parcel. Readers take each parcel's
        latest version (the highest id). ``recorded_by`` is the id of the API key of the
        request (never the key).

        Raises
        ------
        ValueError
            Naming the index, the parcel id and what is wrong, for an outcome that does not
            pass :class:`~parcelrisk.outcomes.Outcome`; nothing is recorded.
        UnscoredParcelsError
            Listing every parcel id with no logged decision; then nothing is recorded.
        """
        checked = _checked_outcomes(outcomes)
        if not checked:
            return RecordedOutcomes(0, 0, 0)
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            self._in_order(conn)
            ids = [o["parcel_id"] for o in checked]
            scored = _scored_among(conn, ids)
            if unknown := [p for p in dict.fromkeys(ids) if p not in scored]:
                raise UnscoredParcelsError(unknown)
            latest = _latest_outcomes(conn, ids)
            rows, corrections = [], 0
            for outcome in checked:
                before = latest.get(outcome["parcel_id"])
                if before is not None and _same_outcome(before, outcome):
                    continue
                corrections += before is not None
                row = {**outcome, "recorded_at": now, "recorded_by": recorded_by,
                       "version": 1 if before is None else before["version"] + 1}  # fmt: skip
                latest[outcome["parcel_id"]] = row
                rows.append(row)
            if rows:
                conn.execute(OUTCOMES.insert(), rows)
        return RecordedOutcomes(len(rows) - corrections, corrections, len(checked) - len(rows))

    def _in_order(self, conn: sa.Connection) -> None:
        """Hold the append lock until this transaction commits (PostgreSQL; SQLite
        serialises writers itself)."""
        if self.engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})

    def writable(self, timeout: float = 1.0) -> bool:
        """Whether a decision could be written now: the write lock (SQLite) or the lock an
        insert takes on the decisions table (PostgreSQL) is had within ``timeout`` seconds,
        then let go at once; False also when the store cannot be reached. What readiness
        reports."""
        try:
            with self.engine.connect() as conn:
                if self.engine.dialect.name == "sqlite":
                    raw = conn.connection.driver_connection
                    raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        raw.execute("ROLLBACK")
                    finally:
                        raw.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
                else:
                    with conn.begin():
                        if self.engine.dialect.name == "postgresql":
                            conn.execute(sa.text(f"SET LOCAL lock_timeout = {int(timeout * 1000)}"))
                            conn.execute(sa.text("LOCK TABLE decisions IN ROW EXCLUSIVE MODE"))
                        else:
                            conn.execute(sa.text("SELECT 1"))
        except (sa.exc.DBAPIError, sqlite3.Error):  # the driver's own, from the raw connection
            return False
        return True

    def position(self) -> Position:
        """The end of the log now: the last decision id and the last outcome id, read in
        one statement (so every outcome's parcel, logged before it, is covered)."""
        ends = sa.select(
            sa.select(sa.func.max(DECISIONS.c.id)).scalar_subquery(),
            sa.select(sa.func.max(OUTCOMES.c.id)).scalar_subquery(),
        )  # one statement: one snapshot of both tables
        with self.engine.connect() as conn:
            decisions, outcomes = conn.execute(ends).one()
        return Position(decisions or 0, outcomes or 0)

    def inputs_between(self, start: Position, end: Position) -> list[tuple[str, dict]]:
        """(parcel id, input) of the decisions after ``start`` up to ``end``, in log order."""
        query = (
            sa.select(DECISIONS.c.parcel_id, DECISIONS.c.input_json)
            .where(DECISIONS.c.id > start.decisions, DECISIONS.c.id <= end.decisions)
            .order_by(DECISIONS.c.id)
        )
        with self.engine.connect() as conn:
            return [(pid, json.loads(text)) for pid, text in conn.execute(query)]

    def outcomes_between(self, start: Position, end: Position) -> list[dict]:
        """Outcomes recorded after ``start`` up to ``end``, in log order, each with the input
        of its parcel's first logged decision (``input``) and ``outcome_at`` filled in (the
        recording time where none was given)."""
        query = (
            sa.select(OUTCOMES)
            .where(OUTCOMES.c.id > start.outcomes, OUTCOMES.c.id <= end.outcomes)
            .order_by(OUTCOMES.c.id)
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            inputs = _first_inputs(conn, [r["parcel_id"] for r in rows], end.decisions)
        for row in rows:
            row["input"] = inputs[row["parcel_id"]]
            row["outcome_at"] = _utc(row["outcome_at"] or row["recorded_at"])
        return rows

    def scored(self, parcel_ids: Iterable[str]) -> set[str]:
        """The parcel ids among ``parcel_ids`` that have at least one logged decision."""
        with self.engine.connect() as conn:
            return _scored_among(conn, list(parcel_ids))

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

    def outcomes(self) -> list[dict]:
        """All recorded outcomes, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(OUTCOMES).order_by(OUTCOMES.c.id))
            return [dict(row._mapping) for row in rows]


def logged_day(day: str | date) -> date:
    """A day of the audit log's clock: ``YYYY-MM-DD``, the UTC day decisions were logged."""
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(day)
    except ValueError as err:
        raise ValueError(f"day {day!r} is not a date of the form YYYY-MM-DD") from err


@dataclass(frozen=True)
class LoggedSpan:
    """How many decisions a store holds, and when the first and last were logged (UTC)."""

    url: str
    count: int
    first: datetime | None
    last: datetime | None

    def __str__(self) -> str:
        if not self.count:
            return f"no decision is logged in {_shown(self.url)}"
        return (f"{self.count:,} decision(s) logged in {_shown(self.url)} from "
                f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d} (UTC)")  # fmt: skip


def logged_span(store: AuditStore) -> LoggedSpan:
    """The decisions a store holds: count and first and last logging time (one query), so
    that a day or a time that selects none can say which ones do."""
    logged_at = DECISIONS.c.logged_at
    query = sa.select(sa.func.count(), sa.func.min(logged_at), sa.func.max(logged_at))
    with store.engine.connect() as conn:
        n, first, last = conn.execute(query).one()
    return LoggedSpan(store.url, n, *(None if t is None else _utc(t) for t in (first, last)))


def _utc(stamp: datetime) -> datetime:
    """A logged time in UTC (SQLite keeps no time zone; the store writes UTC)."""
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _engine(url: str, create: bool) -> sa.Engine:
    """The engine of an audit store URL, or a clear :class:`AuditStoreError`."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as err:
        raise AuditStoreError(
            f"audit store URL {url!r} is not a SQLAlchemy URL (e.g. sqlite:///audit.db or "
            "postgresql+psycopg://user@host/db)"
        ) from err
    if not create and parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise FileNotFoundError(f"audit store {url} does not exist (no SQLite file {path})")
    try:
        # hide_parameters: an error names the statement, never the values (personal data)
        engine = sa.create_engine(parsed, hide_parameters=True)
    except sa.exc.NoSuchModuleError as err:
        raise AuditStoreError(f"audit store {_shown(url)}: SQLAlchemy knows no database "
                              f"{parsed.drivername!r}") from err  # fmt: skip
    except ImportError as err:
        raise AuditStoreError(f"audit store {_shown(url)}: the database driver is not "
                              f"installed ({err})") from err  # fmt: skip
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_wal)
    return engine


@contextmanager
def _opening(url: str) -> Iterator[None]:
    """Turn a database that cannot be reached or opened into a clear :class:`AuditStoreError`."""
    try:
        yield
    except sa.exc.DBAPIError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
        raise AuditStoreError(f"cannot open the audit store {_shown(url)}: {reason}") from err


def _shown(url: str) -> str:
    """A URL as it may be shown: without its password."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _scored_among(conn: sa.Connection, parcel_ids: list[str]) -> set[str]:
    """The ids among ``parcel_ids`` with a logged decision: one indexed ``IN`` query per
    :data:`_IN_CHUNK` distinct ids."""
    wanted = list(dict.fromkeys(parcel_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query = sa.select(DECISIONS.c.parcel_id).where(DECISIONS.c.parcel_id.in_(chunk))
        found.update(conn.execute(query.distinct()).scalars())
    return found


def _first_inputs(conn: sa.Connection, parcel_ids: list[str], until: int) -> dict[str, dict]:
    """The input of each parcel's first logged decision (up to decision id ``until``)."""
    wanted = list(dict.fromkeys(parcel_ids))
    found: dict[str, dict] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query = (
            sa.select(DECISIONS.c.parcel_id, DECISIONS.c.input_json)
            .where(DECISIONS.c.parcel_id.in_(chunk), DECISIONS.c.id <= until)
            .order_by(DECISIONS.c.id)
        )
        for pid, text in conn.execute(query):
            if pid not in found:
                found[pid] = json.loads(text)
    return found


def _checked_outcomes(outcomes: Iterable[Mapping[str, Any] | Outcome]) -> list[dict[str, Any]]:
    """The store rows of outcomes that pass :class:`~parcelrisk.outcomes.Outcome`, or a
    ValueError naming every one that does not (index, parcel id, field, reason)."""
    from pydantic import ValidationError

    from parcelrisk.outcomes import Outcome

    rows, problems = [], []
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, Outcome):
            rows.append(outcome.row())
            continue
        try:
            rows.append(Outcome.model_validate(outcome).row())
        except ValidationError as err:
            pid = outcome.get("parcel_id") if isinstance(outcome, Mapping) else None
            for e in err.errors():
                where = ".".join(map(str, e["loc"])) or "outcome"
                problems.append(f"outcomes[{i}] (parcel_id {pid!r:.60}) {where}: {e['msg']}")
    if problems:
        raise ValueError("outcomes not recorded (none was):\n  " + "\n  ".join(problems))
    return rows


def _latest_outcomes(conn: sa.Connection, parcel_ids: list[str]) -> dict[str, dict]:
    """Each parcel's latest recorded outcome (highest id), with its version (1 for rows
    recorded before versions were kept, counted from there)."""
    wanted = list(dict.fromkeys(parcel_ids))
    latest: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query = sa.select(OUTCOMES).where(OUTCOMES.c.parcel_id.in_(chunk)).order_by(OUTCOMES.c.id)
        for row in conn.execute(query):
            row = dict(row._mapping)
            counts[row["parcel_id"]] = counts.get(row["parcel_id"], 0) + 1
            row["version"] = row["version"] or counts[row["parcel_id"]]
            latest[row["parcel_id"]] = row
    return latest


def _same_outcome(stored: Mapping[str, Any], outcome: Mapping[str, Any]) -> bool:
    """Whether an outcome says exactly what a stored one says (times compared in UTC)."""
    for name in OUTCOME_FIELDS:
        a, b = stored.get(name), outcome.get(name)
        if isinstance(a, datetime) and isinstance(b, datetime):
            a, b = _utc(a), _utc(b)
        if a != b:
            return False
    return True


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
        "policy_version": None if d.policy is None else d.policy.version,
        "policy_sha256": None if d.policy is None else d.policy.sha256,
        "seen_decisions": None if d.position is None else d.position.decisions,
        "seen_outcomes": None if d.position is None else d.position.outcomes,
        "key_id": d.key_id,
    }


def _policy_row(policy: Policy, now: datetime) -> dict[str, Any]:
    text = json.dumps(policy.to_dict(), sort_keys=True, separators=(",", ":"))
    return {"sha256": policy.sha256, "version": policy.version, "policy_json": text,
            "first_logged_at": now}  # fmt: skip


def _insert_new(dialect: str):
    """An insert of policies that skips one another worker stored meanwhile (same key, same
    content), where the database can say so."""
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect)
    if insert is None:
        return POLICIES.insert()
    return insert(POLICIES).on_conflict_do_nothing(index_elements=["sha256"])


def _add_columns(engine: sa.Engine) -> None:
    """Add the columns of :data:`_ADDED_COLUMNS` to tables made without them."""
    inspector = sa.inspect(engine)
    for table, added in _ADDED_COLUMNS.items():
        if not inspector.has_table(table):
            continue
        present = {c["name"] for c in inspector.get_columns(table)}
        missing = [c for c in added if c not in present]
        if missing:
            with engine.begin() as conn:
                for name in missing:
                    kind = _META.tables[table].c[name].type.compile(dialect=engine.dialect)
                    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))


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
