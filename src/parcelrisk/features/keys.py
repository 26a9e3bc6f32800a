"""Entity keys: which seller, address, recipient x HS6 pair, ... each declaration belongs to.

The entity history (:mod:`parcelrisk.features.history`) counts events per entity key; the
keys it keeps are declared as parts (:mod:`parcelrisk.features.entities`). Keys are
composed by pyarrow for a batch, and value by value for a few parcels (a speed twin
behind :data:`FEW_KEYS`, held to the same keys by test_feature_paths).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from parcelrisk.features.columns import TEXT, Columns
from parcelrisk.features.entities import HTS_LEVELS, Key, entity_name, field_of
from parcelrisk.features.text import normalize, normalize_texts

#: Up to this many parcels, :func:`entity_keys` composes them value by value
#: (:func:`_few_part`), a twin of the pyarrow composition (bit-equal by
#: test_feature_paths): measured 0.25 ms less per one-parcel request. Set to 0 to use
#: pyarrow always.
FEW_KEYS = 16
_SEPARATOR = pa.scalar("|", pa.large_string())


def entity_keys(
    data: pd.DataFrame | Columns, recipient_key: str, keys: Sequence[Key]
) -> dict[str, pa.Array]:
    """Key of every declared entity of each parcel, by entity name.

    The recipient is keyed on its id (``recipient_key="id"``) or on its normalised name
    at the address (``"name_address"``), the same kind for every row. A key is missing
    (null) where an identity it rests on is missing; a missing value of any other part is
    the entity ``'?'``. Parts are joined with '|'.
    """
    cols = Columns.of(data)
    few = cols.n <= FEW_KEYS  # value by value: cheaper than pyarrow calls for a few parcels
    part_of: Callable = _few_part if few else _part
    parts: dict[str, object] = {}
    out = {}
    for key in keys:
        values = []
        for part in key:
            if part not in parts:
                parts[part] = part_of(cols, part, recipient_key)
            values.append(parts[part])
        joined = values[0] if len(values) == 1 else (_joined if few else _join)(*values)
        out[entity_name(key)] = pa.array(joined, TEXT) if few else joined
    return out


def _join(*parts: pa.Array) -> pa.Array:
    """Keys joined with '|' (null where any part is)."""
    return pc.binary_join_element_wise(*parts, _SEPARATOR)


def _part(cols: Columns, part: str, recipient_key: str) -> pa.Array:
    """One part of the keys, for a batch (pyarrow)."""
    if part == "seller":
        return cols.text("seller_id")
    if part == "filer":
        return cols.text("filer_code")
    if part in ("address", "recipient"):
        given = pc.invert(cols.text("recipient_address").is_null())
        address = _join(normalize(cols.text("recipient_address")),
                        pc.fill_null(cols.text("recipient_zip"), ""))  # fmt: skip
        address = pc.if_else(given, address, pa.scalar(None, address.type))
        if part == "address":
            return address
        if recipient_key == "id":
            return cols.text("recipient_id")
        named = pc.and_(pc.invert(cols.text("recipient_name").is_null()), given)
        recipient = _join(normalize(cols.text("recipient_name")), address)
        return pc.if_else(named, recipient, pa.scalar(None, recipient.type))
    if part in HTS_LEVELS:
        level = pc.utf8_slice_codeunits(cols.text("hts_code"), 0, HTS_LEVELS[part])
        return pc.fill_null(level, "?")
    return pc.fill_null(cols.text(field_of(part) or part), "?")


def _few_part(cols: Columns, part: str, recipient_key: str) -> list[str | None]:
    """:func:`_part` of a few parcels as Python strings (None where missing)."""
    if part == "seller":
        return cols.strings("seller_id")
    if part == "filer":
        return cols.strings("filer_code")
    if part in ("address", "recipient"):
        zips = ["" if z is None else z for z in cols.strings("recipient_zip")]
        address = _joined(_normalized(cols, "recipient_address"), zips)
        if part == "address":
            return address
        if recipient_key == "id":
            return cols.strings("recipient_id")
        return _joined(_normalized(cols, "recipient_name"), address)
    if part in HTS_LEVELS:
        n = HTS_LEVELS[part]
        return ["?" if code is None else code[:n] for code in cols.strings("hts_code")]
    return ["?" if v is None else v for v in cols.strings(field_of(part) or part)]


def _joined(*parts: list[str | None]) -> list[str | None]:
    """Keys joined with '|' value by value (None where any part is), as :func:`_join`."""
    return [None if None in values else "|".join(values) for values in zip(*parts, strict=True)]


def _normalized(cols: Columns, column: str) -> list[str | None]:
    """A text column's values normalised as :func:`normalize` does (None where missing)."""
    values = cols.strings(column)
    normal = normalize_texts(["" if v is None else v for v in values])
    return [None if v is None else n for v, n in zip(values, normal, strict=True)]
