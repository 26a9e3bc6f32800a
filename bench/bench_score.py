"""Batch scoring speed: parcels/s of `predict.score` against a bare LightGBM predict.

Usage: python bench/bench_score.py [--rows N] [--model DIR --data FILE]

Without --model, generates N parcels, fits a model on all but the last 14 days (no
MLflow) and scores the last 14 days. Prints the scoring rate (target >= 50,000
parcels/s) and its cost relative to a bare LightGBM predict on the same feature matrix,
measured in the same run (target <= 2x).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from parcelrisk.artifact import LoadedModel, load_model
from parcelrisk.contract import read_declarations
from parcelrisk.model import features_of
from parcelrisk.policy import Policy
from parcelrisk.predict import score
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import fit_model


def _best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    if args.model:
        model = load_model(args.model)
        frame = read_declarations(args.data)
        test = split_by_time(frame, 14).test
    else:
        split = split_by_time(generate(rows=args.rows, seed=0), 14)
        fitted = fit_model(split.train)
        model = LoadedModel(fitted.pipeline, {"version": "bench"}, Path("."))
        test = split.test
    booster = model.pipeline[-1].booster_.booster_
    matrix = features_of(model.pipeline, test)

    total = _best_of(lambda: score(model.pipeline, test, Policy(), explain="none"))
    features = _best_of(lambda: features_of(model.pipeline, test))
    predict = _best_of(lambda: booster.predict(matrix, raw_score=True))
    n = len(test)
    print(f"parcels scored            {n:>12,}")
    print(
        f"score (features+predict)  {n / total:>12,.0f} parcels/s  target >= 50,000: "
        f"{'met' if n / total >= 50_000 else 'NOT MET'}"
    )
    print(f"  of which features       {n / features:>12,.0f} parcels/s")
    print(f"bare LightGBM predict     {n / predict:>12,.0f} parcels/s  (reference)")
    print(
        f"cost ratio score/predict  {total / predict:>12.2f}x  target <= 2x: "
        f"{'met' if total / predict <= 2 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
