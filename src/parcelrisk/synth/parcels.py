"""Per-parcel content of the generator: commodity, value, routing and mechanism flags.

:func:`commodity_and_routing` draws what is in each parcel and how it travels, applies
the commodity and routing mechanisms, and returns their logit effects next to the
columns, so the generator can add seller and recipient effects and sum the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from parcelrisk.synth import entities as E
from parcelrisk.synth.catalogue import BRAND_PRICE_FACTOR, CATEGORIES
from parcelrisk.synth.config import GeneratorConfig, Mechanism
from parcelrisk.synth.text import build_pools, draw

_DECOY_CATEGORIES = np.array([c.base_risk >= 0.9 for c in CATEGORIES])
_BRANDED = np.array([c.branded for c in CATEGORIES])
_SHARES = np.array([c.share for c in CATEGORIES]) / sum(c.share for c in CATEGORIES)
_MISSABLE = ("listed_price_usd", "hts_code", "lading_port", "freight_cost_usd", "marketplace")
_FREIGHT = {  # mode -> (fixed USD, USD per kg)
    "air": (3.0, 6.0),
    "mail": (2.0, 3.5),
    "truck": (5.0, 1.0),
    "ocean": (2.0, 0.5),
    "rail": (3.0, 0.8),
}


def rate(m: Mechanism, bad: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Per-parcel probability of a mechanism: its bad-actor rate or its ordinary rate."""
    return np.where(bad, np.minimum(m.rate_bad * scale, 1.0), m.rate)


