"""Does `parcelrisk tune` generalise on a table? Validation objective against test figures.

Usage: python bench/bench_tune_generalisation.py [--table customs|byo] [--trials 40]
       [--folds 3] [--seeds 5] [--seed 0]
   or: python bench/bench_tune_generalisation.py --data FILE [--mapping FILE]
       --test-fraction F [...]

Runs the study `parcelrisk tune` runs on one of the example tables (the test window:
customs its latest 25% of rows, byo its latest 20%, as in docs/byo-data.md) or on your
own table (``--data``, ``--mapping``, ``--test-fraction`` as for `tune`), then, for
this measurement only, fits every trial's settings on the whole training period and
scores the test window as `train` evaluates it (replayed through the live history). It
prints:

- the validation windows' agreement on the ranking of settings, as `tune` says it;
- each trial's validation objective and test figures (PR-AUC, ROC-AUC, precision at 5%
  and 10% of test rows);
- the rank correlation (Spearman) between the validation objective and each test figure
  over the trials: near 0, the validation windows do not tell good settings from bad
  ones on this table and the winner is chosen by their noise;
- the defaults (trial 0), the winner and the best trial on the test window itself (what
  no search may know: the room the search space leaves on this table);
- the winner's test PR-AUC minus the defaults' with its 95% paired bootstrap interval over
  the test rows of the promotion view (the report's noise rule,
  :func:`parcelrisk.report.pr_auc_difference`): whether the test window can tell the two
  apart at all;
- the defaults and the winner refitted with ``--seeds`` LightGBM seeds: the mean and
  spread of each figure, so that a difference can be read against the fitting noise.

The reference measured in the same run is the defaults' own figures. MLflow runs go to a
temporary store unless MLFLOW_TRACKING_URI is set.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from parcelrisk.config import load_config
from parcelrisk.contract import load_mapping, read_table
from parcelrisk.evaluate import label_views, promotion_view
from parcelrisk.report import pr_auc_difference
from parcelrisk.split import cutoff_for, training_split
from parcelrisk.tune import TrialFits, agreement_text, tune, validation_figures

EXAMPLES = Path(__file__).parents[1] / "examples"
#: Each example's test window, as docs/byo-data.md measures it.
TEST_FRACTION = {"customs": 0.25, "byo": 0.2}
FIGURES = ("pr_auc", "roc_auc", "precision@5%", "precision@10%")


def figures_on_test(pipeline: Pipeline, split, config) -> dict:
    """The test window's figures and probabilities, scored as ``train`` evaluates it."""
    figures = validation_figures(pipeline, split.test, config, split.train)
    return {k: figures[k] for k in (*FIGURES, "probability")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=sorted(TEST_FRACTION), default="customs")
    parser.add_argument("--data", type=Path, help="your table instead of an example's")
    parser.add_argument("--mapping", type=Path, help="its column mapping (with --data)")
    parser.add_argument("--test-fraction", type=float, help="its test window (with --data)")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the TPE sampler")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if "MLFLOW_TRACKING_URI" not in os.environ:
        store = tempfile.mkdtemp(prefix="bench-tune-")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"

    if args.data is None:
        args.data = EXAMPLES / args.table / "declarations.csv"
        args.mapping = EXAMPLES / args.table / "mapping.yaml"
        args.test_fraction = TEST_FRACTION[args.table]
    elif args.test_fraction is None:
        parser.error("--data needs --test-fraction (the share of the latest rows to test on)")
    mapping = load_mapping(args.mapping) if args.mapping else None
    frame = read_table(args.data, mapping, outcomes=True)
    zone = mapping.timezone if mapping else "UTC"
    cutoff = cutoff_for(frame, test_fraction=args.test_fraction, timezone=zone)
    config = load_config(None)
    start = time.perf_counter()
    study = tune(frame, config, mapping=mapping, cutoff=cutoff, trials=args.trials,
                 minutes=120, shap_budget_ms=0.5, seed=args.seed, folds=args.folds)  # fmt: skip
    print(f"{args.data}: {len(study.trials)} trials, {args.folds} validation window(s), "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    print(agreement_text(study))

    logging.getLogger("parcelrisk.features.pipeline").setLevel(logging.ERROR)  # said in the study
    split = training_split(frame, config.test_days, cutoff)
    fits = TrialFits(split.train, mapping)
    rows, probability = [], {}
    for trial in study.trials:
        figures = figures_on_test(fits.pipeline(trial.config), split, trial.config)
        probability[trial.number] = figures.pop("probability")
        rows.append({"trial": trial.number, "validation": trial.objective, **figures})
    table = pd.DataFrame(rows).set_index("trial")
    with pd.option_context("display.max_rows", None, "display.float_format", "{:.4f}".format):
        print(table.sort_values("validation", ascending=False).to_string())

    print("\nrank correlation, validation objective ~ test figure, over the trials:")
    for name in FIGURES:
        rho = table["validation"].corr(table[name], method="spearman")
        print(f"  {name:>14} {rho:+.3f}")

    winner = study.best.number
    print(f"\n{'test figure':>14} {'defaults':>9} {'winner':>9} {'gain':>8} "
          f"{'best on test':>12} {'room':>8}")  # fmt: skip
    for name in FIGURES:
        d, w, b = table.loc[0, name], table.loc[winner, name], table[name].max()
        print(f"{name:>14} {d:>9.4f} {w:>9.4f} {w - d:>+8.4f} {b:>12.4f} {b - d:>+8.4f}")

    views = label_views(split.test)
    view = promotion_view(views)
    rows, y, w = views[view]
    found = pr_auc_difference(y[rows], probability[winner][rows], probability[0][rows], w[rows])
    if found is not None:
        ours, theirs, low, high = found
        print(f"\nwinner minus defaults, test PR-AUC ({view}, {rows.sum():,} rows): "
              f"{ours - theirs:+.4f} (95% paired bootstrap interval {low:+.4f} .. "
              f"{high:+.4f})")  # fmt: skip

    print(f"\nrefitted with LightGBM seeds 0..{args.seeds - 1} (mean ± sd):")
    for label, trial in (("defaults", study.defaults), ("winner", study.best)):
        seeded = pd.DataFrame([
            figures_on_test(fits.pipeline(replace(trial.config, random_state=seed)), split,
                            trial.config)
            for seed in range(args.seeds)
        ])[list(FIGURES)]  # fmt: skip
        cells = "  ".join(f"{n} {seeded[n].mean():.4f} ± {seeded[n].std(ddof=0):.4f}"
                          for n in FIGURES)  # fmt: skip
        print(f"  {label:>8} (trial {trial.number:>2}): {cells}")


if __name__ == "__main__":
    main()
