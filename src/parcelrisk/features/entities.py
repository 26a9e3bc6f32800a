"""The entities whose history is kept: what a history key is made of, and the defaults.

A history key is one part (``seller``, ``hts6``, ...) or several (a pair such as
``recipient x hts6``: an importer's record for one tariff subheading). The column mapping
(``history:``) or the model config names the keys; without a declaration every table gets
:data:`DEFAULT_HISTORY`: every party identity, HS at every level (chapter, heading,
subheading), routing, and the standard pairs of customs risk work. A key whose inputs are
missing throughout the training data is skipped (its features are missing).

Parts:

- identities, whose key is missing where the party is not given (its features are then
  missing rather than the counts of one entity lumping every parcel without it):
  ``seller`` (seller_id), ``recipient`` (recipient_id, or the recipient's name at its
  address when the data gives no ids), ``address`` (the normalised delivery address and
  ZIP code) and ``filer`` (filer_code);
- ``hts2``, ``hts4``, ``hts6``: the HS chapter, heading and subheading of ``hts_code``;
- short names of routing fields: ``origin``, ``export``, ``lading``, ``port``;
- any other contract input of a categorical kind, by its field name (``carrier``,
  ``mode``, ``marketplace``, ``recipient_state``, ...);
- any extra column of a column mapping, by the user's column name.

A missing value of a part that is not an identity is the entity ``'?'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from parcelrisk.contract import FIELDS, Kind, Role
from parcelrisk.contract.history_keys import Key as Key  # re-exported: the key type
from parcelrisk.contract.history_keys import entity_name as entity_name  # and its naming
from parcelrisk.features.groups import (
    COMMODITY_TYPE,
    EXTRA,
    FILER,
    RECIPIENT,
    ROUTING,
    SELLER,
    InputGroup,
    record_words,
)

#: Identity parts and the inputs each is keyed on (any one of them given is enough).
IDENTITY_INPUTS: dict[str, tuple[str, ...]] = {
    "seller": ("seller_id",),
    "recipient": ("recipient_id", "recipient_name"),
    "address": ("recipient_address",),
    "filer": ("filer_code",),
}
#: HS levels: part -> number of leading digits of hts_code.
HTS_LEVELS: dict[str, int] = {"hts2": 2, "hts4": 4, "hts6": 6}
#: Short names of routing fields.
ALIASES: dict[str, str] = {
    "origin": "origin_country",
    "export": "export_country",
    "lading": "lading_port",
    "port": "port_of_entry",
}
_CATEGORICAL_KINDS = {Kind.CATEGORY, Kind.ENUM, Kind.COUNTRY, Kind.PORT, Kind.LOCODE, Kind.ID}
#: Contract inputs a key part may name directly (categorical kinds, not the identities).
FIELD_PARTS: dict[str, str] = {
    f.name: f.group
    for f in FIELDS
    if f.role is Role.INPUT and f.kind in _CATEGORICAL_KINDS
    and not any(f.name in inputs for inputs in IDENTITY_INPUTS.values())
}  # fmt: skip
_SCHEMA_GROUPS: dict[str, InputGroup] = {
    "seller": SELLER, "recipient": RECIPIENT, "filer": FILER, "routing": ROUTING,
    "commodity": COMMODITY_TYPE,
}  # fmt: skip

#: The keys every table gets when nothing names them.
DEFAULT_HISTORY: tuple[Key, ...] = (
    ("seller",), ("seller", "hts4"), ("hts4", "origin"), ("filer",), ("address",),
    ("recipient",), ("carrier",), ("lading",), ("hts6",), ("hts4",), ("hts2",),
    ("recipient", "hts6"), ("filer", "recipient"), ("seller", "hts6"),
    ("recipient", "seller"), ("hts6", "origin"),
)  # fmt: skip
#: Entities whose history the evidence of their own input group already words.
WORDED = frozenset({"seller", "recipient", "address", "filer"})


def field_of(part: str) -> str | None:
    """The contract field a part reads (None for identities, HS levels and extra columns)."""
    if part in ALIASES:
        return ALIASES[part]
    return part if part in FIELD_PARTS else None


def inputs_of(part: str) -> tuple[str, ...]:
    """The columns a part is keyed on (any one given is enough)."""
    if part in IDENTITY_INPUTS:
        return IDENTITY_INPUTS[part]
    if part in HTS_LEVELS:
        return ("hts_code",)
    return (field_of(part) or part,)


def is_identity(part: str) -> bool:
    """Whether a part is a party's identity (missing where the party is not given)."""
    return part in IDENTITY_INPUTS


