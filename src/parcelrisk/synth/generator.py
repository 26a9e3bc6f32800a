"""Generate parcel declarations with known ground truth.

The generator works in four vectorised stages: parties (seller actors and their
accounts, recipients, filers), orders (who buys from whom, when, split or not), parcels
(commodity, value, routing, each mechanism's flag) and truth (the hidden violation
probability as a sum of mechanism effects on the logit). The labelling layer then
decides what is inspected and what inspections find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from parcelrisk.contract import schema
from parcelrisk.synth import entities as E
from parcelrisk.synth.catalogue import CATEGORIES
from parcelrisk.synth.config import GeneratorConfig
from parcelrisk.synth.labelling import inspect
from parcelrisk.synth.parcels import commodity_and_routing, rate

#: Mechanisms recorded per parcel in the ``gt_mechanisms`` bit mask (bit i = MECHANISMS[i]).
MECHANISMS = (
    "bad_actor", "new_account", "vague", "mismatch", "decoy", "undervaluation", "counterfeit",
    "genuine_brand", "bunching", "split", "fictitious_name", "drop_address", "transshipment",
    "poor_broker", "missing_field",
)  # fmt: skip
#: Effect group -> violation type it produces (None: the category's own base type).
MECHANISM_TYPES = {
    "broker": None,
    "base": None,
    "seller": None,
    "vague": "misdescription",
    "mismatch": "misdescription",
    "decoy": "prohibited",
    "undervaluation": "undervaluation",
    "counterfeit": "counterfeit",
    "bunching": "undervaluation",
    "split": "split_shipment",
    "recipient": None,
    "routing": None,
}


@dataclass
class _Actors:
    bad: np.ndarray
    entry: np.ndarray
    latent: np.ndarray
    country: np.ndarray
    stem: np.ndarray
    marketplace: np.ndarray
    filer: np.ndarray
    main_category: np.ndarray
    seg_len: np.ndarray
    phase: np.ndarray


def _actors(cfg: GeneratorConfig, rng: np.random.Generator, n_filers: int, poor: np.ndarray):
    n = max(20, round(cfg.rows / cfg.parcels_per_seller))
    s0, s1 = cfg.bad_actor_share
    bad = rng.random(n) < s1
    # drift: a share of bad actors (and some ordinary sellers) enter during the window
    late = np.where(bad, rng.random(n) < (s1 - s0) / s1, rng.random(n) < 0.15)
    entry = np.where(late, rng.integers(0, cfg.days, n), 0)
    shares = np.array([c.share for c in CATEGORIES])
    risk = np.array([c.base_risk for c in CATEGORIES])
    p_good, p_bad = shares / shares.sum(), shares * np.exp(0.8 * risk)
    main = np.where(
        bad,
        rng.choice(len(CATEGORIES), n, p=p_bad / p_bad.sum()),
        rng.choice(len(CATEGORIES), n, p=p_good),
    )
    countries = list(E.SELLER_COUNTRIES)
    country = E.choice(rng, countries, n, p=list(E.SELLER_COUNTRIES.values()))
    use_poor = rng.random(n) < rate(cfg.poor_broker, bad)
    poor_ids, good_ids = np.flatnonzero(poor), np.flatnonzero(~poor)
    filer = np.where(use_poor, rng.choice(poor_ids, n), rng.choice(good_ids, n))
    churn_good = rng.random(n) < cfg.churn_share_good
    seg_len = np.where(
        bad,
        rng.exponential(max(cfg.churn_days_bad - 3, 1e-9), n) + 3,
        np.where(churn_good, cfg.days * 1.0, np.inf),
    )
    return _Actors(
        bad=bad,
        entry=entry,
        latent=rng.normal(0, cfg.seller_latent_sd, n),
        country=country,
        stem=E.choice(rng, E.SELLER_STEMS, n),
        marketplace=E.choice(rng, E.MARKETPLACES, n),
        filer=filer,
        main_category=main,
        seg_len=seg_len,
        phase=rng.uniform(0, 1, n) * np.where(np.isfinite(seg_len), seg_len, 0),
    )


def _orders(cfg: GeneratorConfig, rng: np.random.Generator, actors: _Actors) -> pd.DataFrame:
    """Orders: actor, day, time and how many parcels each is split into."""
    n_actors = len(actors.bad)
    weight = rng.lognormal(0, 1.0, n_actors) * ((cfg.days - actors.entry) / cfg.days)
    n_orders = int(cfg.rows / 1.05) + 10
    actor = rng.choice(n_actors, n_orders, p=weight / weight.sum())
    bad = actors.bad[actor]
    entry = actors.entry[actor]
    day = entry + np.floor(rng.random(n_orders) * (cfg.days - entry)).astype(int)
    split = rng.random(n_orders) < rate(cfg.split, bad)
    multi = rng.random(n_orders) < 0.03  # ordinary multi-parcel orders
    k = np.where(split, rng.integers(2, 5, n_orders), np.where(multi, 2, 1))
    seconds = rng.integers(6 * 3600, 30 * 3600, n_orders) % 86400
    return pd.DataFrame({"actor": actor, "day": day, "seconds": seconds, "k": k, "split": split})


def _accounts(cfg, rng, actors: _Actors, actor: np.ndarray, day: np.ndarray):
    """Seller account per parcel: bad actors churn to new ids; return ids, age, names."""
    seg = np.where(
        np.isfinite(actors.seg_len[actor]),
        np.floor((day + actors.phase[actor]) / actors.seg_len[actor]),
        0,
    ).astype(np.int64)
    code = actor.astype(np.int64) * 100_000 + seg
    uniq, inv = np.unique(code, return_inverse=True)
    u_actor, u_seg = uniq // 100_000, uniq % 100_000
    n = len(uniq)
    seg_start = np.maximum(
        actors.entry[u_actor],
        u_seg * np.where(np.isfinite(actors.seg_len[u_actor]), actors.seg_len[u_actor], 0)
        - actors.phase[u_actor],
    )
    fresh = (u_seg > 0) | (actors.entry[u_actor] > 0)
    old_age = np.where(
        actors.bad[u_actor], rng.uniform(5, 120, n), rng.lognormal(np.log(400), 0.8, n)
    )
    created = np.where(fresh, seg_start - rng.uniform(0, 5, n), -old_age)
    ids = np.array([f"S{v:07d}" for v in rng.permutation(10_000_000)[:n]], dtype=object)
    # bad actors take a new trading name with every account; others keep theirs
    stem = np.where(actors.bad[u_actor], E.choice(rng, E.SELLER_STEMS, n), actors.stem[u_actor])
    names = E.seller_names(rng, actors.country[u_actor], stem)
    return ids[inv], created[inv], names[inv]


def _recipients(cfg, rng, n_parcels_orders: int, bad: np.ndarray) -> dict[str, np.ndarray]:
    """Deliver-to party per order, with drop addresses and fictitious names."""
    n_rec = max(50, round(cfg.rows / cfg.parcels_per_recipient))
    types = list(cfg.address_mix)
    rtype = E.choice(rng, types, n_rec, p=list(cfg.address_mix.values()))
    city_i = rng.integers(0, len(E.CITIES), n_rec)
    name = E.person_names(rng, n_rec)
    addr = E.street_addresses(rng, n_rec)
    fwd = rng.integers(0, len(E.FORWARDERS), n_rec)
    suite = rng.integers(1000, 99999, n_rec).astype(str).astype(object)
    fwd_addr = np.array([f[0] for f in E.FORWARDERS], dtype=object)[fwd] + " " + suite
    addr = np.where(rtype == "forwarder", fwd_addr, addr)
    box = rng.integers(10, 9999, n_rec).astype(str).astype(object)
    addr = np.where(rtype == "po_box", "PO Box " + box, addr)
    office = E.street_addresses(rng, n_rec, apartments=False) + " Ste " + box
    addr = np.where(rtype == "commercial", office, addr)
    city = np.array([c[0] for c in E.CITIES], dtype=object)[city_i]
    state = np.array([c[1] for c in E.CITIES], dtype=object)[city_i]
    zip3 = np.array([c[2] for c in E.CITIES], dtype=object)[city_i]
    fwd_city = np.array([f[1] for f in E.FORWARDERS], dtype=object)[fwd]
    fwd_state = np.array([f[2] for f in E.FORWARDERS], dtype=object)[fwd]
    fwd_zip = np.array([f[3] for f in E.FORWARDERS], dtype=object)[fwd]
    is_fwd = rtype == "forwarder"
    city, state, zip3 = (
        np.where(is_fwd, a, b) for a, b in ((fwd_city, city), (fwd_state, state), (fwd_zip, zip3))
    )
    zips = zip3 + np.char.zfill(rng.integers(0, 100, n_rec).astype(str), 2).astype(object)

    n = n_parcels_orders
    r = rng.choice(n_rec, n, p=(w := rng.lognormal(0, 0.8, n_rec)) / w.sum())
    out = {
        "name": name[r],
        "address": addr[r],
        "city": city[r],
        "state": state[r],
        "zip": zips[r],
        "type": rtype[r],
    }
    # drop addresses: a few residential-looking addresses receiving for many names
    drop = rng.random(n) < rate(cfg.drop_address, bad)
    n_drop = max(5, cfg.rows // 5000)
    d = rng.integers(0, n_drop, n)
    drop_addr = E.street_addresses(rng, n_drop)[d]
    drop_city = rng.integers(0, len(E.CITIES), n_drop)[d]
    out["address"] = np.where(drop, drop_addr, out["address"])
    out["name"] = np.where(drop, E.person_names(rng, n), out["name"])
    for key, col in (("city", 0), ("state", 1)):
        vals = np.array([c[col] for c in E.CITIES], dtype=object)[drop_city]
        out[key] = np.where(drop, vals, out[key])
    drop_suffix = np.char.zfill(rng.integers(0, 100, n_drop).astype(str), 2).astype(object)[d]
    drop_zip = np.array([c[2] for c in E.CITIES], dtype=object)[drop_city] + drop_suffix
    out["zip"] = np.where(drop, drop_zip, out["zip"])
    out["type"] = np.where(drop, "residential", out["type"])
    fake = rng.random(n) < rate(cfg.fictitious_name, bad)
    out["name"] = np.where(fake, E.fake_names(rng, n), out["name"])
    out["drop"], out["fake"] = drop, fake
    return out


def generate(cfg: GeneratorConfig | None = None, **overrides: object) -> pd.DataFrame:
    """Generate parcel declarations with outcomes and ground truth.

    Parameters
    ----------
    cfg
        Generator settings; defaults to :class:`GeneratorConfig`.
    **overrides
        Settings to change, e.g. ``rows=10_000, seed=7``.

    Returns
    -------
    pandas.DataFrame
        One row per parcel, in declaration order, with the contract's columns: declaration
        fields, outcome columns (``inspected`` and ``inspection_propensity`` for every
        parcel, the other outcomes only for inspected ones) and ground-truth
        columns (prefix ``gt_``; for evaluation only).
    """
    cfg = (cfg or GeneratorConfig()).replace(**overrides) if overrides else cfg or GeneratorConfig()
    if cfg.rows < 1 or cfg.days < 1 or cfg.value_threshold <= 0:
        raise ValueError(
            f"rows and days must be >= 1 and value_threshold > 0, got rows={cfg.rows}, "
            f"days={cfg.days}, value_threshold={cfg.value_threshold}"
        )
    streams = np.random.default_rng(cfg.seed).spawn(6)
    rng_party, rng_order, rng_text, rng_parcel, rng_truth, rng_label = streams

    n_filers = 40
    poor_filer = np.zeros(n_filers, dtype=bool)  # 15% of filers are poor, at least one
    poor_filer[rng_party.choice(n_filers, max(1, round(0.15 * n_filers)), replace=False)] = True
    actors = _actors(cfg, rng_party, n_filers, poor_filer)
    orders = _orders(cfg, rng_order, actors)
    # expand orders to parcels and cut to exactly `rows`
    rep = np.repeat(np.arange(len(orders)), orders["k"].to_numpy())
    while len(rep) < cfg.rows:  # rare: fewer parcels than asked, top up with singles
        rep = np.concatenate([rep, rng_order.integers(0, len(orders), cfg.rows - len(rep))])
    rep = rep[: cfg.rows]
    o = orders.iloc[rep].reset_index(drop=True)
    actor = o["actor"].to_numpy()
    bad = actors.bad[actor]
    day = o["day"].to_numpy()
    offsets = rng_order.integers(0, 600, cfg.rows) * (o["k"].to_numpy() > 1)
    t = pd.Timestamp(cfg.start, tz="UTC") + pd.to_timedelta(
        day * 86400 + np.minimum(o["seconds"].to_numpy() + offsets, 86399), unit="s"
    )
    frac = day / max(cfg.days - 1, 1)

    rec = _recipients(cfg, rng_party, len(orders), actors.bad[orders["actor"].to_numpy()])
    rec = {k: v[rep] for k, v in rec.items()}
    seller_id, created, seller_name = _accounts(cfg, rng_party, actors, actor, day)
    split = o["split"].to_numpy()
    frame, effects, flags = commodity_and_routing(
        cfg,
        rng_parcel,
        rng_text,
        actors.main_category[actor],
        actors.country[actor],
        bad,
        frac,
        split,
    )
    age = day + o["seconds"].to_numpy() / 86400 - created
    flags.update(
        bad_actor=bad,
        new_account=age < cfg.new_account_days,
        split=split,
        fictitious_name=rec["fake"],
        drop_address=rec["drop"],
        poor_broker=poor_filer[actors.filer[actor]],
    )
    effects.update(_party_effects(cfg, flags, actors.latent[actor], rec["type"]))
    effects["intercept"] = cfg.intercept + cfg.drift * frac
    prob = 1.0 / (1.0 + np.exp(-sum(effects.values())))
    gt = rng_truth.random(cfg.rows) < prob

    filer_codes = np.array([f"F{i:04d}" for i in range(1000, 1000 + n_filers)], dtype=object)
    filer_types = E.choice(rng_party, ("marketplace", "carrier", "broker", "forwarder"), n_filers)
    out = pd.DataFrame(
        {
            "declared_at": t,
            "filer_code": filer_codes[actors.filer[actor]],
            "filer_type": filer_types[actors.filer[actor]],
            "seller_id": seller_id,
            "seller_name": seller_name,
            "seller_country": actors.country[actor],
            "marketplace": np.where(flags["missing_marketplace"], None, actors.marketplace[actor]),
            "seller_account_age_days": np.where(
                rng_parcel.random(cfg.rows) < 0.05, np.nan, np.round(np.maximum(age, 0), 2)
            ),
            "recipient_id": None,  # manifests name the deliver-to party, with no id
            "recipient_name": rec["name"],
            "recipient_address": rec["address"],
            "recipient_city": rec["city"],
            "recipient_state": rec["state"],
            "recipient_zip": rec["zip"],
            "recipient_address_type": rec["type"],
            **{c: frame[c].to_numpy() for c in frame.columns},
            "gt_violation_prob": prob,
            "gt_violation": gt,
            "gt_violation_type": np.where(
                gt, _violation_type(rng_truth, effects, flags["category"]), None
            ),
            "gt_bad_actor": bad,
            "gt_mechanisms": mechanism_mask(flags),
        }
    )
    out = out.sort_values("declared_at", kind="stable").reset_index(drop=True)
    out.insert(0, "parcel_id", _parcel_ids(rng_label, cfg.rows))
    labels = inspect(
        out,
        out["gt_violation"].to_numpy(),
        out["gt_violation_type"].to_numpy(),
        rng_label,
        cfg.random_inspection_rate,
        cfg.detection,
        cfg.outcome_lag_days,
    )
    return _typed(pd.concat([out, labels], axis=1))


def _party_effects(
    cfg: GeneratorConfig, flags: dict[str, np.ndarray], latent: np.ndarray, address_type
) -> dict[str, np.ndarray]:
    """Logit effects of the seller, the order (split) and the recipient."""
    return {
        "seller": latent
        + flags["bad_actor"] * cfg.bad_actor_effect
        + flags["new_account"] * cfg.new_account_effect,
        "split": flags["split"] * cfg.split.effect,
        "recipient": pd.Series(address_type).map(cfg.address_effect).to_numpy()
        + flags["drop_address"] * cfg.drop_address.effect
        + flags["fictitious_name"] * cfg.fictitious_name.effect,
        "broker": flags["poor_broker"] * cfg.poor_broker.effect,
    }


def mechanism_mask(flags: dict[str, np.ndarray]) -> np.ndarray:
    """Pack the per-parcel mechanism flags into the ``gt_mechanisms`` bit mask."""
    mask = np.zeros(len(flags["bad_actor"]), dtype=np.int64)
    for bit, name in enumerate(MECHANISMS):
        mask |= flags[name].astype(np.int64) << bit
    return mask


def mechanism_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Unpack ``gt_mechanisms`` into one boolean column per mechanism (for analysis only)."""
    mask = frame["gt_mechanisms"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {name: (mask >> bit) & 1 == 1 for bit, name in enumerate(MECHANISMS)}, index=frame.index
    )