def commodity_and_routing(
    cfg: GeneratorConfig,
    rng: np.random.Generator,
    rng_text: np.random.Generator,
    main_category: np.ndarray,
    seller_country: np.ndarray,
    bad: np.ndarray,
    frac: np.ndarray,
    split: np.ndarray,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Draw commodity and routing columns per parcel, and the logit effect of each mechanism.

    ``main_category`` is the seller's main category, ``frac`` the position of the parcel's
    day in the window (0 first day, 1 last day), ``split`` whether its order is split.
    Returns the columns, the logit effects by mechanism, and the flags: which mechanism
    applies to each parcel, its true category index (``category``) and whether its
    marketplace field is left empty (``missing_marketplace``).
    """
    n = len(bad)
    cat = np.where(rng.random(n) < 0.7, main_category, rng.choice(len(CATEGORIES), n, p=_SHARES))
    risk = np.array([c.base_risk for c in CATEGORIES])[cat]
    flags = _flags(cfg, rng, cat, bad, frac)
    desc = _descriptions(rng, rng_text, cat, flags)
    hts = _hts(rng, cat)
    qty, listed, declared, weight = _values(cfg, rng, cat, flags, split)
    origin, export, mode, carrier, port, lading, freight = _routing(
        rng, seller_country, flags["transshipment"], weight
    )
    missing = {c: rng.random(n) < rate(cfg.missing_field, bad) for c in _MISSABLE}
    frame = pd.DataFrame(
        {
            "description": desc,
            "hts_code": np.where(missing["hts_code"], None, hts),
            "origin_country": origin,
            "quantity": qty,
            "declared_value_usd": declared,
            "listed_price_usd": np.where(missing["listed_price_usd"], np.nan, listed),
            "weight_kg": weight,
            "mode": mode,
            "carrier": carrier,
            "port_of_entry": port,
            "export_country": export,
            "lading_port": np.where(missing["lading_port"], None, lading),
            "freight_cost_usd": np.where(missing["freight_cost_usd"], np.nan, freight),
        }
    )
    n_missing = sum(m.astype(int) for m in missing.values())
    effects = {
        "base": risk,
        "vague": flags["vague"] * cfg.vague.effect,
        "mismatch": flags["mismatch"] * cfg.mismatch.effect,
        "decoy": flags["decoy"] * cfg.decoy.effect,
        "undervaluation": flags["undervaluation"] * cfg.undervaluation.effect,
        "counterfeit": flags["counterfeit"] * cfg.counterfeit.effect,
        "bunching": flags["bunching"] * cfg.bunching.effect,
        "routing": flags["transshipment"] * cfg.transshipment.effect
        + np.minimum(n_missing, 3) * cfg.missing_field.effect,
    }
    flags["category"] = cat
    flags["missing_field"] = n_missing > 0
    flags["missing_marketplace"] = missing["marketplace"]
    return frame, effects, flags


def _flags(cfg, rng, cat, bad, frac) -> dict[str, np.ndarray]:
    """Which mechanisms apply to each parcel; bad actors adapt from vague terms to mismatch."""
    n = len(cat)
    evasion = 1.5 - frac  # bad actors' vague-term use falls, mismatch rises, over the window
    draw_ = lambda m, scale=1.0: rng.random(n) < rate(m, bad, scale)  # noqa: E731
    flags = {
        "decoy": draw_(cfg.decoy) & _DECOY_CATEGORIES[cat],
        "vague": draw_(cfg.vague, evasion),
        "mismatch": draw_(cfg.mismatch, 2.0 - evasion),
        "counterfeit": draw_(cfg.counterfeit) & _BRANDED[cat],
        "undervaluation": draw_(cfg.undervaluation),
        "bunching": draw_(cfg.bunching),
        "transshipment": draw_(cfg.transshipment),
    }
    # one description per parcel: decoy > vague > mismatch > brand
    flags["vague"] &= ~flags["decoy"]
    flags["mismatch"] &= ~flags["decoy"] & ~flags["vague"]
    flags["counterfeit"] &= ~flags["decoy"] & ~flags["vague"] & ~flags["mismatch"]
    flags["genuine_brand"] = (
        ~bad
        & _BRANDED[cat]
        & ~flags["counterfeit"]
        & ~flags["vague"]
        & ~flags["mismatch"]
        & (rng.random(n) < cfg.genuine_brand_share)
    )
    flags["bunching"] &= ~flags["undervaluation"]
    return flags


def _descriptions(rng, rng_text, cat, flags) -> np.ndarray:
    pools = build_pools(rng_text)
    n = len(cat)
    shown = cat.copy()  # category the description speaks of
    other = rng.choice(len(CATEGORIES), n, p=_SHARES)
    shown = np.where(
        flags["mismatch"], np.where(other == cat, (cat + 1) % len(CATEGORIES), other), shown
    )
    branded = flags["counterfeit"] | flags["genuine_brand"]
    desc = np.empty(n, dtype=object)
    for i, c in enumerate(CATEGORIES):
        for with_brand in (False, True):
            sel = (shown == i) & (branded == with_brand)
            if sel.any():
                key = c.name + "+brand" if with_brand else c.name
                desc[sel] = draw(rng, pools[key], int(sel.sum()))
    desc[flags["vague"]] = draw(rng, pools["vague"], int(flags["vague"].sum()))
    desc[flags["decoy"]] = draw(rng, pools["decoy"], int(flags["decoy"].sum()))
    return desc


def _hts(rng, cat) -> np.ndarray:
    out = np.empty(len(cat), dtype=object)
    for i, c in enumerate(CATEGORIES):
        sel = cat == i
        out[sel] = E.choice(rng, c.hts, int(sel.sum()))
    return out


def _values(cfg, rng, cat, flags, split):
    """Quantity, listed unit price, declared value and weight."""
    n = len(cat)
    median = np.array([c.price_median for c in CATEGORIES])[cat]
    sigma = np.array([c.price_sigma for c in CATEGORIES])[cat]
    unit_w = np.array([c.weight_median for c in CATEGORIES])[cat]
    qty = np.where(rng.random(n) < 0.75, 1, 1 + rng.geometric(0.45, n))
    price = median * np.exp(sigma * rng.standard_normal(n))
    price = np.where(flags["genuine_brand"], price * BRAND_PRICE_FACTOR, price)
    price = np.where(flags["counterfeit"], price * rng.uniform(0.3, 1.0, n), price)
    thr = cfg.value_threshold
    # bunching: goods worth more than the threshold, declared just under it
    bunch = flags["bunching"]
    price = np.where(bunch, thr * rng.uniform(1.05, 2.5, n) / qty, price)
    # split orders: each parcel of the order carries a large share of the threshold
    price = np.where(split & ~bunch, thr * rng.uniform(0.35, 0.95, n) / qty, price)
    total = price * qty
    declared = total * rng.uniform(0.92, 1.0, n)
    declared = np.where(flags["undervaluation"], total * rng.uniform(0.05, 0.4, n), declared)
    declared = np.where(bunch, thr * rng.uniform(0.88, 0.999, n), declared)
    weight = unit_w * qty * rng.lognormal(0, 0.3, n) + 0.05
    return qty, np.round(price, 2), np.round(declared, 2), np.round(weight, 3)


def _routing(rng, seller_country, transship, weight):
    n = len(seller_country)
    origin = np.where(
        (seller_country == "HK") & (rng.random(n) < 0.8),
        "CN",
        np.where(rng.random(n) < 0.2, "CN", seller_country),
    )
    # sellers outside CN/HK often ship from a fulfilment warehouse in China
    warehouse = ~np.isin(seller_country, ["CN", "HK"]) & (rng.random(n) < 0.1)
    export = np.where(warehouse, "CN", seller_country)
    origin = np.where(warehouse, "CN", origin)
    via = E.choice(rng, E.TRANSSHIP_COUNTRIES, n)
    origin = np.where(transship, "CN", origin)
    export = np.where(transship, via, export)
    truck_lane = np.isin(export, ["MX", "CA"])
    u = rng.random(n)
    mode = np.where(
        truck_lane,
        np.where(u < 0.85, "truck", "air"),
        np.where(u < 0.86, "air", np.where(u < 0.96, "mail", np.where(u < 0.99, "ocean", "rail"))),
    ).astype(object)
    carrier = np.empty(n, dtype=object)
    port = np.empty(n, dtype=object)
    for m, carriers, ports in (
        ("air", E.CARRIERS_AIR, E.PORTS_AIR),
        ("mail", E.CARRIERS_MAIL, E.PORTS_AIR),
        ("truck", E.CARRIERS_TRUCK, E.PORTS_TRUCK),
        ("ocean", E.CARRIERS_OCEAN, E.PORTS_OCEAN),
        ("rail", E.CARRIERS_RAIL, E.PORTS_TRUCK),
    ):
        sel = mode == m
        k = int(sel.sum())
        carrier[sel] = E.choice(rng, carriers, k)
        port[sel] = E.choice(rng, ports, k)
    lading = np.empty(n, dtype=object)
    for country, ports in E.LADING_PORTS.items():
        sel = export == country
        weights = 1.0 / np.arange(1, len(ports) + 1) ** 1.5
        lading[sel] = E.choice(rng, ports, int(sel.sum()), p=weights / weights.sum())
    fixed = pd.Series(mode).map({k: v[0] for k, v in _FREIGHT.items()}).to_numpy()
    per_kg = pd.Series(mode).map({k: v[1] for k, v in _FREIGHT.items()}).to_numpy()
    freight = np.round((fixed + per_kg * weight) * rng.lognormal(0, 0.25, n), 2)
    return origin.astype(object), export, mode, carrier, port, lading, freight
