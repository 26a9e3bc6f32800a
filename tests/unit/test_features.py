"""Feature transformers: time-aware history (no leakage), ground truth kept out, interfaces.

One generated data set (20,000 parcels over 20 days) is split in time: the first 14 days
train the feature union, the last 6 days are "later" parcels transformed with the state
learned from the training days. Leakage tests change the outcomes of parcels declared
after a cut inside the training days and refit: nothing known before the cut may move.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from parcelrisk.contract import DECLARATION_COLUMNS, GROUND_TRUTH_COLUMNS, OUTCOME_COLUMNS, validate
from parcelrisk.features import build_features
from parcelrisk.features.commodity import CommodityFeatures
from parcelrisk.features.entities import DEFAULT_HISTORY, entity_name, split_name
from parcelrisk.features.events import EventIndex, seconds
from parcelrisk.features.history import (
    CUES,
    PRIOR_RATE,
    PRIOR_WEIGHT,
    EntityHistory,
    cue_matrix,
)
from parcelrisk.features.party import PartyFeatures
from parcelrisk.features.pipeline import skipped, skips_said_once
from parcelrisk.features.routing import CATEGORICAL_COLUMNS, CategoryCodes, RoutingFeatures
from parcelrisk.features.text import DescriptionFeatures, normalize
from parcelrisk.synth import generate

ROWS, DAYS, SEED = 20_000, 20, 1
TRAIN_DAYS = 14  # training part: the first 14 days; later parcels: the last 6
CUT_DAY = 9  # leakage cut inside the training part
ENTITIES = tuple(entity_name(key) for key in DEFAULT_HISTORY)
PARTS = ("history", "description", "commodity", "routing", "category", "party")
OPTIONAL = ("hts_code", "listed_price_usd", "lading_port")
DAY = pd.Timedelta(days=1)


# --- data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(rows=ROWS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module")
def start(frame) -> pd.Timestamp:
    return frame["declared_at"].min().floor("D")


@pytest.fixture(scope="module")
def train(frame, start) -> pd.DataFrame:
    return frame[frame["declared_at"] < start + TRAIN_DAYS * DAY]


@pytest.fixture(scope="module")
def later(frame, start) -> pd.DataFrame:
    return frame[frame["declared_at"] >= start + TRAIN_DAYS * DAY]


@pytest.fixture(scope="module")
def cut(start) -> pd.Timestamp:
    return start + CUT_DAY * DAY


@pytest.fixture(scope="module")
def fitted(train) -> SimpleNamespace:
    """The feature union fitted on the training part, and its fit_transform output."""
    union = build_features()
    features = union.fit_transform(train)
    return SimpleNamespace(union=union, features=features)


@pytest.fixture(scope="module")
def later_features(fitted, later) -> pd.DataFrame:
    return fitted.union.transform(later)


def part(fitted, name: str):
    return dict(fitted.union.transformer_list)[name]


def change_outcomes(frame: pd.DataFrame, rows: np.ndarray, how: str) -> pd.DataFrame:
    """A contract-valid copy of ``frame`` whose outcomes of ``rows`` are changed.

    flip: every inspected parcel's finding is reversed; inspect_all: every parcel is
    inspected, found violative and recorded one second after its declaration (the earliest
    an outcome can be known); uninspect: no parcel has an outcome; scramble: inspection,
    finding and recording time are redrawn at random.
    """
    out = frame.copy()
    sel = pd.Series(rows, index=out.index)
    inspected = out["inspected"].fillna(False).astype(bool)
    found = out["violation_found"].fillna(False).astype(bool)
    if how == "flip":
        new_inspected, new_found, outcome_at = inspected, ~found, out["outcome_at"]
    elif how == "inspect_all":
        new_inspected = pd.Series(True, index=out.index)
        new_found = pd.Series(True, index=out.index)
        outcome_at = out["declared_at"] + pd.Timedelta(seconds=1)
    elif how == "uninspect":
        new_inspected = pd.Series(False, index=out.index)
        new_found, outcome_at = new_inspected, out["outcome_at"]
    elif how == "scramble":
        rng = np.random.default_rng(7)
        new_inspected = pd.Series(rng.random(len(out)) < 0.3, index=out.index)
        new_found = pd.Series(rng.random(len(out)) < 0.5, index=out.index)
        lag = pd.to_timedelta(rng.integers(1, 2 * 86_400, len(out)), unit="s")
        outcome_at = out["declared_at"] + lag
    else:
        raise AssertionError(how)
    insp = inspected.where(~sel, new_inspected)
    fnd = found.where(~sel, new_found) & insp
    out["inspected"] = insp.astype("boolean")
    out["violation_found"] = fnd.astype("boolean").where(insp, pd.NA)
    kind = out["violation_type"].where(~sel, "counterfeit")
    out["violation_type"] = kind.where(fnd, pd.NA).astype("string")
    out["outcome_at"] = out["outcome_at"].where(~sel, outcome_at).where(insp)
    reason = out["inspection_reason"].where(~sel, "random")
    out["inspection_reason"] = reason.where(insp, pd.NA).astype("string")
    # still a valid training frame: a realistic alternative history, not garbage
    return validate(out, require_outcomes=True)


def assert_features_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns and values (NaN equals NaN), naming the columns that differ."""
    assert list(actual.columns) == list(expected.columns)
    assert actual.index.equals(expected.index)
    a, e = actual.to_numpy(dtype=float), expected.to_numpy(dtype=float)
    differing = [
        c for i, c in enumerate(expected.columns) if not np.array_equal(a[:, i], e[:, i], True)
    ]
    np.testing.assert_array_equal(a, e, err_msg=f"features differ: {differing}")


