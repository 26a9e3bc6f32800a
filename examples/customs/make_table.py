"""Make the example table: an import-declaration register of its own making.

About 30,000 declarations over 540 days, one row each, every row inspected and labelled
(``fraud``: 1 or 0), in the columns a customs import register typically has: a
declaration number, a day (no time), office, process / import / import-use / payment /
tax-type codes, transport mode, declarant, importer, seller and courier codes, a 6-digit
HS code, departure and origin countries, the tax rate, an origin-indicator code, net
mass in whole kilograms (so some zeros) and the item price in Korean won.

The log-odds of fraud add up entity risk (some importers, declarants and sellers),
risk that lives in pairs of entities (an importer for one of its HS codes only, a
declarant with some of its importers, an HS code from some origins, a seller for some
of its HS codes; each pair risky for months at a time), a few mildly risky process and
payment codes; about half of the frauds are undervalued (a low price per kilogram for
the HS code). Importers and sellers keep appearing over the whole period, and so do
risky entities and pairs. ``broker_branch`` carries no signal at all.

It uses numpy only, one generator with a fixed seed, so each run writes the same bytes:

    .venv/bin/python examples/customs/make_table.py     # writes declarations.csv here
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
FIRST_DAY = np.datetime64("2023-01-01")
ROWS, DAYS, SEED = 30_000, 540, 20230101
#: How many importers, declarants, sellers, couriers, HS codes and broker branches exist.
N_IMPORTERS, N_DECLARANTS, N_SELLERS, N_COURIERS, N_HS, N_BRANCHES = 1200, 220, 1200, 18, 320, 300
#: Won per US dollar (the HS codes' typical prices are set in dollars per kilogram).
KRW_PER_USD = 1300
#: Countries of origin and their shares; goods mostly depart from their origin.
ORIGINS = {"CN": 0.42, "US": 0.14, "JP": 0.09, "VN": 0.07, "DE": 0.05, "HK": 0.04,
           "TW": 0.04, "TH": 0.03, "IN": 0.03, "FR": 0.03, "IT": 0.02, "GB": 0.02,
           "MY": 0.01, "ID": 0.01}  # fmt: skip
#: Transit hubs that appear as country of departure for goods of another origin.
HUBS = ("HK", "SG", "CN", "US", "NL")
#: HS chapters the codes are drawn from, with a typical price in USD per kg of each.
CHAPTERS = {"03": 12, "09": 9, "12": 15, "21": 14, "22": 8, "30": 80, "33": 45, "34": 10,
            "39": 9, "40": 11, "42": 70, "44": 5, "48": 6, "49": 20, "61": 40, "62": 45,
            "63": 15, "64": 50, "65": 35, "69": 8, "70": 9, "71": 900, "73": 8, "82": 25,
            "83": 18, "84": 60, "85": 90, "87": 20, "90": 150, "91": 400, "94": 12,
            "95": 25, "96": 20}  # fmt: skip
#: Tax rate in percent by chapter; 8 for chapters not listed.
TAX = {"03": 20, "09": 8, "12": 3, "21": 8, "22": 30, "30": 0, "33": 6.5, "61": 13,
       "62": 13, "64": 13, "71": 8, "84": 0, "85": 0, "90": 0}  # fmt: skip
#: Tax types under which no duty is due (free-trade-agreement rates).
DUTY_FREE = ("C", "FEU1")
#: Per-row codes: code -> (share of declarations, added log-odds of fraud).
CODES = {
    "process_type": {"A": (0.55, 0.0), "B": (0.30, 0.0), "C": (0.10, 0.3), "D": (0.05, 0.0)},
    "import_type": {"11": (0.70, 0.0), "21": (0.15, 0.0), "29": (0.10, 0.2), "94": (0.05, 0.5)},
    "import_use": {"21": (0.60, 0.0), "11": (0.25, 0.0), "22": (0.10, 0.0), "51": (0.05, 0.0)},
    "payment_type": {"11": (0.65, 0.0), "13": (0.20, 0.0), "43": (0.10, 0.5), "92": (0.05, 0.3)},
    "tax_type": {"A": (0.80, 0.0), "C": (0.12, 0.0), "E1": (0.05, 0.3), "FEU1": (0.03, 0.0)},
    "origin_indicator": {
        "Y": (0.55, 0.0),
        "N": (0.30, 0.0),
        "B": (0.08, 0.3),
        "E": (0.05, 0.0),
        "G": (0.02, 0.0),
    },
}
#: Korean customs transport-mode codes (10 sea, 40 air, 50 mail) and their shares.
TRANSPORT = {"40": 0.70, "10": 0.22, "50": 0.08}
OFFICES = ("020", "030", "040", "111", "120", "130", "220", "600", "621", "710")
#: Log-odds of fraud of a declaration with no risk at all.
BASE = -4.8
#: Share of entities (or of the pairs that occur) that are risky, and their added log-odds.
RISKY = {"importer": (0.08, 0.8), "declarant": (0.06, 0.5), "seller": (0.06, 0.8),
         "importer_hs6": (0.06, 4.0), "declarant_importer": (0.05, 4.0),
         "hs6_origin": (0.02, 1.5), "seller_hs6": (0.05, 4.0)}  # fmt: skip
#: An importer's first declarations (of one that appears after the first day) are riskier.
NEWCOMER = {"declarations": 5, "log_odds": 1.2}
#: Share of frauds declared at a fraction of their value, and of other declarations.
UNDERVALUED = (0.25, 0.03)


def _long_tail(rng: np.random.Generator, n: int) -> np.ndarray:
    """Activity weights with a long tail: a few entities file many declarations each."""
    return rng.lognormal(0, 1.4, n)


def _codes(rng: np.random.Generator, prefix: str, digits: int, n: int) -> np.ndarray:
    """``n`` distinct codes such as 'IMP0001234', numbered at random."""
    numbers = rng.choice(10**digits, n, replace=False)
    return np.array([f"{prefix}{k:0{digits}d}" for k in numbers], dtype=object)


def _pick(rng: np.random.Generator, shares: dict, n: int) -> np.ndarray:
    """``n`` keys of ``shares`` drawn by share (a share or a (share, log-odds) pair)."""
    keys = np.array(list(shares), dtype=object)
    p = np.array([v[0] if isinstance(v, tuple) else v for v in shares.values()], float)
    return keys[rng.choice(len(keys), n, p=p / p.sum())]


def _days(rng: np.random.Generator) -> np.ndarray:
    """The day (0 to DAYS - 1) of every declaration, in order: volume grows, weekends low."""
    day = np.arange(DAYS)
    weekday = (day + 6) % 7  # 2023-01-01 was a Sunday: 0 is Monday
    rate = (1 + 0.4 * day / DAYS) * np.where(weekday >= 5, 0.35, 1.0)
    return np.sort(rng.choice(DAYS, ROWS, p=rate / rate.sum()))


def _hs_codes(rng: np.random.Generator) -> pd.DataFrame:
    """Distinct 6-digit HS codes across the chapters: typical price per kg, mass, tax."""
    chapters, drawn = list(CHAPTERS), set()
    while len(drawn) < N_HS:
        chapter = chapters[rng.integers(len(chapters))]
        drawn.add(f"{chapter}{rng.integers(1, 100):02d}{rng.integers(0, 100):02d}")
    codes = sorted(drawn)
    chapter = [c[:2] for c in codes]
    return pd.DataFrame(
        {
            "hs6": codes,
            "usd_per_kg": [CHAPTERS[c] for c in chapter] * rng.lognormal(0, 0.5, N_HS),
            "kg": rng.lognormal(1.8, 1.0, N_HS),  # typical net mass of one declaration
            "tax_rate": [float(TAX.get(c, 8)) for c in chapter],
            "weight": _long_tail(rng, N_HS),
        }
    )


def _sellers(rng: np.random.Generator, hs: pd.DataFrame) -> dict:
    """Each seller's country, departure hub (if any), courier and HS codes it sells."""
    hs_p = hs["weight"].to_numpy() / hs["weight"].sum()
    courier_p = _long_tail(rng, N_COURIERS)
    country = _pick(rng, ORIGINS, N_SELLERS)
    via = np.where(rng.random(N_SELLERS) < 0.15, rng.choice(HUBS, N_SELLERS), country)
    return {
        "id": _codes(rng, "SEL", 6, N_SELLERS),
        "country": country,
        "departs": via,
        "courier": rng.choice(N_COURIERS, N_SELLERS, p=courier_p / courier_p.sum()),
        "goods": [rng.choice(N_HS, rng.geometric(0.35), p=hs_p) for _ in range(N_SELLERS)],
        "weight": _long_tail(rng, N_SELLERS),
        "since": np.where(rng.random(N_SELLERS) < 0.6, 0, rng.integers(0, DAYS, N_SELLERS)),
    }


