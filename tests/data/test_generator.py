"""Data tests of the synthetic generator: determinism, rates, effects, labelling, contract."""

import numpy as np
import pandas as pd
import pytest

from parcelrisk.contract import schema, validate
from parcelrisk.synth import (
    MECHANISMS,
    GeneratorConfig,
    generate,
    legacy_rule_score,
    mechanism_flags,
    summarize,
)
from parcelrisk.synth.catalogue import VAGUE_TERMS

CFG = GeneratorConfig()


def test_same_seed_gives_identical_data():
    a = generate(rows=5_000, days=10, seed=3)
    b = generate(rows=5_000, days=10, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_different_seeds_give_different_data():
    a = generate(rows=5_000, days=10, seed=3)
    b = generate(rows=5_000, days=10, seed=4)
    assert not a["description"].equals(b["description"])
    assert not np.allclose(a["declared_value_usd"], b["declared_value_usd"])


def test_shape_order_and_ids(generated):
    assert len(generated) == 200_000
    assert generated["parcel_id"].is_unique
    assert generated["declared_at"].is_monotonic_increasing
    days = generated["declared_at"].dt.floor("D")
    assert days.nunique() == CFG.days
    assert list(generated.columns) == [f.name for f in schema.FIELDS]


def test_generated_data_satisfies_the_contract(generated):
    checked = validate(generated, require_outcomes=True)
    assert len(checked) == len(generated)
    for name in generated.columns:
        assert checked[name].dtype == generated[name].dtype, name


def test_headline_figures_are_in_the_realistic_range(generated):
    s = summarize(generated)
    assert 0.05 <= s["violation_rate"] <= 0.09
    assert 0.80 <= s["bayes_roc_auc"] <= 0.92
    assert 0.01 <= s["inspected_rate"] <= 0.03
    assert 0.002 <= s["random_inspected_rate"] <= 0.005
    assert 0.10 <= s["rule_hit_rate"] <= 0.25


def _check_rate(measured: float, expected: float, n: int, what: str) -> None:
    se = np.sqrt(max(expected * (1 - expected), 1e-9) / n)
    # parcels of one order or seller share draws, so allow more than binomial noise
    tolerance = max(0.2 * expected, 5 * se)
    assert abs(measured - expected) <= tolerance, (
        f"{what}: measured {measured:.4f}, expected {expected:.4f} +- {tolerance:.4f}"
    )


# mechanism -> (expected rate among ordinary sellers, among bad actors); exclusivity
# rules (one description per parcel, bunching only without undervaluation) are applied.
_EXPECTED = {
    "fictitious_name": (CFG.fictitious_name.rate, CFG.fictitious_name.rate_bad),
    "drop_address": (CFG.drop_address.rate, CFG.drop_address.rate_bad),
    "transshipment": (CFG.transshipment.rate, CFG.transshipment.rate_bad),
    "undervaluation": (CFG.undervaluation.rate, CFG.undervaluation.rate_bad),
    "bunching": (
        CFG.bunching.rate * (1 - CFG.undervaluation.rate),
        CFG.bunching.rate_bad * (1 - CFG.undervaluation.rate_bad),
    ),
    # bad actors' vague-term use falls from 1.5x to 0.5x over the window: 1x on average
    "vague": (CFG.vague.rate, CFG.vague.rate_bad),
    "missing_field": (
        1 - (1 - CFG.missing_field.rate) ** 5,
        1 - (1 - CFG.missing_field.rate_bad) ** 5,
    ),
}


@pytest.mark.parametrize("mechanism", sorted(_EXPECTED))
def test_mechanism_rates_match_their_documented_rates(generated, mechanism):
    flags = mechanism_flags(generated)
    bad = flags["bad_actor"].to_numpy()
    expected_good, expected_bad = _EXPECTED[mechanism]
    on = flags[mechanism].to_numpy()
    _check_rate(on[~bad].mean(), expected_good, int((~bad).sum()), f"{mechanism} (ordinary)")
    _check_rate(on[bad].mean(), expected_bad, int(bad.sum()), f"{mechanism} (bad actors)")


_EFFECTS = {
    "vague": CFG.vague.effect,
    "mismatch": CFG.mismatch.effect,
    "undervaluation": CFG.undervaluation.effect,
    "bunching": CFG.bunching.effect,
    "fictitious_name": CFG.fictitious_name.effect,
    "drop_address": CFG.drop_address.effect,
    "transshipment": CFG.transshipment.effect,
    "poor_broker": CFG.poor_broker.effect,
    "new_account": CFG.new_account_effect,
}


@pytest.mark.parametrize("mechanism", sorted(_EFFECTS))
def test_mechanism_effects_on_the_true_logit(generated, mechanism):
    """Among comparable parcels, the flag shifts the true logit by its documented effect."""
    flags = mechanism_flags(generated)
    p = generated["gt_violation_prob"].to_numpy()
    logit = np.log(p / (1 - p))
    # compare within ordinary sellers, whose flags are drawn independently of each other
    base = ~flags["bad_actor"].to_numpy()
    if mechanism != "new_account":
        base &= ~flags["new_account"].to_numpy()
    on = flags[mechanism].to_numpy()
    others = [m for m in ("vague", "mismatch", "decoy", "counterfeit") if m != mechanism]
    if mechanism in ("vague", "mismatch"):  # descriptions exclude each other
        base &= ~flags[others].any(axis=1).to_numpy()
    diff = logit[base & on].mean() - logit[base & ~on].mean()
    assert abs(diff - _EFFECTS[mechanism]) < 0.25, f"{mechanism}: measured {diff:.3f}"


def test_bad_actors_are_much_riskier_and_show_more_cues(generated):
    flags = mechanism_flags(generated)
    bad = flags["bad_actor"].to_numpy()
    truth = generated["gt_violation"].to_numpy(dtype=bool)
    assert truth[bad].mean() > 4 * truth[~bad].mean()
    cues = flags[["vague", "undervaluation", "transshipment", "drop_address"]]
    assert (cues[bad].mean() > 3 * cues[~bad].mean()).all()


def test_every_mechanism_is_present(generated):
    flags = mechanism_flags(generated)
    assert list(flags.columns) == list(MECHANISMS)
    assert (flags.sum() > 0).all(), flags.sum()[flags.sum() == 0]


def test_uninspected_parcels_carry_no_outcome(generated):
    uninspected = ~generated["inspected"].to_numpy(dtype=bool)
    for col in ("violation_found", "violation_type", "inspection_reason", "outcome_at"):
        assert generated.loc[uninspected, col].isna().all(), col
    inspected = generated[~uninspected]
    assert inspected["violation_found"].notna().all()
    assert inspected["inspection_reason"].isin(["rule", "random"]).all()
    assert (inspected["outcome_at"] > inspected["declared_at"]).all()


def test_detection_is_imperfect_and_never_invents_violations(generated):
    inspected = generated[generated["inspected"].to_numpy(dtype=bool)]
    found = inspected["violation_found"].to_numpy(dtype=bool)
    truth = inspected["gt_violation"].to_numpy(dtype=bool)
    assert not (found & ~truth).any()
    assert 0.5 < found.sum() / truth.sum() < 0.95
    types = inspected.loc[found, ["violation_type", "gt_violation_type"]]
    assert (types["violation_type"] == types["gt_violation_type"]).all()


def test_selection_is_biased_towards_rule_hits(generated):
    """Targeted inspections over-represent what the legacy rules look for."""
    inspected = generated["inspected"].to_numpy(dtype=bool)
    random = generated["inspection_reason"].eq("random").fillna(False).to_numpy(dtype=bool)
    truth = generated["gt_violation"].to_numpy(dtype=bool)
    assert truth[inspected & ~random].mean() > 2 * truth.mean()
    assert abs(truth[random].mean() - truth.mean()) < 0.02
    score = legacy_rule_score(generated)
    prop = generated["inspection_propensity"].to_numpy()
    np.testing.assert_allclose(
        prop, CFG.random_inspection_rate + (1 - CFG.random_inspection_rate) * score
    )


def test_ground_truth_columns_are_flagged(generated):
    gt_cols = [c for c in generated.columns if c.startswith("gt_")]
    assert sorted(gt_cols) == sorted(schema.GROUND_TRUTH_COLUMNS)
    assert not set(gt_cols) & set(schema.INPUT_COLUMNS)
    with pytest.raises(ValueError, match=r"ground-truth column\(s\) \['gt_violation_prob'\]"):
        schema.forbid_ground_truth(["declared_value_usd", "gt_violation_prob"], "features")


def test_descriptions_read_like_varied_listings(generated):
    desc = generated["description"]
    assert desc.nunique() > 5_000
    assert desc.str.len().between(2, 200).all()
    flags = mechanism_flags(generated)
    vague = desc[flags["vague"].to_numpy()].str.lower()
    assert vague.apply(lambda d: any(t in d for t in VAGUE_TERMS)).all()
    # a category's listings are not one template: first words vary widely
    apparel = desc[generated["hts_code"].astype("string").str.startswith("6109").fillna(False)]
    assert apparel.str.split().str[0].nunique() > 20


def test_drift_bad_actors_grow_and_move_away_from_legacy_terms(generated):
    flags = mechanism_flags(generated)
    week = (generated["declared_at"] - generated["declared_at"].min()).dt.days // 7
    first, last = week == week.min(), week == week.max() - 1
    bad = flags["bad_actor"]
    assert bad[last].mean() > bad[first].mean()
    assert flags["vague"][bad & first].mean() > flags["vague"][bad & last].mean()
    assert flags["mismatch"][bad & first].mean() < flags["mismatch"][bad & last].mean()


def test_value_threshold_is_configuration(generated):
    low = generate(rows=50_000, seed=1, value_threshold=400.0)
    flags = mechanism_flags(low)
    bunched = low.loc[flags["bunching"].to_numpy(), "declared_value_usd"]
    assert len(bunched) > 0
    assert bunched.between(0.88 * 400, 400).all()
    listed_total = low["listed_price_usd"] * low["quantity"]
    assert (listed_total[flags["bunching"].to_numpy()].dropna() > 400).all()


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match=r"unknown generator setting\(s\) \['rowz'\]"):
        generate(rowz=10)


@pytest.mark.parametrize("seed", [339, 647, 2118])
def test_every_seed_generates(seed):
    """Seeds that once drew no poor filer must work like any other."""
    frame = generate(rows=2_000, days=7, seed=seed)
    assert len(frame) == 2_000
