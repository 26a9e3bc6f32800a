"""Figures that describe a generated data set: how hard it is and how its labels were made."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from parcelrisk.synth.generator import mechanism_flags


def summarize(frame: pd.DataFrame, budget: float = 0.01) -> dict[str, float]:
    """Measure a generated frame: violation rate, ceiling ROC-AUC, labelling figures.

    Parameters
    ----------
    frame
        Output of :func:`parcelrisk.synth.generate` (needs the ``gt_`` columns).
    budget
        Share of parcels an officer could open, for the precision-at-budget figure.

    Returns
    -------
    dict
        ``violation_rate`` (ground truth), ``bayes_roc_auc`` (ranking by the true
        probability: no feature set can do better), ``bayes_precision_at_budget``,
        ``inspected_rate``, ``random_inspected_rate``, ``rule_hit_rate`` (share of
        rule-selected inspections that found a violation), ``random_hit_rate``, and
        ``mechanism_rate.NAME`` for every mechanism.
    """
    truth = frame["gt_violation"].to_numpy(dtype=bool)
    prob = frame["gt_violation_prob"].to_numpy()
    reason = frame["inspection_reason"]
    found = frame["violation_found"].fillna(False).to_numpy(dtype=bool)
    rule = reason.eq("rule").fillna(False).to_numpy(dtype=bool)
    random = reason.eq("random").fillna(False).to_numpy(dtype=bool)
    k = max(1, round(budget * len(frame)))
    top = np.argpartition(-prob, k - 1)[:k]
    out = {
        "parcels": float(len(frame)),
        "violation_rate": float(truth.mean()),
        "bayes_roc_auc": float(roc_auc_score(truth, prob))
        if 0 < truth.sum() < len(truth)
        else float("nan"),
        "bayes_precision_at_budget": float(truth[top].mean()),
        "inspected_rate": float(frame["inspected"].fillna(False).to_numpy(dtype=bool).mean()),
        "random_inspected_rate": float(random.mean()),
        "rule_hit_rate": float(found[rule].mean()) if rule.any() else float("nan"),
        "random_hit_rate": float(found[random].mean()) if random.any() else float("nan"),
    }
    flags = mechanism_flags(frame)
    out.update({f"mechanism_rate.{c}": float(flags[c].mean()) for c in flags.columns})
    return out
