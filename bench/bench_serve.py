"""Serving speed: HTTP latency and throughput of the real service, and batch decisions.

Usage: python bench/bench_serve.py --model DIR --data FILE [--requests N] [--workers N]
[--history N]

Logs the first ``--history`` parcels of the data's last 14 days (default 20,000, about
one day of the demo data) to a new audit store, starts `bentoml serve` on a free
127.0.0.1 port with the model and that store (so it scores against a live history of
those parcels and of every parcel it is sent), then measures (bounded in count): one
parcel per request with reasons (p50 / p99 latency; targets 10 ms / 30 ms) next to two
references of the same run, the HTTP floor (GET /model) and the same decision in-
process; one-parcel requests from 8 concurrent clients; batches of 100 (parcels/s;
target 2,000); batch decisions through the Python API with reasons for the inspect and
review lanes, a table through ``decide_frame`` (parcels/s; target 30,000) with the same
parcels as JSON records through ``decide`` as reference; and full explanations against
shap.TreeExplainer on the same model and rows.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import numpy as np

from parcelrisk.artifact import load_model
from parcelrisk.audit import AuditStore, Decision
from parcelrisk.contract import DECLARATION_COLUMNS, read_declarations
from parcelrisk.explain import explain_features
from parcelrisk.model import features_of
from parcelrisk.policy import Policy
from parcelrisk.predict import decide, decide_frame
from parcelrisk.split import split_by_time
from parcelrisk.tracking import example_input

POLICY = Policy()  # the default lanes and reasons


def start_service(
    model_dir: Path, workdir: Path, workers: int = 1, root: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """``bentoml serve`` on a free 127.0.0.1 port (of the checkout ``root``, default this
    environment), audit store in ``workdir``; returns the process and the base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (workdir / "serve.log").open("wb")
    env = {**os.environ, "PARCELRISK_MODEL_DIR": str(model_dir.resolve()),
           "BENTOML_DO_NOT_TRACK": "true", "PARCELRISK_WORKERS": str(workers),
           "PARCELRISK_AUDIT_URL": f"sqlite:///{workdir / 'audit.db'}"}  # fmt: skip
    bin_dir = Path(sys.executable).parent if root is None else root / ".venv" / "bin"
    if root is not None:  # that checkout's code, even where its .venv is shared
        env["PYTHONPATH"] = str(root / "src")
    proc = subprocess.Popen(
        [str(bin_dir / "bentoml"), "serve", "parcelrisk.serving.service:ParcelRisk", "--host",
         "127.0.0.1", "--port", str(port)],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("service did not start:\n" + (workdir / "serve.log").read_text()[-3000:])


def _latencies(call, items) -> np.ndarray:
    """Milliseconds of ``call(item)`` for each item; HTTP errors stop the benchmark."""
    out = []
    for item in items:
        t0 = time.perf_counter()
        result = call(item)
        out.append(time.perf_counter() - t0)
        if isinstance(result, httpx.Response):
            result.raise_for_status()
    return np.array(out) * 1e3


def _p(ms: np.ndarray, q: float) -> float:
    return float(np.percentile(ms, q))


def _concurrent(base: str, records: list[dict], clients: int) -> float:
    """Parcels/s of one-parcel requests sent by ``clients`` threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    def send(chunk: list[dict]) -> None:
        with httpx.Client(timeout=60) as client:
            for rec in chunk:
                client.post(f"{base}/score", json={"parcels": [rec]}).raise_for_status()

    chunks = [records[i::clients] for i in range(clients)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    return len(records) / (time.perf_counter() - t0)


def _log(model, records: list[dict], path: Path) -> None:
    """Log ``records`` as decisions in a new audit store: the history the service starts
    with (the parcels a day of serving would have logged)."""
    store = AuditStore(f"sqlite:///{path}")
    for start in range(0, len(records), 10_000):
        store.append_decisions(
            Decision("bench", r["parcel_id"], r, model.version, 0.5, "release", None)
            for r in records[start : start + 10_000]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--history", type=int, default=20_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    model = load_model(args.model)
    test = split_by_time(read_declarations(args.data), 14).test
    records = json.loads(example_input(test, len(test)).to_json(orient="records"))
    logged, records = records[: args.history], records[args.history :]

    with tempfile.TemporaryDirectory() as tmp:
        _log(model, logged, Path(tmp) / "audit.db")
        proc, base = start_service(args.model, Path(tmp), args.workers)
        try:
            with httpx.Client(timeout=60) as client:
                for rec in records[:20]:  # warm-up: one-parcel and 100-parcel requests
                    client.post(f"{base}/score", json={"parcels": [rec]})
                client.post(f"{base}/score", json={"parcels": records[-100:]})
                floor = _latencies(lambda _: client.get(f"{base}/model"), range(args.requests))
                lat = _latencies(
                    lambda rec: client.post(f"{base}/score", json={"parcels": [rec]}),
                    records[: args.requests],
                )
                n_batches = max(1, args.requests // 10)
                t0 = time.perf_counter()
                for i in range(n_batches):
                    chunk = records[i * 100 : (i + 1) * 100]
                    client.post(f"{base}/score", json={"parcels": chunk}).raise_for_status()
                batch_rate = 100 * n_batches / (time.perf_counter() - t0)
            concurrent_rate = _concurrent(base, records[: args.requests], clients=8)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        started = [line for line in (Path(tmp) / "serve.log").read_text().splitlines()
                   if "read from the audit log" in line]  # fmt: skip
    print(f"live history at start: {started[-1].split('live history of ')[-1]}")
    in_process = _latencies(lambda rec: decide(model, [rec], POLICY), records[:100])
    print(f"workers: {args.workers}")
    print(
        f"1 parcel/request  p50 {_p(lat, 50):7.1f} ms (target <= 10)   "
        f"p99 {_p(lat, 99):7.1f} ms (target <= 30)   n={len(lat)}"
    )
    print(
        f"  references: HTTP floor GET /model p50 {_p(floor, 50):.1f} ms; same decision "
        f"in-process p50 {_p(in_process, 50):.1f} ms, p99 {_p(in_process, 99):.1f} ms"
    )
    print(
        f"1 parcel/request, 8 concurrent clients {concurrent_rate:7,.0f} parcels/s "
        f"(sequential {1e3 / np.mean(lat):,.0f} parcels/s)"
    )
    print(f"100 parcels/request {batch_rate:9,.0f} parcels/s (target >= 2,000)")

    table = test[list(DECLARATION_COLUMNS)]
    t0 = time.perf_counter()
    decided = decide_frame(model, table, POLICY)
    table_rate = len(table) / (time.perf_counter() - t0)
    explained = int(decided["reasons"].notna().sum())
    print(
        f"Python API decide_frame {table_rate:9,.0f} parcels/s with reasons for {explained:,} "
        f"of {len(table):,} (target >= 30,000: {'met' if table_rate >= 30_000 else 'NOT MET'})"
    )
    t0 = time.perf_counter()
    decide(model, records, POLICY)
    records_rate = len(records) / (time.perf_counter() - t0)
    print(
        f"  reference: the same parcels as JSON records through decide() "
        f"{records_rate:,.0f} parcels/s (record-by-record validation)"
    )

    import shap

    features = features_of(model.pipeline, test.head(2000))
    explainer = shap.TreeExplainer(model.pipeline[-1].booster_.booster_)
    ours, theirs = [], []  # best of three each, taken in turn: a busy moment hits both
    for _ in range(3):
        t0 = time.perf_counter()
        explain_features(model.pipeline[-1], features)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        explainer.shap_values(features)
        theirs.append(time.perf_counter() - t0)
    ours, theirs = min(ours), min(theirs)
    print(
        f"full explanations {len(features) / ours:9,.0f} parcels/s; shap.TreeExplainer "
        f"{len(features) / theirs:,.0f} parcels/s (ratio {theirs / ours:.2f}, target >= 1)"
    )


if __name__ == "__main__":
    main()