def known_part(part: str) -> bool:
    """Whether a part is one of the product's (not a user's extra column)."""
    return part in IDENTITY_INPUTS or part in HTS_LEVELS or field_of(part) is not None


def group_of(name: str) -> InputGroup:
    """The input group of an entity's features, by its first part (extra columns: extra)."""
    part = split_name(name)[0]
    if part in ("seller",):
        return SELLER
    if part in ("recipient", "address"):
        return RECIPIENT
    if part == "filer":
        return FILER
    if part in HTS_LEVELS:
        return COMMODITY_TYPE
    field = field_of(part)
    if field is not None:
        return _SCHEMA_GROUPS.get(FIELD_PARTS.get(field, "routing"), ROUTING)
    return EXTRA


def split_name(name: str) -> list[str]:
    """The parts of an entity name, reading the product's part names greedily (the rest of
    a name that starts with none of them is one part: an extra column)."""
    parts, rest = [], name
    names = sorted({*IDENTITY_INPUTS, *HTS_LEVELS, *ALIASES, *FIELD_PARTS}, key=len, reverse=True)
    while rest:
        part = next((p for p in names if rest == p or rest.startswith(p + "_")), None)
        if part is None:
            parts.append(rest)
            break
        parts.append(part)
        rest = rest[len(part) + 1 :]
    return parts


def check_keys(keys: Sequence[Key], columns: Sequence[str]) -> None:
    """Refuse keys with parts that are neither the product's nor columns of the data."""
    from parcelrisk.contract import FIELDS_BY_NAME

    for key in keys:
        for part in key:
            if known_part(part):
                continue
            field = FIELDS_BY_NAME.get(part)
            if field is not None:
                hint = next((p for p, f in ALIASES.items() if f == part), None) or next(
                    (p for p, inputs in IDENTITY_INPUTS.items() if part in inputs), None
                )
                why = (
                    f"use the part {hint!r}" if hint
                    else "only categorical inputs known at declaration can be parts; this is "
                    f"a field of role {field.role.value!r} and kind {field.kind.value!r}"
                )  # fmt: skip
                raise ValueError(f"history key {list(key)}: {part!r} cannot be a part: {why}")
            if part.startswith("gt_"):
                raise ValueError(f"history key {list(key)}: {part!r} is ground truth")
            if part not in columns:
                parts = sorted({*IDENTITY_INPUTS, *HTS_LEVELS, *ALIASES, *FIELD_PARTS})
                raise ValueError(
                    f"history key {list(key)}: unknown part {part!r}: not a column of the data; "
                    f"parts are {', '.join(parts)}, or an extra column of the column mapping"
                )


def _value(part: str, parcel: Mapping[str, Any]) -> str | None:
    """A parcel's value of a part, for words (None where it has none to show)."""
    if part in HTS_LEVELS:
        code = parcel.get("hts_code")
        return None if code is None or pd.isna(code) else str(code)[: HTS_LEVELS[part]]
    column = {"seller": "seller_id", "recipient": "recipient_id", "filer": "filer_code"}.get(
        part, field_of(part) or part
    )
    value = parcel.get(column)
    return None if value is None or pd.isna(value) else str(value)


def history_records(f: Mapping[str, Any], parcel: Mapping[str, Any], top: int = 2) -> list[str]:
    """In words, the records of the ``top`` history entities among a group's features with
    the highest smoothed violation rate that have inspected parcels: ``"recipient IMP1 x
    hts6 851821: 3 of 4 earlier inspected parcels violative (a record of violations)"``
    (entities their group's evidence already words are left out)."""
    found = []
    for feature in f:
        name = feature.removesuffix("_n_inspected")
        if name == feature or name in WORDED:
            continue
        inspected = f[feature]
        if pd.notna(inspected) and inspected > 0:
            found.append((-f[f"{name}_rate"], name))
    out = []
    for _, name in sorted(found)[:top]:
        words = []
        for part in split_name(name):
            value = _value(part, parcel)
            words.append(part if value is None else f"{part} {value}")
        out.append(
            f"{' x '.join(words)}: "
            + record_words(f[f"{name}_n_violations"], f[f"{name}_n_inspected"])
        )
    return out
