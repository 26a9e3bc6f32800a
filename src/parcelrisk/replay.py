"""Audit replay: re-score logged inputs with the logged model version, policy and history.

Each logged request is decided again whole, as it was, against the live history at the
position its decisions recorded (:mod:`parcelrisk.history_store`): the declarations and
outcomes logged before it. Decisions logged before live history existed record no
position: they were scored against the training state alone, and are again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from parcelrisk.artifact import LoadedModel, find_model, load_model
from parcelrisk.audit import AuditStore, Position
from parcelrisk.features.live import LiveHistory
from parcelrisk.history_store import HistoryFollower
from parcelrisk.policy import Policy
from parcelrisk.predict import decide


@dataclass(frozen=True)
class ReplayResult:
    """How many logged decisions were replayed and every difference found."""

    replayed: int
    differences: list[dict]


def replay(store: AuditStore, models_dir: str | Path, since: datetime | None = None):
    """Re-score every logged request (whole, as it was scored, under the policy it was
    scored under) and compare each decision.

    Probability and lane must be identical, and so must the reasons wherever reasons
    were returned (reasons logged before they carried probability points are compared on
    :data:`LEGACY_REASON_FIELDS`). Reasons of parcels that were not explained at the time
    are computed here the same way the service would have.
    """
    logged = store.decisions(since=since)
    requests: dict[str, list[dict]] = {}
    for d in logged:
        requests.setdefault(d["request_id"], []).append(d)
    histories = LoggedHistory(store, models_dir)
    differences = []
    # in the order of the positions they saw: the history is only ever read further
    for request_id, decisions in sorted(requests.items(),
                                        key=lambda r: logged_position(r[1][0])):  # fmt: skip
        again = rescore(store, decisions, histories)
        for old, new in zip(decisions, again, strict=True):
            diff = _compare(old, new)
            if diff:
                differences.append({"request_id": request_id, "parcel_id": old["parcel_id"],
                                    **diff})  # fmt: skip
    return ReplayResult(len(logged), differences)


def _compare(old: dict, new: dict) -> dict:
    diff = {}
    if old["probability"] != new["probability"]:
        diff["probability"] = (old["probability"], new["probability"])
    if old["lane"] != new["lane"]:
        diff["lane"] = (old["lane"], new["lane"])
    if old["reasons"] is not None and _reasons_differ(old["reasons"], new["reasons"]):
        diff["reasons"] = (old["reasons"], new["reasons"])
    return diff


#: What reasons logged before they carried probability points are compared on: their
#: text was worded otherwise then, the figures and the groups were not.
LEGACY_REASON_FIELDS = ("group", "contribution", "direction")


def _reasons_differ(logged: list[dict], again: list[dict]) -> bool:
    """Whether reasons computed again differ from the logged ones, compared as they travel
    (through JSON), on every field, or on :data:`LEGACY_REASON_FIELDS` for reasons logged
    without points."""
    again = json.loads(json.dumps(again))
    if logged and all("points" not in r for r in logged):
        fields = LEGACY_REASON_FIELDS
        logged, again = ([{k: r.get(k) for k in fields} for r in rs] for rs in (logged, again))
    return again != logged


def reasons_on_demand(store: AuditStore, models_dir: str | Path, parcel_id: str) -> list[dict]:
    """Reasons of a logged parcel, computed from its logged request and model version."""
    mine = store.decisions(parcel_id=parcel_id)
    if not mine:
        raise ValueError(f"no logged decision for parcel {parcel_id!r}")
    last = mine[-1]
    batch = store.decisions(request_id=last["request_id"])
    again = rescore(store, batch, LoggedHistory(store, models_dir))
    return next(r["reasons"] for r in again if r["parcel_id"] == parcel_id)


def rescore(store: AuditStore, decisions: list[dict], histories: LoggedHistory) -> list[dict]:
    """Decide a logged request again, whole, every parcel explained, with its logged model
    version, policy and history."""
    model, live = histories.at(decisions[0])
    policy = logged_policy(store, decisions[0], model)
    return decide(model, [d["input"] for d in decisions], policy, explain_all=True, live=live)


def logged_position(decision: dict) -> Position:
    """The log position a logged decision's history saw (nothing, for decisions logged
    before live history)."""
    seen = [decision.get(k) for k in ("seen_decisions", "seen_outcomes")]
    return Position(*(0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                      for v in seen))  # fmt: skip


class LoggedHistory:
    """The models that logged decisions (each loaded once from ``models_dir``) and each
    one's live history, read to whatever position a logged decision asks for."""

    def __init__(self, store: AuditStore, models_dir) -> None:
        self.store, self.models_dir = store, models_dir
        self._followers: dict[str, HistoryFollower] = {}

    def model(self, version: str) -> LoadedModel:
        """The logged model version, loaded once."""
        return self._follower(version).model

    def _follower(self, version: str) -> HistoryFollower:
        if version not in self._followers:
            model = load_model(find_model(self.models_dir, version))
            self._followers[version] = HistoryFollower(self.store, model)
        return self._followers[version]

    def at(self, decision: dict) -> tuple[LoadedModel, LiveHistory]:
        """The model of a logged decision and its history at the position it saw."""
        follower = self._follower(decision["model_version"])
        follower.catch_up(logged_position(decision))
        return follower.model, follower.live


def logged_policy(store: AuditStore, decision: dict, model: LoadedModel) -> Policy:
    """The policy a logged decision was made under.

    Decisions logged before scoring policies existed record none: their lanes came from the
    thresholds in the model's metadata (or the defaults), with three reasons by size.
    """
    if decision.get("policy_sha256"):
        return store.policy(decision["policy_sha256"])
    lanes = model.metadata.get("lanes") or {}
    return Policy(version="model metadata", **lanes)
