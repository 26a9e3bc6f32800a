"""Fuzzing the served service: schemathesis on every route of ``/docs.json``,
valid parcels and outcomes mutated field by field on ``/score``, ``/explain`` and
``/outcomes``, the request edge BentoML parses before the service (multipart, media types,
broken JSON, methods), and hypothesis on the contract edge without a server.

What must hold: no answer is a 5xx; every refusal (4xx) is a JSON object with an
``error`` and an ``error_id``; a refused request is logged as one WARNING line naming its
error id, never as an ERROR or a traceback; the service is ready and scores a valid
parcel afterwards, in the worker it started with. Each test names every failure class it
found (route, status, request, answer, server log) and prints how many cases it ran.

The served tests run on each audit store: a SQLite file, then a fresh database on a
throwaway PostgreSQL server (marker ``postgres_service``; ``make test`` deselects it and
fuzzes SQLite only, for its time). Each store has a server of its own, started on an
empty store, and counts of its own, printed with its name.

``PARCELRISK_FUZZ_CASES`` (default 200, about a minute per store with the server's start):
the requests to send in all, split evenly among the stores the run selects and, within a
store, shared among the tests (schemathesis about half, mutated parcels and outcomes the
rest); ``make fuzz`` sends 10,000, 5,000 per store (7 minutes on 2 busy cores: some 30
requests a second on either store). A store's server log is ``serve.log`` in the pytest
temporary directory ``fuzz-<store>*``, beside ``fuzz-summary.txt``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from live_service import bentoml_serve
from parcelrisk.artifact import save_model
from parcelrisk.contract import ContractError, canonical_records, to_records
from parcelrisk.serving.guard import OPEN_PATHS
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.tracking import example_input
from parcelrisk.train import fit_model

pytestmark = pytest.mark.slow

API_KEY = "fuzz-key"
MAX_BATCH = 50
CASES = int(os.environ.get("PARCELRISK_FUZZ_CASES", "200"))  # in all, over the stores
#: the audit stores fuzzed: each has a server of its own (SQLite only in `make test`)
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres_service)]
#: The share of the cases each part sends: schemathesis's generated requests (split among
#: the operations that take input), then parcels and outcomes mutated from valid ones.
SHARES = {"schemathesis": 0.5, "/score": 0.25, "/explain": 0.1, "/outcomes": 0.15}
SCHEMATHESIS_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                       response_schema_conformance, negative_data_rejection]  # fmt: skip
_HYPOTHESIS = {"deadline": None, "database": None, "derandomize": False,
               "suppress_health_check": list(HealthCheck),
               "phases": (Phase.explicit, Phase.generate)}  # fmt: skip


@dataclass
class Finding:
    """One class of failure: how often, its first case and the errors it said."""

    count: int
    request: str
    answer: str
    log: str
    errors: Counter = field(default_factory=Counter)


@dataclass(repr=False)
class Tally:
    """Every request sent to one store's server, by part, route and status, and the
    failure classes found."""

    log_path: Path
    store: str
    cases: Counter = field(default_factory=Counter)  # (part, route) -> requests
    statuses: Counter = field(default_factory=Counter)  # (part, route, status) -> requests
    findings: dict[tuple, Finding] = field(default_factory=dict)  # (part, route, status, ...)
    error_ids: dict[str, tuple] = field(default_factory=dict)  # of a 4xx: (route, status)
    seconds: Counter = field(default_factory=Counter)  # part -> seconds sending

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def record(
        self,
        part: str,
        route: str,
        status: int,
        content: bytes,
        request: Callable[[], str],
        log_from: int,
        extra: list[str] = (),
    ) -> None:
        """Count one answer and file each way it breaks the rules (``extra``: more ways,
        e.g. schemathesis's checks); ``request()`` describes the request, ``log_from`` is
        where the server log stood before it."""
        self.cases[part, route] += 1
        self.statuses[part, route, status] += 1
        error_id, problems = answer_problems(status, content)
        if error_id and 400 <= status < 500:
            self.error_ids[error_id] = (route, status)
        for problem, error in [*problems, *((e, "") for e in extra)]:
            key = (part, route, status, problem)
            if key in self.findings:
                self.findings[key].count += 1
                self.findings[key].errors[error] += 1
                continue
            time.sleep(0.2)  # BentoML logs the request after answering it
            with self.log_path.open("rb") as log:
                log.seek(log_from)
                excerpt = log.read(6000).decode("utf-8", "replace")
            self.findings[key] = Finding(1, request()[:1500], content[:600].decode("utf-8",
                                         "replace"), excerpt, Counter([error]))  # fmt: skip

    def total(self, part: str | None = None) -> int:
        return sum(n for (p, _), n in self.cases.items() if part in (None, p))

    def report(self, part: str | None = None) -> str:
        """The counts and the failure classes (of one part, else all)."""
        found = {k: f for k, f in self.findings.items() if part in (None, k[0])}
        by_route = Counter()
        for (p, route), n in self.cases.items():
            if part in (None, p):
                by_route[route] += n
        statuses = Counter()
        for (p, route, status), n in self.statuses.items():
            if part in (None, p):
                statuses[route, status] += n
        five = sum(n for (_, status), n in statuses.items() if status >= 500)
        seconds = sum(t for p, t in self.seconds.items() if part in (None, p))
        lines = [f"fuzz [{self.store}] {part or 'all parts'}: {self.total(part)} cases in "
                 f"{seconds:.0f} s, "
                 f"{five} answered 5xx, {len(found)} failure classes; by route: "
                 f"{dict(by_route)}",
                 f"  statuses: {dict(sorted(statuses.items()))}"]  # fmt: skip
        for (p, route, status, problem), f in sorted(found.items(), key=lambda kv: kv[0][:3]):
            said = "; ".join(f"{e!r} {n}x" for e, n in f.errors.most_common(5) if e)
            lines += [f"--- [{p}] {route} {status}: {problem} ({f.count}x)",
                      *([f"  errors: {said}"] if said else []),
                      f"  request: {f.request}", f"  answer: {f.answer}",
                      "  server log:\n    " + "\n    ".join(f.log.splitlines()[:40])]  # fmt: skip
        return "\n".join(lines)


def answer_problems(status: int, content: bytes) -> tuple[str | None, list[tuple[str, str]]]:
    """The answer's error id, and how it breaks the rules, each with the error it said:
    no 5xx; a 4xx is a JSON object with an ``error`` and an ``error_id``."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    said = body.get("error") if isinstance(body, dict) else None
    error_id = body.get("error_id") if isinstance(body, dict) else None
    error_id = error_id if isinstance(error_id, str) and error_id else None
    error = _shape(str(said) if said is not None else content[:80].decode("utf-8", "replace"))
    if status >= 500:
        return error_id, [("5xx", error)]
    if status < 400:
        return error_id, []
    if body is None:
        return None, [("4xx not JSON", error)]
    if not isinstance(said, str):
        return error_id, [("4xx JSON without an 'error' message", error)]
    if error_id is None:
        return None, [("4xx without an error id", error)]
    return error_id, []


def _shape(message: str) -> str:
    return re.sub(r"\d+", "N", message)[:70]


@dataclass
class Fuzzed:
    base: str
    store: str  # "sqlite" or "postgresql"
    cases: int  # the requests to send to this store's server (PARCELRISK_FUZZ_CASES split)
    parcels: list[dict[str, Any]]  # valid, and scored once: outcomes may name them
    root: Path
    tally: Tally
    #: what the mutated requests are sent with: a new connection each, as ``httpx.post``
    #: opens, without building a client (its TLS context: some 25 ms) for each
    client: httpx.Client

    def __repr__(self) -> str:
        return f"Fuzzed({self.store}, {self.base}, {self.root})"


@pytest.fixture(scope="module")
def fuzz_model(tmp_path_factory) -> SimpleNamespace:
    """The model every store's server serves (trained once), and valid parcels."""
    root = tmp_path_factory.mktemp("fuzz-model")
    split = split_by_time(generate(rows=20_000, days=20, seed=5), 5)
    model_dir = save_model(
        fit_model(split.train).pipeline,
        root / "model",
        {"version": "fuzz-1", "training_window": {"start": "x", "end": str(split.cutoff)}},
    )  # fmt: skip
    parcels = json.loads(example_input(split.test, 20).to_json(orient="records"))
    return SimpleNamespace(model_dir=model_dir, parcels=parcels)


def _stores_selected(session: pytest.Session) -> int:
    """How many audit stores the run fuzzes: the stores of its selected served tests."""
    stores = set()
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "fuzzed" in params:
            stores.add(params["fuzzed"])
    return max(1, len(stores))


@pytest.fixture(scope="module", params=STORES)
def fuzzed(tmp_path_factory, request, fuzz_model, empty_store):
    """`bentoml serve` on an empty audit store (a SQLite file, or a fresh database on the
    throwaway PostgreSQL server), which has scored the valid parcels once."""
    store = request.param
    root = tmp_path_factory.mktemp(f"fuzz-{store}")
    url = empty_store(store, root)
    env = {
        "PARCELRISK_MODEL_DIR": str(fuzz_model.model_dir),
        "PARCELRISK_AUDIT_URL": url,
        "PARCELRISK_API_KEY": API_KEY,
        "PARCELRISK_MAX_BATCH": str(MAX_BATCH),
        "PARCELRISK_WORKERS": "1",
    }
    cases = math.ceil(CASES / _stores_selected(request.session))
    with bentoml_serve(root, env) as base:
        parcels = fuzz_model.parcels
        r = httpx.post(f"{base}/score", json={"parcels": parcels},
                       headers={"X-API-Key": API_KEY}, timeout=60)  # fmt: skip
        assert r.status_code == 200, r.text
        tally = Tally(root / "serve.log", store)
        started = time.monotonic()
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=60, limits=no_keepalive) as client:
            yield Fuzzed(base, store, cases, parcels, root, tally, client)
        summary = tally.report() + f"\n{time.monotonic() - started:.0f} s of fuzzing"
        (root / "fuzz-summary.txt").write_text(summary)
        plugins = request.config.pluginmanager
        reporter, capture = (
            plugins.get_plugin("terminalreporter"),
            plugins.get_plugin("capturemanager"),
        )
        if reporter is not None and capture is not None:  # not in an xdist worker
            with capture.global_and_fixture_disabled():
                reporter.write_line("\n" + summary.split("\n--- ")[0])
                reporter.write_line(f"(every failure class: {root / 'fuzz-summary.txt'})")


