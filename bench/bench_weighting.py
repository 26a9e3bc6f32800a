"""Selection-bias correction: inverse-propensity weights against unweighted training.

Usage: python bench/bench_weighting.py [--rows N]

Trains the same model three times on generated data: weighting each inspected parcel by
1 / inspection_propensity clipped at 100 (``ipw``), with an unweighted booster and the
calibration weighted by the unclipped 1 / propensity (``calibration``), and unweighted
(``none``); prints the quality on the later window's ground truth and the calibration on
inspected parcels weighted by inverse propensity (mean predicted probability against the
weighted found rate), and the effective sample size of each weighting's training labels.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from parcelrisk.evaluate import evaluate_scores
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import fit_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    split = split_by_time(generate(rows=args.rows, seed=0), test_days=14)
    test = split.test
    inspected = test["inspected"].to_numpy(dtype=bool)
    found = test["violation_found"].fillna(False).to_numpy(dtype=bool)
    ipw = 1.0 / test["inspection_propensity"].to_numpy(dtype=float)
    found_rate = np.average(found[inspected], weights=ipw[inspected])
    print(f"test window: {len(test):,} parcels; IPW estimate of the found rate {found_rate:.4f}")
    print(
        f"{'weighting':>11} {'labels':>7} {'ess':>7} {'gt roc_auc':>10} {'gt prec@1%':>10} "
        f"{'gt prec@5%':>10} {'ipw ece':>8} {'mean p':>7}"
    )
    for weighting in ("ipw", "calibration", "none"):
        fitted = fit_model(split.train, weighting=weighting)
        w = fitted.weight[fitted.weight > 0]  # the booster's weights of the labelled parcels
        p = fitted.pipeline.predict_proba(test)[:, 1]
        m = evaluate_scores(test, p)
        gt, iw = m["ground_truth"], m["inspected_ipw"]
        print(
            f"{weighting:>11} {len(w):>7,} {w.sum() ** 2 / (w**2).sum():>7,.0f} "
            f"{gt['roc_auc']:>10.4f} {gt['precision@1%']:>10.4f} {gt['precision@5%']:>10.4f} "
            f"{iw['ece']:>8.4f} {p.mean():>7.4f}"
        )


if __name__ == "__main__":
    main()
