"""Audit replay: re-score logged inputs with the logged model version and policy, compare."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from parcelrisk.artifact import LoadedModel, find_model, load_model
from parcelrisk.audit import AuditStore
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
    models: dict[str, object] = {}
    differences = []
    for request_id, decisions in requests.items():
        again = rescore(store, decisions, models_dir, models)
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
    again = rescore(store, batch, models_dir, {})
    return next(r["reasons"] for r in again if r["parcel_id"] == parcel_id)


def rescore(store: AuditStore, decisions: list[dict], models_dir, models: dict) -> list[dict]:
    """Decide a logged request again, whole, every parcel explained, with its logged model
    version (loaded once into ``models``) and policy."""
    version = decisions[0]["model_version"]
    if version not in models:
        models[version] = load_model(find_model(models_dir, version))
    model = models[version]
    policy = logged_policy(store, decisions[0], model)
    return decide(model, [d["input"] for d in decisions], policy, explain_all=True)


def logged_policy(store: AuditStore, decision: dict, model: LoadedModel) -> Policy:
    """The policy a logged decision was made under.

    Decisions logged before scoring policies existed record none: their lanes came from the
    thresholds in the model's metadata (or the defaults), with three reasons by size.
    """
    if decision.get("policy_sha256"):
        return store.policy(decision["policy_sha256"])
    lanes = model.metadata.get("lanes") or {}
    return Policy(version="model metadata", **lanes)