def rate_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c.endswith("_rate")]


def history_part(features: pd.DataFrame) -> pd.DataFrame:
    """The history__ columns of a feature union output, without the prefix."""
    cols = [c for c in features.columns if c.startswith("history__")]
    return features[cols].rename(columns=lambda c: c.removeprefix("history__"))


# --- leakage: history features are time-aware ----------------------------------------------


@pytest.mark.parametrize("how", ["flip", "inspect_all", "uninspect", "scramble"])
def test_history_before_cut_ignores_outcomes_of_later_parcels(fitted, train, cut, how):
    after_cut = (train["declared_at"] >= cut).to_numpy()
    changed = change_outcomes(train, after_cut, how)
    before = history_part(fitted.features)  # the union's EntityHistory() on the same frame
    after = EntityHistory().fit_transform(changed)
    assert_features_equal(after[~after_cut], before[~after_cut])
    # the change is visible to parcels after the cut, so the check above can fail
    counts = [c for c in before.columns if c.endswith(("_n_inspected", "_n_violations"))]
    assert not np.array_equal(after.loc[after_cut, counts], before.loc[after_cut, counts])
    rates = rate_columns(before)
    assert not np.array_equal(after.loc[after_cut, rates], before.loc[after_cut, rates])


@pytest.fixture(scope="module")
def union_after_change(train, cut) -> pd.DataFrame:
    """The full feature union fitted on the training part with scrambled later outcomes."""
    after_cut = (train["declared_at"] >= cut).to_numpy()
    return build_features().fit_transform(change_outcomes(train, after_cut, "scramble"))


def test_feature_union_before_cut_ignores_later_outcomes(fitted, union_after_change, train, cut):
    early = (train["declared_at"] < cut).to_numpy()
    assert_features_equal(union_after_change[early], fitted.features[early])
    # and the change did reach the parcels after the cut
    assert not np.array_equal(
        union_after_change[~early].to_numpy(), fitted.features[~early].to_numpy(), True
    )


def own_outcome_cases(frame: pd.DataFrame) -> list[str]:
    """Inspected parcels of busy sellers, so their features are far from trivial."""
    inspected = frame[frame["inspected"].fillna(False).astype(bool)]
    busy = inspected["seller_id"].map(frame["seller_id"].value_counts()) >= 5
    return list(inspected.loc[busy, "parcel_id"].iloc[[0, 10]])


