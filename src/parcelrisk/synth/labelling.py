"""The labelling layer: which parcels get inspected, and what inspections find.

A legacy rule-based selector (the targeting rules in use before any model) plus a small
random compliance sample decide what is inspected; inspections miss some violations;
uninspected parcels carry no outcome. The legacy selector reads only declaration
fields, so it can score any frame in the contract and serve as a baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from parcelrisk.synth.catalogue import LEGACY_VAGUE_TERMS

#: Rule name -> points; a parcel's points decide how likely the rules select it.
LEGACY_RULES: dict[str, int] = {
    "vague_term": 2,  # description contains 'gift', 'sample' or 'goods'
    "low_value_per_kg": 2,  # declared under $5 per kg
    "watch_heading": 1,  # HTS heading on the watch list
    "po_box_or_forwarder": 1,  # deliver-to is a PO box or a parcel forwarder
    "transship_watch": 1,  # origin differs from export country, exported via VN/MY/TH
    "new_seller": 1,  # seller account younger than 30 days
    "missing_data": 1,  # listed price or HTS code not given
}
#: Points -> probability of selection (the last entry holds for more points too).
LEGACY_SELECTION = (0.0005, 0.003, 0.04, 0.15, 0.5)
WATCH_HEADINGS = ("2106", "8543", "8211", "3303", "9018")
_VAGUE_RE = r"(?i)\b(?:" + "|".join(LEGACY_VAGUE_TERMS) + r")\b"


def legacy_rule_hits(frame: pd.DataFrame) -> pd.DataFrame:
    """Which legacy rule each parcel hits (one boolean column per rule)."""
    desc = frame["description"].astype("string").fillna("")
    hts = frame["hts_code"].astype("string").fillna("")
    transship = (frame["origin_country"] != frame["export_country"]) & frame["export_country"].isin(
        ["VN", "MY", "TH"]
    )
    hits = pd.DataFrame(
        {
            "vague_term": desc.str.contains(_VAGUE_RE, regex=True),
            "low_value_per_kg": frame["declared_value_usd"] < 5 * frame["weight_kg"],
            "watch_heading": hts.str[:4].isin(WATCH_HEADINGS),
            "po_box_or_forwarder": frame["recipient_address_type"].isin(["po_box", "forwarder"]),
            "transship_watch": transship,
            "new_seller": frame["seller_account_age_days"] < 30,
            "missing_data": frame["listed_price_usd"].isna() | frame["hts_code"].isna(),
        },
        index=frame.index,
    )
    return hits.fillna(False).astype(bool)


def legacy_rule_points(frame: pd.DataFrame) -> np.ndarray:
    """Legacy rule points of each parcel (higher: more suspicious)."""
    hits = legacy_rule_hits(frame)
    return sum(hits[rule].to_numpy().astype(int) * pts for rule, pts in LEGACY_RULES.items())


def legacy_rule_score(frame: pd.DataFrame) -> np.ndarray:
    """Probability that the legacy rules select each parcel (also their ranking score)."""
    points = np.minimum(legacy_rule_points(frame), len(LEGACY_SELECTION) - 1)
    return np.asarray(LEGACY_SELECTION)[points]


def inspect(
    frame: pd.DataFrame,
    gt_violation: np.ndarray,
    gt_type: np.ndarray,
    rng: np.random.Generator,
    random_rate: float,
    detection: dict[str, float],
    lag_days: float,
) -> pd.DataFrame:
    """Decide inspections and their outcomes; return the outcome columns."""
    n = len(frame)
    p_rule = legacy_rule_score(frame)
    random_pick = rng.random(n) < random_rate
    rule_pick = ~random_pick & (rng.random(n) < p_rule)
    inspected = random_pick | rule_pick
    detect_p = pd.Series(gt_type).map(detection).fillna(0.0).to_numpy()
    found = gt_violation & (rng.random(n) < detect_p)
    lag = pd.to_timedelta(rng.gamma(2.0, lag_days / 2.0, n), unit="D").round("s")
    reason = np.where(random_pick, "random", np.where(rule_pick, "rule", None))
    return pd.DataFrame(
        {
            "inspected": inspected,
            "inspection_reason": pd.array(reason, dtype="string"),
            "inspection_propensity": random_rate + (1.0 - random_rate) * p_rule,
            "violation_found": pd.array(np.where(inspected, found, None), dtype="boolean"),
            "violation_type": pd.array(np.where(inspected & found, gt_type, None), dtype="string"),
            "outcome_at": (frame["declared_at"] + lag).where(inspected),
        },
        index=frame.index,
    )