def _budget(fuzzed: Fuzzed, part: str, parts: int = 1) -> int:
    """The cases of ``part`` on ``fuzzed``'s store, shared among ``parts`` operations (at
    least 1)."""
    return max(1, math.ceil(fuzzed.cases * SHARES[part] / parts))


# ---------------------------------------------------------------- the contract edge


_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    _LEAVES, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                  max_size=4), max_leaves=12
)  # fmt: skip
ODD_TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "\ufeff", "\u202eevil", "\r\n", "😀😀😀",
            "NaN", "nan", "Infinity", "-Infinity", "inf", "1e309", "-0", "0x1F", " 12 ", "１２",
            "null", "None", "true", "[]", "{}", "<script>", "'; DROP TABLE decisions; --",
            "2025-02-30T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00",
            "2025-03-01", "2025-03-01T00:00:00", "2025-03-01T00:00:00+25:00",
            "1741000000"]  # fmt: skip
ODD_NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64, 10**30, -(10**30), 1e308, -1e308, 5e-324, -0.0,
               0.1, math.nan, math.inf, -math.inf, 1741000000]  # fmt: skip
HUGE_TEXT = st.builds(operator.mul, st.sampled_from(["x", "é", "😀", "\x00", "9", " "]),
                      st.integers(1_000, 100_000))  # fmt: skip
