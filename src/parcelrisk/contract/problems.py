"""What is wrong with data: one problem per value, and the errors that list them all.

A :class:`ContractProblem` names the row, the parcel id, the field, the value and what the
field allows. :class:`ContractError` (contract data) and :class:`MappedDataError` (a
user's table read through a column mapping, naming the user's columns) list every
problem found at once; :class:`MappingError` lists every problem of a mapping file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from parcelrisk.contract.parse import is_unicode
from parcelrisk.contract.schema import FIELDS

_MAX_LISTED = 50
_FIELD_ORDER = {f.name: i for i, f in enumerate(FIELDS)}


@dataclass(frozen=True, slots=True)
class ContractProblem:
    """One value (or column) that breaks the declaration contract.

    Attributes
    ----------
    row : int
        0-based position of the row in the input; -1 for a problem with a whole column.
    parcel_id : str or None
        The row's parcel id, when it is a non-empty string.
    field : str
        Name of the field (column, or record key).
    value : object
        The offending value as given; None for a missing column.
    reason : str
        What is wrong, in a few words.
    allowed : str
        What the field accepts (:meth:`parcelrisk.contract.Field.allowed_text`).
    """

    row: int
    parcel_id: str | None
    field: str
    value: Any
    reason: str
    allowed: str

    def __str__(self) -> str:
        where = "column" if self.row < 0 else f"row {self.row}"
        if self.parcel_id is not None:
            where += f" (parcel_id {self.parcel_id!r})"
        if self.row < 0 and self.value is None:
            return f"{where} {self.field!r}: {self.reason}"
        return f"{where}: field {self.field!r} has value {self.value!r}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as a JSON-safe dict (non-JSON values become strings)."""
        return {
            "row": self.row,
            "parcel_id": json_safe(self.parcel_id),
            "field": json_safe(self.field),
            "value": json_safe(self.value),
            "reason": self.reason,
            "allowed": self.allowed,
        }


class ContractError(ValueError):
    """Data that breaks the declaration contract; lists every problem found.

    Parameters
    ----------
    problems : iterable of ContractProblem
        All problems; kept in ``.problems``, sorted by row and then by contract field
        order. The message lists the first 50.
    hint : str, optional
        What the user may do about them; the last line of the message (``.hint``).
    """

    #: What the problems are with, in the first line of the message.
    heading = "with the declaration contract"

    def __init__(self, problems: Iterable[ContractProblem], hint: str | None = None) -> None:
        self.problems: list[ContractProblem] = sorted(problems, key=problem_order)
        self.hint = hint
        super().__init__(self._message())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems, self.hint))

    def _message(self) -> str:
        n = len(self.problems)
        lines = [f"{n} problem{'' if n == 1 else 's'} {self.heading}:"]
        lines += [f"  {p}" for p in self.problems[:_MAX_LISTED]]
        if n > _MAX_LISTED:
            lines.append(f"  ... and {n - _MAX_LISTED} more")
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Return all problems as JSON-safe dicts.

        Returns
        -------
        list of dict
            One dict per problem with keys ``row``, ``parcel_id``, ``field``, ``value``,
            ``reason`` and ``allowed``. Missing values (None, NaN, NA, NaT) become None;
            values JSON cannot hold (infinities, timestamps, other objects) become strings.
        """
        return [p.to_dict() for p in self.problems]


class MappedDataError(ContractError):
    """Data that cannot be read through a mapping; problems name the user's columns."""

    heading = "reading the data through the column mapping"


class MappingError(ValueError):
    """A mapping file that cannot be used; lists every problem found in it."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"mapping {source}: {n} problem{'' if n == 1 else 's'}:"]
        super().__init__("\n".join(lines + [f"  - {p}" for p in self.problems]))


def problem_order(p: ContractProblem) -> tuple[int, int, str]:
    """Sort key of problems: by row, then by contract field order (other fields last)."""
    return (p.row, _FIELD_ORDER.get(p.field, len(FIELDS)), p.field)


def json_safe(value: Any) -> Any:
    """A JSON-serialisable stand-in for ``value``."""
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    return _json_scalar(value)


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str) and not is_unicode(value):  # shown escaped, never lost
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_float(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    return value if math.isfinite(value) else str(value)


def python_value(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (other values unchanged)."""
    return value.item() if isinstance(value, np.generic) else value
