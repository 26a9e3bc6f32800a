"""Benchmark the generator: rows/s and peak memory for 1M parcels (target: <= 60 s, < 4 GB).

Usage: python bench/bench_generate.py [--rows N]

The reference measured in the same run is the cost of drawing the same number of
uniform random numbers 40 times (about one draw per generated column), so the ratio
says how far the generator is from the bare cost of its random draws on this machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from parcelrisk.synth import generate

TARGET_SECONDS_1M = 60.0
TARGET_MEMORY_GB = 4.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    for _ in range(40):
        rng.random(args.rows)
    reference = time.perf_counter() - t0

    t0 = time.perf_counter()
    frame = generate(rows=args.rows, seed=0)
    seconds = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    scaled = seconds * 1_000_000 / args.rows

    print(f"rows                 {len(frame):>12,}")
    print(f"generate             {seconds:>12.2f} s   ({len(frame) / seconds:,.0f} rows/s)")
    print(f"reference (40 draws) {reference:>12.2f} s   ratio {seconds / reference:.1f}x")
    print(
        f"time per 1M rows     {scaled:>12.2f} s   target <= {TARGET_SECONDS_1M:.0f} s: "
        f"{'met' if scaled <= TARGET_SECONDS_1M else 'NOT MET'}"
    )
    print(
        f"peak memory (RSS)    {peak_gb:>12.2f} GB  target < {TARGET_MEMORY_GB:.0f} GB: "
        f"{'met' if peak_gb < TARGET_MEMORY_GB else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
