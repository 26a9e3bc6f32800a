"""Make the example table: generated declarations reshaped the way a customs table looks.

The generator's parcels are renamed, dropped and reshaped into columns of another shape:
a declaration number, a local date-time string ('DD/MM/YYYY HH:MM', Asia/Seoul), importer,
declarant, seller and courier ids, an office code that is no US port, a 6-digit HS code,
transport-mode codes, net mass, item price, invoice value, a duty amount, a sales channel,
no free-text description, and every row labelled (``illicit``: Y or N, the generator's
ground truth, as in data where every declaration was inspected).

    .venv/bin/python examples/byo/make_table.py            # writes declarations.csv here
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from parcelrisk.synth import generate

HERE = Path(__file__).parent
#: UN/ECE Recommendation 19 codes of the mode of transport.
TRANSPORT = {"ocean": "1", "rail": "2", "truck": "3", "air": "4", "mail": "5"}
#: Duty rate by HS chapter (a made-up tariff; 8% for chapters not listed).
DUTY = {"61": 0.13, "62": 0.13, "64": 0.13, "42": 0.08, "85": 0.0, "84": 0.0, "33": 0.065}


def reshape(parcels: pd.DataFrame) -> pd.DataFrame:
    """Generated parcels in the example table's shape."""
    local = parcels["declared_at"].dt.tz_convert("Asia/Seoul")
    importer = pd.factorize(parcels["recipient_name"] + "|" + parcels["recipient_address"])[0]
    hs6 = parcels["hts_code"].str[:6]
    value = parcels["declared_value_usd"].round(2)
    rate = hs6.str[:2].map(DUTY).astype(float).fillna(0.08).where(hs6.notna())
    return pd.DataFrame(
        {
            "declaration_no": parcels["parcel_id"],
            "date": local.dt.strftime("%d/%m/%Y %H:%M"),
            "importer_id": [f"IMP{i:06d}" for i in importer],
            "declarant": parcels["filer_code"],
            "seller": parcels["seller_id"],
            "courier": parcels["carrier"],
            "office": "KR" + parcels["port_of_entry"].str[-3:],
            "hs6": hs6,
            "origin": parcels["origin_country"],
            "departure_country": parcels["export_country"],
            "transport": parcels["mode"].map(TRANSPORT),
            "net_mass_kg": (parcels["weight_kg"] * 0.85).round(3),
            "item_price": parcels["listed_price_usd"].round(2),
            "invoice_value": value,
            "qty": parcels["quantity"],
            "duty_amount": (value * rate).round(2),
            "channel": parcels["marketplace"],
            "illicit": np.where(parcels["gt_violation"].to_numpy(dtype=bool), "Y", "N"),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=HERE / "declarations.csv")
    args = parser.parse_args()
    table = reshape(generate(rows=args.rows, days=args.days, seed=args.seed))
    table.to_csv(args.out, index=False, lineterminator="\n")
    print(f"{args.out}: {len(table):,} rows, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
