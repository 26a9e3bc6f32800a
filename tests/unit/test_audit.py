"""The audit store: append-only decisions and outcomes in a real SQLite file and a real
PostgreSQL server (see ``postgres_url`` in tests/conftest.py)."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from parcelrisk.audit import (
    AuditStore,
    AuditStoreError,
    Decision,
    Position,
    UnscoredParcelsError,
    canonical_json,
    input_hash,
    logged_span,
    open_store,
)
from parcelrisk.contract.schema import MAX_ID_LENGTH
from parcelrisk.feedback import labelled_declarations


def _decision(i: int, record: dict | None = None) -> Decision:
    record = record or {"parcel_id": f"P{i}", "description": "Cotton T-Shirt 👕", "quantity": 2}
    reasons = [{"group": "seller history", "contribution": 0.4, "text": "seller: ..."}]
    return Decision("req-1", record["parcel_id"], record, "v1", 0.1 * i, "review", reasons)


@pytest.fixture
def store(store_url):
    return AuditStore(store_url)


def test_decisions_round_trip_with_input_hash_and_reasons(store):
    assert store.append_decisions([_decision(1), _decision(2)]) == 2
    [row] = store.decisions(parcel_id="P2")
    assert row["input"] == {"parcel_id": "P2", "description": "Cotton T-Shirt 👕", "quantity": 2}
    assert row["input_sha256"] == input_hash(row["input"])
    assert row["model_version"] == "v1"
    assert row["probability"] == pytest.approx(0.2)
    assert row["lane"] == "review"
    assert row["reasons"][0]["group"] == "seller history"
    assert len(store.decisions()) == 2


def test_canonical_json_is_key_order_independent():
    assert (
        canonical_json({"b": 1, "a": "é"})
        == canonical_json({"a": "é", "b": 1})
        == '{"a":"é","b":1}'
    )
    assert input_hash({"b": 1, "a": 2}) == input_hash({"a": 2, "b": 1})


def test_sqlite_store_uses_write_ahead_logging(tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.append_decisions([_decision(1)])
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_since_filters_by_logging_time(store):
    store.append_decisions([_decision(1)])
    assert len(store.decisions(since=datetime.now(UTC) - timedelta(minutes=1))) == 1
    assert store.decisions(since=datetime.now(UTC) + timedelta(minutes=1)) == []


def test_a_failed_batch_writes_nothing(store):
    bad = Decision("req-2", None, {"parcel_id": None}, "v", 0.5, "inspect", None)
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)not[- ]null"):
        store.append_decisions([_decision(1), bad])
    assert store.decisions() == []


def test_outcomes_are_recorded(store):
    store.append_decisions([_decision(1), _decision(2)])
    store.append_outcomes([
        {"parcel_id": "P1", "inspected": True, "violation_found": True,
         "violation_type": "counterfeit"},
        {"parcel_id": "P2", "inspected": True, "violation_found": False},
    ])  # fmt: skip
    rows = store.outcomes()
    assert [(r["parcel_id"], r["violation_found"], r["violation_type"]) for r in rows] == [
        ("P1", True, "counterfeit"), ("P2", False, None),
    ]  # fmt: skip


def test_outcomes_of_parcels_never_scored_are_refused_all_or_none(store):
    ids = [f"P{i}" for i in range(2000)]  # more than one IN list
    store.append_decisions([_decision(i) for i in range(1, 2000)])
    assert store.scored([*ids, "P7", "nope"]) == set(ids[1:])
    sent = [{"parcel_id": p, "inspected": False} for p in ["nope", *ids, "P0", "gone"]]
    with pytest.raises(UnscoredParcelsError, match=r"parcel ids 'nope', 'P0', 'gone': ") as e:
        store.append_outcomes(sent)
    assert e.value.parcel_ids == ["nope", "P0", "gone"]
    assert store.outcomes() == []
    assert store.append_outcomes(sent[2:-2]).recorded == 1999  # P1 to P1999


def test_the_store_is_append_only(store):
    """Its whole public interface appends or reads, and logging a parcel again adds a row:
    what was logged before comes back unchanged, field for field."""
    public = {m for m in dir(store) if not m.startswith("_")}
    assert public == {
        "append_decisions", "append_outcomes", "decisions", "outcomes", "scored",
        "policy", "url", "engine", "position", "inputs_between", "outcomes_between",
        "writable",
    }  # fmt: skip
    store.append_decisions([_decision(1)])
    store.append_outcomes([{"parcel_id": "P1", "inspected": True, "violation_found": False}])
    [decision], [outcome] = store.decisions(), store.outcomes()
    again = Decision("req-2", "P1", {"parcel_id": "P1", "quantity": 3}, "v2", 0.9, "inspect", None)
    store.append_decisions([again])
    store.append_outcomes([{"parcel_id": "P1", "inspected": True, "violation_found": True,
                            "violation_type": "counterfeit"}])  # fmt: skip
    decisions, outcomes = store.decisions(parcel_id="P1"), store.outcomes()
    assert decisions[0] == decision and outcomes[0] == outcome
    assert [(d["request_id"], d["lane"]) for d in decisions] == [
        ("req-1", "review"),
        ("req-2", "inspect"),
    ]
    assert [o["violation_found"] for o in outcomes] == [False, True]


def test_long_ids_and_outcome_times_come_back_as_logged(store):
    pid = "P" + "9" * (MAX_ID_LENGTH - 1)  # the longest id the contract takes
    store.append_decisions([_decision(1, {"parcel_id": pid, "quantity": 1})])
    before = datetime.now(UTC)
    store.append_outcomes([{"parcel_id": pid, "inspected": True, "violation_found": False}])
    [row] = store.decisions(parcel_id=pid)
    assert row["parcel_id"] == pid
    [outcome] = store.outcomes()
    recorded = outcome["recorded_at"]
    recorded = recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)
    assert abs(recorded - before) < timedelta(minutes=1)


def test_outcomes_come_back_as_labelled_declarations_with_utc_outcome_times(store):
    from records import valid_record

    from parcelrisk.contract import FIELDS_BY_NAME, Role

    record = {k: v for k, v in valid_record(7).items()
              if FIELDS_BY_NAME[k].role in (Role.KEY, Role.INPUT)}  # fmt: skip
    store.append_decisions([_decision(7, record)])
    store.append_outcomes([{"parcel_id": record["parcel_id"], "inspected": True,
                            "violation_found": True, "violation_type": "counterfeit"}])  # fmt: skip
    frame = labelled_declarations(store)
    assert frame["parcel_id"].tolist() == [record["parcel_id"]]
    assert bool(frame["violation_found"].iloc[0])
    outcome_at = frame["outcome_at"].iloc[0]
    assert abs(outcome_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_mapped_records_come_back_through_the_models_mapping(tmp_path):
    import csv
    from pathlib import Path

    import pytest

    from parcelrisk.contract import load_mapping, read_mapped

    example = Path(__file__).parents[2] / "examples" / "byo"
    mapping = load_mapping(example / "mapping.yaml")
    with open(example / "declarations.csv", encoding="utf-8") as f:
        rows = [r for _, r in zip(range(3), csv.DictReader(f), strict=False)]
    inputs = [{k: v for k, v in r.items() if k != "illicit"} for r in rows]  # as the service logs
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.append_decisions([
        Decision(request_id=f"r{i}", parcel_id=r["declaration_no"], record=r,
                 model_version="m", probability=0.5, lane="review", reasons=None)
        for i, r in enumerate(inputs)
    ])  # fmt: skip
    store.append_outcomes([
        {"parcel_id": inputs[0]["declaration_no"], "inspected": True, "violation_found": True},
        {"parcel_id": inputs[2]["declaration_no"], "inspected": True, "violation_found": False},
    ])  # fmt: skip
    with pytest.raises(ValueError, match=r"column mapping's names .*pass the model's mapping"):
        labelled_declarations(store)
    frame = labelled_declarations(store, mapping=mapping)
    assert frame["parcel_id"].tolist() == [inputs[0]["declaration_no"], inputs[2]["declaration_no"]]
    assert frame["violation_found"].tolist() == [True, False]
    assert frame["inspected"].tolist() == [True, True]
    expected = read_mapped(example / "declarations.csv", mapping).iloc[[0, 2]]
    assert frame["declared_at"].tolist() == expected["declared_at"].tolist()
    assert frame["duty_amount"].tolist() == expected["duty_amount"].tolist()  # extras kept
    assert frame["outcome_at"].notna().all()


def test_decisions_filter_by_request(store):
    other = Decision("req-2", "P9", {"parcel_id": "P9"}, "v1", 0.5, "review", None)
    store.append_decisions([_decision(1), _decision(2), other])
    assert [d["parcel_id"] for d in store.decisions(request_id="req-1")] == ["P1", "P2"]
    assert [d["parcel_id"] for d in store.decisions(request_id="req-2")] == ["P9"]


def test_opening_a_store_to_read_creates_nothing(tmp_path):
    path = tmp_path / "audit.db"
    with pytest.raises(FileNotFoundError, match=r"audit store sqlite:///.*audit\.db does not"):
        open_store(f"sqlite:///{path}")
    assert not path.exists()
    sqlite3.connect(path).close()  # a SQLite file without the audit tables
    with pytest.raises(AuditStoreError, match=r"sqlite:///.*audit\.db holds no audit log "
                                              r"\(it has no table 'decisions'\)"):  # fmt: skip
        open_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_a_store_opened_to_read_reads_what_was_written(store):
    store.append_decisions([_decision(1)])
    again = open_store(store.url)
    assert [d["parcel_id"] for d in again.decisions()] == ["P1"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", r"audit store URL 'notaurl' is not a SQLAlchemy URL"),
        ("foo://x/y", r"audit store foo://x/y: SQLAlchemy knows no database 'foo'"),
        ("mysql://u@127.0.0.1:1/x", r"the database driver is not installed \(No module named"),
        ("sqlite:////nonexistent/dir/a.db", r"cannot open the audit store "
                                            r"sqlite:////nonexistent/dir/a\.db: unable to open"),
        ("postgresql+psycopg://u:pw@127.0.0.1:1/x",
         r"^cannot open the audit store postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/x: "
         r".*refused"),
    ],
)  # fmt: skip
def test_a_store_that_cannot_be_opened_is_a_clear_error(url, message):
    with pytest.raises(AuditStoreError, match=message) as excinfo:
        AuditStore(url)
    assert "pw" not in str(excinfo.value)


def test_logged_span_counts_the_decisions_and_their_days(store):
    assert str(logged_span(store)).startswith("no decision is logged in ")
    store.append_decisions([_decision(1), _decision(2)])
    span = logged_span(store)
    today = datetime.now(UTC).date()
    assert (span.count, span.first.date(), span.last.date()) == (2, today, today)
    assert span.first.tzinfo is not None and span.first <= span.last
    assert str(span).startswith("2 decision(s) logged in ")
    assert str(span).endswith(f" from {today} to {today} (UTC)")


def test_the_log_is_read_by_position_with_each_outcome_and_its_parcels_first_input(store):
    """What the live history reads (parcelrisk.history_store): decisions and outcomes after
    one position up to another, in id order; each outcome with its parcel's first logged
    input and its outcome_at (the recording time where none was given); and the position a
    decision saw, kept with it."""
    assert store.position() == Position(0, 0)
    store.append_decisions([_decision(1), _decision(2)])
    first = store.position()
    assert first == Position(2, 0)
    again = Decision("req-2", "P1", {"parcel_id": "P1", "quantity": 9}, "v1", 0.5, "inspect",
                     None, position=first)  # fmt: skip
    store.append_decisions([again])
    known = datetime(2025, 5, 1, 12, tzinfo=UTC)
    store.append_outcomes([
        {"parcel_id": "P1", "inspected": True, "violation_found": True, "outcome_at": known},
        {"parcel_id": "P2", "inspected": False},
    ])  # fmt: skip
    end = store.position()
    assert end == Position(3, 2) and end.covers(first) and not first.covers(end)
    assert [p for p, _ in store.inputs_between(first, end)] == ["P1"]
    assert store.inputs_between(Position(), first)[1] == ("P2", _decision(2).record)
    p1, p2 = store.outcomes_between(first, end)
    assert p1["input"] == _decision(1).record  # the first logged input, not the retry's
    assert p1["outcome_at"] == known
    assert p2["outcome_at"].tzinfo is not None  # the recording time, in UTC
    assert p2["outcome_at"].replace(tzinfo=None) == p2["recorded_at"].replace(tzinfo=None)
    assert store.outcomes_between(Position(3, 1), end)[0]["parcel_id"] == "P2"
    logged = store.decisions(request_id="req-2")[0]
    assert (logged["seen_decisions"], logged["seen_outcomes"]) == (2, 0)
    assert store.decisions(parcel_id="P2")[0]["seen_decisions"] is None  # logged without


def test_a_store_is_writable_unless_another_holds_the_lock_a_write_needs(store):
    assert store.writable()
    other = sa.create_engine(store.url)
    with other.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
        else:
            conn.begin()
            conn.execute(sa.text("LOCK TABLE decisions IN SHARE MODE"))
        assert not store.writable(timeout=0.2)
        conn.rollback()
    assert store.writable()
    other.dispose()
