"""The ``history:`` declaration of a column mapping or a model config: which entities and
pairs of entities the entity history keeps (the parts are explained in
:mod:`parcelrisk.features.entities`, which checks them against the data)."""

from __future__ import annotations

from typing import Any

#: A history key: its parts, e.g. ``("recipient", "hts6")``.
Key = tuple[str, ...]


def entity_name(key: Key) -> str:
    """The name of a history key's features: its parts joined by '_' (``recipient_hts6``)."""
    return "_".join(key)


def parse_history(raw: Any, where: str) -> tuple[Key, ...] | None:
    """A ``history:`` declaration (YAML: a list of part names or lists of them) as keys.

    None stays None (the default). Refuses anything else with a message naming ``where``.
    """
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise ValueError(
            f"{where}: history must be a non-empty list of keys, each a part name or a list "
            f"of part names (e.g. [seller, [recipient, hts6]]); got {raw!r}"
        )
    keys = []
    for item in raw:
        key = (item,) if isinstance(item, str) else item
        if (
            not isinstance(key, list | tuple)
            or not key
            or not all(isinstance(p, str) and p for p in key)
        ):
            raise ValueError(
                f"{where}: history key {item!r} is not a part name or a list of part names"
            )
        keys.append(tuple(key))
    names = [entity_name(k) for k in keys]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: history keys named more than once: {twice}")
    return tuple(keys)
