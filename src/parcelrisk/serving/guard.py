"""What every request passes before the service reads it: the API key, admission, the
body's size and media type; and what every refusal looks like.

:class:`Guard` is an ASGI middleware in front of every route of the service (BentoML's
``/metrics`` included; only the health probes are open). It checks the key from the
headers before a byte of the body is read; admits at most so many scoring requests per
worker at once (more are answered 503 with ``Retry-After`` before their body is read:
refusing costs next to nothing, so an overload cannot stall the worker); refuses a body
over the size limit while it arrives (a ``Content-Length`` over it at once); and turns
every refusal into one JSON body with an ``error`` and an ``error_id``, logged as one
warning line (no body values: they may be personal data). BentoML's own answers to
bodies that do not fit a route's schema (400) get the same form, and its traceback for
them is not logged.

:class:`ApiKeys` holds the keys a service takes, each with an id: the id, never the key,
is what the audit store records. Several keys may be valid at once, which is how a key
is rotated (add the new one, move the clients, remove the old one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("parcelrisk.serving")

API_KEY_HEADER = "x-api-key"
#: Routes open without a key: the health probes an orchestrator calls.
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
#: The service's APIs: POST with a JSON body.
API_PATHS = frozenset({"/score", "/explain", "/outcomes"})
#: Every route (metrics label refusals by these; any other path is "other").
ROUTES = API_PATHS | OPEN_PATHS | {"/", "/docs", "/docs.json", "/schema.json", "/model",
                                   "/metrics"}  # fmt: skip
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class KeySettingError(ValueError):
    """API key settings that cannot work: which setting and why (never the key)."""


@dataclass(frozen=True)
class ApiKeys:
    """The API keys a service takes, by id (empty: no key is asked for)."""

    by_id: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiKeys:
        """Keys from ``PARCELRISK_API_KEYS`` (``id:key`` pairs separated by commas, ids of
        letters, digits, ``_.-``) and ``PARCELRISK_API_KEY`` (one key, id ``default``).

        Raises
        ------
        KeySettingError
            For a setting that is present but empty or blank, a malformed pair, an id
            given twice or a key given twice.
        """
        env = os.environ if env is None else env
        pairs: list[tuple[str, str]] = []
        if "PARCELRISK_API_KEY" in env:
            pairs.append(("default", _key("PARCELRISK_API_KEY", env["PARCELRISK_API_KEY"])))
        if "PARCELRISK_API_KEYS" in env:
            raw = env["PARCELRISK_API_KEYS"]
            if not raw.strip():
                raise KeySettingError(_EMPTY.format("PARCELRISK_API_KEYS"))
            for n, item in enumerate(raw.split(","), 1):
                key_id, sep, key = item.strip().partition(":")
                if not sep or not _KEY_ID.fullmatch(key_id):
                    raise KeySettingError(
                        f"PARCELRISK_API_KEYS: entry {n} is not id:key with an id of 1 to 64 "
                        "letters, digits, '_', '.' or '-'"
                    )
                pairs.append((key_id, _key(f"PARCELRISK_API_KEYS entry {n}", key)))
        ids = [i for i, _ in pairs]
        if len(set(ids)) < len(ids):
            raise KeySettingError(f"API key ids must differ; given: {', '.join(ids)}")
        if len({k for _, k in pairs}) < len(pairs):
            raise KeySettingError("the same API key is given twice: each id needs its own key")
        return cls(dict(pairs))

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def id_of(self, given: str | None) -> str | None:
        """The id of the key ``given``, or None if it is none of them. Every key is
        compared, in constant time each, whatever matches."""
        if given is None:
            return None
        found = None
        for key_id, key in self.by_id.items():
            if hmac.compare_digest(given.encode(), key.encode()):
                found = key_id
        return found

    def fingerprints(self) -> dict[str, str]:
        """Each id with the first 12 hex digits of its key's SHA-256: what start-up logs,
        so an operator can tell which key an id stands for without the key."""
        return {i: hashlib.sha256(k.encode()).hexdigest()[:12] for i, k in self.by_id.items()}


_EMPTY = "{} is set but empty: unset it to serve without keys, or give a key"


def _key(setting: str, key: str) -> str:
    if not key.strip():
        raise KeySettingError(_EMPTY.format(setting))
    if key != key.strip() or "," in key:
        raise KeySettingError(f"{setting}: a key may not have spaces around it or hold ','")
    return key


def refusal(status: int, message: str, **extra: Any) -> tuple[dict[str, Any], str]:
    """The JSON body of a refusal and its error id (to find the log line)."""
    error_id = uuid.uuid4().hex
    return {"error": message, "error_id": error_id, **extra}, error_id


async def _answer(send: Send, status: int, body: dict[str, Any], **headers: str) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


_FAULT = "internal error; nothing was logged or decided"


class TooLarge(Exception):
    """The body grew past the limit while it was read."""


@dataclass(frozen=True)
class Limits:
    """What :class:`Guard` enforces: the keys, the most bytes of a body, and the most
    requests to the scoring APIs one worker holds at once (being read, waiting or being
    decided)."""

    keys: ApiKeys
    max_body_bytes: int
    max_in_flight: int


#: The APIs whose requests are admitted by :attr:`Limits.max_in_flight`: they take the
#: worker's one decision thread.
QUEUED_PATHS = frozenset({"/score", "/explain"})
#: Where the time a request arrived is kept in its ASGI scope (``request.state``): its
#: deadline runs from then.
ARRIVED = "parcelrisk_arrived"
#: Where the id of the request's API key is kept in its ASGI scope (None: no key is set).
KEY_ID = "parcelrisk_key_id"
#: Seconds a client is asked to wait before it sends again a request refused for overload.
RETRY_AFTER = 1


class Guard:
    """ASGI middleware: key, admission, body size and media type checked before the body
    is read; refusals as JSON with an error id, logged in one line (module docstring)."""

    def __init__(self, app: Callable, *, limits: Callable[[], Limits],
                 on_refused: Callable[[str, int], None] | None = None) -> None:  # fmt: skip
        """``limits()``: read in the worker that builds the app (start-up has checked
        them); ``on_refused(path, status)`` is told of each refusal (a metric)."""
        self.app = app
        self.limits = limits()
        self.keys, self.max_body_bytes = self.limits.keys, self.limits.max_body_bytes
        self.on_refused = on_refused
        self.in_flight = 0  # requests to QUEUED_PATHS held now (one event loop: no lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        path, headers = scope["path"], _headers(scope)
        key_id = self.keys.id_of(headers.get(API_KEY_HEADER)) if self.keys else None
        if self.keys and key_id is None:
            message = f"missing or wrong API key in header {API_KEY_HEADER!r}"
            return await self._refuse(scope, send, 401, message)
        scope.setdefault("state", {})[KEY_ID] = key_id
        if path not in QUEUED_PATHS:
            return await self._checked(scope, receive, send, headers)
        if self.in_flight >= self.limits.max_in_flight:  # before a byte of the body is read
            message = (f"overloaded: {self.in_flight} requests held by this worker "
                       f"(PARCELRISK_MAX_QUEUE); nothing was logged, retry after "
                       f"{RETRY_AFTER} s")  # fmt: skip
            return await self._refuse(scope, send, 503, message, retry_after=str(RETRY_AFTER))
        scope.setdefault("state", {})[ARRIVED] = time.monotonic()
        self.in_flight += 1
        try:
            await self._checked(scope, receive, send, headers)
        finally:
            self.in_flight -= 1

    async def _checked(self, scope: Scope, receive: Receive, send: Send, headers) -> None:
        """The route, after its body's media type and declared size are checked."""
        path = scope["path"]
        if scope["method"] in ("POST", "PUT", "PATCH"):
            if path in API_PATHS:
                media = headers.get("content-type", "application/json").split(";")[0].strip()
                if media.lower() != "application/json":
                    return await self._refuse(
                        scope, send, 415, f"{path} takes a JSON body (Content-Type: "
                        f"application/json), not {media[:60]!r}",
                    )  # fmt: skip
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                return await self._refuse(scope, send, 413, self._too_large())
        await self._run(scope, receive, send)

    def _too_large(self) -> str:
        return (f"request body over {self.max_body_bytes:,} bytes "
                "(PARCELRISK_MAX_BODY_BYTES); send fewer parcels per request")  # fmt: skip

    def _bounded(self, receive: Receive, over: list[bool]) -> Receive:
        """``receive`` that stops the body past the limit (and notes it in ``over``): the
        route then fails to read it, and :meth:`_run` answers 413 in its place."""
        read = 0

        async def bounded() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body_bytes:
                    over[0] = True
                    raise TooLarge(self._too_large())
            return message

        return bounded

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The route, with its schema refusals (400) rewritten as ours, a body that grew
        past the limit answered 413, and any failure before an answer began answered with
        an error id."""
        over = [False]
        if scope["method"] in ("POST", "PUT", "PATCH"):
            receive = self._bounded(receive, over)
        started = False
        held: Message | None = None  # the start of a 400 from an API, until its body
        body = b""

        async def watching(message: Message) -> None:
            nonlocal started, held, body
            if message["type"] == "http.response.start":
                started = True
                if over[0]:  # whatever the route made of a body cut short
                    held = {"status": 413}
                    return
                status = message["status"]
                if status in (404, 405) or (status in (400, 500) and scope["path"] in API_PATHS):
                    held = message  # the framework's own, unless it has an error id
                    return
            elif held is not None and message["type"] == "http.response.body":
                body += message.get("body", b"")
                if message.get("more_body"):
                    return
                start, held = held, None
                if start["status"] == 413:
                    return await self._refuse(scope, send, 413, self._too_large())
                if _has_error_id(body):  # the service's own refusal: as it is
                    await send(start)
                    return await send({"type": "http.response.body", "body": body})
                if start["status"] == 500:  # BentoML logged the traceback just before
                    answer, error_id = refusal(500, _FAULT)
                    log.error("%s %s failed: see the traceback above (error id %s)",
                              scope["method"], shown_path(scope["path"]), error_id)  # fmt: skip
                    return await _answer(send, 500, answer)
                if start["status"] == 404:
                    return await self._refuse(scope, send, 404, "no such route; see /docs")
                if start["status"] == 405:
                    message = f"{scope['method'][:10]} is not a method of this route; see /docs"
                    return await self._refuse(scope, send, 405, message)
                answer, error_id = _schema_refusal(body)
                self._log(scope, 400, error_id, answer["error"])
                return await _answer(send, 400, answer)
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except TooLarge:
            if not started:
                await self._refuse(scope, send, 413, self._too_large())
        except Exception:
            if started:
                raise
            answer, error_id = refusal(500, _FAULT)
            log.exception("%s %s failed (error id %s)", scope["method"][:10],
                          shown_path(scope["path"]), error_id)  # fmt: skip
            await _answer(send, 500, answer)

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str,
                      **headers: str) -> None:  # fmt: skip
        answer, error_id = refusal(status, message)
        self._log(scope, status, error_id, message)
        await _answer(send, status, answer, **headers)

    def _log(self, scope: Scope, status: int, error_id: str, message: str) -> None:
        log.warning("refused %s %s: %d %s (error id %s)", scope["method"][:10],
                    shown_path(scope["path"]), status, message[:200], error_id)  # fmt: skip
        if self.on_refused is not None:  # a route of the service, else "other": labels bounded
            self.on_refused(scope["path"] if scope["path"] in ROUTES else "other", status)


class QuietSchemaErrors(logging.Filter):
    """Drops BentoML's error log (with traceback) of a body that does not fit a route's
    schema or grew past the limit: :class:`Guard` logs that refusal in one line with its
    error id."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        kind = record.exc_info[0] if record.exc_info else None
        return not (kind is not None and issubclass(kind, ValidationError | TooLarge))


