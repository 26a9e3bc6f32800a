"""The real `bentoml serve` with a model trained through a mapping: records in user columns."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from byo_example import DATA
from live_service import bentoml_serve
from parcelrisk.audit import AuditStore
from parcelrisk.cli import app
from parcelrisk.explain import INPUT_GROUPS


@pytest.fixture(scope="module")
def served(trained):
    env = {
        "PARCELRISK_MODEL_DIR": str(trained.model),
        "PARCELRISK_AUDIT_URL": f"sqlite:///{trained.root / 'audit.db'}",
    }
    # records as the user's system would send them: its own columns, values as in its CSV
    table = pd.read_csv(DATA, dtype=str, keep_default_na=False, na_values=[""]).tail(30)
    table = table.drop(columns=["illicit"])  # the label: known only after an inspection
    records = [
        {k: v for k, v in row.items() if pd.notna(v)} for row in table.to_dict(orient="records")
    ]
    with bentoml_serve(trained.root, env) as base:
        yield base, records, trained.root


def test_user_shaped_records_are_scored_and_explained(served):
    base, records, _ = served
    r = httpx.post(f"{base}/score", json={"parcels": records[:20], "explain_all": True}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["parcel_id"] for x in results] == [p["declaration_no"] for p in records[:20]]
    for res in results:
        assert 0 < res["probability"] < 1 and res["reasons"]
        for reason in res["reasons"]:
            assert reason["group"] in INPUT_GROUPS and reason["contribution"] != 0
            assert "nan" not in reason["text"] and "<NA>" not in reason["text"]
    texts = [x["text"] for res in results for x in res["reasons"]]
    # the history of the mapped entities and pairs, worded with the parcel's own values
    assert any(": seller: " in t and " x hts" in t for t in texts), texts
    r = httpx.post(f"{base}/explain", json={"parcels": records[:2]}, timeout=60)
    assert r.status_code == 200, r.text
    for res in r.json()["results"]:
        assert abs(res["base_value"] + sum(res["by_feature"].values()) - res["margin"]) < 1e-6
        assert res["by_feature"]["history__recipient_rate"] != 0  # the importer's history


def test_a_bad_user_record_gets_422_naming_its_fields(served):
    base, records, _ = served
    bad = [dict(records[0], net_mass_kg="heavy"), {**records[1], "curier": "X"},
           {**records[2], "illicit": "Y"}]  # fmt: skip
    r = httpx.post(f"{base}/score", json={"parcels": bad}, timeout=60)
    assert r.status_code == 422, r.text
    problems = {(p["row"], p["field"]): p["reason"] for p in r.json()["problems"]}
    assert problems == {
        (0, "net_mass_kg"): "not a number",
        (1, "curier"): "unknown field; did you mean 'courier'?",
        (2, "illicit"): "outcome and ground-truth fields are not accepted for scoring (the "
        "mapping's label column)",
    }


def test_audit_replay_reproduces_decisions_on_user_records(served):
    base, records, root = served
    url = f"sqlite:///{root / 'audit.db'}"
    before = len(AuditStore(url).decisions())
    assert httpx.post(f"{base}/score", json={"parcels": records[20:]}, timeout=60).is_success
    logged = len(AuditStore(url).decisions())
    assert logged == before + len(records[20:])
    result = CliRunner().invoke(app, ["audit", "replay", "--db", url, "--models-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert f"replayed {logged:,} decisions: 0 differ" in result.output
