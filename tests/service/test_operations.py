"""Operating the real `bentoml serve` process: overload answered at once with 503 and
Retry-After, nothing logged that was not answered; readiness that follows the audit
store; workers that stop with the server.

The overload and readiness tests run on each audit store: a SQLite file (in ``make
test``) and a database on a throwaway PostgreSQL server (marker ``postgres_service``:
``make postgres``, which CI runs after ``make crash``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import psutil
import pytest
import sqlalchemy as sa

from live_service import bentoml_serve, start_serving
from parcelrisk.artifact import save_model
from parcelrisk.audit import AuditStore
from parcelrisk.contract import to_records
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import fit_model

pytestmark = pytest.mark.slow
KEY = {"X-API-Key": "ops-key"}
CLIENTS = 24  # far more than the queue takes
PARCELS = 40  # per request, every one explained: each request takes a while
#: the audit stores served: SQLite in `make test`, PostgreSQL in `make postgres`
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres_service)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """The model every server of the module serves, and parcels to send it."""
    root = tmp_path_factory.mktemp("operations-model")
    split = split_by_time(generate(rows=20_000, days=20, seed=8), 5)
    model_dir = save_model(
        fit_model(split.train).pipeline, root / "model", {"version": "ops-1"}
    )  # fmt: skip
    return SimpleNamespace(
        model_dir=model_dir, records=to_records(split.test.head(CLIENTS * PARCELS))
    )


@pytest.fixture(scope="module", params=STORES)
def served(request, tmp_path_factory, trained, empty_store) -> Iterator[SimpleNamespace]:
    """`bentoml serve` with a queue of 2 and a deadline of 1.5 s, on an empty audit store:
    a SQLite file, or a fresh database on the throwaway PostgreSQL server."""
    store = request.param
    root = tmp_path_factory.mktemp(f"operations-{store}")
    url = empty_store(store, root)
    env = {
        "PARCELRISK_MODEL_DIR": str(trained.model_dir),
        "PARCELRISK_AUDIT_URL": url,
        "PARCELRISK_API_KEY": KEY["X-API-Key"],
        "PARCELRISK_MAX_QUEUE": "2",
        "PARCELRISK_DEADLINE_MS": "1500",
    }
    with bentoml_serve(root, env) as base:
        yield SimpleNamespace(base=base, records=trained.records, url=url, store=store)


def _score(base: str, parcels: list[dict]) -> tuple[int, dict, dict, float]:
    started = time.perf_counter()
    r = httpx.post(f"{base}/score", json={"parcels": parcels, "explain_all": True},
                   headers=KEY, timeout=60)  # fmt: skip
    return r.status_code, dict(r.headers), r.json(), time.perf_counter() - started


def test_overload_is_answered_at_once_with_503_and_nothing_unanswered_is_logged(served):
    base, records = served.base, served.records
    batches = [records[i * PARCELS : (i + 1) * PARCELS] for i in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda b: _score(base, b), batches))
    codes = [code for code, *_ in answers]
    assert set(codes) <= {200, 503}, codes
    refused = [(h, body, s) for code, h, body, s in answers if code == 503]
    assert refused and codes.count(200) >= 1, codes
    for headers, body, _seconds in refused:
        assert headers["retry-after"] == "1" and body["error_id"]
        assert "overloaded" in body["error"] and "nothing was logged" in body["error"]
    # refused at once (queue full) or at the deadline: never after the deadline has passed
    assert max(s for *_, s in refused) < 1.5 + 2.0, [round(s, 2) for *_, s in refused]
    answered = {body["request_id"] for code, _h, body, _s in answers if code == 200}
    store = AuditStore(served.url)
    try:
        logged = store.decisions()
    finally:
        store.engine.dispose()
    assert {d["request_id"] for d in logged} == answered  # every answer, nothing else
    assert len(logged) == PARCELS * len(answered)
    # and the service is itself again
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    code, *_ = _score(base, records[:1])
    assert code == 200
    print(f"[{served.store}] {CLIENTS} clients x {PARCELS} parcels: {codes.count(200)} "
          f"answered, {len(refused)} refused with 503")  # fmt: skip


@contextmanager
def held(url: str, writer: bool) -> Iterator[None]:
    """Another connection holds the audit store in an open transaction, until the block
    ends: as a writer (``writer``; SQLite: the write lock; PostgreSQL: ``ACCESS
    EXCLUSIVE`` on the decisions table, which conflicts with the ``ROW EXCLUSIVE`` an
    insert takes), else as a reader of the decisions (SQLite: a read transaction;
    PostgreSQL: ``ACCESS SHARE``, which conflicts with no insert)."""
    if url.startswith("sqlite:///"):
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5)
        try:
            if writer:
                holder.execute("BEGIN IMMEDIATE")
            else:
                holder.execute("BEGIN")
                holder.execute("SELECT count(*) FROM decisions").fetchone()
            yield
        finally:
            holder.rollback()
            holder.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))  # never wait unbounded
            mode = "ACCESS EXCLUSIVE" if writer else "ACCESS SHARE"
            conn.execute(sa.text(f"LOCK TABLE decisions IN {mode} MODE"))
            try:
                yield
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def test_readiness_follows_the_audit_store(served):
    base = served.base
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    with held(served.url, writer=False):  # a reader keeps no decision from being written
        r = httpx.get(f"{base}/readyz", timeout=10)
        assert r.status_code == 200, r.text
    with held(served.url, writer=True):  # another writer holds the store
        started = time.monotonic()
        r = httpx.get(f"{base}/readyz", timeout=10)
        waited = time.monotonic() - started
        assert r.status_code == 503, r.text
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    print(f"[{served.store}] /readyz answered 503 in {waited:.2f} s while the store was held")


def test_workers_stop_when_the_server_process_is_killed(tmp_path, trained):
    env = {
        "PARCELRISK_MODEL_DIR": str(trained.model_dir),
        "PARCELRISK_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "PARCELRISK_API_KEY": KEY["X-API-Key"],
    }
    proc, log, base = start_serving(tmp_path, env)
    try:
        deadline = time.monotonic() + 120
        while not _ready(base):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert workers
        os.kill(proc.pid, signal.SIGKILL)  # the server alone, not its workers' group
        proc.wait(timeout=10)
        _gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, [p.pid for p in alive]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz", timeout=5)
    finally:
        for p in psutil.Process().children(recursive=True):
            if p.pid == proc.pid or proc.pid in (a.pid for a in p.parents()):
                p.kill()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