class EscapedAccessLog(logging.Filter):
    """Escapes control characters and non-ASCII in the text of BentoML's access log lines
    (which name the request's path as sent), as :func:`shown_path` does in the service's
    own: a path with a line break must not forge a log line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_escaped(a) if isinstance(a, str) else a for a in record.args)
        return True


def quiet_schema_errors() -> None:
    """Install :class:`QuietSchemaErrors` on the logger BentoML reports them to, and
    :class:`EscapedAccessLog` on its access log (once)."""
    for name, kind in (("bentoml._internal.server.http_app", QuietSchemaErrors),
                       ("bentoml.access", EscapedAccessLog)):  # fmt: skip
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


def _has_error_id(body: bytes) -> bool:
    """Whether an answer is a refusal of the service's own: a JSON object with an
    ``error_id`` (not merely a body that names one, as a schema error about a key of that
    name would)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and "error_id" in answer


def shown_path(path: str) -> str:
    """A request path as it may be logged: its first 80 characters, control characters
    and non-ASCII escaped (a path with a line break must not start a log line of its own)."""
    return _escaped(path[:80])


def _escaped(text: str) -> str:
    """``text`` with control characters, non-ASCII, quotes and backslashes escaped as in
    JSON."""
    return json.dumps(text)[1:-1]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _schema_refusal(body: bytes) -> tuple[dict[str, Any], str]:
    """BentoML's answer to a body that does not fit the route's schema, as a refusal:
    where and what, never the values sent."""
    try:
        given = json.loads(body)
        details = given.get("detail") or []
    except (ValueError, AttributeError):
        details = []
    problems = [
        {"field": ".".join(str(part) for part in d.get("loc", ())), "reason": d.get("msg", "")}
        for d in details if isinstance(d, dict)
    ][:50]  # fmt: skip
    message = "the body does not fit the request schema; nothing was done"
    return refusal(400, message, problems=problems)
