"""A valid declaration record for validation tests."""

from __future__ import annotations

from typing import Any


def valid_record(i: int = 0) -> dict[str, Any]:
    """One valid declaration as a JSON-like record, parcel id ``P{i:08d}``."""
    return {
        "parcel_id": f"P{i:08d}",
        "declared_at": "2025-03-01T08:15:00Z",
        "filer_code": "FLR001",
        "filer_type": "marketplace",
        "seller_id": "S00042",
        "seller_name": "Shenzhen Trading Co.",
        "seller_country": "CN",
        "marketplace": "MarketA",
        "seller_account_age_days": 120.5,
        "recipient_id": "C0042",
        "recipient_name": "Jane Doe",
        "recipient_address": "1 Main St",
        "recipient_city": "Springfield",
        "recipient_state": "IL",
        "recipient_zip": "62701",
        "recipient_address_type": "residential",
        "description": "Cotton T-Shirt",
        "hts_code": "6109.10.0012",
        "origin_country": "CN",
        "quantity": 2,
        "declared_value_usd": 25.0,
        "listed_price_usd": 14.99,
        "weight_kg": 0.5,
        "mode": "air",
        "carrier": "CarrierX",
        "port_of_entry": "2720",
        "export_country": "CN",
        "lading_port": "CNSZX",
        "freight_cost_usd": 6.5,
        "inspected": False,
        "inspection_reason": None,
        "inspection_propensity": 0.02,
        "violation_found": None,
        "violation_type": None,
        "outcome_at": None,
        "gt_violation_prob": 0.05,
        "gt_violation": False,
        "gt_violation_type": None,
        "gt_bad_actor": False,
        "gt_mechanisms": 0,
    }
