"""Batch decisions of a table equal the decisions of the same parcels sent as records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from parcelrisk.artifact import LoadedModel
from parcelrisk.contract import DECLARATION_COLUMNS, ContractError
from parcelrisk.policy import Policy
from parcelrisk.predict import decide, decide_frame


@pytest.fixture(scope="module")
def model(fitted, tmp_path_factory) -> LoadedModel:
    return LoadedModel(fitted.pipeline, {"version": "batch"}, tmp_path_factory.mktemp("m"))


@pytest.fixture(scope="module")
def table(split):
    return split.test[list(DECLARATION_COLUMNS)].iloc[:3000]


POLICY = Policy()


def test_table_decisions_equal_record_decisions(model, table):
    out = decide_frame(model, table, POLICY)
    records = json.loads(table.to_json(orient="records", date_format="iso"))
    expected = decide(model, records, POLICY)
    assert list(out.columns) == ["parcel_id", "probability", "lane", "model_version", "reasons"]
    assert out["parcel_id"].tolist() == [d["parcel_id"] for d in expected]
    assert np.array_equal(out["probability"].to_numpy(), [d["probability"] for d in expected])
    assert out["lane"].tolist() == [d["lane"] for d in expected]
    assert (out["model_version"] == "batch").all()
    assert out["reasons"].tolist() == [d["reasons"] for d in expected]
    flagged = out["lane"] != "release"
    assert flagged.any() and out.loc[flagged, "reasons"].map(bool).all()
    assert out.loc[~flagged, "reasons"].isna().all()


def test_explain_all_gives_every_parcel_reasons(model, table):
    out = decide_frame(model, table.iloc[:200], Policy(top=2), explain="all")
    assert out["reasons"].map(lambda rs: 0 < len(rs) <= 2).all()  # top=2


def test_invalid_rows_are_refused_whole(model, table):
    bad = table.iloc[:50].copy()
    bad.iloc[7, bad.columns.get_loc("declared_value_usd")] = -5.0
    with pytest.raises(ContractError, match=bad["parcel_id"].iloc[7]):
        decide_frame(model, bad, POLICY)


def test_empty_table_gives_an_empty_result(model, table):
    out = decide_frame(model, table.iloc[:0], POLICY)
    assert out.empty and "reasons" in out.columns
