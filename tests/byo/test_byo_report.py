"""The HTML audit report of a parcel scored by a model trained through a column mapping."""

from __future__ import annotations

import pandas as pd

from byo_example import DATA
from parcelrisk.artifact import load_model
from parcelrisk.audit import AuditStore
from parcelrisk.auditreport import parcel_report
from parcelrisk.history_store import HistoryFollower, decide_and_log
from parcelrisk.policy import Policy


def test_report_of_a_user_shaped_decision(trained, tmp_path):
    model = load_model(trained.model)
    table = pd.read_csv(DATA, dtype=str, keep_default_na=False, na_values=[""]).tail(40)
    table = table.drop(columns=["illicit"])  # the label is not sent for scoring
    records = [{k: v for k, v in row.items() if pd.notna(v)} for row in table.to_dict("records")]
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    history = HistoryFollower(store, model)
    _, results = decide_and_log(history, records, Policy(), explain_all=True)
    pid = results[0]["parcel_id"]
    text = parcel_report(store, trained.model.parent, pid)
    assert pid in text and "data:image/png;base64," in text
    for reason in results[0]["reasons"]:
        assert reason["group"] in text
