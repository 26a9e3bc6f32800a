"""End-to-end: the real `bentoml serve` process on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from live_service import bentoml_serve
from parcelrisk.artifact import save_model
from parcelrisk.audit import AuditStore
from parcelrisk.contract import CONTRACT_VERSION
from parcelrisk.feedback import labelled_declarations
from parcelrisk.policy import load_policy
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.tracking import example_input
from parcelrisk.train import fit_model

API_KEY = "test-key"
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
        "PARCELRISK_MAX_BATCH": "50",
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


def test_odd_text_and_unseen_categories_score_normally(served):
    base, parcels, _, _ = served
    odd = [
        dict(parcels[2], description="😀 礼物 " + "x" * 5000, carrier="Brand New Carrier",
             parcel_id="ODD-1"),
        dict(parcels[3], description="", recipient_name="Иван Петров", parcel_id="ODD-2"),
        dict(parcels[4], description="هدية", marketplace=None, hts_code=None, parcel_id="ODD-3"),
    ]  # fmt: skip
    r = _post(base, "/score", {"parcels": odd, "explain_all": True})
    assert r.status_code == 200, r.text
    assert [x["parcel_id"] for x in r.json()["results"]] == ["ODD-1", "ODD-2", "ODD-3"]


def test_audit_store_failure_answers_503_and_releases_no_decision(served):
    import sqlite3

    base, parcels, audit, root = served
    before = len(audit.decisions())
    db = sqlite3.connect(root / "audit.db")
    db.execute("ALTER TABLE decisions RENAME TO decisions_away")
    db.commit()
    try:
        r = _post(base, "/score", {"parcels": parcels[:2]})
    finally:
        db.execute("ALTER TABLE decisions_away RENAME TO decisions")
        db.commit()
        db.close()
    assert r.status_code == 503, r.text
    assert "no decision was released" in r.json()["error"] and "results" not in r.json()
    assert len(audit.decisions()) == before


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
    ok = [{"parcel_id": parcels[0]["parcel_id"], "inspected": True, "violation_found": True,
           "violation_type": "counterfeit"}]  # fmt: skip
    r = _post(base, "/outcomes", {"outcomes": ok})
    assert r.status_code == 200 and r.json() == {"recorded": 1}
    recorded = audit.outcomes()
    assert recorded[-1]["violation_type"] == "counterfeit"
    bad = [{"parcel_id": "X", "inspected": False, "violation_found": True}]
    r = _post(base, "/outcomes", {"outcomes": bad})
    assert r.status_code == 400, r.text
    assert "violation_found given for a parcel that was not inspected" in r.text
    assert audit.outcomes() == recorded


def _requests_counted(base: str) -> dict[tuple[str, str], float]:
    """BentoML's request counter from /metrics: (endpoint, HTTP status) -> requests."""
    r = httpx.get(f"{base}/metrics", timeout=10)
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


def test_the_service_says_at_start_which_model_it_serves_and_why(served):
    _base, _parcels, _audit, root = served
    log = (root / "serve.log").read_text()
    assert f"serving model test-1: {root / 'model'} (PARCELRISK_MODEL_DIR)" in log
