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
    points_words,
    probability_points,
    reason_text,
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
    given = [r for rs in reasons(e, sample, top=8, direction="both") for r in rs]
    seller = [r["text"] for r in given if r["group"] == "seller history"]
    assert seller and all(": seller: " in t and "earlier parcels" in t for t in seller)


def test_points_are_the_probability_without_the_groups_contribution(explained, fitted):
    sample, e = explained
    a, b = fitted.pipeline[-1].calibration_
    p = fitted.pipeline.predict_proba(sample)[:, 1]
    given = reasons(e, sample, top=9, direction="both")
    by_group = e.by_group
    checked = 0
    for pos, rs in enumerate(given):
        for r in rs:
            c = by_group.iloc[pos][r["group"]]
            assert r["contribution"] == c  # the contribution as it was, beside its points
            without = 1 / (1 + np.exp(-(a * (e.margin[pos] - c) + b)))
            assert r["points"] == pytest.approx(100 * (p[pos] - without), rel=1e-9, abs=1e-12)
            assert np.sign(r["points"]) == np.sign(c)
            assert r["text"].startswith(points_words(r["points"]) + ": ")
            checked += 1
    assert checked > 1000
    moved = [abs(r["points"]) for rs in given for r in rs]
    assert max(moved) > 5  # some reason moves the probability by whole points


def test_points_keep_their_sign_for_tiny_and_huge_contributions():
    contributions = np.array([1e-300, -1e-300, 1e-9, -1e-9, 800.0, -800.0, 3.0, -3.0])
    for margin in (-40.0, 0.0, 40.0):
        points = probability_points(margin, contributions, (1.0, 0.0))
        assert np.isfinite(points).all()
        assert (np.sign(points[[0, 2, 4, 6]]) == 1).all()
        assert (np.sign(points[[1, 3, 5, 7]]) == -1).all()
    # at a margin of 0 (p = 0.5) without a contribution of +3 the probability is sigmoid(-3)
    assert probability_points(0.0, 3.0, (1.0, 0.0)) == pytest.approx(
        100 * (0.5 - 1 / (1 + np.exp(3.0))), rel=1e-12
    )


@pytest.mark.parametrize(
    ("points", "words"),
    [(12.345, "+12.3 points"), (-0.8, "-0.8 points"), (0.04, "+0.04 points"),
     (-0.001, "-less than 0.01 points")],
)  # fmt: skip
def test_points_are_worded_with_their_sign(points, words):
    assert points_words(points) == words
    assert reason_text(points, "raises", "x").startswith(f"{words}: raises risk: x")


def test_every_groups_reason_says_whether_and_why_it_raises_or_lowers_risk(explained):
    sample, e = explained
    given = [r for rs in reasons(e, sample, top=9, direction="both") for r in rs]
    moved = e.by_group.columns[(e.by_group != 0).any()]
    assert len(moved) >= 7 and {r["group"] for r in given} == set(moved)  # every group it uses
    for r in given:
        says = "raises risk: " if r["contribution"] > 0 else "lowers risk: "
        other = "lowers risk" if r["contribution"] > 0 else "raises risk"
        assert f"points: {says}" in r["text"] and other not in r["text"], r
        why = r["text"].split(says, 1)[1]
        assert "(" in why and ")" in why, r  # each fact with what it means


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
    points = probability_points(e.margin[:, None], values, e.calibration)
    return [
        [
            {"group": names[c], "contribution": float(row[c]), "points": float(points[pos, c]),
             "direction": "raises" if row[c] > 0 else "lowers",
             "text": reason_text(float(points[pos, c]), "raises" if row[c] > 0 else "lowers",
                                 evidence(names[c], features[pos], parcels[pos]))}
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