@pytest.mark.parametrize("case", range(2))
def test_own_outcome_never_changes_own_features(fitted, train, case):
    pid = own_outcome_cases(train)[case]
    row = (train["parcel_id"] == pid).to_numpy()
    before = history_part(fitted.features)
    for how in ("flip", "inspect_all", "uninspect"):
        changed = change_outcomes(train, row, how)
        # also the extreme case: outcome recorded at the very second of the declaration
        if how != "uninspect":
            changed.loc[row, "outcome_at"] = changed.loc[row, "declared_at"]
        after = EntityHistory().fit_transform(changed)
        assert_features_equal(after[row], before[row])


def test_outcome_counts_only_from_when_it_was_recorded(frame):
    """A: inspected (violation) on day 0, recorded on day 2; B, C, D: same parties later."""
    base = frame.iloc[[0, 0, 0, 0]].reset_index(drop=True)
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    base["parcel_id"] = ["A", "B", "C", "D"]
    base["declared_at"] = [t0, t0 + DAY, t0 + 2 * DAY + pd.Timedelta(seconds=1), t0 + 3 * DAY]
    base["inspected"] = pd.array([True, False, False, False], dtype="boolean")
    base["inspection_reason"] = pd.array(["random", None, None, None], dtype="string")
    base["violation_found"] = pd.array([True, None, None, None], dtype="boolean")
    base["violation_type"] = pd.array(["counterfeit", None, None, None], dtype="string")
    base["outcome_at"] = pd.to_datetime([t0 + 2 * DAY, None, None, None], utc=True)
    base = validate(base, require_outcomes=True)
    out = EntityHistory(smoothing=1.0).fit_transform(base)
    # smoothing 1: (violations + prior) / (inspected + 1); the prior also learns A from day 2
    known = (1 + PRIOR_WEIGHT * PRIOR_RATE) / (1 + PRIOR_WEIGHT)
    rates = [PRIOR_RATE, PRIOR_RATE, (1 + known) / 2, (1 + known) / 2]
    for entity in ENTITIES:
        # B was declared after A but before A's outcome was recorded: it must not know it
        np.testing.assert_array_equal(out[f"{entity}_n_prior"], [0, 1, 2, 3])
        np.testing.assert_array_equal(out[f"{entity}_n_inspected"], [0, 0, 1, 1])
        np.testing.assert_array_equal(out[f"{entity}_n_violations"], [0, 0, 1, 1])
        np.testing.assert_allclose(out[f"{entity}_rate"], rates)
        np.testing.assert_allclose(
            out[f"{entity}_days_since_first"], [np.nan, 1, 2 + 1 / 86_400, 3]
        )
    # parcels of the same recipient in the day before: [t - 1 day, t)
    np.testing.assert_array_equal(out["recipient_n_1d"], [0, 1, 0, 1])
    np.testing.assert_array_equal(out["address_n_names"], [0, 1, 1, 1])


def entity_key(frame: pd.DataFrame, entity: str) -> np.ndarray:
    """Each parcel's key for an entity, as the history features document it: its parts
    joined by '|' (missing where an identity is; '?' for any other missing part)."""
    address = normalize(frame["recipient_address"]) + "|"
    address += frame["recipient_zip"].astype("string").fillna("")
    fields = {"origin": "origin_country", "export": "export_country", "lading": "lading_port",
              "port": "port_of_entry"}  # fmt: skip

    def part(name: str) -> pd.Series:
        if name in ("seller", "filer"):
            return frame[{"seller": "seller_id", "filer": "filer_code"}[name]].astype("string")
        if name == "address":
            return address
        if name == "recipient":
            return normalize(frame["recipient_name"]) + "|" + address
        if name.startswith("hts"):
            return frame["hts_code"].astype("string").str[: int(name[3:])].fillna("?")
        return frame[fields.get(name, name)].astype("string").fillna("?")

    parts = [part(name) for name in split_name(entity)]
    key = parts[0]
    for more in parts[1:]:
        key = key + "|" + more
    return key.to_numpy(dtype=object)


