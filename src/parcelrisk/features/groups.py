"""Input groups: what explanations sum features into, what each covers, and its evidence.

Every feature transformer declares the features it makes as :class:`FeatureSpec` (a
name and the group it belongs to; see ``FEATURES`` of each transformer). An explanation
sums a parcel's contributions per group, and a reason names the group with a sentence of
evidence an auditor can check. A group's ``evidence`` reads the parcel's values of the
group's own features, by the names their transformer declares (``seller_n_prior``), and
the parcel's inputs (``seller_id``); nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: A group's evidence: (its features' values by name, the parcel's inputs) -> a sentence.
Evidence = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


@dataclass(frozen=True)
class InputGroup:
    """Inputs a person understands, that explanations sum engineered features into.

    Parameters
    ----------
    name
        How reasons and reports name the group.
    meaning
        What the group covers, in words (shown to auditors beside its reasons).
    evidence
        What the parcel's data shows for the group, as one sentence.
    """

    name: str
    meaning: str
    evidence: Evidence


@dataclass(frozen=True)
class FeatureSpec:
    """One feature a transformer makes: its name and its input group (None: in no group,
    which explanations show as ``"other"``)."""

    name: str
    group: InputGroup | None


def _given(value, default: str) -> str:
    """The value as text, or ``default`` when it is missing."""
    return default if value is None or pd.isna(value) else str(value)


def _money(v: float) -> str:
    return f"${v:,.2f}"


#: Below this account age (days) a seller is new: a red flag (bad actors open new accounts).
NEW_ACCOUNT_DAYS = 30
#: Below this probability the description does not fit its declared HTS heading.
POOR_FIT = 0.2
#: From this many earlier names at one address, the address reads as a drop address.
DROP_ADDRESS_NAMES = 3
#: Under this share of the listed price a declared value is undervalued.
UNDERVALUED_SHARE = 0.5


def record_words(violations: float, inspected: float) -> str:
    """An entity's inspection record and what it means: ``"3 of 41 earlier inspected parcels
    violative (a record of violations)"`` or ``"0 of 12 ... (a clean record)"``."""
    meaning = "a record of violations" if violations > 0 else "a clean record"
    return f"{violations:.0f} of {inspected:.0f} earlier inspected parcels violative ({meaning})"


def _record(f: Mapping[str, Any], entity: str) -> str:
    """An entity's record in words, from its history features."""
    return record_words(f[f"{entity}_n_violations"], f[f"{entity}_n_inspected"])


