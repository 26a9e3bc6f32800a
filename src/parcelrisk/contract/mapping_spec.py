"""The column mapping: which column of a user's table plays which part of the contract.

A :class:`ColumnMapping` names the user's column for the parcel id, the time, the label
(a :class:`Binary`: which values mean yes and which no), optionally an inspected flag,
and the column that plays each contract role (:data:`ROLES`). It is built and checked by
:mod:`parcelrisk.contract.mapping_file` and applied by
:mod:`parcelrisk.contract.mapping_apply`; ``docs/byo-data.md`` documents its YAML form.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from parcelrisk.contract.history_keys import Key
from parcelrisk.contract.parse import FALSE, TRUE
from parcelrisk.contract.schema import FIELDS, FIELDS_BY_NAME, Field, Kind, Role

MAPPING_VERSION = 1
#: Contract fields a user column may fill (the id and the time have keys of their own).
ROLES: tuple[str, ...] = (
    *(f.name for f in FIELDS if f.role is Role.INPUT),
    "inspection_propensity",
)
#: What a role does with a value the contract refuses: the default refuses the table
#: (every such value listed), ``missing`` reads the value as missing and counts it.
ON_INVALID: tuple[str, ...] = ("error", "missing")
#: Kinds with a strict format that ``free`` relaxes to any non-blank value.
FREEABLE_KINDS = frozenset({Kind.ENUM, Kind.COUNTRY, Kind.HTS, Kind.PORT, Kind.LOCODE})


@dataclass(frozen=True)
class Binary:
    """A yes/no column: which values mean yes and which mean no.

    Values compare as stripped, lower-case text; numbers as whole numbers where they are
    (the number ``1.0`` is ``"1"``; the text ``"1.0"`` is not).
    """

    column: str
    positive: tuple[str, ...] = TRUE
    negative: tuple[str, ...] = FALSE

    def allowed(self) -> str:
        """The accepted values, in words."""
        yes, no = ", ".join(map(repr, self.positive)), ", ".join(map(repr, self.negative))
        return f"{yes} (yes) or {no} (no), or missing"


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of a user's table plays which part of the declaration contract.

    Attributes
    ----------
    id, time : str
        Columns of the parcel id and the declaration time.
    label : Binary
        Column saying whether a violation was found.
    time_format : str or None
        ``strftime`` format of the time column; None: ISO 8601.
    timezone : str
        IANA timezone of times written without an offset (default UTC).
    inspected : Binary or None
        Column saying whether a row was inspected; None: a row is inspected when its
        label is given.
    outcome_delay_days : float
        Days after the declaration at which an outcome counts as known (for history
        features and labels at a training cut-off).
    roles : dict
        Contract field (a role in :data:`ROLES`) -> user column.
    free : tuple of str
        Roles whose values are the user's own codes (any non-blank value).
    extra_categorical, extra_numeric : tuple of str
        Columns with no role to use as features too.
    history : tuple of keys, or None
        The entities and pairs of entities to keep history for (each key a tuple of parts:
        :mod:`parcelrisk.features.entities`); None: the default keys.
    on_invalid_missing : tuple of str
        Roles (``on_invalid: missing``) whose values the contract refuses are read as
        missing and counted (:func:`parcelrisk.contract.made_missing`) instead of refusing
        the table.
    """

    id: str
    time: str
    label: Binary
    time_format: str | None = None
    timezone: str = "UTC"
    inspected: Binary | None = None
    outcome_delay_days: float = 0.0
    roles: dict[str, str] = field(default_factory=dict)
    free: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    history: tuple[Key, ...] | None = None
    on_invalid_missing: tuple[str, ...] = ()

    @property
    def extra(self) -> tuple[str, ...]:
        """Every extra column, categorical first."""
        return self.extra_categorical + self.extra_numeric

    def fields(self) -> tuple[Field, ...]:
        """The contract variant mapped data is checked against.

        Every field is optional except the id and the time; roles listed under ``free``
        accept any non-blank value.
        """
        out = []
        for f in FIELDS:
            f = replace(f, required=f.name in ("parcel_id", "declared_at"))
            if f.name in self.free:
                f = replace(f, kind=Kind.CATEGORY, allowed=())
            out.append(f)
        return tuple(out)

    def outcome_columns(self) -> dict[str, str]:
        """The user's columns that hold outcomes, each with the part it plays: the label,
        the inspected flag and the roles of outcome fields (``inspection_propensity``)."""
        out = {self.label.column: "label"}
        if self.inspected is not None:
            out[self.inspected.column] = "inspected"
        for role, column in self.roles.items():
            if FIELDS_BY_NAME[role].role is Role.OUTCOME:
                out.setdefault(column, f"{role} role")
        return out

    def user_column(self, contract_field: str) -> str:
        """The user's column behind a contract field (the field's name if none is)."""
        sources = {"parcel_id": self.id, "declared_at": self.time, **self.roles}
        sources["violation_found"] = self.label.column
        sources["outcome_at"] = self.time
        # without a column of its own, being inspected is read from the label
        sources["inspected"] = (self.inspected or self.label).column
        return sources.get(contract_field, contract_field)

    def to_dict(self) -> dict[str, Any]:
        """The mapping in the form of its YAML file (``mapping_from_dict`` reads it back)."""
        out: dict[str, Any] = {"version": MAPPING_VERSION, "id": self.id}
        out["time"] = {"column": self.time, "format": self.time_format, "timezone": self.timezone}
        out["label"] = _binary_dict(self.label)
        if self.inspected is not None:
            out["inspected"] = _binary_dict(self.inspected)
        out["outcome_delay_days"] = self.outcome_delay_days
        out["roles"] = {
            role: {"column": column, "on_invalid": "missing"}
            if role in self.on_invalid_missing else column
            for role, column in self.roles.items()
        }  # fmt: skip
        out["free"] = list(self.free)
        out["extra"] = {
            "categorical": list(self.extra_categorical),
            "numeric": list(self.extra_numeric),
        }
        if self.history is not None:
            out["history"] = [list(key) for key in self.history]
        return out


def _binary_dict(b: Binary) -> dict[str, Any]:
    return {"column": b.column, "positive": list(b.positive), "negative": list(b.negative)}
