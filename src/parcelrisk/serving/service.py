"""BentoML service: thin HTTP layer over the scoring core (``predict``) and the audit store.

Configuration comes from the environment, read when the service starts:

- ``PARCELRISK_MODEL_URI``: MLflow registry URI such as ``models:/parcelrisk@challenger``
  (the store is ``MLFLOW_TRACKING_URI`` or the embedded one in the working directory);
- ``PARCELRISK_MODEL_DIR``: exported model directory, used when no URI is set;
  with neither, the model a bento carries beside its code, else the registry's
  ``champion`` if a registry exists, else the newest model under ``models/``
  (:func:`parcelrisk.tracking.default_model`, said in the log at start);
- ``PARCELRISK_AUDIT_URL``: SQLAlchemy URL of the audit store (default
  ``sqlite:///audit.db`` in the working directory);
- ``PARCELRISK_POLICY``: the scoring policy file (lanes, reasons; default
  ``configs/policy.yaml`` in the working directory, else the built-in default policy);
- ``PARCELRISK_API_KEY``: if set, requests must send it in the ``X-API-Key`` header;
- ``PARCELRISK_MAX_BATCH``: most parcels per request (default 1000);
- ``PARCELRISK_WORKERS``: worker processes, each with its own copy of the model (default 1;
  one per core serves many small concurrent requests in parallel).

The settings are checked once before any worker starts (:func:`check_start_up`): a
missing or corrupt model, an invalid setting or an audit store that cannot be opened
stops ``bentoml serve`` with one message (:class:`StartupError`) instead of workers
failing and restarting.

Scores do not depend on how parcels are cut into requests: each parcel's history counts
what was logged before its request and the earlier parcels of its own request
(:mod:`parcelrisk.history_store`), and each decision records the log position it saw.
Requests are not batched together by BentoML (a batch would be one logged request);
concurrency comes from worker processes, which share the live history through the
audit store.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import anyio
import bentoml
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from fastapi import FastAPI, Header
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy.exc import SQLAlchemyError

import parcelrisk
from parcelrisk.artifact import load_model
from parcelrisk.audit import AuditStore, UnscoredParcelsError
from parcelrisk.contract import (
    INSPECTION_REASONS,
    VIOLATION_TYPES,
    ContractError,
    canonical_records,
    json_safe,
)
from parcelrisk.history_store import HistoryFollower, decide_and_log
from parcelrisk.policy import load_policy
from parcelrisk.predict import score
from parcelrisk.serving import pages
from parcelrisk.serving.metrics import service_metrics
from parcelrisk.tracking import default_model

API_KEY_HEADER = "x-api-key"
MODEL_FIELDS = ("name", "version", "training_window", "test_window", "contract_version",
                "code_version", "weighting", "promotion_metric", "promotion_score",
                "metrics", "evaluation")  # fmt: skip
log = logging.getLogger("parcelrisk.serving")
#: An API's JSON answer. Naming the media type spares BentoML working it out from the
#: answer's JSON schema, which it would otherwise build anew for every response.
JSONAnswer = Annotated[dict[str, Any], ContentType("application/json")]
# plain GET routes (BentoML APIs are POST): mounted next to the service's own routes
http = FastAPI(title="parcelrisk", docs_url=None, redoc_url=None, openapi_url=None)


class Outcome(BaseModel):
    """An inspection result for a scored parcel."""

    parcel_id: str = Field(min_length=1)
    inspected: bool
    violation_found: bool | None = None
    violation_type: Literal[VIOLATION_TYPES] | None = None  # type: ignore[valid-type]
    inspection_reason: Literal[INSPECTION_REASONS] | None = None  # type: ignore[valid-type]
    inspection_propensity: float | None = Field(default=None, gt=0, le=1)
    outcome_at: AwareDatetime | None = Field(
        default=None, description="when the outcome became known (default: when recorded)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if self.violation_found is not None and not self.inspected:
            raise ValueError("violation_found given for a parcel that was not inspected")
        if self.violation_type is not None and self.violation_found is not True:
            raise ValueError("violation_type given but violation_found is not true")
        return self


def _error(ctx: bentoml.Context, status: int, message: str, **extra: Any) -> dict[str, Any]:
    ctx.response.status_code = status
    return {"error": message, **extra}


class StartupError(BentoMLException):
    """The service cannot start: what is wrong and which setting to change.

    A BentoML error: ``bentoml serve`` prints its message once and exits with code 1.
    """


@contextmanager
def _starting(setting: str = "") -> Iterator[None]:
    """Any failure inside, as a :class:`StartupError` that says what went wrong (and which
    ``setting`` it came from)."""
    try:
        yield
    except StartupError:
        raise
    except Exception as err:
        where = f"{setting}: " if setting else ""
        raise StartupError(f"parcelrisk cannot start: {where}{err}") from err


def _setting(name: str, default: int) -> int:
    """A positive whole number from the environment, or a start-up error naming it."""
    raw = os.environ.get(name, str(default))
    if not raw.strip().isdigit() or int(raw) < 1:
        raise StartupError(f"parcelrisk cannot start: {name} must be a whole number >= 1, "
                           f"got {raw!r}")  # fmt: skip
    return int(raw)


def _key_matches(expected: str | None, given: str | None) -> bool:
    """True if no key is configured, else whether ``given`` is it (constant time)."""
    if not expected:
        return True
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _internal_error(ctx: bentoml.Context, what: str) -> dict[str, Any]:
    """A 500 that names an error id to find in the server log, and says nothing was logged."""
    error_id = uuid.uuid4().hex
    log.exception("%s failed (error id %s)", what, error_id)
    return _error(ctx, 500, f"internal error while {what}; nothing was logged or decided",
                  error_id=error_id)  # fmt: skip


@bentoml.asgi_app(http, path="/")
@bentoml.service(
    name="parcelrisk",
    workers=_setting("PARCELRISK_WORKERS", 1),
    traffic={"timeout": 60},
)
class ParcelRisk:
    """Scores parcel declarations: probability, lane, reasons; logs every decision."""

    def __init__(self) -> None:
        # cheap settings first; a failure is one StartupError that names it
        self.max_batch = _setting("PARCELRISK_MAX_BATCH", 1000)
        self.api_key = os.environ.get("PARCELRISK_API_KEY") or None
        with _starting():
            self.policy = load_policy()
            model_dir, which = default_model()
            self.model = load_model(model_dir)
        # where the code comes from: a bento serves its own copy, not an installed one
        log.warning("serving model %s: %s; code %s", self.model.version, which,
                    os.path.dirname(parcelrisk.__file__))  # fmt: skip
        # last: a start that fails before leaves no store behind
        with _starting("PARCELRISK_AUDIT_URL"):
            self.audit = AuditStore(os.environ.get("PARCELRISK_AUDIT_URL", "sqlite:///audit.db"))
            # the live history: every declaration and outcome logged so far, read once
            self.history = HistoryFollower(self.audit, self.model)
            self.history.rebuild()
        self._limiter: anyio.CapacityLimiter | None = None
        self._background: set[asyncio.Task] = set()

    @bentoml.on_deployment
    def check_start_up() -> None:
        """Start the service once in BentoML's main process, before any worker, and let it
        go: a setting that cannot work stops ``bentoml serve`` here with one message (a
        worker that fails to start is restarted again and again)."""
        instance = ParcelRisk.inner()
        instance.audit.engine.dispose()

    def _refused(self, ctx: bentoml.Context) -> dict[str, Any] | None:
        if not _key_matches(self.api_key, ctx.request.headers.get(API_KEY_HEADER)):
            return _error(ctx, 401, f"missing or wrong API key in header {API_KEY_HEADER!r}")
        return None

    @bentoml.api(route="/score")
    async def score(
        self, parcels: list[dict[str, Any]], ctx: bentoml.Context, explain_all: bool = False
    ) -> JSONAnswer:
        """Probability, lane and model version per parcel; reasons for inspect/review lanes.

        Each parcel is scored against the live history: the training state, every
        declaration and outcome logged before the request (by any worker) and the earlier
        parcels of the request. Decided and logged on a worker thread, one request at a
        time per worker, so that it does not hold up health checks and other requests.
        """
        if refused := self._refused(ctx):
            return refused
        if not parcels:
            return _error(ctx, 400, "no parcels given: send 1 or more in 'parcels'")
        if len(parcels) > self.max_batch:
            return _error(
                ctx, 413, f"{len(parcels)} parcels in one request; at most {self.max_batch}"
            )
        started = time.perf_counter()
        try:
            # every decision is written before the answer leaves: nothing answered is unlogged
            request_id, results = await self._in_thread(
                functools.partial(decide_and_log, explain_all=explain_all),
                self.history, parcels, self.policy,
            )  # fmt: skip
        except ContractError as err:
            return _error(ctx, 422, "invalid parcels; nothing was scored",
                          problems=err.to_dicts())  # fmt: skip
        except SQLAlchemyError:
            log.exception("audit store write failed")
            service_metrics().audit_write_failures.labels("/score").inc()
            return _error(ctx, 503, "audit store unavailable; no decision was released, retry")
        except Exception:  # a fault of ours, not of the input: say so, never crash
            return _internal_error(ctx, "scoring")
        self._count_decisions(results, time.perf_counter() - started)
        self._refresh_soon()
        return {"request_id": request_id, "results": results}

    def _refresh_soon(self) -> None:
        """Read the request's own decisions into the live history once it is answered,
        off the request's time (bench/bench_serve.py, demo model, 20,000 logged parcels,
        one run each, together with the entity history's feature names cached: one-parcel
        requests p50 12.7 -> 12.0 ms, p99 37.8 -> 15.8 ms): the next request
        then finds the history up to date. It still catches up itself before scoring, so a
        refresh that lags or fails changes nothing but speed."""
        task = asyncio.get_running_loop().create_task(self._in_thread(self._refresh))
        self._background.add(task)  # a reference until done: the loop keeps weak ones only
        task.add_done_callback(self._background.discard)

    def _refresh(self) -> None:
        try:
            self.history.refresh()
        except Exception:  # the next request catches up (and answers 503 if it cannot)
            log.exception("reading the audit log into the live history failed")

    def _count_decisions(self, results: list[dict], seconds: float) -> None:
        """Count released decisions by lane, and the request's decision latency."""
        metrics, version = service_metrics(), self.model.version
        metrics.decision_seconds.labels(version).observe(seconds)
        for lane, n in Counter(r["lane"] for r in results).items():
            metrics.decisions.labels(lane, version).inc(n)

    async def _in_thread(self, function, *args):
        """``function(*args)`` on a worker thread, one at a time per worker process (as
        BentoML runs synchronous APIs): off the event loop, without oversubscribing the
        cores with concurrent batches."""
        if self._limiter is None:  # made on the event loop, at the first use
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)

    @bentoml.api(route="/explain")
    def explain(self, parcels: list[dict[str, Any]], ctx: bentoml.Context) -> JSONAnswer:
        """Full TreeSHAP contributions (margin space) by input group and by feature."""
        if refused := self._refused(ctx):
            return refused
        if not parcels or len(parcels) > self.max_batch:
            return _error(ctx, 413 if parcels else 400,
                          f"send 1 to {self.max_batch} parcels in 'parcels'")  # fmt: skip
        try:
            declarations = canonical_records(parcels, self.model.mapping)
            with self.history.lock:  # against the live history, as /score would score them
                self.history.catch_up()
                scored = score(self.model.pipeline, declarations, self.policy, explain="all",
                               live=self.history.live)  # fmt: skip
            e = scored.explanation
        except ContractError as err:
            return _error(ctx, 422, "invalid parcels; nothing was explained",
                          problems=err.to_dicts())  # fmt: skip
        except SQLAlchemyError:
            log.exception("audit store read failed")
            return _error(ctx, 503, "audit store unavailable; nothing was explained, retry")
        except Exception:  # a fault of ours, not of the input
            return _internal_error(ctx, "explaining")
        return {
            "model": {"name": "parcelrisk", "version": self.model.version},
            "space": "margin (log-odds before calibration)",
            "calibration_slope": e.calibration_slope,
            "results": [
                {
                    "parcel_id": pid,
                    "base_value": float(e.base_value[i]),
                    "margin": float(e.margin[i]),
                    "by_group": {k: float(v) for k, v in e.by_group.iloc[i].items()},
                    "by_feature": {k: float(v) for k, v in e.by_feature.iloc[i].items()},
                }
                for i, pid in enumerate(scored.parcel_id)
            ],
        }

    @bentoml.api(route="/outcomes")
    def outcomes(self, outcomes: list[Outcome], ctx: bentoml.Context) -> JSONAnswer:
        """Record inspection results of scored parcels, all or none; training can read
        them back as labels. A parcel id with no logged decision is answered 404."""
        if refused := self._refused(ctx):
            return refused
        try:
            n = self.audit.append_outcomes(o.model_dump() for o in outcomes)
        except UnscoredParcelsError as err:
            return _error(ctx, 404, str(err), unknown_parcel_ids=err.parcel_ids)
        except SQLAlchemyError:
            log.exception("audit store write failed for %d outcomes", len(outcomes))
            service_metrics().audit_write_failures.labels("/outcomes").inc()
            return _error(ctx, 503, "audit store unavailable; no outcome was recorded, retry")
        except Exception:  # a fault of ours, not of the input
            return _internal_error(ctx, "recording outcomes")
        service_metrics().outcomes.inc(n)
        return {"recorded": n}

    @http.get("/model")
    def model_info(self, x_api_key: str | None = Header(default=None)) -> JSONResponse:
        """Model metadata (version, training window, metrics, contract version) and the
        scoring policy in force (version, SHA-256, lanes, reasons)."""
        if not _key_matches(self.api_key, x_api_key):
            return JSONResponse(
                {"error": f"missing or wrong API key in header {API_KEY_HEADER!r}"}, 401
            )
        info = {k: self.model.metadata.get(k) for k in MODEL_FIELDS}
        info["policy"] = {**self.policy.to_dict(), "sha256": self.policy.sha256}
        return JSONResponse(json_safe(info))

    @http.get("/")
    def landing_page(self) -> HTMLResponse:
        """The service's own page: what it is, its model version, links to every route."""
        return HTMLResponse(pages.landing_page("parcelrisk", self.model.version))

    @http.get("/docs.json")
    def openapi(self) -> JSONResponse:
        """The OpenAPI description of the service (in place of BentoML's, which links
        images of other sites)."""
        return JSONResponse(self._openapi())

    @http.get("/docs")
    def docs(self) -> HTMLResponse:
        """The API reference as one self-contained page (BentoML's Swagger UI is not
        served: it loads a validator badge from another site)."""
        return HTMLResponse(pages.docs_page(self._openapi()))

    @http.get("/static_content/{path:path}")
    def no_static_content(self, path: str) -> JSONResponse:
        """BentoML's Swagger UI files, not served (see ``docs``)."""
        return JSONResponse({"error": f"/static_content/{path} is not served; see /docs"}, 404)

    def _openapi(self) -> dict[str, Any]:
        spec = ParcelRisk.openapi_spec.asdict()
        return pages.openapi_description(spec, "parcelrisk", self.model.version)
