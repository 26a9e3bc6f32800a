"""Explanations: exact TreeSHAP additivity, grouping into inputs, reasons in both directions."""

import numpy as np
import pytest

from parcelrisk.explain import INPUT_GROUPS, explain, feature_group, reasons


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
