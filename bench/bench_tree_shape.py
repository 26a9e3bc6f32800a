"""Tree shape as a measured trade-off: validation quality against exact TreeSHAP cost.

Usage: python bench/bench_tree_shape.py [--rows N]

Fits the feature pipeline once on generated data, then LightGBM with several shapes
(trees x leaves x depth), and prints for each: ROC-AUC and precision at the top 1% on
the later window's ground truth, and the cost per parcel of exact TreeSHAP as the product
computes it (per-leaf tables, :mod:`parcelrisk.treeshap`; "-" where a shape is outside
what they cover) and as LightGBM's ``pred_contrib`` computes it, next to the cost of a
plain LightGBM prediction measured in the same run.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import roc_auc_score

from parcelrisk.model import RiskClassifier, features_of
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import fit_model

SHAPES = [  # (trees, leaves, max depth)
    (150, 15, 4), (300, 7, 3), (300, 15, 4), (600, 15, 4), (300, 31, 5), (300, 63, 8),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--explain-rows", type=int, default=2_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    split = split_by_time(generate(rows=args.rows, seed=0), test_days=14)
    fitted = fit_model(split.train)
    test_x = features_of(fitted.pipeline, split.test)
    truth = split.test["gt_violation"].to_numpy(dtype=bool)
    k = int(0.01 * len(truth))
    sample = test_x.iloc[: args.explain_rows]
    print(f"{len(split.train):,} training parcels, {len(split.test):,} test parcels")
    print(
        f"{'trees':>5} {'leaves':>6} {'depth':>5} {'roc_auc':>8} {'prec@1%':>8} "
        f"{'tables ms/parcel':>16} {'pred_contrib ms/parcel':>22} {'predict ms/parcel':>18} "
        f"{'pred_contrib/predict':>20}"
    )
    for trees, leaves, depth in SHAPES:
        params = {"n_estimators": trees, "num_leaves": leaves, "max_depth": depth}
        clf = RiskClassifier(lgbm_params=params).fit(fitted.features, fitted.y, fitted.weight)
        p = clf.predict_proba(test_x)[:, 1]
        booster = clf.booster_.booster_
        t0 = time.perf_counter()
        booster.predict(sample, raw_score=True)
        predict_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        booster.predict(sample, pred_contrib=True)
        shap_s = time.perf_counter() - t0
        tables = clf.leaf_tables()
        tables_ms = "-"
        if tables is not None:
            values = sample.to_numpy(dtype=float)
            tables.contributions(values[:1])  # the compiled kernel is loaded on first use
            t0 = time.perf_counter()
            tables.contributions(values)
            tables_ms = f"{1e3 * (time.perf_counter() - t0) / len(sample):.3f}"
        n = len(sample)
        print(
            f"{trees:>5} {leaves:>6} {depth:>5} {roc_auc_score(truth, p):>8.4f} "
            f"{truth[np.argsort(-p)[:k]].mean():>8.4f} {tables_ms:>16} {1e3 * shap_s / n:>22.3f} "
            f"{1e3 * predict_s / n:>18.4f} {shap_s / predict_s:>20.0f}"
        )


if __name__ == "__main__":
    main()
