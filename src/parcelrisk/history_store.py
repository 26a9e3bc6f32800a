"""The live entity history of a served model, kept up with the audit log.

The audit store is the log: every scored declaration (a decision's input) and every
recorded outcome, in id order. A :class:`HistoryFollower` holds one model's
:class:`~parcelrisk.features.live.LiveHistory` and the :class:`~parcelrisk.audit.Position`
it has read up to. Before each request it reads what was logged since (by any worker
process, on any machine sharing the store), so every worker scores against the same
history; the decision records the position it saw, which is how ``audit replay``
rebuilds the history that decision saw and reproduces it exactly.

The state is the model's and the log's: a newly served model version (or a restarted
service) rebuilds its live history from the log when it starts, reading each logged
declaration and outcome once; what it costs is in docs/serving.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from parcelrisk.artifact import LoadedModel
from parcelrisk.audit import AuditStore, Position
from parcelrisk.contract import canonical_records
from parcelrisk.features.columns import Columns
from parcelrisk.features.events import seconds
from parcelrisk.features.live import LiveHistory, Outcomes
from parcelrisk.policy import Policy
from parcelrisk.predict import decide_declarations, log_decisions

log = logging.getLogger(__name__)


class HistoryFollower:
    """A model's live history, read from an audit store up to :attr:`position`.

    Use :meth:`catch_up` before scoring (under :attr:`lock` where threads share it).
    """

    def __init__(self, store: AuditStore, model: LoadedModel) -> None:
        self.store = store
        self.model = model
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.live = LiveHistory.of(self.model.pipeline)
        self.position = Position()

    def catch_up(self, to: Position | None = None) -> Position:
        """Append what the log holds after :attr:`position`, up to ``to`` (default: its end
        now); returns the new position. A position behind the current one is reached by
        reading the log again from its start."""
        end = self.store.position() if to is None else to
        if not end.covers(self.position):
            self._reset()
        if end == self.position:
            return end
        inputs, outcomes = [], []
        if end.decisions > self.position.decisions:
            inputs = self.store.inputs_between(self.position, end)
        if end.outcomes > self.position.outcomes:
            outcomes = self.store.outcomes_between(self.position, end)
        # a parcel logged again (a retry) counts from its first logging: read it once
        held = self.live.holds([pid for pid, _ in inputs])
        seen, records = set(), []
        for (pid, record), was_held in zip(inputs, held, strict=True):
            if not was_held and pid not in seen:
                seen.add(pid)
                records.append(record)
        self.live.append(self._declarations(records), self._outcomes(outcomes))
        self.position = end
        return end

    def refresh(self) -> None:
        """:meth:`catch_up` under the lock: what a worker does after answering a request,
        so that the next request finds little left to read."""
        with self.lock:
            self.catch_up()

    def rebuild(self) -> None:
        """Read the whole log again (at start), saying what it read and how long it took."""
        started = time.perf_counter()
        self._reset()
        end = self.catch_up()
        log.warning(
            "live history of model %s: %d declarations and %d outcomes read from the audit "
            "log in %.1f s (%d events kept)", self.model.version, end.decisions,
            end.outcomes, time.perf_counter() - started, len(self.live),
        )  # fmt: skip

    def _declarations(self, records: Sequence[dict[str, Any]]) -> Columns | pd.DataFrame | None:
        """Logged inputs as canonical declarations, read as when they were scored."""
        if not records:
            return None
        read = canonical_records(records, self.model.mapping)
        return read if isinstance(read, pd.DataFrame) else Columns.from_lists(read)

    def _outcomes(self, rows: list[dict]) -> Outcomes | None:
        if not rows:
            return None
        parcels = {r["parcel_id"]: r["input"] for r in rows}  # each parcel read once
        read = Columns.of(self._declarations(list(parcels.values())))
        at = {pid: i for i, pid in enumerate(parcels)}
        return Outcomes(
            declarations=read.take(np.array([at[r["parcel_id"]] for r in rows])),
            at=seconds(pd.Series([r["outcome_at"] for r in rows])),
            inspected=np.array([bool(r["inspected"]) for r in rows]),
            violation_found=np.array([bool(r["violation_found"]) for r in rows]),
        )


def decide_and_log(
    history: HistoryFollower,
    records: Sequence[Any],
    policy: Policy,
    *,
    explain_all: bool = False,
    key_id: str | None = None,
    deadline: float | None = None,
    declarations: pd.DataFrame | dict[str, list[Any]] | None = None,
) -> tuple[str, list[dict]]:
    """Decide one request against the live history and log it, as the service does.

    The records are read first, outside the lock (``declarations``: as
    :func:`~parcelrisk.contract.canonical_records` read them, if the caller has: the
    service reads them on a thread of their own), so that reading or refusing one
    request never holds up the decisions of others. Then under the follower's lock: read
    the log up to its end, decide every parcel (each sees
    the training state, the logged declarations and outcomes before it and the earlier
    parcels of its request), then append the decisions with the position they saw, in one
    transaction, with ``key_id`` (the id of the API key it came with). Returns the request
    id and the decisions of :func:`parcelrisk.predict.decide`.

    ``deadline`` (a :func:`time.monotonic` time): a request not decided by then is not
    logged (:class:`DeadlineExceeded`; checked when the lock is taken and again before the
    decisions are written), so that a request its client gave up on leaves nothing behind.

    Raises
    ------
    ContractError
        For invalid records; nothing is logged.
    DeadlineExceeded
        Past ``deadline``; nothing is logged.
    SQLAlchemyError
        The store's error if it cannot be read or written; nothing is returned.
    """
    if declarations is None:
        declarations = canonical_records(records, history.model.mapping)
    with history.lock:
        within_deadline(deadline)
        position = history.catch_up()
        results = decide_declarations(history.model, declarations, policy,
                                      explain_all=explain_all, live=history.live)  # fmt: skip
        within_deadline(deadline)
        request_id = log_decisions(history.store, history.model, policy, records, results,
                                   position, key_id)  # fmt: skip
    return request_id, results


class DeadlineExceeded(Exception):
    """A request not decided by its deadline; nothing of it was logged."""


def within_deadline(deadline: float | None) -> None:
    """Raise :class:`DeadlineExceeded` if the :func:`time.monotonic` ``deadline`` (None:
    none) has passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded("the request was not decided by its deadline "
                               "(PARCELRISK_DEADLINE_MS)")  # fmt: skip