def naive(times: pd.Series) -> np.ndarray:
    """UTC times as numpy datetime64, in whole seconds like the history features."""
    return times.dt.tz_convert(None).dt.floor("s").to_numpy()


def prior_at(outcome_times: np.ndarray, found: np.ndarray, t) -> float:
    """The smoothing prior at t: the rate over every outcome recorded before t, shrunk."""
    known = outcome_times < t
    return (found[known].sum() + PRIOR_WEIGHT * PRIOR_RATE) / (known.sum() + PRIOR_WEIGHT)


def brute_force(
    history: pd.DataFrame, outcomes: pd.DataFrame, query: pd.DataFrame, entity: str, m: float
) -> pd.DataFrame:
    """Reference history features by plain comparisons, one query parcel at a time.

    ``history``: declarations that count as earlier parcels; ``outcomes``: the parcels
    whose recorded outcomes are known; ``query``: the parcels to describe.
    """
    h_key, h_t = entity_key(history, entity), naive(history["declared_at"])
    o = outcomes[outcomes["inspected"].fillna(False).astype(bool)]
    o_key, o_t = entity_key(o, entity), naive(o["outcome_at"])
    o_found = o["violation_found"].fillna(False).to_numpy(dtype=bool)
    rows = []
    for k, t in zip(entity_key(query, entity), naive(query["declared_at"]), strict=True):
        earlier = (h_key == k) & (h_t < t)
        known = (o_key == k) & (o_t < t)
        n_insp, n_viol = known.sum(), (known & o_found).sum()
        prior = prior_at(o_t, o_found, t)
        since = (t - h_t[earlier].min()) / np.timedelta64(1, "D") if earlier.any() else np.nan
        rows.append(
            {
                "n_prior": earlier.sum(),
                "days_since_first": since,
                "n_recent": (earlier & (h_t >= t - np.timedelta64(7, "D"))).sum(),
                "n_inspected": n_insp,
                "n_violations": n_viol,
                "rate": (n_viol + m * prior) / (n_insp + m),
            }
        )
    return pd.DataFrame(rows, index=query.index).add_prefix(f"{entity}_").astype(float)


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_history_of_training_parcels_matches_brute_force(fitted, train, entity):
    history = part(fitted, "history")
    features = history_part(fitted.features)
    sample = train.sample(150, random_state=0)
    expected = brute_force(train, train, sample, entity, history.smoothing)
    np.testing.assert_allclose(features.loc[sample.index, expected.columns], expected, rtol=1e-9)


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_history_of_later_parcels_uses_fit_outcomes_and_later_declarations(
    fitted, train, later, later_features, entity
):
    history = part(fitted, "history")
    features = history_part(later_features)
    sample = later.sample(150, random_state=1)
    # earlier parcels: training and later declarations; outcomes: those of the training part
    # recorded by its last declaration (the state ends at the training cut-off)
    both = pd.concat([train, later])
    known = train["outcome_at"] <= train["declared_at"].max()
    outcomes = train.assign(inspected=train["inspected"] & known.fillna(False))
    expected = brute_force(both, outcomes, sample, entity, history.smoothing)
    np.testing.assert_allclose(features.loc[sample.index, expected.columns], expected, rtol=1e-9)


def test_profiles_and_recipient_counts_match_brute_force(train, later, later_features):
    features = history_part(later_features)
    both = pd.concat([train, later])
    cues = pd.DataFrame(cue_matrix(both), index=both.index, columns=list(CUES))
    seller = pd.Series(entity_key(both, "seller"), index=both.index)
    recipient = pd.Series(entity_key(both, "recipient"), index=both.index)
    address = pd.Series(entity_key(both, "address"), index=both.index)
    t = both["declared_at"]
    for i in later.sample(100, random_state=2).index:
        earlier = (seller == seller[i]) & (t < t[i])
        for cue in CUES:
            expected = cues.loc[earlier, cue].mean() if earlier.any() else np.nan
            np.testing.assert_allclose(features.at[i, f"seller_share_{cue}"], expected)
        at_address = (address == address[i]) & (t < t[i])
        assert features.at[i, "address_n_names"] == recipient[at_address].nunique()
        same = (recipient == recipient[i]) & (t < t[i]) & (t >= t[i] - DAY)
        assert features.at[i, "recipient_n_1d"] == same.sum()


