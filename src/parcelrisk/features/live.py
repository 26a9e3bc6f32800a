"""Live entity history: the declarations and outcomes that came after a model's training.

A fitted :class:`~parcelrisk.features.history.EntityHistory` holds the events of its
training data (a :class:`Layer`). A :class:`LiveHistory` holds, for that model, every
event appended since: declarations scored after training and outcomes recorded after
it, each in the model's entity codes. A parcel scored with a live history sees the
training state, the live events and the earlier parcels of its own batch, each counted
strictly before its declaration time (an outcome from its ``outcome_at``): exactly what
it would see had all of them been one training table. So a parcel's features depend on
the parcel and on what was appended before it, never on how requests were cut.

The rules for what is appended:

- a declaration counts once, from its parcel's first appending (a parcel id the
  training data or the live history already holds adds nothing: retries and duplicates
  do not inflate a seller's counts);
- an outcome counts from its ``outcome_at``; a later outcome of the same parcel replaces
  it from the later one's ``outcome_at`` on (a correction), and an outcome of a parcel
  whose outcome the training state already holds is not counted again;
- a recipient counts at an address from its first appended parcel.

Appending is cheap: each append is a small layer, merged into the one before it while it
is at least ``cbrt(n)`` times smaller (``n``: the events held), in linear time; so a history
is a few layers (each query searches every layer) and each event is copied about
``3 * cbrt(n)`` times over its life.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from parcelrisk.features.columns import Columns
from parcelrisk.features.events import EventIndex

if TYPE_CHECKING:
    from parcelrisk.features.history import EntityHistory


@dataclass(frozen=True)
class Layer:
    """The events of some declarations and outcomes, in one model's entity codes.

    ``parcels``: each entity's declarations by declaration time; ``outcomes``: each
    entity's outcomes by outcome time, valued (inspected, violation found);
    ``overall``: every outcome (entity 0), for the smoothing prior; ``profiles``: the
    profiled entities' declarations valued by their cues; ``names``: recipients' first
    parcels, by address (None when the model keeps no names per address).
    """

    parcels: dict[str, EventIndex]
    outcomes: dict[str, EventIndex]
    overall: EventIndex
    profiles: dict[str, EventIndex]
    names: EventIndex | None

    @property
    def size(self) -> int:
        """Declarations and outcomes held."""
        declarations = len(next(iter(self.parcels.values()))) if self.parcels else 0
        return declarations + len(self.overall)

    def merged(self, later: Layer) -> Layer:
        """One layer of this one's events and ``later``'s."""
        joined: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            if isinstance(mine, dict):
                joined[f.name] = {k: mine[k].merged(theirs[k]) for k in mine}
            else:
                joined[f.name] = None if mine is None else mine.merged(theirs)
        return Layer(**joined)


@dataclass(frozen=True)
class Outcomes:
    """Inspection outcomes to append, in the order they were recorded.

    ``declarations`` holds each outcome's parcel as declared (one row per outcome, in the
    model's contract columns); ``at`` is when each outcome became known (seconds since the
    epoch, UTC).
    """

    declarations: pd.DataFrame | Columns
    at: np.ndarray
    inspected: np.ndarray
    violation_found: np.ndarray

    def __len__(self) -> int:
        return len(self.at)

    @classmethod
    def of_table(cls, table: pd.DataFrame, delay: pd.Timedelta | None = None) -> Outcomes:
        """The outcomes a table records (its rows with an ``outcome_at``), each known
        ``delay`` after its ``outcome_at``, in the order they became known."""
        rows = table[table["outcome_at"].notna()]
        at = rows["outcome_at"] + (delay if delay is not None else pd.Timedelta(0))
        order = np.argsort(np.asarray(at, dtype="datetime64[ns]"), kind="stable")
        rows, at = rows.iloc[order], at.iloc[order]
        return cls(
            declarations=rows,
            at=np.asarray(at, dtype="datetime64[s]").astype(np.int64),
            inspected=rows["inspected"].fillna(False).to_numpy(dtype=bool),
            violation_found=rows["violation_found"].fillna(False).to_numpy(dtype=bool),
        )


class LiveHistory:
    """Events appended after a model's training state, as that model's history reads them.

    Parameters
    ----------
    history
        The fitted entity history of the model (its training state and vocabularies).
    batch_events
        Whether a batch scored with this history also counts its own earlier parcels
        (True, as always in serving); False scores every parcel against the appended
        events alone: "history frozen" when nothing is appended.
    """

    def __init__(self, history: EntityHistory, *, batch_events: bool = True):
        self.history = history
        self.batch_events = batch_events
        self.layers: list[Layer] = []
        #: codes of keys the training vocabulary lacks, numbered after it as they come
        self.vocabulary: dict[str, dict[Any, int]] = {name: {} for name in history.names()}
        self._parcel_ids: set[str] = set()
        self._outcome_of: dict[str, tuple[float, float]] = {}

    @classmethod
    def of(cls, pipeline, **kwargs) -> LiveHistory:
        """An empty live history for a fitted risk model (a pipeline whose ``features``
        union holds an entity history, its ``history`` part)."""
        return cls(dict(pipeline.named_steps["features"].transformer_list)["history"], **kwargs)

    def n_codes(self, name: str) -> int:
        """Entity codes in use for ``name``: the training vocabulary's and the live ones."""
        return len(self.history.vocabulary_[name]) + len(self.vocabulary[name])

    def holds(self, parcel_ids: Sequence[str | None]) -> np.ndarray:
        """Which parcel ids the live history has a declaration of."""
        return np.fromiter((p in self._parcel_ids for p in parcel_ids), bool, len(parcel_ids))

    def __len__(self) -> int:
        """Declarations and outcomes appended (those that changed anything)."""
        return sum(layer.size for layer in self.layers)

    def append(
        self, declarations: pd.DataFrame | Columns | None, outcomes: Outcomes | None = None
    ) -> None:
        """Append declarations (then outcomes), in the order they were logged.

        Declarations are canonical (:mod:`parcelrisk.contract`). A declaration of a parcel
        already held adds nothing; neither does an outcome that changes nothing.
        """
        h = self.history
        cols = Columns.of(declarations) if declarations is not None else None
        if cols is not None and cols.n:
            ids = cols.strings("parcel_id")
            fresh = ~(h.in_training(cols) | self.holds(ids)) & _first_of_each(ids)
            cols = cols.take(np.flatnonzero(fresh))
            self._parcel_ids.update(ids[i] for i in np.flatnonzero(fresh))
        declared = h.declaration_events(cols, self) if cols is not None and cols.n else None
        changes = self._changes(outcomes) if outcomes is not None and len(outcomes) else None
        if declared is None and changes is None:
            return
        self.layers.append(h.layer(declared, changes))
        # layers shrink by a factor of the cube root of the whole: about three of them,
        # and each event is copied by about 3 * cbrt(n) merges over its life
        ratio = max(2.0, sum(layer.size for layer in self.layers) ** (1 / 3))
        while len(self.layers) > 1 and ratio * self.layers[-1].size >= self.layers[-2].size:
            later = self.layers.pop()
            self.layers[-1] = self.layers[-1].merged(later)

    def _changes(self, outcomes: Outcomes):
        """Outcome events: each outcome's change to its parcel's (inspected, found) counts,
        at its time, in its parcel's entity codes; None if no outcome changes anything."""
        cols = Columns.of(outcomes.declarations)
        ids = cols.strings("parcel_id")
        counted = ~self.history.outcome_in_training(cols)
        rows, deltas = [], []
        for i in np.flatnonzero(counted):
            now = (float(outcomes.inspected[i]),
                   float(outcomes.inspected[i] and outcomes.violation_found[i]))  # fmt: skip
            before = self._outcome_of.get(ids[i], (0.0, 0.0))
            self._outcome_of[ids[i]] = now
            if now != before:
                rows.append(i)
                deltas.append((now[0] - before[0], now[1] - before[1]))
        if not rows:
            return None
        taken = np.asarray(rows)
        codes = self.history.codes_to_keep(cols.take(taken), self)
        return codes, np.asarray(outcomes.at, dtype=np.int64)[taken], np.asarray(deltas)


def _first_of_each(ids: Sequence[Any]) -> np.ndarray:
    """Where each id occurs for the first time."""
    seen: set[Any] = set()
    first = np.zeros(len(ids), dtype=bool)
    for i, pid in enumerate(ids):
        if pid not in seen:
            seen.add(pid)
            first[i] = True
    return first
