"""Explanations: exact TreeSHAP additivity, grouping into inputs, reasons in both directions."""

import numpy as np
import pandas as pd
import pytest

from parcelrisk.explain import (
    INPUT_GROUPS,
    compensated_group_sums,
    evidence,
    explain,
    feature_group,
    group_sums,
    reasons,
    records,
)


@pytest.fixture(scope="module")
def explained(fitted, split):
    sample = split.test.head(500)
    return sample, explain(fitted.pipeline, sample)


def test_base_value_plus_contributions_equals_the_margin(explained, fitted):
    sample, e = explained
    total = e.base_value + e.by_feature.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, e.margin, atol=1e-6, rtol=0)
    margin = fitted.pipeline[-1].decision_function(fitted.pipeline[:-1].transform(sample))
    np.testing.assert_allclose(e.margin, margin, atol=1e-9)


def test_every_feature_belongs_to_a_named_input_group(explained):
    _, e = explained
    groups = {feature_group(c) for c in e.by_feature.columns}
    assert "other" not in groups
    assert groups <= set(INPUT_GROUPS)
    np.testing.assert_allclose(e.by_group.sum(axis=1), e.by_feature.sum(axis=1), atol=1e-9)


def test_calibrated_log_odds_follow_the_margin(explained, fitted):
    sample, e = explained
    a, b = fitted.pipeline[-1].calibration_
    p = fitted.pipeline.predict_proba(sample)[:, 1]
    np.testing.assert_allclose(np.log(p / (1 - p)), a * e.margin + b, atol=1e-9)
    assert e.calibration_slope == a


def test_reasons_come_in_both_directions_with_evidence(explained):
    sample, e = explained
    raising = reasons(e, sample, top=3, direction="raises")
    lowering = reasons(e, sample, top=3, direction="lowers")
    assert len(raising) == len(lowering) == len(sample)
    assert all(r["contribution"] > 0 and r["direction"] == "raises" for rs in raising for r in rs)
    assert all(r["contribution"] < 0 and r["direction"] == "lowers" for rs in lowering for r in rs)
    assert sum(map(len, raising)) > 0 and sum(map(len, lowering)) > 0
    for rs in raising + lowering:
        contributions = [abs(r["contribution"]) for r in rs]
        assert contributions == sorted(contributions, reverse=True)
        assert all(r["text"] and r["text"] != r["group"] for r in rs)


def test_seller_reason_states_the_sellers_record(explained):
    sample, e = explained
    texts = [r["text"] for rs in reasons(e, sample, top=8, direction="both") for r in rs]
    seller = [t for t in texts if t.startswith("seller: ")]
    assert seller and all("earlier parcels" in t for t in seller)


def test_unknown_direction_is_refused(explained):
    sample, e = explained
    with pytest.raises(ValueError, match="direction must be 'raises', 'lowers' or 'both'"):
        reasons(e, sample, direction="up")


def _pandas_by_group(e) -> pd.DataFrame:
    return (
        e.by_feature.T.groupby([feature_group(c) for c in e.by_feature.columns], sort=False).sum().T
    )


def _pandas_reasons(e, declarations, top: int, direction: str) -> list[list[dict]]:
    """Reasons computed through pandas throughout: grouped sums and ``to_dict`` rows."""
    groups = _pandas_by_group(e)
    names, values = list(groups.columns), groups.to_numpy()
    key = {"raises": -values, "lowers": values, "both": -np.abs(values)}[direction]
    ranked = np.argsort(key, axis=1, kind="stable")[:, :top]
    features, parcels = e.features.to_dict("records"), declarations.to_dict("records")
    return [
        [
            {"group": names[c], "contribution": float(row[c]),
             "direction": "raises" if row[c] > 0 else "lowers",
             "text": evidence(names[c], features[pos], parcels[pos])}
            for c in columns
            if row[c] and (direction == "both" or (row[c] > 0) == (direction == "raises"))
        ]
        for pos, (columns, row) in enumerate(zip(ranked, values, strict=True))
    ]  # fmt: skip


def _bits(rs: list[list[dict]]) -> list[list[dict]]:
    """Reasons with each contribution as its exact bits."""
    return [[{**r, "contribution": float.hex(r["contribution"])} for r in row] for row in rs]


def test_grouped_contributions_equal_the_pandas_sum_bit_for_bit(explained):
    _, e = explained
    expected = _pandas_by_group(e)
    assert compensated_group_sums(e.by_feature) is not None  # the numpy twin is taken
    names, sums = group_sums(e.by_feature)
    assert names == expected.columns.tolist()
    assert np.array_equal(sums.view(np.uint64), expected.to_numpy().view(np.uint64))
    pd.testing.assert_frame_equal(e.by_group, expected, check_exact=True)


@pytest.mark.parametrize("direction", ["raises", "lowers", "both"])
def test_reasons_equal_the_pandas_computation_exactly(explained, fitted, direction):
    sample, e = explained
    assert _bits(reasons(e, sample, top=8, direction=direction)) == _bits(
        _pandas_reasons(e, sample, top=8, direction=direction)
    )
    for i in range(0, len(sample), 50):  # one parcel at a time, as a request of one
        one = sample.iloc[[i]]
        single = explain(fitted.pipeline, one)
        assert _bits(reasons(single, one, direction=direction)) == _bits(
            _pandas_reasons(single, one, top=3, direction=direction)
        )


def test_rows_read_as_to_dict_records(explained):
    sample, e = explained
    for frame in (sample, e.features):
        expected = frame.head(20).to_dict("records")
        rows = [dict(row) for row in records(frame.head(20))]
        assert [list(r) for r in rows] == [list(r) for r in expected]
        assert all(
            type(a[k]) is type(b[k]) and (a[k] == b[k] or (pd.isna(a[k]) and pd.isna(b[k])))
            for a, b in zip(rows, expected, strict=True)
            for k in b
        )