def _importers(rng: np.random.Generator) -> dict:
    """Each importer's first day, activity, declarants, office and usual sellers."""
    declarant_p = _long_tail(rng, N_DECLARANTS)
    declarant_p /= declarant_p.sum()
    n = N_IMPORTERS
    return {
        "id": _codes(rng, "IMP", 7, n),
        "since": np.where(rng.random(n) < 0.4, 0, rng.integers(0, DAYS - 30, n)),
        "weight": _long_tail(rng, n),
        "declarants": rng.choice(N_DECLARANTS, (n, 3), p=declarant_p),
        "office": rng.choice(len(OFFICES), n),
        "n_sellers": rng.geometric(0.3, n),
    }


def _declarations(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """One row per declaration: day, parties, goods and routing (entity numbers)."""
    hs = _hs_codes(rng)
    sellers = _sellers(rng, hs)
    importers = _importers(rng)
    day = _days(rng)
    chosen = np.empty(ROWS, dtype=int)
    for d in np.unique(day):
        at = np.flatnonzero(day == d)
        active = np.flatnonzero(importers["since"] <= d)
        p = importers["weight"][active] / importers["weight"][active].sum()
        chosen[at] = rng.choice(active, len(at), p=p)
    usual: dict[int, np.ndarray] = {}
    seller, goods = np.empty(ROWS, dtype=int), np.empty(ROWS, dtype=int)
    for i, (imp, d) in enumerate(zip(chosen, day, strict=True)):
        if imp not in usual or rng.random() < 0.08:  # now and then a new seller
            open_ = np.flatnonzero(sellers["since"] <= d)
            p = sellers["weight"][open_] / sellers["weight"][open_].sum()
            k = min(importers["n_sellers"][imp], len(open_))
            fresh = rng.choice(open_, k, replace=False, p=p)
            usual[imp] = fresh if imp not in usual else np.append(usual[imp], fresh[:1])
        seller[i] = usual[imp][min(rng.geometric(0.5) - 1, len(usual[imp]) - 1)]
        offer = sellers["goods"][seller[i]]
        goods[i] = offer[min(rng.geometric(0.6) - 1, len(offer) - 1)]
    own_courier = rng.random(ROWS) < 0.85
    which_declarant = rng.choice(3, ROWS, p=[0.55, 0.3, 0.15])
    rows = pd.DataFrame(
        {
            "day": day,
            "importer": chosen,
            "importer_since": importers["since"][chosen],
            "declarant": importers["declarants"][chosen, which_declarant],
            "seller": seller,
            "hs": goods,
            "courier": np.where(
                own_courier, sellers["courier"][seller], rng.integers(0, N_COURIERS, ROWS)
            ),
            "office": np.where(
                rng.random(ROWS) < 0.9,
                importers["office"][chosen],
                rng.integers(0, len(OFFICES), ROWS),
            ),
            "origin": sellers["country"][seller],
            "departs": sellers["departs"][seller],
        }
    )
    for column, shares in CODES.items():
        rows[column] = _pick(rng, shares, ROWS)
    rows["transport"] = _pick(rng, TRANSPORT, ROWS)
    rows["branch"] = rng.integers(0, N_BRANCHES, ROWS)
    return rows, hs, sellers, importers


def _risky(
    rng: np.random.Generator, keys: pd.Series, day: np.ndarray, share: float, pair: bool
) -> np.ndarray:
    """Whether each row's key (an entity or a pair) is risky on the row's day.

    An entity is risky with probability ``share``; a pair that occurs once too, one that
    recurs more likely (fraud schemes are repeated business). Each is risky for a window
    of months that may start before the first day or late in the period, so risk appears
    and ends over time.
    """
    codes, key = pd.factorize(keys, sort=True)
    n = len(key)
    repeats = 1 + np.log(np.bincount(codes, minlength=n)) if pair else 1.0
    chosen = rng.random(n) < share * repeats
    begin = rng.integers(-500, DAYS - 120, n)
    end = begin + rng.integers(400, 1000, n)
    return chosen[codes] & (begin[codes] <= day) & (day < end[codes])


def _log_odds(rng: np.random.Generator, rows: pd.DataFrame) -> np.ndarray:
    """The log-odds of fraud of every row (before its value is cut, if it is)."""
    day = rows["day"].to_numpy()
    pairs = {
        "importer": rows["importer"],
        "declarant": rows["declarant"],
        "seller": rows["seller"],
        "importer_hs6": rows["importer"].astype(str) + "|" + rows["hs"].astype(str),
        "declarant_importer": rows["declarant"].astype(str) + "|" + rows["importer"].astype(str),
        "hs6_origin": rows["hs"].astype(str) + "|" + rows["origin"],
        "seller_hs6": rows["seller"].astype(str) + "|" + rows["hs"].astype(str),
    }
    logit = np.full(len(rows), BASE)
    nth = rows.groupby("importer").cumcount().to_numpy()
    new = (rows["importer_since"].to_numpy() > 0) & (nth < NEWCOMER["declarations"])
    logit += NEWCOMER["log_odds"] * new
    for name, keys in pairs.items():
        share, lift = RISKY[name]
        logit += lift * _risky(rng, keys, day, share, pair="_" in name)
    for column, shares in CODES.items():
        logit += rows[column].map({k: v[1] for k, v in shares.items()}).to_numpy()
    return logit


def _goods_values(
    rng: np.random.Generator, rows: pd.DataFrame, hs: pd.DataFrame, fraud: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Net mass in whole kg (small ones round to 0) and item price in won."""
    kg = hs["kg"].to_numpy()[rows["hs"]] * rng.lognormal(0, 0.9, len(rows))
    usd = kg * hs["usd_per_kg"].to_numpy()[rows["hs"]] * rng.lognormal(0, 0.35, len(rows))
    cut = rng.random(len(rows)) < np.where(fraud, *UNDERVALUED)
    usd = np.where(cut, usd * rng.uniform(0.15, 0.6, len(rows)), usd)
    return np.rint(kg).astype(int), (np.rint(usd * KRW_PER_USD / 10) * 10).astype(int)


def make_table(seed: int = SEED) -> pd.DataFrame:
    """The example register: every declaration, in order of its day."""
    rng = np.random.default_rng(seed)
    rows, hs, sellers, importers = _declarations(rng)
    log_odds = _log_odds(rng, rows)
    fraud = rng.random(len(rows)) < 1 / (1 + np.exp(-log_odds))
    mass, price = _goods_values(rng, rows, hs, fraud)
    tax_rate = np.where(
        rows["tax_type"].isin(DUTY_FREE), 0.0, hs["tax_rate"].to_numpy()[rows["hs"]]
    )
    declarants = _codes(rng, "DCL", 5, N_DECLARANTS)
    branches = _codes(rng, "BB", 4, N_BRANCHES)
    dates = FIRST_DAY + rows["day"].to_numpy().astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "declaration_id": [f"KRD{n:07d}" for n in range(1, len(rows) + 1)],
            "declared_on": pd.to_datetime(dates).strftime("%Y%m%d"),
            "office": np.array(OFFICES, dtype=object)[rows["office"]],
            "process_type": rows["process_type"],
            "import_type": rows["import_type"],
            "import_use": rows["import_use"],
            "payment_type": rows["payment_type"],
            "transport_mode": rows["transport"],
            "declarant": declarants[rows["declarant"]],
            "importer": importers["id"][rows["importer"]],
            "seller": sellers["id"][rows["seller"]],
            "courier": [f"CR{c + 1:02d}" for c in rows["courier"]],
            "hs6": hs["hs6"].to_numpy()[rows["hs"]],
            "departure_country": rows["departs"],
            "origin_country": rows["origin"],
            "tax_rate": [f"{r:g}" for r in tax_rate],
            "tax_type": rows["tax_type"],
            "origin_indicator": rows["origin_indicator"],
            "net_mass_kg": mass,
            "item_price_krw": price,
            "broker_branch": branches[rows["branch"]],
            "fraud": fraud.astype(int),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "declarations.csv")
    args = parser.parse_args()
    table = make_table()
    table.to_csv(args.out, index=False, lineterminator="\n")
    print(f"{args.out}: {len(table):,} rows, {table['fraud'].mean():.1%} fraud")


if __name__ == "__main__":
    main()
