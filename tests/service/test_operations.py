"""Operating the real `bentoml serve` process: overload answered at once with 503 and
Retry-After, nothing logged that was not answered; readiness that follows the audit
store; workers that stop with the server."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

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


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("operations")
    split = split_by_time(generate(rows=20_000, days=20, seed=8), 5)
    model_dir = save_model(
        fit_model(split.train).pipeline, root / "model", {"version": "ops-1"}
    )  # fmt: skip
    env = {
        "PARCELRISK_MODEL_DIR": str(model_dir),
        "PARCELRISK_AUDIT_URL": f"sqlite:///{root / 'audit.db'}",
        "PARCELRISK_API_KEY": KEY["X-API-Key"],
        "PARCELRISK_MAX_QUEUE": "2",
        "PARCELRISK_DEADLINE_MS": "1500",
    }
    with bentoml_serve(root, env) as base:
        yield base, to_records(split.test.head(CLIENTS * PARCELS)), root


def _score(base: str, parcels: list[dict]) -> tuple[int, dict, dict, float]:
    started = time.perf_counter()
    r = httpx.post(f"{base}/score", json={"parcels": parcels, "explain_all": True},
                   headers=KEY, timeout=60)  # fmt: skip
    return r.status_code, dict(r.headers), r.json(), time.perf_counter() - started


def test_overload_is_answered_at_once_with_503_and_nothing_unanswered_is_logged(served):
    base, records, root = served
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
    logged = AuditStore(f"sqlite:///{root / 'audit.db'}").decisions()
    assert {d["request_id"] for d in logged} == answered  # every answer, nothing else
    assert len(logged) == PARCELS * len(answered)
    # and the service is itself again
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    code, *_ = _score(base, records[:1])
    assert code == 200
    print(f"{CLIENTS} clients x {PARCELS} parcels: {codes.count(200)} answered, "
          f"{len(refused)} refused with 503")  # fmt: skip


def test_readiness_follows_the_audit_store(served):
    base, _, root = served
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    holder = sqlite3.connect(root / "audit.db", timeout=5)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the store
        r = httpx.get(f"{base}/readyz", timeout=10)
        assert r.status_code == 503, r.text
    finally:
        holder.rollback()
        holder.close()
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200


def test_workers_stop_when_the_server_process_is_killed(tmp_path, served):
    _, _, root = served
    env = {
        "PARCELRISK_MODEL_DIR": str(root / "model"),
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
