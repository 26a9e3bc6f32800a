"""Hostile traffic: what refused requests cost the real service, and its worker memory.

Usage: python bench/bench_hostile.py --model DIR --data FILE [--big-mib 50]

Starts `bentoml serve` (one worker, an API key set, default limits) on a free 127.0.0.1
port and measures, bounded in count and time:

- one valid parcel per request (p50 / p99): the reference of this run;
- requests refused with 422 (a record with an invalid value) and with 400 (a body that
  is not JSON): p50 / p99, and their ratio to the valid reference;
- a valid client while 8 others send invalid records for ``--seconds``: its p50 / p99
  against the reference alone;
- 8 bodies of ``--big-mib`` MiB without a key, then 8 with the key (over the body
  limit): answers and seconds;
- the start-up: ``bentoml serve`` to the first ``/readyz`` 200, with an empty store;
- 300 valid parcels with distinct descriptions of 1,999 characters (the longest the
  contract takes; each a new entry of the description cache);

with the worker's resident memory (MiB) before and after each part. Prints figures and
ratios; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_overload import server_memory
from bench_serve import start_service

from parcelrisk.contract import read_declarations, to_records

KEY = "bench-hostile-key"
HEADERS = {"X-API-Key": KEY}


def _rss_mib(server: int) -> float:
    """Resident memory of the server's workers, MiB (:func:`bench_overload.server_memory`)."""
    return sum(mib for name, mib in server_memory(server).items() if name.endswith("worker"))


def _timed(client: httpx.Client, body: dict | bytes, expect: int) -> float:
    t0 = time.perf_counter()
    if isinstance(body, bytes):
        r = client.post("/score", content=body, headers=HEADERS)
    else:
        r = client.post("/score", json=body, headers=HEADERS)
    ms = (time.perf_counter() - t0) * 1e3
    if r.status_code != expect:
        raise RuntimeError(f"expected {expect}, got {r.status_code}: {r.text[:300]}")
    return ms


def _pct(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _big_bodies(base: str, mib: int, keyed: bool) -> tuple[list[int], float]:
    """8 bodies of ``mib`` MiB at once, streamed; their answers and the seconds taken."""

    def chunks():
        block = b"x" * 2**20
        for _ in range(mib):
            yield block

    def send(_: int) -> int:
        try:
            r = httpx.post(f"{base}/score", content=chunks(), timeout=120,
                           headers=HEADERS if keyed else {})  # fmt: skip
            return r.status_code
        except httpx.HTTPError as err:  # the server may close the connection early
            return -len(type(err).__name__)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(8)))
    return codes, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--big-mib", type=int, default=50)
    args = parser.parse_args()

    records = to_records(read_declarations(args.data).tail(args.requests * 3))
    os.environ["PARCELRISK_API_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc, base = start_service(args.model, Path(tmp))
        rows: list[tuple[str, str]] = [
            ("start-up, bentoml serve to /readyz 200 (empty store)",
             f"{time.perf_counter() - started:.1f} s"),
        ]  # fmt: skip
        server = proc.pid
        memory: list[tuple[str, float]] = [("at start", _rss_mib(server))]
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                for r in records[:20]:  # warm up
                    _timed(client, {"parcels": [r]}, 200)
                valid = [_timed(client, {"parcels": [r]}, 200)
                         for r in records[20 : 20 + args.requests]]  # fmt: skip
                invalid_record = dict(records[0], seller_country="Narnia")
                invalid = [_timed(client, {"parcels": [invalid_record]}, 422)
                           for _ in range(args.requests)]  # fmt: skip
                not_json = [_timed(client, b"{not json", 400) for _ in range(args.requests)]
                ref50, ref99 = _pct(valid)
                rows.append(("valid parcel (reference)", f"p50 {ref50:.1f} ms  p99 {ref99:.1f} ms"))
                for name, ms in (("422 invalid record", invalid), ("400 not JSON", not_json)):
                    p50, p99 = _pct(ms)
                    rows.append((name, f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
                                       f"({p50 / ref50:.2f}x the valid p50)"))  # fmt: skip
                memory.append(("after valid and invalid requests", _rss_mib(server)))

                # a valid client beside 8 clients sending invalid records
                stop = time.monotonic() + args.seconds
                beside: list[float] = []

                def flood() -> int:
                    n = 0
                    with httpx.Client(base_url=base, timeout=60) as own:
                        while time.monotonic() < stop:
                            own.post("/score", json={"parcels": [invalid_record]},
                                     headers=HEADERS)  # fmt: skip
                            n += 1
                    return n

                with ThreadPoolExecutor(8) as pool:
                    floods = [pool.submit(flood) for _ in range(8)]
                    i = 0
                    while time.monotonic() < stop:
                        record = records[20 + args.requests + i % args.requests]
                        beside.append(_timed(client, {"parcels": [dict(
                            record, parcel_id=f"B{i}-{record['parcel_id']}")]}, 200))  # fmt: skip
                        i += 1
                    sent = sum(f.result() for f in floods)
                p50, p99 = _pct(beside)
                rows.append((f"valid beside 8 invalid clients ({sent:,} invalid sent)",
                             f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
                             f"({p50 / ref50:.2f}x the valid p50 alone)"))  # fmt: skip
                memory.append(("after the invalid flood", _rss_mib(server)))

            for keyed in (False, True):
                codes, seconds = _big_bodies(base, args.big_mib, keyed)
                what = f"8 x {args.big_mib} MiB bodies, {'with' if keyed else 'without'} key"
                rows.append((what, f"answers {sorted(set(codes))} in {seconds:.2f} s"))
                memory.append((f"after {what}", _rss_mib(server)))

            rng = random.Random(0)
            words = "abcdefghijklmnopqrstuvwxyz"
            with httpx.Client(base_url=base, timeout=60) as client:
                long_ms = []
                for i, r in enumerate(records[: args.requests]):
                    text = "".join(rng.choice(words) for _ in range(1_999))
                    parcel = dict(r, parcel_id=f"L{i}-{r['parcel_id']}", description=text)
                    long_ms.append(_timed(client, {"parcels": [parcel]}, 200))
            p50, _ = _pct(long_ms)
            rows.append((f"{args.requests} distinct 1,999-character descriptions",
                         f"p50 {p50:.1f} ms"))  # fmt: skip
            memory.append(("after the long descriptions", _rss_mib(server)))
            healthy = httpx.get(f"{base}/readyz", timeout=10).status_code
            rows.append(("/readyz afterwards", str(healthy)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        log = (Path(tmp) / "serve.log").read_text(errors="replace")
    tracebacks = log.count("Traceback")
    width = max(len(a) for a, _ in rows) + 2
    print("\nhostile traffic (1 worker, API key set, default limits)")
    for a, b in rows:
        print(f"  {a:<{width}}{b}")
    print("worker resident memory (MiB)")
    start = memory[0][1]
    for what, mib in memory:
        print(f"  {what:<{width}}{mib:8.0f}  ({mib - start:+.0f} since start)")
    print(f"tracebacks in the service log: {tracebacks}")


if __name__ == "__main__":
    main()
