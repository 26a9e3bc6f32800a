"""End-to-end: the real `bentoml serve` process on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from live_service import bentoml_serve, lines_naming, start_serving
from parcelrisk.artifact import MODEL_FILE, save_model
from parcelrisk.audit import AuditStore
from parcelrisk.contract import CONTRACT_VERSION
from parcelrisk.feedback import labelled_declarations
from parcelrisk.policy import load_policy
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.tracking import example_input
from parcelrisk.train import fit_model

API_KEY = "test-key"
ROTATED_KEY = "second-test-key"  # a second valid key, id "rotated"
KEYED = {"X-API-Key": API_KEY}
BODY_LIMIT = 200_000
POLICY = (
    "version: http-test\nlanes: {inspect: 0.3, review: 0.1}\nreasons: {top: 2, direction: raises}\n"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    split = split_by_time(generate(rows=20_000, days=20, seed=2), 5)
    model_dir = save_model(
        fit_model(split.train).pipeline,
        root / "model",
        {"version": "test-1", "training_window": {"start": "x", "end": str(split.cutoff)}},
    )  # fmt: skip
    (root / "policy.yaml").write_text(POLICY)
    env = {
        "PARCELRISK_MODEL_DIR": str(model_dir),
        "PARCELRISK_AUDIT_URL": f"sqlite:///{root / 'audit.db'}",
        "PARCELRISK_API_KEY": API_KEY,
        "PARCELRISK_API_KEYS": f"rotated:{ROTATED_KEY}",
        "PARCELRISK_MAX_BATCH": "50",
        "PARCELRISK_MAX_BODY_BYTES": str(BODY_LIMIT),
        "PARCELRISK_POLICY": str(root / "policy.yaml"),
    }
    with bentoml_serve(root, env) as base:
        # JSON as a client sends it: missing values are null
        parcels = json.loads(example_input(split.test, 20).to_json(orient="records"))
        yield base, parcels, AuditStore(env["PARCELRISK_AUDIT_URL"]), root


def _post(base, route, body, key=API_KEY):
    return httpx.post(f"{base}{route}", json=body, headers={"X-API-Key": key}, timeout=60)


def test_score_returns_probability_lane_model_and_reasons(served):
    base, parcels, audit, _root = served
    r = _post(base, "/score", {"parcels": parcels[:5], "explain_all": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["results"]) == 5
    logged = {d["parcel_id"]: d for d in audit.decisions(request_id=body["request_id"])}
    assert list(logged) == [p["parcel_id"] for p in parcels[:5]]
    policy = load_policy(_root / "policy.yaml")
    for res, sent in zip(body["results"], parcels[:5], strict=True):
        p = res["probability"]
        assert res["parcel_id"] == sent["parcel_id"] and 0 < p < 1
        assert res["lane"] == ("inspect" if p >= 0.3 else "review" if p >= 0.1 else "release")
        assert res["model"] == {"name": "parcelrisk", "version": "test-1"}
        assert res["reasons"] and all("text" in x for x in res["reasons"])  # explain_all
        # the policy file of the service: at most 2 reasons, each raising the risk
        assert len(res["reasons"]) <= 2 and {x["direction"] for x in res["reasons"]} == {"raises"}
        log = logged[sent["parcel_id"]]
        assert log["input"] == sent and log["model_version"] == "test-1"
        # the audit log holds exactly what was answered, and the policy it was made under
        assert (log["probability"], log["lane"], log["reasons"]) == (p, res["lane"], res["reasons"])
        assert (log["policy_version"], log["policy_sha256"]) == ("http-test", policy.sha256)
    assert audit.policy(policy.sha256) == policy  # stored whole: replay can use it


def test_invalid_records_get_422_naming_every_problem_and_nothing_is_logged(served):
    base, parcels, audit, _root = served
    before = len(audit.decisions())
    bad = [dict(parcels[0], weight_kg=-1.0), dict(parcels[1], origin_country="cn")]
    r = _post(base, "/score", {"parcels": bad})
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert {(p["row"], p["field"]) for p in problems} == {(0, "weight_kg"), (1, "origin_country")}
    assert len(audit.decisions()) == before


def test_text_that_is_not_unicode_is_refused_and_not_logged(served):
    base, parcels, audit, _root = served
    before = len(audit.decisions())
    # JSON may escape an unpaired surrogate; no UTF-8 text can hold it
    body = json.dumps({"parcels": [dict(parcels[0], description="gift\ud800")]})
    headers = {"X-API-Key": API_KEY, "content-type": "application/json"}
    r = httpx.post(f"{base}/score", content=body, headers=headers, timeout=60)
    assert r.status_code == 400 and "Invalid JSON" in r.text, r.text  # the request parser's
    assert len(audit.decisions()) == before


def test_oversized_batch_gets_413(served):
    base, parcels, _, _ = served
    r = _post(base, "/score", {"parcels": parcels * 3})
    assert r.status_code == 413 and "at most 50" in r.json()["error"]


def test_missing_api_key_gets_401_and_is_not_logged(served):
    base, parcels, audit, _root = served
    before = len(audit.decisions())
    r = _post(base, "/score", {"parcels": parcels[:1]}, key="wrong")
    assert r.status_code == 401
    assert len(audit.decisions()) == before


def test_every_route_but_health_needs_a_key_checked_before_the_body_is_read(served):
    base, _, _, _ = served
    for route in ("/", "/docs", "/docs.json", "/schema.json", "/model", "/metrics"):
        r = httpx.get(f"{base}{route}", timeout=10)
        assert r.status_code == 401, route
        assert r.json()["error_id"] and "API key" in r.json()["error"]
    for route in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(f"{base}{route}", timeout=10).status_code == 200
    # a body far over the limit, without a key: refused at the headers, not read
    r = httpx.post(f"{base}/score", content=b"x" * (BODY_LIMIT * 50), timeout=30)
    assert r.status_code == 401


def test_a_second_key_works_and_the_store_records_key_ids_never_keys(served):
    base, parcels, audit, root = served
    pid = parcels[5]["parcel_id"]
    r = _post(base, "/score", {"parcels": [parcels[5]]}, key=ROTATED_KEY)
    assert r.status_code == 200, r.text
    [decision] = audit.decisions(request_id=r.json()["request_id"])
    assert decision["key_id"] == "rotated"
    outcome = {"parcel_id": pid, "inspected": True, "violation_found": False,
               "inspection_propensity": 0.2}  # fmt: skip
    assert _post(base, "/outcomes", {"outcomes": [outcome]}, key=ROTATED_KEY).status_code == 200
    assert [o["recorded_by"] for o in audit.outcomes() if o["parcel_id"] == pid] == ["rotated"]
    assert _post(base, "/score", {"parcels": [parcels[5]]}).status_code == 200
    assert audit.decisions(parcel_id=pid)[-1]["key_id"] == "default"
    stored = (root / "audit.db").read_bytes() + (root / "serve.log").read_bytes()
    assert API_KEY.encode() not in stored and ROTATED_KEY.encode() not in stored


def test_bodies_over_the_limit_and_other_media_are_refused_with_an_error_id(served):
    base, parcels, audit, _ = served
    before = len(audit.decisions())
    big = {"parcels": [dict(parcels[0], description="d" * 1500)] * 140}  # > BODY_LIMIT
    r = _post(base, "/score", big)
    assert r.status_code == 413 and r.json()["error_id"], r.text
    assert "PARCELRISK_MAX_BODY_BYTES" in r.json()["error"]

    def chunks():  # no Content-Length: counted while it arrives
        for _ in range(60):
            yield b" " * 10_000

    r = httpx.post(f"{base}/score", content=chunks(), headers=KEYED, timeout=30)
    assert r.status_code == 413, r.text
    r = httpx.post(f"{base}/score", files={"parcels": ("p.json", b"[]")}, headers=KEYED)
    assert r.status_code == 415 and r.json()["error_id"], r.text
    r = httpx.post(f"{base}/score", content=b"{not json", headers=KEYED, timeout=10)
    assert r.status_code == 400 and r.json()["error_id"], r.text
    assert len(audit.decisions()) == before


def test_text_over_the_contracts_limits_or_with_nul_is_a_422_naming_it(served):
    base, parcels, audit, _ = served
    before = len(audit.decisions())
    sent = [dict(parcels[0], description="x" * 2001, parcel_id="LONG-1"),
            dict(parcels[1], seller_id="S\x00", parcel_id="NUL-1"),
            dict(parcels[2], parcel_id="P" * 129)]  # fmt: skip
    r = _post(base, "/score", {"parcels": sent})
    assert r.status_code == 422, r.text
    found = {(p["row"], p["field"], p["reason"]) for p in r.json()["problems"]}
    assert found == {(0, "description", "2,001 characters; at most 2,000"),
                     (1, "seller_id", "holds the NUL character"),
                     (2, "parcel_id", "129 characters; at most 128")}  # fmt: skip
    assert len(audit.decisions()) == before


def test_outcomes_are_strict_idempotent_and_corrections_are_versioned(served):
    base, parcels, audit, _ = served
    pid = parcels[6]["parcel_id"]
    assert _post(base, "/score", {"parcels": [parcels[6]]}).status_code == 200
    before = audit.outcomes()
    for bad in ({"parcel_id": pid, "inspected": "true", "violation_found": True},
                {"parcel_id": pid, "inspected": True},
                {"parcel_id": pid, "inspected": True, "violation_found": True, "oops": 1},
                {"parcel_id": "x" * 5000, "inspected": False}):  # fmt: skip
        r = _post(base, "/outcomes", {"outcomes": [bad]})
        assert r.status_code == 400 and r.json()["error_id"], r.text
    no_propensity = {"parcel_id": pid, "inspected": True, "violation_found": True}
    r = _post(base, "/outcomes", {"outcomes": [no_propensity]})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "inspection_propensity"
    assert audit.outcomes() == before
    found = {**no_propensity, "inspection_propensity": 0.1}
    assert _post(base, "/outcomes", {"outcomes": [found]}).json()["new"] == 1
    assert _post(base, "/outcomes", {"outcomes": [found]}).json()["duplicates"] == 1
    fixed = {**found, "violation_found": False}
    assert _post(base, "/outcomes", {"outcomes": [fixed]}).json()["corrections"] == 1
    rows = [o for o in audit.outcomes() if o["parcel_id"] == pid]
    assert [(o["version"], o["violation_found"]) for o in rows] == [(1, True), (2, False)]
    r = _post(base, "/outcomes", {"outcomes": [fixed] * 1001})
    assert r.status_code == 400, r.text  # at most 1,000 outcomes a request


def test_odd_text_and_unseen_categories_score_normally(served):
    base, parcels, _, _ = served
    odd = [
        dict(parcels[2], description="😀 礼物 " + "x" * 1990, carrier="Brand New Carrier",
             parcel_id="ODD-1"),
        dict(parcels[3], description="", recipient_name="Иван Петров", parcel_id="ODD-2"),
        dict(parcels[4], description="هدية", marketplace=None, hts_code=None, parcel_id="ODD-3"),
    ]  # fmt: skip
    r = _post(base, "/score", {"parcels": odd, "explain_all": True})
    assert r.status_code == 200, r.text
    assert [x["parcel_id"] for x in r.json()["results"]] == ["ODD-1", "ODD-2", "ODD-3"]


def _with_decisions_table_away(root, request):
    """``request()`` while the audit store has no decisions table (every write fails)."""
    db = sqlite3.connect(root / "audit.db")
    db.execute("ALTER TABLE decisions RENAME TO decisions_away")
    db.commit()
    try:
        return request()
    finally:
        db.execute("ALTER TABLE decisions_away RENAME TO decisions")
        db.commit()
        db.close()


def test_audit_store_failure_answers_503_and_releases_no_decision(served):
    base, parcels, audit, root = served
    before = len(audit.decisions())
    r = _with_decisions_table_away(root, lambda: _post(base, "/score", {"parcels": parcels[:2]}))
    assert r.status_code == 503, r.text
    assert "no decision was released" in r.json()["error"] and "results" not in r.json()
    assert len(audit.decisions()) == before
    logged = (root / "serve.log").read_text()
    assert "audit store write failed" in logged  # said, with the statement but no values:
    for p in parcels[:2]:  # no name, address or description reaches the log
        for field in ("recipient_name", "recipient_address", "description"):
            assert p[field] not in logged, field


def test_a_path_with_a_line_break_cannot_forge_a_log_line(served):
    """The request's path, as sent, is escaped in every line that names it: BentoML's
    access log and the service's own refusal."""
    base, _, _, root = served
    forged = "2026-01-01T00:00:00+0000 [INFO] [forged] decision released"
    r = httpx.get(f"{base}/no-such-route%0D%0A{forged.replace(' ', '%20')}", timeout=10,
                  headers={"X-API-Key": API_KEY})  # fmt: skip
    assert r.status_code == 404 and r.json()["error_id"]
    named = lines_naming(root / "serve.log", "no-such-route", count=2)
    lines = (root / "serve.log").read_text().splitlines()
    assert not [line for line in lines if line.startswith(forged[:24])]
    assert len(named) >= 2 and all("\\r\\n2026-01-01" in line for line in named), named