def test_fit_transform_equals_transform_after_fit(fitted, train):
    # no double counting: the training parcels are the state, not a new batch on top of it
    assert_features_equal(fitted.union.transform(train), fitted.features)


def test_training_and_later_parcels_in_one_batch(fitted, train, later, later_features):
    both = fitted.union.transform(pd.concat([train, later]))
    assert_features_equal(both.loc[train.index], fitted.features)
    assert_features_equal(both.loc[later.index], later_features)


def test_later_outcomes_never_reach_later_features(fitted, later, later_features):
    rows = np.ones(len(later), dtype=bool)
    for how in ("inspect_all", "uninspect"):
        changed = change_outcomes(later, rows, how)
        assert_features_equal(fitted.union.transform(changed), later_features)


def test_transform_reads_declarations_only(fitted, later, later_features):
    declarations = later[list(DECLARATION_COLUMNS)]
    assert not set(declarations.columns) & {*OUTCOME_COLUMNS, *GROUND_TRUTH_COLUMNS}
    assert_features_equal(fitted.union.transform(declarations), later_features)


def test_later_declarations_count_only_for_parcels_after_them(fitted, later, later_features):
    # a batch of the first later day gives that day's parcels the same features as before
    first_day = later[later["declared_at"] < later["declared_at"].min().floor("D") + DAY]
    assert 0 < len(first_day) < len(later)
    assert_features_equal(fitted.union.transform(first_day), later_features.loc[first_day.index])


# --- ground truth never reaches features -----------------------------------------------------


def test_feature_names_hold_no_ground_truth(fitted):
    names = list(fitted.features.columns)
    entities = [n.removeprefix("history__").removesuffix("_n_prior") for n in names]
    assert [e for e, n in zip(entities, names, strict=True) if n.endswith("_n_prior")] == list(
        ENTITIES
    )
    assert not [n for n in names if "gt_" in n]
    assert names == list(fitted.union.get_feature_names_out())
    assert {n.split("__")[0] for n in names} == set(PARTS)


def test_dropping_ground_truth_gives_the_same_matrix(fitted, later, later_features):
    # fitting without gt_ columns gives the same matrix too: tests/model/test_model.py
    gt = [c for c in later.columns if c.startswith("gt_")]
    assert set(gt) == set(GROUND_TRUTH_COLUMNS)
    assert_features_equal(fitted.union.transform(later.drop(columns=gt)), later_features)


# --- each transformer: shapes, names, unseen values, missing optional fields -----------------


@pytest.mark.parametrize("name", PARTS)
def test_transformer_shapes_and_names(fitted, train, later, name):
    transformer = part(fitted, name)
    out = transformer.transform(later)
    names = list(transformer.get_feature_names_out())
    assert out.shape == (len(later), len(names))
    assert list(out.columns) == names
    assert out.index.equals(later.index)
    assert [f"{name}__{n}" for n in names] == [
        c for c in fitted.features.columns if c.startswith(f"{name}__")
    ]
    assert np.isfinite(out.to_numpy(dtype=float)[~out.isna().to_numpy()]).all()


@pytest.fixture(scope="module")
def unseen(later) -> pd.DataFrame:
    """Later parcels from one unknown seller, via an unknown carrier, from country ZZ, ..."""
    out = later.copy()
    out["seller_id"] = "SELLER-NEVER-SEEN"
    out["seller_name"] = "Zqxw Trading Nowhere"
    out["carrier"] = "CarrierNeverSeen"
    out["marketplace"] = "MarketNeverSeen"
    for col in ("origin_country", "export_country", "seller_country"):
        out[col] = "ZZ"
    out["port_of_entry"] = "9999"
    out["lading_port"] = "ZZZZZ"
    out["hts_code"] = "9999999999"
    out["description"] = "frobnicator wibble gadget"
    return validate(out, require_outcomes=True)