def _seller(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    age, prior = f["seller_account_age_days"], f["seller_n_prior"]
    parts = []
    if f["seller_n_inspected"] > 0:
        parts.append(_record(f, "seller"))
    if pd.notna(age):
        parts.append(
            f"account {age:.0f} days old "
            + ("(a new account: a red flag, bad actors open new ones)" if age < NEW_ACCOUNT_DAYS
               else "(an established account)")
        )  # fmt: skip
    if pd.notna(prior):  # missing when the data gives no seller id
        parts.append(
            "no earlier parcels (a seller never seen before: no record to go by)" if prior == 0
            else f"{prior:.0f} earlier parcels"
        )  # fmt: skip
    shares = f["seller_share_undervalued"]
    if prior > 0 and pd.notna(shares) and shares > 0:
        parts.append(f"{shares:.0%} of them declared under half the listed price (a habit of "
                     "undervaluing)")  # fmt: skip
    where = [_given(parcel.get(c), "") for c in ("seller_country", "marketplace")]
    if any(where):
        parts.append(f"seller in {where[0] or 'a country not given'}"
                     + (f" on {where[1]}" if where[1] else "")
                     + " (the record the model learned for them)")  # fmt: skip
    return "seller: " + (", ".join(parts) or "no seller id or account age given (nothing "
                         "known about who sells: missing data)")  # fmt: skip


#: What each deliver-to address type means for the risk.
ADDRESS_TYPES = {
    "residential": "the usual deliver-to of a personal purchase",
    "commercial": "a business address",
    "forwarder": "a red flag: a forwarder hides the real recipient",
    "po_box": "a red flag: a PO box hides the real recipient",
}


def _recipient(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    parts = []
    # the history is the id's only when the model keys recipients on ids
    if pd.notna(parcel.get("recipient_id")) and pd.notna(f["recipient_n_prior"]):
        parts.append(
            f"id {parcel['recipient_id']}: {_record(f, 'recipient')}, "
            f"{f['recipient_n_prior']:.0f} earlier parcels"
        )
    names = f["address_n_names"]
    if pd.notna(names):  # missing when no address is given
        parts.append(
            "no other name seen at this address before (an ordinary address)" if names == 0
            else f"{names:.0f} names seen at this address before "
            + ("(many names at one address: a red flag of a drop address)"
               if names >= DROP_ADDRESS_NAMES else "(few names: an ordinary address)")
        )  # fmt: skip
    if f["name_placeholder"] > 0:
        parts.append(f"name {parcel['recipient_name']!r} looks like a placeholder (a red flag: "
                     "made-up names hide the recipient)")  # fmt: skip
    kind = parcel.get("recipient_address_type")
    if pd.notna(kind):
        meaning = ADDRESS_TYPES.get(str(kind), "the record the model learned for this type")
        parts.append(f"deliver-to is {str(kind).replace('_', ' ')} ({meaning})")
    if f["recipient_n_1d"] > 0:
        parts.append(f"{f['recipient_n_1d']:.0f} parcels to the same recipient in 24 h (a red "
                     "flag of a shipment split to stay under the threshold)")  # fmt: skip
    return "recipient: " + (", ".join(parts) or "no recipient id, name or address given "
                            "(nothing known about who receives: missing data)")  # fmt: skip


def _description(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    if pd.isna(parcel["description"]):
        return "no description given (nothing says what is in the box: missing data)"
    text = f"description {str(parcel['description'])[:60]!r}"
    text += (
        " uses a vague term (a red flag: vague words hide what is in the box)"
        if f["desc_vague_term"] > 0 else " uses no vague term (such as 'gift' or 'parts')"
    )  # fmt: skip
    fit = f["desc_hts_consistency"]
    if pd.notna(fit):
        text += (
            f"; fits its HTS heading {str(parcel['hts_code'])[:4]} with probability {fit:.0%} "
            + ("(wording that does not match the tariff code: a red flag of misdescription)"
               if fit < POOR_FIT else "(the wording matches the tariff code)")
        )  # fmt: skip
    return text


def _declared_value(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    value, qty, kg = (parcel[c] for c in ("declared_value_usd", "quantity", "weight_kg"))
    text = (
        f"declared {_money(value) if pd.notna(value) else 'value not given'} for "
        f"{_given(qty, 'an unknown number of')} unit(s), "
        f"{f'{kg:.2f} kg' if pd.notna(kg) else 'weight not given'}"
    )
    listed = parcel.get("listed_price_usd")
    if pd.notna(listed) and float(listed) > 0 and pd.notna(qty) and pd.notna(value):
        total = float(listed) * int(qty)
        share = value / total
        text += f"; listed price {_money(total)} (declared {share:.0%} of it: " + (
            "a red flag of undervaluation)"
            if share < UNDERVALUED_SHARE
            else "in line with the price)"
        )
    # the feature is a difference of log(1 + value per kg): a ratio, roughly
    ratio = np.exp(f["value_per_kg_vs_heading"])
    if pd.notna(ratio):
        text += f"; value per kg about {ratio:.2f}x the median of its HTS heading " + (
            "(cheap for its weight: a red flag of undervaluation)" if ratio < 0.5
            else "(usual for its heading)" if ratio <= 2 else "(dear for its weight)"
        )  # fmt: skip
    if f["just_under_threshold"] > 0:
        text += "; just under the value threshold (a red flag: values bunch under it)"
    return text


def _routing(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    origin, export = parcel.get("origin_country"), parcel.get("export_country")
    text = (
        f"origin {_given(origin, 'not given')}, exported from "
        f"{_given(export, 'a country not given')} "
    )
    if f.get("transshipment", 0) > 0:
        text += "(origin differs from the export country: a red flag of transshipment)"
    elif pd.notna(origin) and pd.notna(export):
        text += "(shipped from its origin: no transshipment)"
    else:
        text += "(transshipment cannot be checked)"
    text += (
        f", via {_given(parcel.get('lading_port'), 'an unknown port')} by "
        f"{_given(parcel.get('carrier'), 'a carrier not given')} (the record the model "
        "learned for this route and carrier)"
    )
    freight = parcel.get("freight_cost_usd")
    value = parcel.get("declared_value_usd")
    if pd.notna(freight):
        text += f"; freight {_money(float(freight))}"
        if pd.notna(value) and float(freight) > float(value):
            text += " (above the goods value: a red flag of undervaluation)"
        elif pd.notna(value):
            text += " (under the goods value, as usual)"
    return text


def _commodity_type(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    origin = _given(parcel["origin_country"], "an origin not given")
    return (
        f"HTS {_given(parcel.get('hts_code'), 'not given')} from {origin} (goods of this kind "
        "carry the violation rate the model learned for their tariff chapter)"
    )


def _filer(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    if pd.isna(parcel["filer_code"]):
        return (f"filer not given (missing data); type "
                f"{_given(parcel['filer_type'], 'not given')}")  # fmt: skip
    return f"filer {parcel['filer_code']}: {_record(f, 'filer')}"


def _missing_data(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    n = f["n_missing_optional"]
    if n == 0:
        return "no optional data element missing (a complete declaration)"
    return (f"{n:.0f} optional data elements missing (a red flag: gaps hide who sells, who "
            "receives or what is sent)")  # fmt: skip


def _extra(f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    # an extra feature is named after the column of the user's table it comes from
    values = ", ".join(f"{name} {_given(parcel.get(name), 'not given')}" for name in f)
    return f"{values} (columns of your table: the effect the model learned from them)"


SELLER = InputGroup(
    "seller history",
    "what was known about the seller before this parcel: account age, earlier parcels and "
    "their inspection results, red flags in them, seller country and marketplace",
    _seller,
)
RECIPIENT = InputGroup(
    "recipient and address",
    "the deliver-to party: address type (residential, commercial, forwarder, PO box), how "
    "many names use the address, whether the name looks made up, parcels to the same "
    "recipient in the last 24 hours",
    _recipient,
)
DESCRIPTION = InputGroup(
    "description wording",
    "the goods description: vague words such as 'gift' or 'parts', and how well the "
    "wording fits the declared tariff (HTS) heading",
    _description,
)
DECLARED_VALUE = InputGroup(
    "declared value",
    "declared value, quantity and weight against the listed price and against other "
    "parcels of the same tariff heading; values just under the threshold",
    _declared_value,
)
COMMODITY_TYPE = InputGroup(
    "commodity type",
    "the tariff (HTS) chapter and the record of its heading from this origin",
    _commodity_type,
)
ROUTING = InputGroup(
    "routing",
    "origin, export country and port of lading (transshipment), carrier and its record, "
    "port of entry, mode of transport, freight cost",
    _routing,
)
FILER = InputGroup(
    "filer", "the filer (marketplace, carrier or broker) and its inspection record", _filer
)
MISSING_DATA = InputGroup(
    "missing data", "how many optional data elements the declaration left out", _missing_data
)
EXTRA = InputGroup(
    "extra inputs",
    "columns of the user's own table that its column mapping declares as extra features",
    _extra,
)

#: Every input group, in the order reports list them.
GROUPS = (SELLER, RECIPIENT, DESCRIPTION, DECLARED_VALUE, COMMODITY_TYPE, ROUTING, FILER,
          MISSING_DATA, EXTRA)  # fmt: skip