ODD_VALUES = st.one_of(st.sampled_from(ODD_TEXT), st.sampled_from(ODD_NUMBERS),
                       st.text(max_size=40), JSON_VALUES, HUGE_TEXT)  # fmt: skip
ODD_KEYS = ["extra", "", "x" * 300, "parcel_id\x00", "Parcel_ID", " parcel_id", "__proto__"]


@st.composite
def mutated(draw, valid: list[dict[str, Any]], keys_too: bool = True) -> dict[str, Any]:
    """One of ``valid`` with 1 to 3 fields given odd values or left out (and now and then an
    odd key added)."""
    record = dict(draw(st.sampled_from(valid)))
    names = list(record) + (ODD_KEYS if keys_too and draw(st.integers(0, 4)) == 0 else [])
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names))
        if draw(st.integers(0, 9)) == 0:
            record.pop(name, None)
        else:
            record[name] = draw(ODD_VALUES)
    return record


@pytest.fixture(scope="module")
def valid_records() -> list[dict[str, Any]]:
    return to_records(generate(rows=500, days=3, seed=7).head(20))


def test_the_contract_edge_refuses_any_json_records_with_a_contract_error(valid_records):
    """Whatever JSON-like records come in, the edge returns declarations or raises
    ContractError naming the problems: never another exception."""
    counted = Counter()

    @given(records=st.lists(mutated(valid_records) | st.sampled_from(valid_records)
                            | st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6)
                            | JSON_VALUES, min_size=1, max_size=4))  # fmt: skip
    @settings(max_examples=max(50, CASES // 20), **_HYPOTHESIS)
    def check(records):
        try:
            canonical_records(records)
            counted["valid"] += 1
        except ContractError as err:
            assert err.to_dicts(), "a ContractError names its problems"
            counted["refused"] += 1

    check()
    print(f"contract edge: {counted.total()} cases, {dict(counted)}")


# ---------------------------------------------------------------- schemathesis


def test_schemathesis_every_route_of_the_openapi_description(fuzzed):
    """Every operation of ``/docs.json``, with requests schemathesis generates from it
    (valid for the description, and, where there is a body, invalid ones), the API key
    sent on all but every tenth. Checked against the rules and schemathesis's own checks
    (no server error, documented status, media type and body, invalid data refused)."""
    base, tally = fuzzed.base, fuzzed.tally
    key = {"X-API-Key": API_KEY}
    schema = schemathesis.openapi.from_url(f"{base}/docs.json", headers=key, timeout=30)
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    described = httpx.get(f"{base}/docs.json", headers=key, timeout=10).json()["paths"]
    assert {op.path for op in operations} == set(described)
    runs = [(op, mode) for op in operations for mode in GenerationMode
            if mode is GenerationMode.POSITIVE or "requestBody" in
            described[op.path][op.method.lower()]]  # fmt: skip
    with_input = [(op, m) for op, m in runs if _takes_input(described, op)]
    session, started = requests.Session(), time.monotonic()
    for op, mode in runs:  # the rest: no input but the key, or none at all
        n = _budget(fuzzed, "schemathesis", len(with_input)) if (op, mode) in with_input else 20
        _schemathesis_run(op, mode, n, base, session, tally)
    tally.seconds["schemathesis"] += time.monotonic() - started
    print(tally.report("schemathesis"))
    assert not [k for k in tally.findings if k[0] == "schemathesis"], tally.report("schemathesis")


def _schemathesis_run(op, mode, n: int, base: str, session: requests.Session,
                      tally: Tally) -> None:  # fmt: skip
    """``n`` requests of schemathesis for ``op`` in ``mode``, recorded in ``tally``."""
    keyed = op.path not in OPEN_PATHS
    sent = Counter()

    @given(case=op.as_strategy(mode))
    @settings(max_examples=n, **_HYPOTHESIS)
    def send(case):
        if keyed and sent["n"] % 10:
            case.headers = {**(case.headers or {}), "X-API-Key": API_KEY}
        sent["n"] += 1
        log_from = tally.log_size()
        response = case.call(base_url=base, session=session, timeout=60)
        failed = []
        try:
            case.validate_response(response, checks=SCHEMATHESIS_CHECKS)
        except FailureGroup as group:  # a server error is filed by the rules already
            failed = [f"schemathesis: {f.title}" for f in group.exceptions
                      if not f.title.startswith("Server error")]  # fmt: skip
        tally.record("schemathesis", f"{op.method.upper()} {op.path}", response.status_code,
                     response.content, lambda: case.as_curl_command(base_url=base), log_from,
                     failed)  # fmt: skip

    send()


def _takes_input(described: dict, op) -> bool:
    """Whether ``op`` takes a body or parameters (besides the key)."""
    spec = described[op.path][op.method.lower()]
    return "requestBody" in spec or "parameters" in spec


# ---------------------------------------------------------------- mutated requests


def _post(fuzzed: Fuzzed, part: str, route: str, body: Any, ascii_only: bool) -> None:
    """POST ``body`` as JSON text as a client might write it: NaN and Infinity as bare
    words, text as UTF-8 or escaped ASCII, an unpaired surrogate as such."""
    text = json.dumps(body, ensure_ascii=ascii_only, allow_nan=True)
    content = text.encode("utf-8", "surrogatepass")
    headers = {"X-API-Key": API_KEY, "content-type": "application/json"}
    log_from = fuzzed.tally.log_size()
    r = fuzzed.client.post(f"{fuzzed.base}{route}", content=content, headers=headers)
    extra = []
    if r.status_code == 200 and "parcels" in body:
        results = r.json().get("results")
        if not isinstance(results, list) or len(results) != len(body["parcels"]):
            extra.append(f"200 for {len(body['parcels'])} parcels without a result for each")
    fuzzed.tally.record(part, f"POST {route}", r.status_code, r.content,
                        lambda: f"POST {route} {content[:1400]!r}", log_from, extra)  # fmt: skip


@pytest.mark.parametrize("route", ["/score", "/explain"])
def test_mutated_parcels_are_scored_or_refused_never_a_server_error(fuzzed, route):
    """Batches of valid parcels with fields given odd values (huge text, NULs, wrong
    types, nested objects, NaN-like text, odd dates and numbers) or left out: each answer
    200 with one result per parcel, or a JSON 4xx with an error id."""
    part = f"mutated {route}"

    @given(parcels=st.lists(mutated(fuzzed.parcels) | st.sampled_from(fuzzed.parcels),
                            min_size=1, max_size=4),
           explain_all=st.integers(0, 9).flatmap(lambda i: ODD_VALUES if i == 0
                                                  else st.booleans()),
           ascii_only=st.booleans())  # fmt: skip
    @settings(max_examples=_budget(fuzzed, route), **_HYPOTHESIS)
    def send(parcels, explain_all, ascii_only):
        body = {"parcels": parcels}
        if route == "/score":
            body["explain_all"] = explain_all
        _post(fuzzed, part, route, body, ascii_only)

    started = time.monotonic()
    send()
    fuzzed.tally.seconds[part] += time.monotonic() - started
    print(fuzzed.tally.report(part))
    assert not [k for k in fuzzed.tally.findings if k[0] == part], fuzzed.tally.report(part)


def test_mutated_outcomes_are_recorded_or_refused_never_a_server_error(fuzzed):
    """Outcomes of scored parcels with fields given odd values or left out: 200 with the
    count recorded, or a JSON 4xx with an error id."""
    part, route = "mutated /outcomes", "/outcomes"
    valid = [{"parcel_id": p["parcel_id"], "inspected": True, "violation_found": False,
              "inspection_reason": "random", "inspection_propensity": 0.01,
              "outcome_at": "2025-03-25T00:00:00Z"} for p in fuzzed.parcels]  # fmt: skip

    @given(outcomes=st.lists(mutated(valid, keys_too=False) | st.sampled_from(valid),
                             min_size=1, max_size=3),
           ascii_only=st.booleans())  # fmt: skip
    @settings(max_examples=_budget(fuzzed, route), **_HYPOTHESIS)
    def send(outcomes, ascii_only):
        _post(fuzzed, part, route, {"outcomes": outcomes}, ascii_only)

    started = time.monotonic()
    send()
    fuzzed.tally.seconds[part] += time.monotonic() - started
    print(fuzzed.tally.report(part))
    assert not [k for k in fuzzed.tally.findings if k[0] == part], fuzzed.tally.report(part)


# ---------------------------------------------------------------- the request edge


def _edge_requests(parcel: dict[str, Any]) -> list[tuple[str, str, dict[str, str], bytes]]:
    """Requests that BentoML parses before the service sees them: (method, route, headers,
    body)."""
    valid = json.dumps({"parcels": [parcel]}).encode()
    nested = b'{"parcels": [{"description": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    bodies = {
        "multipart, boundary not in the body": ("multipart/form-data; boundary=xx", b"garbage"),
        "multipart without a boundary": ("multipart/form-data", b"garbage"),
        "multipart, empty body": ("multipart/form-data; boundary=xx", b""),
        "multipart, cut short": ("multipart/form-data; boundary=xx",
                                 b'--xx\r\nContent-Disposition: form-data; name="parcels"\r\n'
                                 b"\r\n[]"),
        "multipart with a valid field": ("multipart/form-data; boundary=xx",
                                         b'--xx\r\nContent-Disposition: form-data; name="parcels"'
                                         b"\r\n\r\n" + json.dumps([parcel]).encode()
                                         + b"\r\n--xx--\r\n"),
        "form urlencoded": ("application/x-www-form-urlencoded", b"parcels=1&explain_all=x"),
        "text/plain": ("text/plain", b"hello"),
        "xml": ("application/xml", b"<parcels/>"),
        "no media type, valid JSON": ("", valid),
        "JSON, not valid": ("application/json", b'{"parcels": '),
        "JSON, empty body": ("application/json", b""),
        "JSON null": ("application/json", b"null"),
        "JSON array": ("application/json", b"[1, 2]"),
        "JSON NaN": ("application/json", b"NaN"),
        "JSON, not UTF-8": ("application/json", b'{"parcels": [{"description": "\xff\xfe"}]}'),
        "JSON, latin-1 charset": ("application/json; charset=latin-1", valid),
        "JSON, duplicate keys": ("application/json", b'{"parcels": [], "parcels": [1]}'),
        "JSON nested 5000 deep": ("application/json", nested),
        "JSON, 5 MB description": ("application/json",
                                   json.dumps({"parcels": [dict(parcel, description="x" * 5_000_000)
                                                           ]}).encode()),
        "JSON, gzip said but not sent": ("application/json", valid),
    }  # fmt: skip
    requests_ = []
    for route in ("/score", "/explain", "/outcomes"):
        for name, (media, body) in bodies.items():
            if route == "/outcomes" and "5 MB" in name:
                continue
            headers = {"X-API-Key": API_KEY, "x-edge-case": name}
            if media:
                headers["content-type"] = media
            if "gzip" in name:
                headers["content-encoding"] = "gzip"
            requests_.append(("POST", route, headers, body))
        for method in ("GET", "PUT", "DELETE"):
            requests_.append((method, route, {"X-API-Key": API_KEY}, b""))
    requests_ += [("POST", "/model", {"X-API-Key": API_KEY}, b""),
                  ("GET", "/no-such-route", {"X-API-Key": API_KEY}, b""),
                  ("GET", "/model", {"X-API-Key": "wrong"}, b""),
                  ("POST", "/score", {"X-API-Key": "wrong", "content-type": "application/json"},
                   valid)]  # fmt: skip
    return requests_


def test_the_request_edge_refuses_what_it_cannot_read_with_a_json_4xx(fuzzed):
    """Multipart bodies BentoML cannot parse, other media types, JSON that is not valid
    or not UTF-8, deep nesting, big bodies, other methods and routes: each a JSON 4xx with
    an error id (or 200), never a 5xx."""
    part, started = "request edge", time.monotonic()
    with httpx.Client(base_url=fuzzed.base, timeout=60) as client:
        for method, route, headers, body in _edge_requests(fuzzed.parcels[0]):
            log_from = fuzzed.tally.log_size()
            r = client.request(method, route, headers=headers, content=body)
            name = headers.get("x-edge-case", f"{method} {route}")
            fuzzed.tally.record(part, f"{method} {route}", r.status_code, r.content,
                                lambda n=name, h=headers, b=body: f"{n}: {h} {b[:300]!r}",
                                log_from)  # fmt: skip
    fuzzed.tally.seconds[part] += time.monotonic() - started
    print(fuzzed.tally.report(part))
    assert not [k for k in fuzzed.tally.findings if k[0] == part], fuzzed.tally.report(part)


# ---------------------------------------------------------------- afterwards

_ACCESS = re.compile(r"\(status=(\d+),.*\(trace=([0-9a-f]+)")
_RECORD = re.compile(r"^\S+ \[(\w+)\] \[[^\]]+\] (.*)")
_TRACE = re.compile(r"\(trace=([0-9a-f]+)")
_HEX32 = re.compile(r"\b[0-9a-f]{32}\b")


def test_refusals_are_logged_as_one_warning_line_with_their_error_id(fuzzed):
    """Every request answered 4xx so far: no ERROR record and no traceback in the server
    log, and each error id of a 4xx on a WARNING line."""
    lines = fuzzed.tally.log_path.read_text(errors="replace").splitlines()
    status_of = {m[2]: int(m[1]) for line in lines if (m := _ACCESS.search(line))}
    loud: Counter = Counter()  # (level, status, first words) of ERROR records of a 4xx
    example: dict[tuple, str] = {}
    for i, line in enumerate(lines):
        record, trace = _RECORD.match(line), _TRACE.search(line)
        if not (record and trace and 400 <= status_of.get(trace[1], 0) < 500):
            continue
        traced = i + 1 < len(lines) and lines[i + 1].startswith("Traceback")
        if record[1] in ("ERROR", "CRITICAL") or traced:
            key = (record[1], status_of[trace[1]], _shape(record[2].split(" (trace=")[0]),
                   "with a traceback" if traced else "")  # fmt: skip
            loud[key] += 1
            example.setdefault(key, "\n".join(lines[i : i + 25]))
    warned = {i for line in lines if "[WARNING]" in line for i in _HEX32.findall(line)}
    unlogged = Counter(r for i, r in fuzzed.tally.error_ids.items() if i not in warned)
    print(f"[{fuzzed.store}] log: {sum(loud.values())} records of 4xx requests at ERROR or "
          f"with a traceback; {unlogged.total()} of {len(fuzzed.tally.error_ids)} error ids "
          "of a 4xx on no WARNING line")  # fmt: skip
    assert not loud, "\n".join(f"{k}: {n}x\n{example[k]}" for k, n in loud.items())
    # e.g. a line broken in two by a control character of the request (the path) it names
    assert not unlogged, f"error ids on no WARNING line, by (route, status): {dict(unlogged)}"


def test_the_service_is_healthy_and_scores_afterwards(fuzzed):
    base = fuzzed.base
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    r = httpx.post(f"{base}/score", json={"parcels": fuzzed.parcels[:3]},
                   headers={"X-API-Key": API_KEY}, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    assert [x["parcel_id"] for x in r.json()["results"]] == [
        p["parcel_id"] for p in fuzzed.parcels[:3]
    ]
    # the worker it started with: none died and was started again
    log = fuzzed.tally.log_path.read_text(errors="replace")
    assert log.count("Service parcelrisk initialized") == 1, log[-3000:]
    total, parts = fuzzed.tally.total(), {p for p, _ in fuzzed.tally.cases}
    print(f"fuzz [{fuzzed.store}]: {total} requests in all ({fuzzed.cases} to send: "
          f"PARCELRISK_FUZZ_CASES={CASES} split over the stores fuzzed)")  # fmt: skip
    if parts >= {"schemathesis", "mutated /score", "mutated /explain", "mutated /outcomes"}:
        assert total >= fuzzed.cases, f"{total} requests sent, fewer than {fuzzed.cases}"
