"""BentoML service: thin HTTP layer over ``predict.score``, ``explain`` and the audit store.

Configuration comes from the environment, read when the service starts:

- ``PARCELRISK_MODEL_DIR``: exported model directory (default: newest under ``models/``);
- ``PARCELRISK_AUDIT_URL``: SQLAlchemy URL of the audit store (default
  ``sqlite:///audit.db`` in the working directory);
- ``PARCELRISK_API_KEY``: if set, requests must send it in the ``X-API-Key`` header;
- ``PARCELRISK_MAX_BATCH``: most parcels per request (default 1000).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import bentoml

from parcelrisk.artifact import latest_model, load_model
from parcelrisk.audit import AuditStore, Decision
from parcelrisk.predict import decide
from parcelrisk.validation import ContractError

API_KEY_HEADER = "x-api-key"


def _error(ctx: bentoml.Context, status: int, message: str, **extra: Any) -> dict[str, Any]:
    ctx.response.status_code = status
    return {"error": message, **extra}


@bentoml.service(name="parcelrisk", traffic={"timeout": 60})
class ParcelRisk:
    """Scores parcel declarations: probability, lane, reasons; logs every decision."""

    def __init__(self) -> None:
        model_dir = os.environ.get("PARCELRISK_MODEL_DIR") or latest_model(Path("models"))
        self.model = load_model(model_dir)
        self.audit = AuditStore(os.environ.get("PARCELRISK_AUDIT_URL", "sqlite:///audit.db"))
        self.api_key = os.environ.get("PARCELRISK_API_KEY") or None
        self.max_batch = int(os.environ.get("PARCELRISK_MAX_BATCH", "1000"))

    def _refused(self, ctx: bentoml.Context) -> dict[str, Any] | None:
        if self.api_key and ctx.request.headers.get(API_KEY_HEADER) != self.api_key:
            return _error(ctx, 401, f"missing or wrong API key in header {API_KEY_HEADER!r}")
        return None

    @bentoml.api(route="/score")
    def score(
        self, parcels: list[dict[str, Any]], ctx: bentoml.Context, explain_all: bool = False
    ) -> dict[str, Any]:
        """Probability, lane and model version per parcel; reasons for inspect/review lanes."""
        if refused := self._refused(ctx):
            return refused
        if not parcels:
            return _error(ctx, 400, "no parcels given: send 1 or more in 'parcels'")
        if len(parcels) > self.max_batch:
            return _error(
                ctx, 413, f"{len(parcels)} parcels in one request; at most {self.max_batch}"
            )
        try:
            results = decide(self.model, parcels, explain_all=explain_all)
        except ContractError as err:
            return _error(ctx, 422, "invalid parcels; nothing was scored",
                          problems=err.to_dicts())  # fmt: skip
        request_id = uuid.uuid4().hex
        # the decision is written before the answer leaves: nothing answered is unlogged
        self.audit.append_decisions(
            Decision(request_id, r["parcel_id"], record, self.model.version,
                     r["probability"], r["lane"], r["reasons"])
            for r, record in zip(results, parcels, strict=True)
        )  # fmt: skip
        return {"request_id": request_id, "results": results}

    @bentoml.api(route="/model")
    def model_info(self, ctx: bentoml.Context) -> dict[str, Any]:
        """Model metadata: version, training window, metrics, contract version."""
        if refused := self._refused(ctx):
            return refused
        keep = ("name", "version", "training_window", "test_window", "contract_version",
                "code_version", "lanes", "weighting", "promotion_score")  # fmt: skip
        return {k: self.model.metadata.get(k) for k in keep}
