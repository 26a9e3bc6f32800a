"""Entity keys of the history features: one recipient key kind, and missing identities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from parcelrisk.features.history import EntityHistory


def _frame(valid_frame: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    """``n`` copies of the valid frame a day apart (repeat parties give a history)."""
    parts = []
    for k in range(n):
        part = valid_frame.copy()
        part["parcel_id"] = part["parcel_id"] + f"-{k}"
        part["declared_at"] = part["declared_at"] + pd.Timedelta(days=k)
        part["outcome_at"] = part["outcome_at"] + pd.Timedelta(days=k)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_a_model_trained_without_ids_keeps_name_history_when_ids_are_sent(valid_frame):
    frame = _frame(valid_frame)
    train, new = frame.iloc[:15].copy(), frame.iloc[15:].copy()
    train["recipient_id"] = None
    history = EntityHistory().fit(train)
    assert history.recipient_key_ == "name_address"
    without = history.transform(new.assign(recipient_id=None))
    with_ids = history.transform(new)
    pd.testing.assert_frame_equal(with_ids, without)
    assert (without["recipient_n_prior"] > 0).all()


def test_a_model_trained_with_ids_keys_recipients_on_them(valid_frame):
    frame = _frame(valid_frame).assign(recipient_id="C1")
    history = EntityHistory().fit(frame.iloc[:15])
    assert history.recipient_key_ == "id"
    got = history.transform(frame.iloc[15:])
    earlier = [(frame["declared_at"] < t).sum() for t in frame["declared_at"].iloc[15:]]
    assert got["recipient_n_prior"].tolist() == earlier  # one recipient, whatever its names
    assert got["address_n_names"].max() == 1  # one recipient id, never an id plus its names


def test_a_missing_identity_gives_missing_features_not_a_shared_entity(valid_frame):
    frame = _frame(valid_frame).assign(recipient_id=None)  # recipients keyed on name at address
    frame.loc[[0, 6, 12, 18], "seller_id"] = None
    frame.loc[[1, 7, 13, 19], "filer_code"] = None
    frame.loc[[2, 8], "recipient_address"] = None
    frame.loc[[3, 9], "recipient_name"] = None
    history = EntityHistory().fit(frame.iloc[:15])
    got = history.transform(frame)
    seller = got.filter(regex=r"^seller_(hts[46]_)?(n_|days|rate|share)")
    assert seller.iloc[[0, 6, 12, 18]].isna().all().all()
    assert seller.drop(index=[0, 6, 12, 18]).notna().any(axis=1).all()
    assert got.filter(regex=r"^filer_").iloc[[1, 7, 13, 19]].isna().all().all()
    assert got.filter(regex=r"^address_").iloc[[2, 8]].isna().all().all()
    recipient = got.filter(regex=r"^recipient_|^address_n_names$")
    assert recipient.iloc[[2, 3, 8, 9]].isna().all().all()
    # a missing HTS code is still the entity '?': generated data has them (about 5%)
    frame.loc[[4, 9, 14], "hts_code"] = None
    got = EntityHistory().fit(frame.iloc[:15]).transform(frame)
    assert np.isfinite(got.loc[[4, 9, 14], "hts4_origin_n_prior"]).all()