@pytest.mark.parametrize("name", PARTS)
def test_unseen_values_give_finite_or_missing_features(fitted, unseen, name):
    out = part(fitted, name).transform(unseen)
    values = out.to_numpy(dtype=float)
    assert out.shape[0] == len(unseen)
    assert not np.isinf(values).any(), list(out.columns[np.isinf(values).any(axis=0)])


def test_unseen_values_are_coded_as_new(fitted, unseen):
    codes = part(fitted, "category").transform(unseen)
    for col in ("carrier", "marketplace", "origin_country", "export_country", "seller_country",
                "port_of_entry", "lading_port"):  # fmt: skip
        assert not (codes[col] >= 0).any(), col  # no code of its own: missing (or negative)
    history = part(fitted, "history")
    out = history.transform(unseen)
    t = seconds(unseen["declared_at"])
    # the unknown seller's history is its own parcels in this batch declared before each one
    np.testing.assert_array_equal(out["seller_n_prior"], np.searchsorted(np.sort(t), t))
    assert (out["seller_n_inspected"] == 0).all()
    # no outcome of its own: the rate is the prior, the same for every unknown entity
    np.testing.assert_array_equal(out["seller_rate"], out["carrier_rate"])
    assert ((out["seller_rate"] > 0) & (out["seller_rate"] < 1)).all()
    first = t == t.min()
    assert np.isnan(out["seller_days_since_first"].to_numpy()[first]).all()
    assert not np.isnan(out["seller_days_since_first"].to_numpy()[~first]).any()
    commodity = part(fitted, "commodity")
    c = commodity.transform(unseen)
    np.testing.assert_allclose(
        c["value_per_kg_vs_heading"], c["value_per_kg_log"] - commodity.overall_per_kg_
    )
    d = part(fitted, "description").transform(unseen)
    assert (d["desc_hts_consistency"] == 0).all()  # a heading the classifier never saw


@pytest.fixture(scope="module")
def optional_missing(later) -> pd.DataFrame:
    return validate(later.assign(hts_code=pd.NA, listed_price_usd=np.nan, lading_port=pd.NA))


@pytest.mark.parametrize("name", PARTS)
def test_missing_optional_fields_at_transform(fitted, optional_missing, name):
    out = part(fitted, name).transform(optional_missing)
    assert out.shape == (len(optional_missing), len(part(fitted, name).get_feature_names_out()))
    assert not np.isinf(out.to_numpy(dtype=float)).any()


def test_missing_optional_fields_give_missing_features(fitted, optional_missing, later):
    d = part(fitted, "description").transform(optional_missing)
    assert d["desc_hts_consistency"].isna().all()
    c = part(fitted, "commodity").transform(optional_missing)
    assert c["declared_vs_listed"].isna().all() and c["hts_chapter"].isna().all()
    assert (c["n_missing_optional"] >= len(OPTIONAL)).all()
    assert not (part(fitted, "category").transform(optional_missing)["lading_port"] >= 0).any()
    # absent optional columns: the contract adds them, all missing, with the same result
    absent = validate(later.drop(columns=list(OPTIONAL)))
    assert_features_equal(fitted.union.transform(absent), fitted.union.transform(optional_missing))


def test_fit_with_optional_fields_all_missing(train, later):
    frame = validate(train.assign(hts_code=pd.NA, listed_price_usd=np.nan, lading_port=pd.NA))
    union = build_features()
    out = union.fit_transform(frame)
    assert list(out.columns) == list(union.get_feature_names_out())
    assert not np.isinf(out.to_numpy(dtype=float)).any()
    # no heading to learn from: the consistency features are missing, also for later parcels
    # that do declare one
    out = union.transform(later)
    assert out["description__desc_hts_consistency"].isna().all()
    assert not np.isinf(out.to_numpy(dtype=float)).any()


