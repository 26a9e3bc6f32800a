"""An inspection outcome: the one rule for what may be recorded as the result of a scored
parcel's inspection.

Outcomes are the labels retraining reads back (:func:`parcelrisk.feedback.labelled_declarations`)
and events of the live entity history, so an outcome the store accepts must be one that
both can use; a store that only appends cannot take a bad one back. :class:`Outcome` is
that rule, and every way into the store applies it (``POST /outcomes`` as its request
schema, :meth:`parcelrisk.audit.AuditStore.append_outcomes` for Python callers):

- types are strict: ``inspected: "true"`` or ``1`` is refused, not read as true; unknown
  keys are refused (a misspelt field must not vanish);
- a parcel inspected has ``violation_found``; one not inspected has no result
  (``violation_found``, ``violation_type``, ``inspection_reason``, ``outcome_at``);
  ``violation_type`` only with ``violation_found: true``;
- ``inspection_propensity`` in (0, 1]; ``outcome_at`` an aware time from 1970 on and not
  later than when it is recorded (an outcome cannot be known before it is);
- ``parcel_id`` at most :data:`~parcelrisk.contract.schema.MAX_ID_LENGTH` characters, no
  control characters.

Whether an inspected outcome must also carry its ``inspection_propensity`` depends on the
model it trains: :func:`outcome_problems` says so for a model weighted by propensities.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from parcelrisk.contract.schema import INSPECTION_REASONS, MAX_ID_LENGTH, VIOLATION_TYPES

#: The fields that say what an inspection found: only for a parcel inspected.
RESULT_FIELDS = ("violation_found", "violation_type", "inspection_reason", "outcome_at")
#: How far a clock may run ahead of the store's: an ``outcome_at`` up to this much later
#: than its recording is taken.
CLOCK_SKEW = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_id(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


ParcelId = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=MAX_ID_LENGTH),
    AfterValidator(_plain_id),
]


class Outcome(BaseModel):
    """An inspection result for a scored parcel (module docstring: the rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parcel_id: ParcelId = Field(description="id of a scored parcel: no control characters")
    inspected: StrictBool
    violation_found: StrictBool | None = Field(
        default=None, description="required when inspected; only then"
    )
    violation_type: Literal[VIOLATION_TYPES] | None = Field(  # type: ignore[valid-type]
        default=None, description="only when violation_found is true"
    )
    inspection_reason: Literal[INSPECTION_REASONS] | None = Field(  # type: ignore[valid-type]
        default=None, description="only when inspected"
    )
    inspection_propensity: float | None = Field(
        default=None, strict=True, gt=0, le=1,
        description="probability with which the selection picked the parcel, in (0, 1]",
    )  # fmt: skip
    outcome_at: AwareDatetime | None = Field(
        default=None,
        description="when the result became known, with an offset (default: when recorded); "
        "only when inspected, not before 1970 nor after now",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if self.inspected and self.violation_found is None:
            raise ValueError("an inspected parcel needs violation_found (true or false)")
        if not self.inspected:
            given = [f for f in RESULT_FIELDS if getattr(self, f) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} given for a parcel that was not inspected")
        if self.violation_type is not None and self.violation_found is not True:
            raise ValueError("violation_type given but violation_found is not true")
        if self.outcome_at is not None:
            if self.outcome_at < _EPOCH:
                raise ValueError("outcome_at is before 1970")
            if self.outcome_at > datetime.now(UTC) + CLOCK_SKEW:
                raise ValueError("outcome_at is in the future: an outcome is known when it is")
        return self

    def row(self) -> dict[str, Any]:
        """The outcome as the store keeps it (``outcome_at`` in UTC)."""
        row = self.model_dump()
        if self.outcome_at is not None:
            row["outcome_at"] = self.outcome_at.astimezone(UTC)
        return row


def outcome_problems(outcomes: list[Outcome], weighting: str) -> list[dict[str, Any]]:
    """What makes accepted outcomes unusable to a model weighted by ``weighting``: an
    inspected parcel without ``inspection_propensity`` when the weighting needs one (every
    weighting but ``none``). One problem per outcome: its index (``row``), parcel id,
    field and reason."""
    if weighting == "none":
        return []
    return [
        {"row": i, "parcel_id": o.parcel_id, "field": "inspection_propensity",
         "reason": "required for an inspected parcel: the model weights labels by it "
                   f"(weighting {weighting!r})"}
        for i, o in enumerate(outcomes)
        if o.inspected and o.inspection_propensity is None
    ]  # fmt: skip