def test_model_metadata(served):
    base, _, _, root = served
    r = httpx.get(f"{base}/model", headers={"X-API-Key": API_KEY}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "test-1" and r.json()["contract_version"] == CONTRACT_VERSION
    policy = load_policy(root / "policy.yaml")
    assert r.json()["policy"] == {**policy.to_dict(), "sha256": policy.sha256}
    assert r.json()["policy"]["lanes"] == {"inspect": 0.3, "review": 0.1}
    assert httpx.get(f"{base}/model", timeout=10).status_code == 401
    # the mounted GET route leaves the service's own routes alone
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


def test_audit_replay_reproduces_every_logged_decision(served):
    from typer.testing import CliRunner

    from parcelrisk.cli import app

    base, parcels, audit, root = served
    before = len(audit.decisions())
    assert _post(base, "/score", {"parcels": parcels[5:15]}).status_code == 200
    logged = len(audit.decisions())
    assert logged == before + 10
    url = f"sqlite:///{root / 'audit.db'}"
    result = CliRunner().invoke(app, ["audit", "replay", "--db", url, "--models-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert f"replayed {logged:,} decisions: 0 differ" in result.output
    # replayed under the logged policy (2 reasons, raising only), not under the default
    # policy of the working directory (3 reasons, both directions): explained parcels exist
    assert any(d["reasons"] for d in audit.decisions())


def test_audit_show_prints_reasons_also_for_unexplained_parcels(served):
    from typer.testing import CliRunner

    from parcelrisk.cli import app
    from parcelrisk.replay import reasons_on_demand

    base, parcels, audit, root = served
    _post(base, "/score", {"parcels": parcels[15:20]})
    released = [d for d in audit.decisions() if d["reasons"] is None]
    assert released, "expected some parcels in the release lane"
    url = f"sqlite:///{root / 'audit.db'}"
    pid = released[-1]["parcel_id"]
    result = CliRunner().invoke(app, ["audit", "show", pid, "--db", url, "--models-dir", str(root)])
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())  # the console wraps long lines
    assert "(not explained at the time; reasons computed now)" in shown
    computed = reasons_on_demand(audit, root, pid)
    assert computed, "no reasons: the loop below would check nothing"
    for r in computed:
        assert f"{r['contribution']:+.3f} {r['group']}: {' '.join(r['text'].split())}" in shown


def test_explain_returns_contributions_that_add_up_to_the_margin(served):
    base, parcels, _, _ = served
    r = _post(base, "/explain", {"parcels": parcels[:3]})
    assert r.status_code == 200, r.text
    for res in r.json()["results"]:
        total = res["base_value"] + sum(res["by_feature"].values())
        assert abs(total - res["margin"]) < 1e-6
        assert abs(sum(res["by_group"].values()) - sum(res["by_feature"].values())) < 1e-6


def test_outcomes_are_recorded_and_inconsistent_ones_refused(served):
    base, parcels, audit, _ = served
    assert _post(base, "/score", {"parcels": parcels[:1]}).status_code == 200
    ok = [{"parcel_id": parcels[0]["parcel_id"], "inspected": True, "violation_found": True,
           "violation_type": "counterfeit", "inspection_propensity": 0.5}]  # fmt: skip
    r = _post(base, "/outcomes", {"outcomes": ok})
    assert r.status_code == 200
    assert r.json() == {"recorded": 1, "new": 1, "corrections": 0, "duplicates": 0}
    recorded = audit.outcomes()
    assert recorded[-1]["violation_type"] == "counterfeit"
    bad = [{"parcel_id": "X", "inspected": False, "violation_found": True}]
    r = _post(base, "/outcomes", {"outcomes": bad})
    assert r.status_code == 400, r.text
    assert "violation_found given for a parcel that was not inspected" in r.text
    assert audit.outcomes() == recorded


def _requests_counted(base: str) -> dict[tuple[str, str], float]:
    """BentoML's request counter from /metrics: (endpoint, HTTP status) -> requests."""
    r = httpx.get(f"{base}/metrics", headers=KEYED, timeout=10)
    assert r.status_code == 200, r.text
    counted: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == "bentoml_service_request_total":
                key = (sample.labels["endpoint"], sample.labels["http_response_code"])
                counted[key] = counted.get(key, 0.0) + sample.value
    return counted


def test_health_and_metrics_endpoints_count_the_scoring_requests(served):
    base, parcels, _, _ = served
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    before = _requests_counted(base)
    for i in range(3):
        assert _post(base, "/score", {"parcels": parcels[i : i + 1]}).status_code == 200
    assert _post(base, "/score", {"parcels": parcels[:1]}, key="wrong").status_code == 401
    after = _requests_counted(base)
    changed = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert changed == {("/score", "200"): 3.0, ("/score", "401"): 1.0}


def test_recorded_outcomes_come_back_as_training_labels(served):
    base, parcels, audit, _ = served
    pid = parcels[1]["parcel_id"]
    _post(base, "/score", {"parcels": [parcels[1]]})
    sent = [{"parcel_id": pid, "inspected": True, "violation_found": False,
             "inspection_reason": "random", "inspection_propensity": 0.003}]  # fmt: skip
    assert _post(base, "/outcomes", {"outcomes": sent}).status_code == 200
    frame = labelled_declarations(audit)
    row = frame[frame["parcel_id"] == pid].iloc[0]
    assert bool(row["inspected"]) and not bool(row["violation_found"])
    assert row["inspection_propensity"] == 0.003 and row["inspection_reason"] == "random"
    assert row["description"] == parcels[1]["description"]


def test_outcome_and_ground_truth_fields_are_refused_for_scoring_and_not_logged(served):
    base, parcels, audit, _ = served
    before = len(audit.decisions())
    sent = [dict(parcels[0]), dict(parcels[1], inspected=True, violation_found=True,
                                   gt_violation=True)]  # fmt: skip
    for route in ("/score", "/explain"):
        r = _post(base, route, {"parcels": sent})
        assert r.status_code == 422, r.text
        problems = r.json()["problems"]
        assert {(p["row"], p["parcel_id"], p["field"]) for p in problems} == {
            (1, parcels[1]["parcel_id"], f)
            for f in ("inspected", "violation_found", "gt_violation")
        }
        assert all("outcome and ground-truth fields are not accepted for scoring" in p["reason"]
                   for p in problems)  # fmt: skip
    assert len(audit.decisions()) == before
    assert not any("gt_violation" in d["input"] or "inspected" in d["input"]
                   for d in audit.decisions())  # fmt: skip


def test_outcomes_for_parcels_never_scored_get_404_and_none_is_recorded(served):
    base, parcels, audit, _ = served
    assert _post(base, "/score", {"parcels": parcels[2:3]}).status_code == 200
    before = audit.outcomes()
    sent = [{"parcel_id": parcels[2]["parcel_id"], "inspected": False},
            {"parcel_id": "NEVER-1", "inspected": True, "violation_found": False,
             "inspection_propensity": 1.0},
            {"parcel_id": "NEVER-2", "inspected": False}]  # fmt: skip
    r = _post(base, "/outcomes", {"outcomes": sent})
    assert r.status_code == 404, r.text
    assert r.json()["unknown_parcel_ids"] == ["NEVER-1", "NEVER-2"]
    assert "no logged decision for parcel ids 'NEVER-1', 'NEVER-2'" in r.json()["error"]
    assert audit.outcomes() == before  # all or none: the scored parcel's outcome neither
    assert _post(base, "/outcomes", {"outcomes": sent[:1]}).json()["recorded"] == 1


def test_a_start_up_that_cannot_work_stops_bentoml_serve_once_with_one_message(tmp_path):
    cases = {  # each in an empty working directory: no models/, no configs/
        "no model": ({}, "no exported model under models; run `parcelrisk train`"),
        "bad workers": ({"PARCELRISK_WORKERS": "0"},  # read when the module is imported
                        "PARCELRISK_WORKERS must be a whole number >= 1, got '0'"),
    }  # fmt: skip
    started = {}
    for name, (env, _) in cases.items():  # both at once: each start imports for seconds
        home = tmp_path / name.replace(" ", "-")
        home.mkdir()
        started[name] = start_serving(home, env)
    for name, (proc, log_path, _) in started.items():
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name}: bentoml serve still running after 120 s")
        output = log_path.read_text()
        message = "parcelrisk cannot start: " + cases[name][1]
        assert code == 1, (name, output)
        assert output.count("parcelrisk cannot start") == 1 and message in output, output
        assert "Traceback" not in output and "listening" not in output, output


def test_every_start_up_failure_is_one_startup_error_naming_it(served, tmp_path, monkeypatch):
    """What the start-up check before the workers raises (the test above shows that
    ``bentoml serve`` prints it once and exits)."""
    from parcelrisk.serving.service import ParcelRisk, StartupError

    _, _, _, root = served
    corrupt = tmp_path / "corrupt-model"
    shutil.copytree(root / "model", corrupt)
    with (corrupt / MODEL_FILE).open("ab") as f:
        f.write(b"x")
    model = str(root / "model")
    away = f"sqlite:///{tmp_path}/none/a.db"
    closed = "postgresql+psycopg://u:secret@127.0.0.1:1/db"  # nothing listens on port 1
    cases = [
        ({"PARCELRISK_MODEL_DIR": str(corrupt)},
         f"{corrupt / MODEL_FILE} is corrupt or was changed: SHA-256 "),
        ({"PARCELRISK_MAX_BATCH": "lots"},
         "PARCELRISK_MAX_BATCH must be a whole number >= 1, got 'lots'"),
        ({"PARCELRISK_POLICY": str(tmp_path / "nope.yaml")},
         f"policy file {tmp_path / 'nope.yaml'} does not exist"),
        ({"PARCELRISK_MODEL_DIR": model, "PARCELRISK_AUDIT_URL": away},
         f"PARCELRISK_AUDIT_URL: cannot open the audit store {away}: unable to open "
         "database file"),
        ({"PARCELRISK_MODEL_DIR": model, "PARCELRISK_AUDIT_URL": "audit.db"},
         "PARCELRISK_AUDIT_URL: audit store URL 'audit.db' is not a SQLAlchemy URL (e.g. "
         "sqlite:///audit.db"),
        ({"PARCELRISK_MODEL_DIR": model, "PARCELRISK_AUDIT_URL": closed},
         "PARCELRISK_AUDIT_URL: cannot open the audit store "
         "postgresql+psycopg://u:***@127.0.0.1:1/db: connection failed"),
        ({"PARCELRISK_API_KEY": ""}, "PARCELRISK_API_KEY is set but empty: unset it"),
        ({"PARCELRISK_API_KEYS": "a:secret,a:secret2"}, "API key ids must differ; given: "),
        ({"PARCELRISK_API_KEYS": "no key here"}, "PARCELRISK_API_KEYS: entry 1 is not id:key"),
        ({"PARCELRISK_MAX_BODY_BYTES": "0"}, "PARCELRISK_MAX_BODY_BYTES must be a whole"),
        ({"PARCELRISK_DEADLINE_MS": "-5"}, "PARCELRISK_DEADLINE_MS must be a whole"),
        ({"PARCELRISK_DEADLINE_MS": "45000"}, "PARCELRISK_DEADLINE_MS must be at most 30000"),
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for env, message in cases:
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            with pytest.raises(StartupError) as excinfo:
                ParcelRisk.inner.check_start_up()
        assert str(excinfo.value).startswith("parcelrisk cannot start: " + message), env
        assert "secret" not in str(excinfo.value)
    assert not (tmp_path / "audit.db").exists()  # a failed start leaves no store behind


_URL = re.compile(r"(?:https?:)?//([^/\s\"'<>)]+)")


def test_pages_are_the_services_own_and_reference_no_other_host(served):
    base, _, _, _ = served
    here = base.removeprefix("http://")
    for route in ("/", "/docs", "/docs.json", "/schema.json", "/healthz", "/readyz", "/livez"):
        r = httpx.get(f"{base}{route}", headers=KEYED, timeout=10)
        assert r.status_code == 200, (route, r.text[:300])
        hosts = set(_URL.findall(r.text)) - {here}
        assert not hosts, (route, hosts)
    page = httpx.get(base, headers=KEYED, timeout=10).text
    assert "<script" not in page and "stylesheet" not in page
    assert "parcelrisk" in page and "test-1" in page  # the service and its model version
    for link in ("/docs", "/docs.json", "/model", "/metrics", "/healthz", "/docs#score",
                 "/docs#explain", "/docs#outcomes"):  # fmt: skip
        assert f"href='{link}'" in page, link
    docs = httpx.get(f"{base}/docs", headers=KEYED, timeout=10).text
    assert "<script" not in docs and "POST /outcomes" in docs and "violation_type" in docs
    spec = httpx.get(f"{base}/docs.json", headers=KEYED, timeout=10).json()
    assert spec["info"]["version"] == "test-1"
    # BentoML's Swagger UI, which fetches a validator badge from another site, is not served
    r = httpx.get(f"{base}/static_content/swagger-ui-bundle.js", headers=KEYED, timeout=10)
    assert r.status_code == 404 and "validator.swagger.io" not in r.text


def _samples(base: str) -> dict[tuple[str, tuple], float]:
    """parcelrisk's own metrics from /metrics: (sample name, labels) -> value."""
    r = httpx.get(f"{base}/metrics", headers=KEYED, timeout=10)
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name.startswith("parcelrisk_") and not s.name.endswith("_created")
    }


def test_domain_metrics_count_decisions_latency_outcomes_and_audit_failures(served):
    base, parcels, _, root = served
    before = _samples(base)
    lanes: dict[str, int] = {}
    for batch in (parcels[0:1], parcels[1:4], parcels[4:10]):  # inline and threaded paths
        r = _post(base, "/score", {"parcels": batch})
        assert r.status_code == 200, r.text
        for res in r.json()["results"]:
            lanes[res["lane"]] = lanes.get(res["lane"], 0) + 1
    assert _post(base, "/score", {"parcels": parcels[:1]}, key="wrong").status_code == 401
    outcomes = [{"parcel_id": p["parcel_id"], "inspected": False} for p in parcels[0:2]]
    assert _post(base, "/outcomes", {"outcomes": outcomes}).status_code == 200
    failed = _with_decisions_table_away(
        root, lambda: _post(base, "/score", {"parcels": parcels[:1]})
    )
    assert failed.status_code == 503
    after = _samples(base)
    changed = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    version = ("model_version", "test-1")
    decisions = {k: v for k, v in changed.items() if k[0] == "parcelrisk_decisions_total"}
    assert decisions == {
        ("parcelrisk_decisions_total", (("lane", lane), version)): float(n)
        for lane, n in lanes.items()
    }
    assert changed[("parcelrisk_decision_seconds_count", (version,))] == 3.0
    assert changed[("parcelrisk_decision_seconds_sum", (version,))] > 0
    assert changed[("parcelrisk_outcomes_recorded_total", ())] == 2.0
    failures = ("parcelrisk_audit_write_failures_total", (("endpoint", "/score"),))
    assert changed[failures] == 1.0


def test_the_service_says_at_start_which_model_it_serves_and_why(served):
    _base, _parcels, _audit, root = served
    log = (root / "serve.log").read_text()
    assert f"serving model test-1: {root / 'model'} (PARCELRISK_MODEL_DIR)" in log


def test_refusals_count_by_route_with_unknown_paths_as_other(served):
    """Refusals are counted by route; a path that is no route is ``other``, so that
    requests to made-up paths cannot add labels without bound."""
    base, _, _, _ = served
    for i in range(3):
        r = httpx.get(f"{base}/made-up-{i}", headers=KEYED, timeout=10)
        assert r.status_code == 404 and r.json()["error_id"]
    refused = {labels: v for (name, labels), v in _samples(base).items()
               if name == "parcelrisk_refused_requests_total"}  # fmt: skip
    assert refused[(("route", "other"), ("status", "404"))] >= 3
    assert not any("made-up" in str(labels) for labels in refused)