def test_stateless_transformers_need_no_fit_data(later):
    for transformer in (RoutingFeatures(), PartyFeatures()):
        a = transformer.fit(later.iloc[:10]).transform(later)
        b = transformer.fit(later).transform(later)
        assert_features_equal(a, b)


@pytest.mark.parametrize(
    ("transformer", "message"),
    [
        (EntityHistory(smoothing=-1.0), "smoothing"),
        (EntityHistory(recent_days=0), "recent_days"),
        (CommodityFeatures(value_threshold=0), "value_threshold"),
        (CommodityFeatures(bunching_band=1.5), "bunching_band"),
        (CategoryCodes(min_count=0), "min_count"),
        (DescriptionFeatures(max_train_rows=10), "max_train_rows"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_invalid_parameters_are_refused(later, transformer, message):
    with pytest.raises(ValueError, match=f"^{message} == .*, must be [<>]"):
        transformer.fit(later)


def test_category_codes_keep_frequent_values_only(train):
    codes = CategoryCodes(min_count=50).fit(train)
    counts = train["carrier"].value_counts()
    frequent = sorted(counts[counts >= 50].index)
    assert list(codes.vocabulary_["carrier"]) == frequent
    out = codes.transform(train)
    rare = train["carrier"].map(counts) < 50
    assert not (out.loc[rare.to_numpy(), "carrier"] >= 0).any()
    assert (out.loc[~rare.to_numpy(), "carrier"] >= 0).all()
    assert list(out.columns) == list(CATEGORICAL_COLUMNS)


# --- the event index under the history features --------------------------------------------


def test_event_index_counts_strictly_before():
    ix = EventIndex(
        keys=np.array([1, 1, 1, 2, 0]),
        times=np.array([10, 20, 20, 5, 7]),
        values=np.array([[1.0], [2.0], [4.0], [8.0], [16.0]]),
    )
    keys, times = np.array([1, 1, 1, 2, 3, 0]), np.array([10, 11, 21, 6, 100, 7])
    np.testing.assert_array_equal(ix.count_before(keys, times), [0, 1, 3, 1, 0, 0])
    np.testing.assert_array_equal(ix.sum_before(keys, times)[:, 0], [0, 1, 7, 8, 0, 0])
    np.testing.assert_array_equal(ix.first_time(keys, times), [np.nan, 10, 10, 5, np.nan, np.nan])
    assert len(ix) == 5


def test_event_index_refuses_out_of_range_keys():
    with pytest.raises(ValueError, match=r"entity codes must lie in \[0, 2\*\*31\)"):
        EventIndex(np.array([-1]), np.array([0]))


def test_fit_does_not_modify_the_callers_frame(train):
    before = train.copy(deep=True)
    build_features().fit(train)
    pd.testing.assert_frame_equal(train, before)


def test_what_fits_skip_is_said_once_within_skips_said_once(caplog):
    """Several fits on the same table (train's evaluation fit and refit, tune's trials) say
    what they skipped once; a different message is said too, and outside, each time."""
    declarations = pd.DataFrame({"parcel_id": ["P1"]})
    empty, other = pd.DataFrame({"x": [np.nan]}), pd.DataFrame({"y": [np.nan]})

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "parcelrisk.features.pipeline"]

    @skips_said_once()
    def fit_twice() -> None:
        skipped(declarations, empty)
        skipped(declarations, empty)

    with caplog.at_level(logging.INFO, logger="parcelrisk.features.pipeline"):
        with skips_said_once():
            for features in (empty, empty, other, empty):
                skipped(declarations, features)
        assert len(said()) == 2 and said()[0] != said()[1]
        fit_twice()
        assert len(said()) == 3 and said()[2] == said()[0]
        skipped(declarations, empty)
        skipped(declarations, empty)
        assert len(said()) == 5
