"""Served = evaluated: the real `bentoml serve` scores a test window parcel by parcel, over
HTTP, as a targeting system would, with every outcome posted to /outcomes once it is
known, and gives each parcel the probability of the replayed evaluation.

The data: 20,000 generated parcels over 20 days; the model is fitted on all but the last
day, which is the window (about 1,000 parcels). Outcomes of training parcels that became
known after training are posted in time order between the window's parcels.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pytest

from live_service import bentoml_serve
from parcelrisk.artifact import load_model, save_model
from parcelrisk.audit import AuditStore
from parcelrisk.contract import to_records
from parcelrisk.evaluate import replayed_history
from parcelrisk.policy import Policy
from parcelrisk.predict import decide, score
from parcelrisk.replay import replay
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.train import fit_model

pytestmark = pytest.mark.slow
TOLERANCE = 1e-12  # LightGBM's sums may round otherwise in another process; lanes must not


@pytest.fixture(scope="module")
def window(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("live")
    split = split_by_time(generate(rows=20_000, days=20, seed=3), 1)
    fitted = fit_model(split.train, lgbm_params={"n_estimators": 60})
    meta = {"version": "live-1", "training_window": {"start": "x", "end": str(split.cutoff)}}
    models = root / "models"
    model_dir = save_model(fitted.pipeline, models / "parcelrisk-live-1", meta)
    test = split.test.sort_values("declared_at", kind="stable").reset_index(drop=True)
    live = replayed_history(fitted.pipeline, test, split.train)
    expected = score(fitted.pipeline, test, Policy(), explain="none", live=live).probability
    batch = score(fitted.pipeline, test, Policy(), explain="none").probability
    late = split.train[split.train["outcome_at"] > split.train["declared_at"].max()]
    known = pd.concat([late, test])
    known = known[known["outcome_at"].notna()].sort_values("outcome_at", kind="stable")
    assert known["outcome_at"].lt(test["declared_at"].max()).sum() > 10  # outcomes come in it
    return SimpleNamespace(
        root=root, models=models, model_dir=model_dir, test=test, records=to_records(test),
        expected=expected, batch=batch, late=to_records(late), outcomes=known,
    )  # fmt: skip


def env_for(window, store: Path, **more) -> dict[str, str]:
    return {"PARCELRISK_MODEL_DIR": str(window.model_dir),
            "PARCELRISK_AUDIT_URL": f"sqlite:///{store}", **more}  # fmt: skip


def post(client: httpx.Client, route: str, body: dict) -> dict:
    r = client.post(route, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def client_of(base: str) -> httpx.Client:
    """One connection for the whole day, as a targeting system keeps one."""
    return httpx.Client(base_url=base, timeout=60)


def outcome_body(row: pd.Series) -> dict:
    if not row["inspected"]:
        return {"parcel_id": row["parcel_id"], "inspected": False}
    return {"parcel_id": row["parcel_id"], "inspected": True,
            "violation_found": bool(row["violation_found"]),
            "inspection_propensity": float(row["inspection_propensity"]),
            "outcome_at": row["outcome_at"].isoformat()}  # fmt: skip


class Day:
    """The window sent parcel by parcel, each outcome posted before the first parcel
    declared after it; resumable on another service."""

    def __init__(self, window) -> None:
        self.window, self.next, self.posted = window, 0, 0
        self.probability = np.full(len(window.records), np.nan)

    def start(self, client: httpx.Client) -> None:
        """Log the training parcels whose outcomes come during the window (as a service
        running before the window would have), so their outcomes can be posted."""
        post(client, "/score", {"parcels": self.window.late})

    def run(self, client: httpx.Client, until: int) -> None:
        t = self.window.test["declared_at"]
        outcomes = self.window.outcomes
        while self.next < until:
            due = outcomes.iloc[self.posted :]
            due = due[due["outcome_at"] < t.iloc[self.next]]
            if len(due):
                sent = [outcome_body(r) for _, r in due.iterrows()]
                assert post(client, "/outcomes", {"outcomes": sent})["recorded"] == len(sent)
                self.posted += len(due)
            [result] = post(client, "/score", {"parcels": [self.window.records[self.next]]})[
                "results"
            ]
            self.probability[self.next] = result["probability"]
            self.next += 1

    def check(self) -> None:
        w = self.window
        np.testing.assert_allclose(self.probability, w.expected, rtol=TOLERANCE, atol=0)
        assert self.posted > 0
        # the history made a difference: the frozen-batch scores are not the same
        assert np.mean(np.abs(w.batch - w.expected) > 1e-9) > 0.01


def test_parcel_by_parcel_with_a_restart_is_the_replayed_evaluation(window, tmp_path):
    store = tmp_path / "audit.db"
    day = Day(window)
    half = len(window.records) // 2
    with bentoml_serve(tmp_path, env_for(window, store)) as base, client_of(base) as client:
        day.start(client)
        day.run(client, half)
    # restarted: reads the log
    with bentoml_serve(tmp_path, env_for(window, store)) as base, client_of(base) as client:
        day.run(client, len(window.records))
        log = (tmp_path / "serve.log").read_text()
    assert "outcomes read from the audit log" in log
    day.check()
    # every logged decision, before and after the restart, replays exactly
    result = replay(AuditStore(f"sqlite:///{store}"), window.models)
    assert result.replayed == len(window.records) + len(window.late)
    assert result.differences == []


def test_parcel_by_parcel_on_two_workers_is_the_replayed_evaluation(window, tmp_path):
    day = Day(window)
    env = env_for(window, tmp_path / "audit.db", PARCELRISK_WORKERS="2")
    with bentoml_serve(tmp_path, env) as base, client_of(base) as client:
        day.start(client)
        day.run(client, len(window.records))
        log = (tmp_path / "serve.log").read_text()
    day.check()
    # each worker read the log at its start (and the start-up check once before them)
    assert log.count("outcomes read from the audit log") == 3


def test_requests_of_any_size_in_any_order_get_the_same_decisions(window, tmp_path):
    """Without outcomes, a window sent in requests of 10 or of 1,000 shuffled parcels, or
    again one by one (each parcel sent a second time), is decided as one batch is."""
    model = load_model(window.model_dir)
    policy = Policy(inspect=0.3, review=0.1)
    expected = {r["parcel_id"]: r for r in decide(model, window.records, policy)}
    (tmp_path / "policy.yaml").write_text("version: sizes\nlanes: {inspect: 0.3, review: 0.1}\n")
    env = env_for(window, tmp_path / "audit.db", PARCELRISK_POLICY=str(tmp_path / "policy.yaml"))
    rng = np.random.default_rng(0)
    with bentoml_serve(tmp_path, env) as base, client_of(base) as client:
        for size in (10, 1000, 1):
            answered = {}
            for start in range(0, len(window.records), size):
                request = window.records[start : start + size]
                request = [request[i] for i in rng.permutation(len(request))]
                for r in post(client, "/score", {"parcels": request})["results"]:
                    answered[r["parcel_id"]] = r
            assert answered.keys() == expected.keys()
            for pid, r in answered.items():
                e = expected[pid]
                assert r["lane"] == e["lane"], (size, pid)
                assert abs(r["probability"] - e["probability"]) <= TOLERANCE * e["probability"]
                assert r["reasons"] == json.loads(json.dumps(e["reasons"])), (size, pid)
