"""The scoring core: declarations -> features -> margin -> probability -> lane -> reasons.

:func:`score` is the one function that scores. Every view calls it: :func:`decide` (JSON
records: the HTTP service, audit replay, the auditor report), :func:`decide_frame`
(tables: the ``score`` command, the MLflow model, notebooks) and the evaluation, which
scores a test window exactly as a table would be scored. Lanes and the number of reasons
come from the scoring :class:`~parcelrisk.policy.Policy`, not from the model.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from parcelrisk.artifact import LoadedModel
from parcelrisk.audit import AuditStore, Decision, Position
from parcelrisk.contract import canonical_frame, canonical_records
from parcelrisk.explain import Explanation, explain_features, reasons
from parcelrisk.features.columns import Columns
from parcelrisk.features.live import LiveHistory
from parcelrisk.model import features_of, probability_of_margin
from parcelrisk.policy import Policy

#: Which parcels get reasons: none, those in the inspect and review lanes, or all.
Explain = Literal["none", "lanes", "all"]
_EXPLAINED_LANES = ("inspect", "review")
DECISION_COLUMNS = ("parcel_id", "probability", "lane", "model_version", "reasons")


@dataclass(frozen=True)
class Scores:
    """What scoring a batch of declarations gives, one entry per parcel in input order.

    ``explained`` marks the parcels explained; ``explanation`` holds their exact TreeSHAP
    contributions (None if none was) and ``reasons`` their reasons (None for the others).
    ``features`` is the feature matrix every figure comes from.
    """

    parcel_id: np.ndarray
    probability: np.ndarray
    lane: np.ndarray
    margin: np.ndarray
    features: pd.DataFrame
    explained: np.ndarray
    explanation: Explanation | None
    reasons: list[list[dict] | None]


def score(
    pipeline: Pipeline,
    declarations: pd.DataFrame | Mapping[str, list[Any]],
    policy: Policy,
    *,
    explain: Explain = "lanes",
    live: LiveHistory | None = None,
) -> Scores:
    """Score validated declarations: probability, lane, margin, contributions and reasons.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted risk model (``features`` then ``classifier``).
    declarations : pandas.DataFrame or mapping of lists
        Canonical declarations, as the edge gives them
        (:func:`parcelrisk.contract.canonical_frame`, :func:`~parcelrisk.contract.read_table`
        or :func:`~parcelrisk.contract.canonical_records`).
    policy : Policy
        Lane thresholds and how many reasons to give, in which direction.
    explain : {"none", "lanes", "all"}, default "lanes"
        Which parcels get contributions and reasons.
    live : LiveHistory, optional
        The declarations and outcomes appended since the model's training (what the
        service has logged): each parcel's history counts those before it too. Without
        it, a parcel sees the training state and the earlier parcels of its own batch.
    """
    data = declarations if isinstance(declarations, pd.DataFrame) else Columns.from_lists(
        declarations
    )  # fmt: skip
    ids = np.asarray(declarations["parcel_id"], dtype=object)
    features = features_of(pipeline, data, live)  # once: scores and reasons share it
    classifier = pipeline[-1]
    margin = classifier.decision_function(features)
    probability = probability_of_margin(margin, classifier.calibration_)
    lane = policy.lane(probability)
    explained = np.full(len(ids), explain == "all")
    if explain == "lanes":
        explained = np.isin(lane, _EXPLAINED_LANES)
    why: list[list[dict] | None] = [None] * len(ids)
    explanation = None
    if explained.any():
        explanation = explain_features(classifier, features[explained], margin[explained])
        texts = reasons(explanation, _rows(data, explained), top=policy.top,
                        direction=policy.direction)  # fmt: skip
        for pos, rs in zip(explained.nonzero()[0], texts, strict=True):
            why[pos] = rs
    return Scores(ids, probability, lane, margin, features, explained, explanation, why)


def _rows(data: pd.DataFrame | Columns, wanted: np.ndarray) -> pd.DataFrame | list[dict]:
    """The inputs of the wanted parcels, for reason texts: frame rows or dicts of values."""
    if isinstance(data, pd.DataFrame):
        return data[wanted]
    lists = data.lists
    return [{name: values[i] for name, values in lists.items()} for i in np.flatnonzero(wanted)]


def decide(
    model: LoadedModel,
    records: Sequence[Any],
    policy: Policy,
    *,
    explain_all: bool = False,
    live: LiveHistory | None = None,
) -> list[dict]:
    """Decisions for JSON-like records (one request): probability, lane, model and reasons.

    Records are read at the edge (in the model's own column names: the contract's, or its
    column mapping's; a :class:`~parcelrisk.contract.ContractError` lists every problem),
    then decided by :func:`decide_declarations`.
    """
    return decide_declarations(model, canonical_records(records, model.mapping), policy,
                               explain_all=explain_all, live=live)  # fmt: skip


def decide_declarations(
    model: LoadedModel,
    declarations: pd.DataFrame | Mapping[str, list[Any]],
    policy: Policy,
    *,
    explain_all: bool = False,
    live: LiveHistory | None = None,
) -> list[dict]:
    """Decisions for one request's declarations, as read by
    :func:`~parcelrisk.contract.canonical_records` (what :func:`decide` does after reading).

    Parcels in the inspect and review lanes (all, with ``explain_all``) get reasons. With
    ``live``, parcels see the declarations and outcomes logged before them too (the
    service's :func:`parcelrisk.history_store.decide_and_log`).
    """
    s = score(model.pipeline, declarations, policy,
              explain="all" if explain_all else "lanes", live=live)  # fmt: skip
    return [
        {
            "parcel_id": pid,
            "probability": float(p),
            "lane": lane,
            "model": {"name": "parcelrisk", "version": model.version},
            "reasons": rs,
        }
        for pid, p, lane, rs in zip(s.parcel_id, s.probability, s.lane, s.reasons, strict=True)
    ]


def decide_frame(
    model: LoadedModel,
    table: pd.DataFrame,
    policy: Policy,
    *,
    explain: Explain = "lanes",
    live: LiveHistory | None = None,
) -> pd.DataFrame:
    """Decisions for a table of declarations (a day's file, say) in the model's columns.

    The table is read at the edge as a whole and scored as one batch (against ``live``, the
    service's live history, when given: ``parcelrisk score --history``). Returns one row per
    parcel, in input order, with the columns of :data:`DECISION_COLUMNS`: the values
    :func:`decide` returns for the same parcels sent as one request (``reasons`` None
    for a parcel not explained).

    Raises
    ------
    ContractError
        Listing every problem in every row and field; nothing is scored.
    """
    declarations = canonical_frame(table, model.mapping)
    s = score(model.pipeline, declarations, policy, explain=explain, live=live)
    return decisions_frame(s, model.version)


def decisions_frame(s: Scores, model_version: str) -> pd.DataFrame:
    """The decisions of :func:`score` as a table (the columns of :data:`DECISION_COLUMNS`)."""
    return pd.DataFrame({
        "parcel_id": pd.Series(s.parcel_id, dtype=object),
        "probability": pd.Series(s.probability, dtype=float),
        "lane": pd.Series(s.lane, dtype=object),
        "model_version": pd.Series([model_version] * len(s.parcel_id), dtype=object),
        "reasons": pd.Series(s.reasons, dtype=object),
    })  # fmt: skip


def log_decisions(
    store: AuditStore,
    model: LoadedModel,
    policy: Policy,
    records: Sequence[Any],
    results: list[dict],
    position: Position | None = None,
    key_id: str | None = None,
) -> str:
    """Append the decisions :func:`decide` made of ``records`` under ``policy`` (with the
    live history up to ``position``; requested with the API key ``key_id``) to the audit
    store as one request (one transaction: logged whole or not at all); returns its id."""
    request_id = uuid.uuid4().hex
    store.append_decisions(
        Decision(request_id, r["parcel_id"], record, model.version, r["probability"],
                 r["lane"], r["reasons"], policy, position, key_id)
        for r, record in zip(results, records, strict=True)
    )  # fmt: skip
    return request_id
