"""BentoML service: thin HTTP layer over the scoring core (``predict``) and the audit store.

Configuration comes from the environment, read when the service starts:

- ``PARCELRISK_MODEL_URI``: MLflow registry URI such as ``models:/parcelrisk@challenger``
  (the store is ``MLFLOW_TRACKING_URI`` or the embedded one in the working directory);
- ``PARCELRISK_MODEL_DIR``: exported model directory, used when no URI is set;
  with neither, the model a bento carries beside its code, else the registry's
  ``champion`` if a registry exists, else the newest model under ``models/``
  (:func:`parcelrisk.tracking.default_model`, said in the log at start);
- ``PARCELRISK_AUDIT_URL``: SQLAlchemy URL of the audit store (default
  ``sqlite:///audit.db``); a relative SQLite path means the directory ``bentoml serve``
  was started in, for the start-up check and the workers alike
  (:func:`parcelrisk.paths.settings_made_absolute`);
- ``PARCELRISK_POLICY``: the scoring policy file (lanes, reasons; default the policy
  shipped beside the code, a bento's, else ``configs/policy.yaml`` in the working
  directory, else the built-in default policy: :func:`parcelrisk.policy.policy_file`);
- ``PARCELRISK_API_KEY`` (one key, id ``default``) and ``PARCELRISK_API_KEYS`` (``id:key``
  pairs, separated by commas): if either is set, every route but the health probes needs
  one of the keys in the ``X-API-Key`` header; the audit store records the key's id
  (:mod:`parcelrisk.serving.guard`). Set but empty stops start-up;
- ``PARCELRISK_MAX_BATCH``: most parcels per request (default 1000);
- ``PARCELRISK_MAX_BODY_BYTES``: most bytes of a request body (default 4 MiB);
- ``PARCELRISK_MAX_QUEUE``: most /score and /explain requests a worker holds at once
  (being read, waiting or being decided; default 16): more are answered 503 with
  ``Retry-After`` at once, before their body is read (:class:`Guard`);
- ``PARCELRISK_DEADLINE_MS``: a request not decided this long after it arrived is answered
  503 with ``Retry-After``, and nothing of it is logged (default 5000);
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
audit store. Each worker decides one request at a time; the requests waiting are bounded
in number and in time (admission control, docs/operations.md), so an overload is answered
at once with 503 and ``Retry-After`` instead of piling up, and a decision is logged only
if it is answered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio
import bentoml
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

import parcelrisk
from parcelrisk.artifact import load_model
from parcelrisk.audit import AuditStore, UnscoredParcelsError
from parcelrisk.config import ModelConfig
from parcelrisk.contract import (
    ContractError,
    canonical_records,
    json_safe,
)
from parcelrisk.history_store import (
    DeadlineExceeded,
    HistoryFollower,
    decide_and_log,
    within_deadline,
)
from parcelrisk.outcomes import Outcome, outcome_problems
from parcelrisk.paths import AUDIT_URL_ENV, DEFAULT_AUDIT_URL, settings_made_absolute
from parcelrisk.policy import load_policy, policy_file
from parcelrisk.predict import score
from parcelrisk.serving import pages
from parcelrisk.serving.guard import (
    ARRIVED,
    KEY_ID,
    RETRY_AFTER,
    ApiKeys,
    Guard,
    KeySettingError,
    Limits,
    quiet_schema_errors,
    refusal,
    shown_path,
)
from parcelrisk.serving.metrics import service_metrics
from parcelrisk.tracking import default_model

MODEL_FIELDS = ("name", "version", "training_window", "test_window", "contract_version",
                "code_version", "weighting", "promotion_metric", "promotion_score",
                "metrics", "evaluation")  # fmt: skip
#: Most outcomes in one ``/outcomes`` request.
MAX_OUTCOMES = 1000
log = logging.getLogger("parcelrisk.serving")
#: An API's JSON answer. Naming the media type spares BentoML working it out from the
#: answer's JSON schema, which it would otherwise build anew for every response.
JSONAnswer = Annotated[dict[str, Any], ContentType("application/json")]
# plain GET routes (BentoML APIs are POST): mounted next to the service's own routes
http = FastAPI(title="parcelrisk", docs_url=None, redoc_url=None, openapi_url=None)


#: BentoML's request timeout, seconds: a request past it is cut off, answered or not, so
#: the deadline of decisions (PARCELRISK_DEADLINE_MS) must end well before it.
TIMEOUT_S = 60
#: Default of PARCELRISK_MAX_BODY_BYTES: 1,000 parcels of about 1 kB and room to spare.
MAX_BODY_BYTES = 4 * 2**20


def _error(ctx: bentoml.Context, status: int, message: str, **extra: Any) -> dict[str, Any]:
    """A refusal: JSON with an error id, logged as one line (no values of the request)."""
    ctx.response.status_code = status
    answer, error_id = refusal(status, message, **extra)
    log.warning("refused %s %s: %d %s (error id %s)", ctx.request.method,
                shown_path(ctx.request.url.path), status, message[:200], error_id)  # fmt: skip
    _count_refused(ctx.request.url.path, status)
    return answer


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


def _limits() -> Limits:
    """What :class:`Guard` enforces (checked at start-up)."""
    try:
        keys = ApiKeys.from_env()
    except KeySettingError as err:
        raise StartupError(f"parcelrisk cannot start: {err}") from err
    return Limits(keys, _setting("PARCELRISK_MAX_BODY_BYTES", MAX_BODY_BYTES),
                  _setting("PARCELRISK_MAX_QUEUE", 16))  # fmt: skip


def _count_refused(path: str, status: int) -> None:
    service_metrics().refused.labels(path, str(status)).inc()


def _internal_error(ctx: bentoml.Context, what: str) -> dict[str, Any]:
    """A 500 that names an error id to find in the server log, and says nothing was logged."""
    ctx.response.status_code = 500
    answer, error_id = refusal(500, f"internal error while {what}; nothing was logged or decided")
    log.exception("%s failed (error id %s)", what, error_id)
    return answer


@bentoml.asgi_app(http, path="/")
@bentoml.service(
    name="parcelrisk",
    workers=_setting("PARCELRISK_WORKERS", 1),
    traffic={"timeout": TIMEOUT_S},
)
class ParcelRisk:
    """Scores parcel declarations: probability, lane, reasons; logs every decision."""

    def __init__(self) -> None:
        # cheap settings first; a failure is one StartupError that names it
        self.max_batch = _setting("PARCELRISK_MAX_BATCH", 1000)
        self.deadline = _setting("PARCELRISK_DEADLINE_MS", 5000) / 1000
        if self.deadline > TIMEOUT_S / 2:  # decided by the deadline, answered well before
            raise StartupError(f"parcelrisk cannot start: PARCELRISK_DEADLINE_MS must be at "
                               f"most {TIMEOUT_S * 500} (half of BentoML's request timeout), "
                               f"got {self.deadline * 1000:.0f}")  # fmt: skip
        self.keys = _limits().keys
        with _starting():
            self.policy = load_policy()
            model_dir, which = default_model()
            self.model = load_model(model_dir)
        # where the code comes from: a bento serves its own copy, not an installed one
        log.warning("serving model %s: %s; code %s", self.model.version, which,
                    os.path.dirname(parcelrisk.__file__))  # fmt: skip
        log.warning("scoring policy %s (SHA-256 %s): %s", self.policy.version,
                    self.policy.sha256[:12], policy_file() or "the built-in default")  # fmt: skip
        if self.keys:  # ids and fingerprints only: never a key
            log.warning("API keys (id: SHA-256 prefix): %s", ", ".join(
                f"{i}: {f}" for i, f in self.keys.fingerprints().items()))  # fmt: skip
        else:
            log.warning("no API key is set: every route is open to anyone who can connect")
        # last: a start that fails before leaves no store behind
        with _starting("PARCELRISK_AUDIT_URL"):
            self.audit = AuditStore(os.environ.get(AUDIT_URL_ENV, DEFAULT_AUDIT_URL))
            # the live history: every declaration and outcome logged so far, read once
            self.history = HistoryFollower(self.audit, self.model)
            self.history.rebuild()
        self._limiter: anyio.CapacityLimiter | None = None
        self._background: set[asyncio.Task] = set()

    @bentoml.on_deployment
    def check_start_up() -> None:
        """Start the service once in BentoML's main process, before any worker, and let it
        go: a setting that cannot work stops ``bentoml serve`` here with one message (a
        worker that fails to start is restarted again and again). Its file settings are
        made absolute here, for the workers too (:func:`settings_made_absolute`)."""
        with settings_made_absolute():
            instance = ParcelRisk.inner()
        instance.audit.engine.dispose()

    def __is_ready__(self) -> bool:
        """Readiness (``/readyz``): the audit store can take a decision now (its write
        lock is had within a second). A worker whose store is locked or gone is not
        ready: nothing it decided could be released."""
        ready = self.audit.writable(timeout=1.0)
        if not ready:
            log.warning("not ready: the audit store cannot be written now")
        return ready

    @bentoml.on_startup
    def _follow_the_server(self) -> None:
        """In each worker: stop when the ``bentoml serve`` process that started it is gone
        (BentoML runs workers in their own process group, so stopping the server's group
        would leave them serving), checked every half second."""
        parent = os.getppid()

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            log.warning("the bentoml serve process %d is gone: this worker stops", parent)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="follow-the-server", daemon=True).start()

    def _key_id(self, ctx: bentoml.Context) -> str | None:
        """The id of the request's API key, as :class:`Guard` matched it (None: no key is
        set)."""
        return ctx.request.scope.get("state", {}).get(KEY_ID)

    def _past_deadline(self, ctx: bentoml.Context, why: str) -> dict[str, Any]:
        ctx.response.headers["Retry-After"] = str(RETRY_AFTER)
        return _error(ctx, 503, f"overloaded: {why}; nothing was logged, retry after "
                      f"{RETRY_AFTER} s")  # fmt: skip

    @bentoml.api(route="/score")
    async def score(
        self, parcels: list[dict[str, Any]], ctx: bentoml.Context, explain_all: bool = False
    ) -> JSONAnswer:
        """Probability, lane and model version per parcel; reasons for inspect/review lanes.

        Each parcel is scored against the live history: the training state, every
        declaration and outcome logged before the request (by any worker) and the earlier
        parcels of the request. The records are read on a thread of their own, then decided
        and logged on a worker thread, one request at a time per worker, so that neither
        holds up health checks and other requests.
        """
        if not parcels:
            return _error(ctx, 400, "no parcels given: send 1 or more in 'parcels'")
        if len(parcels) > self.max_batch:
            return _error(
                ctx, 413, f"{len(parcels)} parcels in one request; at most {self.max_batch}"
            )
        started = time.perf_counter()
        try:
            declarations = await self._read(parcels)
            # every decision is written before the answer leaves: nothing answered is unlogged;
            # and one not decided by the deadline is not logged: nothing logged is unanswered
            request_id, results = await self._in_thread(
                functools.partial(decide_and_log, explain_all=explain_all,
                                  key_id=self._key_id(ctx), deadline=self._deadline(ctx),
                                  declarations=declarations),
                self.history, parcels, self.policy,
            )  # fmt: skip
        except DeadlineExceeded as err:
            return self._past_deadline(ctx, str(err))
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

    def _deadline(self, ctx: bentoml.Context) -> float:
        """The monotonic time by which the request must be decided: its deadline from when
        it arrived (:class:`Guard` notes it), else from now."""
        arrived = ctx.request.scope.get("state", {}).get(ARRIVED, time.monotonic())
        return arrived + self.deadline

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

    async def _read(self, parcels: list[dict[str, Any]]):
        """The request's declarations (:func:`canonical_records`), read on a thread outside
        the decision slot of :meth:`_in_thread`: a request whose records are refused never
        holds up the decisions of others (the contract checks at most one such request at
        a time per worker; plain valid records pass beside it)."""
        return await anyio.to_thread.run_sync(canonical_records, parcels, self.model.mapping)

    async def _in_thread(self, function, *args):
        """``function(*args)`` on a worker thread, one at a time per worker process (as
        BentoML runs synchronous APIs): off the event loop, without oversubscribing the
        cores with concurrent batches."""
        if self._limiter is None:  # made on the event loop, at the first use
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)

    @bentoml.api(route="/explain")
    async def explain(self, parcels: list[dict[str, Any]], ctx: bentoml.Context) -> JSONAnswer:
        """Full TreeSHAP contributions (margin space) by input group and by feature,
        against the live history as /score would score the parcels; nothing is logged."""
        if not parcels or len(parcels) > self.max_batch:
            return _error(ctx, 413 if parcels else 400,
                          f"send 1 to {self.max_batch} parcels in 'parcels'")  # fmt: skip
        try:
            declarations = await self._read(parcels)
            scored = await self._in_thread(self._explained, declarations, self._deadline(ctx))
        except DeadlineExceeded as err:
            return self._past_deadline(ctx, str(err))
        except ContractError as err:
            return _error(ctx, 422, "invalid parcels; nothing was explained",
                          problems=err.to_dicts())  # fmt: skip
        except SQLAlchemyError:
            log.exception("audit store read failed")
            return _error(ctx, 503, "audit store unavailable; nothing was explained, retry")
        except Exception:  # a fault of ours, not of the input
            return _internal_error(ctx, "explaining")
        e = scored.explanation
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

    def _explained(self, declarations, deadline: float):
        within_deadline(deadline)
        with self.history.lock:  # against the live history, as /score would score them
            self.history.catch_up()
            return score(self.model.pipeline, declarations, self.policy, explain="all",
                         live=self.history.live)  # fmt: skip

    @bentoml.api(route="/outcomes")
    def outcomes(
        self, outcomes: Annotated[list[Outcome], Field(max_length=MAX_OUTCOMES)],
        ctx: bentoml.Context,
    ) -> JSONAnswer:  # fmt: skip
        """Record inspection results of scored parcels, all or none, as
        :class:`parcelrisk.outcomes.Outcome` admits them; training and the live history
        read them back. A parcel id with no logged decision is answered 404; an outcome
        equal to its parcel's latest is not recorded again, one that differs is recorded
        as a correction (the next version of that parcel's outcome)."""
        # a model exported without it was weighted as training does by default
        weighting = str(self.model.metadata.get("weighting", ModelConfig.weighting))
        if problems := outcome_problems(outcomes, weighting):
            return _error(ctx, 422, "outcomes the model cannot learn from; none was recorded",
                          problems=problems)  # fmt: skip
        try:
            done = self.audit.append_outcomes(outcomes, recorded_by=self._key_id(ctx))
        except UnscoredParcelsError as err:
            return _error(ctx, 404, str(err), unknown_parcel_ids=err.parcel_ids)
        except SQLAlchemyError:
            log.exception("audit store write failed for %d outcomes", len(outcomes))
            service_metrics().audit_write_failures.labels("/outcomes").inc()
            return _error(ctx, 503, "audit store unavailable; no outcome was recorded, retry")
        except Exception:  # a fault of ours, not of the input
            return _internal_error(ctx, "recording outcomes")
        service_metrics().outcomes.inc(done.recorded)
        return {"recorded": done.recorded, "new": done.new, "corrections": done.corrections,
                "duplicates": done.duplicates}  # fmt: skip

    @http.get("/model")
    def model_info(self) -> JSONResponse:
        """Model metadata (version, training window, metrics, contract version) and the
        scoring policy in force (version, SHA-256, lanes, reasons)."""
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
    def no_static_content(self, path: str) -> Response:
        """BentoML's Swagger UI files, not served (see ``docs``): a 404 the guard answers
        as every unknown route."""
        return Response(status_code=404)

    def _openapi(self) -> dict[str, Any]:
        spec = ParcelRisk.openapi_spec.asdict()
        return pages.openapi_description(spec, "parcelrisk", self.model.version)


# every route behind the key, the body limit and one form of refusal (health probes open)
ParcelRisk.add_asgi_middleware(Guard, limits=_limits, on_refused=_count_refused)
quiet_schema_errors()
