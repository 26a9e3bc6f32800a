"""Scoring: one function used by the CLI, the batch job and the HTTP service."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd

from parcelrisk.artifact import LoadedModel
from parcelrisk.audit import AuditStore, Decision
from parcelrisk.config import ModelConfig
from parcelrisk.contract import plain_columns, validate
from parcelrisk.features.columns import Columns
from parcelrisk.model import features_of, probability_of_margin


def assign_lanes(probability: np.ndarray, lanes: dict[str, float]) -> np.ndarray:
    """Lane of each probability: inspect, review or release, by the configured thresholds."""
    p = np.asarray(probability, dtype=float)
    return np.where(
        p >= lanes["inspect"], "inspect", np.where(p >= lanes["review"], "review", "release")
    ).astype(object)


def score(model: LoadedModel, declarations: pd.DataFrame) -> pd.DataFrame:
    """Calibrated violation probability and lane of validated declarations.

    ``declarations`` must already satisfy the contract (see :func:`parcelrisk.validation.validate`).
    Returns one row per parcel, in input order: ``parcel_id``, ``probability``, ``lane``.
    """
    if declarations.empty:
        return pd.DataFrame({"parcel_id": [], "probability": [], "lane": []})
    ids = declarations["parcel_id"].to_numpy()
    return _scores(model, ids, features_of(model.pipeline, declarations))[0]


def _scores(model: LoadedModel, ids, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Probability and lane of parcels ``ids`` from their already computed feature matrix
    (same index), and the margin they come from (explanations of the same rows reuse it)."""
    probability, lane, margin = _lanes(model, features)
    scores = pd.DataFrame(
        {"parcel_id": ids, "probability": probability, "lane": lane}, index=features.index
    )
    return scores, margin


def _lanes(model: LoadedModel, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability, lane and margin of each row of a feature matrix, as arrays (a frame of
    them costs more than scoring one parcel)."""
    classifier = model.pipeline[-1]
    margin = classifier.decision_function(features)
    probability = probability_of_margin(margin, classifier.calibration_)
    lanes = model.metadata.get("lanes") or ModelConfig().lanes
    return probability, assign_lanes(probability, lanes), margin


def decide(
    model: LoadedModel, records: list[dict], *, explain_all: bool = False, top: int = 3
) -> list[dict]:
    """Decisions for JSON-like records: probability, lane, model and reasons per parcel.

    Records are validated against the contract (a :class:`ContractError` lists every
    problem). Parcels in the inspect and review lanes (all, with ``explain_all``) get their
    top reasons by absolute contribution. The HTTP service and audit replay both call
    this, so a replayed decision is computed exactly as the original one. A model with a
    column mapping reads records in the user's column names through it.
    """
    data, ids = _read(records, model.mapping)
    probability, lanes, why = _decisions(model, data, explain_all=explain_all, top=top)
    return [
        {
            "parcel_id": pid,
            "probability": float(p),
            "lane": lane,
            "model": {"name": "parcelrisk", "version": model.version},
            "reasons": rs,
        }
        for pid, p, lane, rs in zip(ids, probability, lanes, why, strict=True)
    ]


def decide_frame(
    model: LoadedModel, declarations: pd.DataFrame, *, explain_all: bool = False, top: int = 3
) -> pd.DataFrame:
    """Decisions for a table of declarations (a day's file, say): :func:`decide` in batch.

    The table is validated as a whole (:func:`parcelrisk.validation.validate`, or the
    model's column mapping) and scored as one batch. Returns one row per parcel, in input
    order: ``parcel_id``, ``probability``, ``lane``, ``model_version`` and ``reasons`` (the
    list :func:`decide` gives for an explained parcel, None for the others): the values
    :func:`decide` returns for the same parcels sent as one request.

    Raises
    ------
    ContractError
        Listing every problem in every row and field; nothing is scored.
    """
    if model.mapping is None:
        frame = validate(declarations)
    else:
        from parcelrisk.contract import apply_mapping

        frame = apply_mapping(declarations, model.mapping, outcomes=False)
    if frame.empty:
        columns = ["parcel_id", "probability", "lane", "model_version", "reasons"]
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    probability, lanes, why = _decisions(model, frame, explain_all=explain_all, top=top)
    return pd.DataFrame({
        "parcel_id": frame["parcel_id"].to_numpy(),
        "probability": probability,
        "lane": lanes,
        "model_version": model.version,
        "reasons": pd.Series(why, dtype=object),
    })  # fmt: skip


def _decisions(
    model: LoadedModel, data: pd.DataFrame | Columns, *, explain_all: bool, top: int
) -> tuple[np.ndarray, np.ndarray, list[list[dict] | None]]:
    """Probability and lane of validated parcels, and the reasons of those in the inspect
    and review lanes (all, with ``explain_all``; None for parcels not explained)."""
    from parcelrisk.explain import explain_features, reasons

    features = features_of(model.pipeline, data)  # once: scores and reasons share it
    probability, lanes, margin = _lanes(model, features)
    wanted = np.isin(lanes, ["inspect", "review"]) | explain_all
    why: list[list[dict] | None] = [None] * len(features)
    if wanted.any():
        picked = _rows(data, wanted)
        explanation = explain_features(model.pipeline[-1], features[wanted], margin[wanted])
        texts = reasons(explanation, picked, top=top, direction="both")
        for pos, rs in zip(wanted.nonzero()[0], texts, strict=True):
            why[pos] = rs
    return probability, lanes, why


def _read(records: list[dict], mapping) -> tuple[pd.DataFrame | Columns, list]:
    """Validated records as the features' input, and their parcel ids.

    Small batches of plain records skip the canonical frame: their canonical values go
    to the features as they are (the same values the frame would hold).
    """
    from parcelrisk.contract import records_frame

    lists = plain_columns(records) if mapping is None else None
    if lists is None:
        frame = records_frame(records, mapping)
        return frame, frame["parcel_id"].to_numpy()
    return Columns.from_lists(lists), lists["parcel_id"]


def _rows(data: pd.DataFrame | Columns, wanted: np.ndarray) -> pd.DataFrame | list[dict]:
    """The inputs of the wanted parcels, for reason texts: frame rows or dicts of values."""
    if isinstance(data, pd.DataFrame):
        return data[wanted]
    lists = data.lists
    return [{name: values[i] for name, values in lists.items()} for i in np.flatnonzero(wanted)]


def decide_and_log(
    store: AuditStore, model: LoadedModel, records: list[dict], *, explain_all: bool = False
) -> tuple[str, list[dict]]:
    """Decide one request and append every decision to the audit store before returning.

    The request gets a fresh id; its decisions are written in one transaction, so a
    request is logged whole or not at all. This is what the HTTP service does per request;
    replay re-scores logged requests the same way. Returns the request id and the
    decisions of :func:`decide`. Raises :class:`ContractError` for invalid records (nothing
    is logged) and the store's error if it cannot be written (nothing is returned).
    """
    results = decide(model, records, explain_all=explain_all)
    return log_decisions(store, model, records, results), results


def log_decisions(
    store: AuditStore, model: LoadedModel, records: list[dict], results: list[dict]
) -> str:
    """Append the decisions :func:`decide` made of ``records`` to the audit store as one
    request (one transaction: logged whole or not at all); returns its fresh id."""
    request_id = uuid.uuid4().hex
    store.append_decisions(
        Decision(request_id, r["parcel_id"], record, model.version, r["probability"],
                 r["lane"], r["reasons"])
        for r, record in zip(results, records, strict=True)
    )  # fmt: skip
    return request_id
