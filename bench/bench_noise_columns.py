"""Regularisation against high-cardinality columns with no signal, measured.

Usage: python bench/bench_noise_columns.py [--rows 300000]

Fits the model on the rows before the test window with the default LightGBM settings and
with stronger categorical regularisation, and prints for each the gain rank and share of
a column the data gives (almost) no effect, and the test-window figures:

- generated data (``--rows`` parcels, seed 0, the last 14 days as test window):
  ``category__recipient_state`` (24 states; the generator draws a recipient's state with
  the city, and only forwarder addresses tie it to violations), figures on the ground
  truth;
- the customs register of examples/customs/ (its ``broker_branch`` is drawn at random:
  300 values, no effect), figures on the inspected rows of its latest quarter.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from parcelrisk.contract import load_mapping, read_table
from parcelrisk.evaluate import evaluate_scores
from parcelrisk.split import cutoff_for, split_at, split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import fit_model

EXAMPLES = Path(__file__).parents[1] / "examples"
#: LightGBM settings compared: the defaults and categorical regularisation.
VARIANTS = {
    "defaults": {},
    "cat regularised": {"min_data_per_group": 200, "cat_smooth": 50.0, "cat_l2": 50.0},
    "cat strongly regularised": {
        "min_data_per_group": 500,
        "cat_smooth": 100.0,
        "cat_l2": 100.0,
        "max_cat_threshold": 8,
    },
}


def tables(rows: int):
    """(name, split, fit_model keywords, noise feature, view) of each table measured."""
    split = split_by_time(generate(rows=rows, seed=0), test_days=14)
    yield "generated", split, {}, "category__recipient_state", "ground_truth"
    mapping = load_mapping(EXAMPLES / "customs" / "mapping.yaml")
    frame = read_table(EXAMPLES / "customs" / "declarations.csv", mapping)
    cutoff = cutoff_for(frame, test_fraction=0.25, timezone=mapping.timezone)
    extra = {"extra_categorical": mapping.extra_categorical,
             "extra_numeric": mapping.extra_numeric, "weighting": "none"}  # fmt: skip
    yield "customs", split_at(frame, cutoff), extra, "extra__broker_branch", "inspected"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'table':>9} {'settings':>25} {'noise rank':>10} {'gain share':>10} "
          f"{'roc_auc':>7} {'prec@1%':>7} {'prec@5%':>7} {'prec@10%':>8}")  # fmt: skip
    for name, split, extra, noise, view in tables(args.rows):
        for label, params in VARIANTS.items():
            fitted = fit_model(split.train, lgbm_params=params, **extra)
            booster = fitted.pipeline[-1].booster_.booster_
            gains = dict(zip(booster.feature_name(), booster.feature_importance("gain"),
                             strict=True))  # fmt: skip
            order = sorted(gains, key=gains.get, reverse=True)
            share = gains[noise] / sum(gains.values())
            p = fitted.pipeline.predict_proba(split.test)[:, 1]
            m = evaluate_scores(split.test, p)[view]
            print(f"{name:>9} {label:>25} {order.index(noise) + 1:>4} of {len(order):<3} "
                  f"{share:>10.2%} {m['roc_auc']:>7.4f} {m['precision@1%']:>7.4f} "
                  f"{m['precision@5%']:>7.4f} {m['precision@10%']:>8.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
