"""Two checkouts of the service side by side: one-parcel latency, requests interleaved.

Usage: python bench/bench_serve_ab.py --old ROOT --new ROOT --model DIR --data FILE
[--requests N]

Each ROOT is a checkout with its own ``.venv`` (``make install``). Both services start
on free 127.0.0.1 ports and get the same requests, alternately (old first on even
requests, new first on odd ones), so a busy machine slows both alike. Cases: one parcel
as sent by clients, the same with ``explain_all``, parcels in the inspect and review
lanes (their reasons are always computed), and an empty request refused before any
scoring (the HTTP floor). Prints p50 / p90 / p99 per side, the median of the paired
differences, and whether both sides returned the same reasons.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
from bench_serve import start_service

from parcelrisk.contract import read_declarations
from parcelrisk.split import split_by_time
from parcelrisk.tracking import example_input

CASES = ("default", "explain_all", "flagged", "empty")


def _body(case: str, i: int, records: list[dict], flagged: list[dict]) -> dict:
    if case == "empty":
        return {"parcels": []}
    if case == "flagged":
        return {"parcels": [flagged[i % len(flagged)]]}
    return {"parcels": [records[i]], "explain_all": case == "explain_all"}


def _run(bases: dict[str, str], records: list[dict], n: int) -> tuple[dict, bool]:
    """Milliseconds per case and side, and whether all reasons were the same."""
    latency: dict[tuple[str, str], list[float]] = {}
    same, flagged = True, []
    with httpx.Client(timeout=60) as client:
        for rec in records[:20]:  # warm-up
            for base in bases.values():
                client.post(f"{base}/score", json={"parcels": [rec]})
        records = records[20:]
        for case in CASES:
            for i in range(n):
                body, answers = _body(case, i, records, flagged), {}
                for side in list(bases)[:: 1 if i % 2 == 0 else -1]:
                    t0 = time.perf_counter()
                    response = client.post(f"{bases[side]}/score", json=body)
                    latency.setdefault((case, side), []).append((time.perf_counter() - t0) * 1e3)
                    answers[side] = response.json().get("results")
                if case != "empty":
                    old, new = ([r["reasons"] for r in answers[s]] for s in bases)
                    same &= old == new
                if case == "default" and answers["old"][0]["lane"] != "release":
                    flagged.append(records[i])
            if case == "default" and not flagged:
                raise RuntimeError(f"no parcel of the first {n} is in the inspect or review lane")
    return latency, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--old", "--new", "--model", "--data"):
        parser.add_argument(name, type=Path, required=True)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    test = split_by_time(read_declarations(args.data), 14).test.tail(args.requests + 1000)
    records = json.loads(example_input(test, len(test)).to_json(orient="records"))
    procs = []
    try:
        bases = {}
        for side in ("old", "new"):
            proc, bases[side] = start_service(
                args.model, Path(tempfile.mkdtemp()), root=getattr(args, side)
            )
            procs.append(proc)
        latency, same = _run(bases, records, args.requests)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"reasons identical old vs new: {same}")
    for case in CASES:
        old, new = (np.array(latency[(case, side)]) for side in ("old", "new"))
        cells = [
            f"{side} p50 {np.median(v):6.2f} p90 {np.percentile(v, 90):6.2f} "
            f"p99 {np.percentile(v, 99):6.2f}"
            for side, v in (("old", old), ("new", new))
        ]
        print(
            f"{case:12s} {' | '.join(cells)} | paired old-new median {np.median(old - new):+.2f} ms"
        )


if __name__ == "__main__":
    main()
