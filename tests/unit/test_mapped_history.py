"""Entity history through a column mapping: keyed on the user's ids, time-aware, no leakage.

The example table of examples/byo/ (importer, declarant, seller and HS code columns, no
names, addresses or description) is read through its mapping; the first 12 days train
the history. Reference values are computed by plain comparisons on the user's own
columns, so they also check that each mapped column reaches the right entity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from parcelrisk.contract import apply_mapping, load_mapping
from parcelrisk.features.history import PRIOR_RATE, PRIOR_WEIGHT, EntityHistory

EXAMPLE = Path(__file__).parents[2] / "examples" / "byo"
DAYS, CUT_DAY, SMOOTHING = 12, 8, 5.0


@pytest.fixture(scope="module")
def both() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first days of the user's table (as text, plus its UTC time ``t``) and mapped."""
    raw = pd.read_csv(EXAMPLE / "declarations.csv", dtype=str, keep_default_na=False,
                      na_values=[""])  # fmt: skip
    mapped = apply_mapping(raw, load_mapping(EXAMPLE / "mapping.yaml"))
    keep = mapped["declared_at"] < mapped["declared_at"].min().floor("D") + pd.Timedelta(days=DAYS)
    return raw[keep].assign(t=mapped["declared_at"][keep]), mapped[keep]


@pytest.fixture(scope="module")
def table(both) -> pd.DataFrame:
    return both[0]


@pytest.fixture(scope="module")
def mapped(both) -> pd.DataFrame:
    return both[1]


@pytest.fixture(scope="module")
def features(mapped) -> pd.DataFrame:
    return EntityHistory(smoothing=SMOOTHING).fit_transform(mapped)


def user_key(table: pd.DataFrame, entity: str) -> np.ndarray:
    """The entity of each row, from the user's columns."""
    hs2, hs4, hs6 = (table["hs6"].str[:n].fillna("?") for n in (2, 4, 6))
    return {
        "recipient": table["importer_id"],
        "filer": table["declarant"],
        "seller": table["seller"],
        "seller_hts4": table["seller"] + "|" + hs4,
        "hts4_origin": hs4 + "|" + table["origin"],
        "carrier": table["courier"],
        "hts6": hs6,
        "hts4": hs4,
        "hts2": hs2,
        # the standard pairs of customs risk work
        "recipient_hts6": table["importer_id"] + "|" + hs6,
        "filer_recipient": table["declarant"] + "|" + table["importer_id"],
        "seller_hts6": table["seller"] + "|" + hs6,
        "recipient_seller": table["importer_id"] + "|" + table["seller"],
        "hts6_origin": hs6 + "|" + table["origin"],
    }[entity].to_numpy(dtype=object)


@pytest.mark.parametrize(
    "entity",
    ["recipient", "filer", "seller", "seller_hts4", "hts4_origin", "carrier", "hts6", "hts4",
     "hts2", "recipient_hts6", "filer_recipient", "seller_hts6", "recipient_seller",
     "hts6_origin"],
)  # fmt: skip
def test_history_matches_plain_comparisons_on_the_users_columns(table, features, entity):
    key = user_key(table, entity)
    t = table["t"].dt.tz_convert(None).to_numpy()
    bad = (table["illicit"] == "Y").to_numpy()  # every row labelled; known from its own time
    day = np.timedelta64(1, "D")
    for i in np.random.default_rng(0).choice(len(table), 120, replace=False):
        earlier = (key == key[i]) & (t < t[i])
        prior = (bad[t < t[i]].sum() + PRIOR_WEIGHT * PRIOR_RATE) / (
            (t < t[i]).sum() + PRIOR_WEIGHT
        )
        row = features.iloc[i]
        assert row[f"{entity}_n_prior"] == earlier.sum()
        assert row[f"{entity}_n_recent"] == (earlier & (t >= t[i] - 7 * day)).sum()
        assert row[f"{entity}_n_violations"] == (earlier & bad).sum()
        expected = ((earlier & bad).sum() + SMOOTHING * prior) / (earlier.sum() + SMOOTHING)
        assert row[f"{entity}_rate"] == pytest.approx(expected, rel=1e-9)
        if earlier.any():
            since = (t[i] - t[earlier].min()) / day
            assert row[f"{entity}_days_since_first"] == pytest.approx(since, rel=1e-9)


def test_entities_the_table_cannot_key_are_skipped(features):
    for entity in ("address", "lading"):
        assert features.filter(like=f"{entity}_").isna().all().all()
    assert features["address_n_names"].isna().all()
    assert features["recipient_n_1d"].notna().all()  # the importer's parcels in 24 h


def test_later_labels_never_reach_earlier_features(table, mapped, features):
    cut = table["t"].min().floor("D") + pd.Timedelta(days=CUT_DAY)
    after = (table["t"] >= cut).to_numpy()
    flipped = mapped.copy()
    flipped.loc[after, "violation_found"] = ~mapped.loc[after, "violation_found"]
    again = EntityHistory(smoothing=SMOOTHING).fit_transform(flipped)
    pd.testing.assert_frame_equal(again[~after], features[~after])
    rates = [c for c in features if c.endswith("_rate")]
    assert not np.allclose(again.loc[after, rates], features.loc[after, rates], equal_nan=True)


def test_a_table_with_only_id_time_and_label_still_gives_features(table):
    from parcelrisk.contract import INPUT_COLUMNS, mapping_from_dict
    from parcelrisk.features import build_features
    from parcelrisk.features.pipeline import skipped

    bare = mapping_from_dict({"id": "declaration_no", "label": {"column": "illicit",
                              "positive": ["Y"], "negative": ["N"]},
                              "time": {"column": "date", "format": "%d/%m/%Y %H:%M"}})  # fmt: skip
    frame = apply_mapping(table, bare)
    union = build_features()
    out = union.fit_transform(frame)
    assert list(out.columns) == list(union.get_feature_names_out())
    assert not np.isinf(out.to_numpy(dtype=float)).any()
    said = skipped(frame, out)
    assert said["absent_inputs"] == list(INPUT_COLUMNS)
    # nothing to describe a parcel by: what is left are counts a model cannot split on
    # usefully, and the feature union says which features it skipped
    assert set(said["skipped_features"]) == set(out.columns[out.isna().all()])
    assert "history__seller_rate" in said["skipped_features"]
