"""Entity keys: which seller, address, recipient, filer, ... each declaration belongs to.

The entity history (:mod:`parcelrisk.features.history`) counts events per entity key.
Keys are composed by pyarrow for a batch, and value by value for a few parcels (a speed
twin behind :data:`FEW_KEYS`, held to the same keys by test_feature_paths).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from parcelrisk.features.columns import TEXT, Columns
from parcelrisk.features.text import heading, normalize, normalize_texts

#: Up to this many parcels, :func:`entity_keys` composes them value by value
#: (:func:`_few_keys`), a twin of the pyarrow composition (bit-equal by
#: test_feature_paths): measured 0.25 ms less per one-parcel request. Set to 0 to use
#: pyarrow always.
FEW_KEYS = 16
_SEPARATOR = pa.scalar("|", pa.large_string())


def _text(cols: Columns, column: str) -> pa.Array:
    """A column as text, missing values as '?' (one entity of unknowns)."""
    return pc.fill_null(cols.text(column), "?")


def _join(*parts: pa.Array) -> pa.Array:
    """Keys joined with '|' (null where any part is)."""
    return pc.binary_join_element_wise(*parts, _SEPARATOR)


def entity_keys(
    data: pd.DataFrame | Columns, recipient_key: str = "name_address"
) -> dict[str, pa.Array]:
    """Key of every entity of each parcel (seller, seller x HTS heading, address, ...).

    The recipient is keyed on its id (``recipient_key="id"``) or on its normalised name
    at the address (``"name_address"``), the same kind for every row. A key is missing
    (null) where the identity it rests on is missing (the history's ``IDENTITIES``); a
    missing HTS code, origin, carrier or lading port is the entity ``'?'``.
    """
    cols = Columns.of(data)
    if cols.n <= FEW_KEYS:  # value by value: cheaper than the pyarrow calls for a few parcels
        return {name: pa.array(k, TEXT) for name, k in _few_keys(cols, recipient_key).items()}
    seller = cols.text("seller_id")
    hts4 = pc.fill_null(heading(cols), "?")
    given = pc.invert(cols.text("recipient_address").is_null())
    address = _join(normalize(cols.text("recipient_address")),
                    pc.fill_null(cols.text("recipient_zip"), ""))  # fmt: skip
    address = pc.if_else(given, address, pa.scalar(None, address.type))
    if recipient_key == "id":
        recipient = cols.text("recipient_id")
    else:
        named = pc.and_(pc.invert(cols.text("recipient_name").is_null()), given)
        recipient = _join(normalize(cols.text("recipient_name")), address)
        recipient = pc.if_else(named, recipient, pa.scalar(None, recipient.type))
    others = (_text(cols, c) for c in ("origin_country", "carrier", "lading_port"))
    return _keys_of(_join, seller, hts4, address, recipient, cols.text("filer_code"), *others)


def _few_keys(cols: Columns, recipient_key: str) -> dict[str, list[str | None]]:
    """:func:`entity_keys` of a few parcels as Python strings (None where missing)."""
    seller = cols.strings("seller_id")
    hts4 = ["?" if code is None else code[:4] for code in cols.strings("hts_code")]
    zips = ["" if z is None else z for z in cols.strings("recipient_zip")]
    address = _joined(_normalized(cols, "recipient_address"), zips)
    if recipient_key == "id":
        recipient = cols.strings("recipient_id")
    else:
        recipient = _joined(_normalized(cols, "recipient_name"), address)
    others = (_known(cols, c) for c in ("origin_country", "carrier", "lading_port"))
    return _keys_of(_joined, seller, hts4, address, recipient, cols.strings("filer_code"), *others)


def _keys_of(join, seller, hts4, address, recipient, filer, origin, carrier, lading) -> dict:
    """The entities' keys from their parts, with ``join`` for the composite keys: one
    composition for pyarrow arrays (:func:`_join`) and Python lists (:func:`_joined`)."""
    return {
        "seller": seller,
        "seller_hts": join(seller, hts4),
        "hts_origin": join(hts4, origin),
        "filer": filer,
        "address": address,
        "recipient": recipient,
        "carrier": carrier,
        "lading": lading,
    }


def _joined(*parts: list[str | None]) -> list[str | None]:
    """Keys joined with '|' value by value (None where any part is), as :func:`_join`."""
    return [None if None in values else "|".join(values) for values in zip(*parts, strict=True)]


def _normalized(cols: Columns, column: str) -> list[str | None]:
    """A text column's values normalised as :func:`normalize` does (None where missing)."""
    values = cols.strings(column)
    normal = normalize_texts(["" if v is None else v for v in values])
    return [None if v is None else n for v, n in zip(values, normal, strict=True)]


def _known(cols: Columns, column: str) -> list[str]:
    """A text column's values, missing values as '?' (as :func:`_text`)."""
    return ["?" if v is None else v for v in cols.strings(column)]
