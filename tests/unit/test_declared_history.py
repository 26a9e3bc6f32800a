"""Declared history keys: the ``history:`` of a column mapping or a config, the parts a key
may have, and the features a declared pair gets (its leakage proofs are those of every
default key: tests/unit/test_features.py checks each against a brute-force count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parcelrisk.config import load_config
from parcelrisk.contract import load_mapping, mapping_from_dict, read_table
from parcelrisk.contract.problems import MappingError
from parcelrisk.features.entities import DEFAULT_HISTORY, group_of, history_records, split_name
from parcelrisk.features.groups import COMMODITY_TYPE, EXTRA, FILER, RECIPIENT, ROUTING, SELLER
from parcelrisk.features.history import EntityHistory

EXAMPLE = Path(__file__).parents[2] / "examples" / "byo"


@pytest.fixture(scope="module")
def byo():
    mapping = load_mapping(EXAMPLE / "mapping.yaml")
    return mapping, read_table(EXAMPLE / "declarations.csv", mapping).iloc[:4000]


def test_mapping_history_round_trips_and_plain_mappings_are_unchanged(byo):
    mapping, _ = byo
    assert "history" not in mapping.to_dict()  # models exported before keep their mapping
    declared = mapping_from_dict(
        {**mapping.to_dict(), "history": ["seller", ["recipient", "hts6"]]}
    )
    assert declared.history == (("seller",), ("recipient", "hts6"))
    assert mapping_from_dict(declared.to_dict()) == declared


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([], "history must be a non-empty list"),
        ("seller", "history must be a non-empty list"),
        ([1], "history key 1 is not a part name"),
        ([["seller", ""]], "is not a part name or a list of part names"),
        (["seller", ["seller"]], "history keys named more than once: ['seller']"),
    ],
)
def test_mapping_history_of_the_wrong_shape_is_refused(byo, history, message):
    mapping, _ = byo
    with pytest.raises(MappingError, match="1 problem") as err:
        mapping_from_dict({**mapping.to_dict(), "history": history})
    assert message in str(err.value)


def test_config_history(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("history: [filer, [recipient, hts6], [hts6, origin]]\n")
    assert load_config(path).history == (("filer",), ("recipient", "hts6"), ("hts6", "origin"))
    path.write_text("history: [[recipient, 7]]\n")
    with pytest.raises(ValueError, match=r"model.yaml: history key \['recipient', 7\]"):
        load_config(path)


def test_declared_pairs_and_extra_columns_get_history(byo):
    _, frame = byo
    keys = (("recipient", "hts6"), ("channel",), ("filer", "channel"))
    out = EntityHistory(entities=keys).fit_transform(frame)
    names = [c.removesuffix("_n_prior") for c in out.columns if c.endswith("_n_prior")]
    assert names == ["recipient_hts6", "channel", "filer_channel"]
    # no seller, address or recipient kept: no cue shares, no recipient counts
    assert not [c for c in out.columns if "share" in c or c.startswith("address_")]
    pair = frame["recipient_id"] + "|" + frame["hts_code"].str[:6].fillna("?")
    first = ~pair.duplicated()
    np.testing.assert_array_equal(out["recipient_hts6_n_prior"][first.to_numpy()], 0)
    assert out["recipient_hts6_n_prior"].max() > 0


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("seller_id", "'seller_id' cannot be a part: use the part 'seller'"),
        ("recipient_id", "'recipient_id' cannot be a part: use the part 'recipient'"),
        ("violation_found", "field of role 'outcome' and kind 'bool'"),
        ("gt_violation", "field of role 'ground_truth' and kind 'bool'"),
        ("description", "field of role 'input' and kind 'text'"),
        ("duty_amount_x", "unknown part 'duty_amount_x': not a column of the data"),
    ],
)
def test_parts_that_cannot_be_keys_are_refused(byo, part, message):
    _, frame = byo
    with pytest.raises(ValueError, match="history key") as err:
        EntityHistory(entities=(("seller",), ("recipient", part))).fit(frame)
    assert message in str(err.value)


def test_every_default_part_is_known_and_grouped():
    assert [group_of("_".join(k)) for k in DEFAULT_HISTORY[:8]] == [
        SELLER, SELLER, COMMODITY_TYPE, FILER, RECIPIENT, RECIPIENT, ROUTING, ROUTING
    ]  # fmt: skip
    assert group_of("channel_filer") is EXTRA
    assert split_name("recipient_hts6") == ["recipient", "hts6"]
    assert split_name("export_country_mode") == ["export_country", "mode"]
    assert split_name("process_type_hts2") == ["process_type_hts2"]  # an extra column first


def test_records_word_declared_pairs_with_the_parcels_values():
    f = {"recipient_hts6_n_inspected": 4.0, "recipient_hts6_n_violations": 3.0,
         "recipient_hts6_rate": 0.7, "seller_n_inspected": 9.0, "seller_n_violations": 1.0,
         "seller_rate": 0.1, "hts2_n_inspected": 0.0, "hts2_n_violations": 0.0,
         "hts2_rate": 0.05}  # fmt: skip
    parcel = {"recipient_id": "IMP1", "hts_code": "851821", "seller_id": "S1"}
    # the seller's record is its own group's sentence; a key with no inspections says nothing
    assert history_records(f, parcel) == [
        "recipient IMP1 x hts6 851821: 3 of 4 earlier inspected parcels violative (a record "
        "of violations)"
    ]