def _violation_type(
    rng: np.random.Generator, effects: dict[str, np.ndarray], category: np.ndarray
) -> np.ndarray:
    """Kind of violation: drawn among the effect groups in proportion to their positive effect.

    The category's own base type gets its base risk (if positive) plus 0.5, so that every
    category can produce its typical violation; the intercept and drift choose no type.
    """
    base_type = np.array([c.base_type for c in CATEGORIES], dtype=object)[category]
    names = list(MECHANISM_TYPES)
    weight = np.column_stack([np.clip(effects[k], 0, None) for k in names])
    weight[:, names.index("base")] += 0.5  # the category's own risk is always possible
    gumbel = -np.log(-np.log(rng.random(weight.shape)))
    with np.errstate(divide="ignore"):
        pick = np.argmax(np.log(weight) + gumbel, axis=1)
    kinds = np.array([MECHANISM_TYPES[k] or "" for k in names], dtype=object)[pick]
    return np.where(kinds == "", base_type, kinds)


def _parcel_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique tracking-number-like ids, e.g. 'PR4821930475'."""
    digits = rng.choice(10**10, size=n, replace=False) if n < 10**6 else _unique_ints(rng, n)
    return ("PR" + pd.Series(digits).astype(str).str.zfill(10)).to_numpy(dtype=object)


def _unique_ints(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct random integers below 10**10 without materialising the range."""
    out = np.unique(rng.integers(0, 10**10, int(n * 1.01) + 100))
    while len(out) < n:
        out = np.unique(np.concatenate([out, rng.integers(0, 10**10, n)]))
    return rng.permutation(out)[:n]


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give each column its contract dtype; order columns as the contract lists them."""
    dtypes = {
        schema.Kind.INT: "Int64",
        schema.Kind.FLOAT: "float64",
        schema.Kind.BOOL: "boolean",
        schema.Kind.TIMESTAMP: "datetime64[ns, UTC]",
    }
    out = {}
    for f in schema.FIELDS:
        col = frame[f.name]
        dtype = dtypes.get(f.kind, "string")
        out[f.name] = col.astype(dtype)
    return pd.DataFrame(out)
