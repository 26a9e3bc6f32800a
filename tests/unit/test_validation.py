"""Tests of contract validation: every bad input is reported, with row, id, field, value."""

from __future__ import annotations

import json
import math
import pickle
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from records import valid_record

from parcelrisk.contract import (
    CANONICAL_DTYPES,
    FIELDS,
    FIELDS_BY_NAME,
    GROUND_TRUTH_COLUMNS,
    OUTCOME_COLUMNS,
    REQUIRED_COLUMNS,
    ContractError,
    ContractProblem,
    Kind,
    Role,
    canonical_records,
    check,
    validate,
    validate_records,
)


def _set(frame: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    """A copy of ``frame`` with one value replaced, the column made object dtype."""
    out = frame.copy()
    values = out[column].astype(object)
    values.iloc[row] = value
    out[column] = values
    return out


def _problems(frame: pd.DataFrame, match: str, **kwargs: object) -> list[ContractProblem]:
    with pytest.raises(ContractError, match=match) as excinfo:
        validate(frame, **kwargs)
    return excinfo.value.problems


def _where(problem: ContractProblem) -> tuple[int, str | None, str]:
    return problem.row, problem.parcel_id, problem.field


# --- valid data ---------------------------------------------------------------------------


def test_valid_frame_gives_canonical_columns_and_dtypes(valid_frame):
    out = validate(valid_frame)
    assert list(out.columns) == [f.name for f in FIELDS]
    for f in FIELDS:
        assert out[f.name].dtype == CANONICAL_DTYPES[f.kind], f.name
    assert out["declared_at"].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert out.loc[1, "declared_at"] == pd.Timestamp("2025-03-01T01:00:00Z")
    assert out["hts_code"].tolist()[:2] == ["6109100012", "6404199060"]
    assert out["quantity"].tolist() == [2, 1, 3, 1, 10]
    assert out["violation_found"].isna().sum() == 3
    assert out.index.equals(valid_frame.index)


def test_input_frame_is_not_mutated(valid_frame):
    before = valid_frame.copy(deep=True)
    validate(valid_frame)
    pd.testing.assert_frame_equal(valid_frame, before)
    bad = _set(valid_frame, "weight_kg", 0, -1.0)
    bad_before = bad.copy(deep=True)
    with pytest.raises(ContractError):
        validate(bad)
    pd.testing.assert_frame_equal(bad, bad_before)


def test_extra_columns_are_kept_unchanged_at_the_end(valid_frame):
    frame = valid_frame.assign(my_note=["a", None, "c", "d", "e"], score=np.arange(5))
    frame = frame[["my_note", *valid_frame.columns, "score"]]
    out = validate(frame)
    assert list(out.columns[-2:]) == ["my_note", "score"]
    pd.testing.assert_series_equal(out["score"], frame["score"])
    pd.testing.assert_series_equal(out["my_note"], frame["my_note"])


def test_absent_optional_columns_are_added_as_missing(valid_frame):
    optional = [f.name for f in FIELDS if not f.required]
    out = validate(valid_frame.drop(columns=optional))
    assert list(out.columns) == [f.name for f in FIELDS]
    for f in FIELDS:
        assert out[f.name].dtype == CANONICAL_DTYPES[f.kind], f.name
    assert out[optional].isna().all().all()


def test_index_is_kept_and_rows_are_positions(valid_frame):
    frame = valid_frame.set_index(pd.Index(list("vwxyz")))
    assert validate(frame).index.tolist() == list("vwxyz")
    problems = _problems(_set(frame, "weight_kg", 2, 0.0), "weight_kg")
    assert [_where(p) for p in problems] == [(2, "P00000003", "weight_kg")]


def test_unknown_categories_pass(valid_frame):
    frame = _set(valid_frame, "carrier", 0, "BrandNewCarrier 2031")
    frame = _set(frame, "seller_country", 1, "ZZ")
    frame = _set(frame, "filer_code", 2, "never-seen-before")
    out = validate(frame)
    assert out.loc[0, "carrier"] == "BrandNewCarrier 2031"
    assert out.loc[1, "seller_country"] == "ZZ"


@pytest.mark.parametrize(
    "text",
    [
        "Cotton T-Shirt " * 2000,
        "深圳市 女士 连衣裙 夏季",
        "Платье летнее",
        "فستان صيفي",
        "Summer dress 👗🔥✨",
        'Quotes "inside", commas, and\nnew lines',
    ],
)
def test_free_text_descriptions_pass(valid_frame, text):
    assert validate(_set(valid_frame, "description", 0, text)).loc[0, "description"] == text


def test_hts_formats_are_accepted_and_lose_their_dots(valid_frame):
    codes = ["6109.10.0012", "6109100012", "610910", "6109.10.00", None]
    frame = valid_frame.assign(hts_code=codes)
    assert validate(frame)["hts_code"].tolist() == [
        "6109100012",
        "6109100012",
        "610910",
        "61091000",
        pd.NA,
    ]


def test_whole_float_in_int_field_is_accepted(valid_frame):
    frame = valid_frame.assign(quantity=[2.0, 1.0, 3.0, 1.0, 10.0])
    out = validate(frame)
    assert out["quantity"].dtype == "Int64"
    assert out["quantity"].tolist() == [2, 1, 3, 1, 10]


def test_iso_strings_with_offsets_parse_to_utc(valid_frame):
    stamps = [
        "2025-03-01T08:15:00Z",
        "2025-03-01T09:15:00+01:00",
        "2025-03-01T03:15:00-0500",
        "2025-03-01T08:15:00.123456789Z",
        "2025-03-01 08:15:00+00:00",
    ]
    out = validate(valid_frame.assign(declared_at=pd.Series(stamps, dtype=object)))
    assert out["declared_at"].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert out["declared_at"].iloc[:3].nunique() == 1
    assert out.loc[3, "declared_at"].nanosecond == 789


def test_empty_string_in_optional_field_is_missing(valid_frame):
    out = validate(_set(valid_frame, "recipient_state", 0, ""))
    assert out.loc[0, "recipient_state"] is pd.NA


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
@pytest.mark.parametrize("column", ["description", "seller_name", "recipient_city"])
def test_empty_free_text_is_a_text_and_kept(valid_frame, column, text):
    out = validate(_set(valid_frame, column, 1, text))
    assert out.loc[1, column] == text


# --- bad data -------------------------------------------------------------------------------


def test_missing_required_column(valid_frame):
    problems = _problems(valid_frame.drop(columns=["weight_kg", "mode"]), "required column")
    assert [(p.row, p.parcel_id, p.field, p.value) for p in problems] == [
        (-1, None, "weight_kg", None),
        (-1, None, "mode", None),
    ]
    assert all(p.reason == "required column is missing" for p in problems)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("description", None),
        ("weight_kg", np.nan),
        ("seller_id", pd.NA),
        ("declared_at", pd.NaT),
        ("quantity", None),
        ("port_of_entry", ""),
    ],
)
def test_missing_required_value(valid_frame, column, value):
    problems = _problems(_set(valid_frame, column, 3, value), "required value is missing")
    assert [_where(p) for p in problems] == [(3, "P00000004", column)]
    assert problems[0].value is value or (
        isinstance(value, float) and math.isnan(problems[0].value)
    )


@pytest.mark.parametrize("value", [np.nan, None, pd.NA])
def test_nan_in_required_typed_float_column(valid_frame, value):
    frame = valid_frame.assign(declared_value_usd=pd.array([1.0, value, 2, 3, 4], dtype="Float64"))
    problems = _problems(frame, "required value is missing")
    assert [_where(p) for p in problems] == [(1, "P00000002", "declared_value_usd")]


def test_string_in_numeric_field(valid_frame):
    problems = _problems(_set(valid_frame, "weight_kg", 2, "12.5"), r"expected a number, got str")
    assert [(*_where(p), p.value) for p in problems] == [(2, "P00000003", "weight_kg", "12.5")]


def test_string_column_in_numeric_field(valid_frame):
    frame = valid_frame.assign(listed_price_usd=["1", "2", "3", None, "5"])
    problems = _problems(frame, "expected a number, got str")
    assert [p.row for p in problems] == [0, 1, 2, 4]
    assert [p.value for p in problems] == ["1", "2", "3", "5"]


def test_bool_in_numeric_field(valid_frame):
    problems = _problems(_set(valid_frame, "weight_kg", 0, True), "expected a number, got bool")
    assert [(*_where(p), p.value) for p in problems] == [(0, "P00000001", "weight_kg", True)]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("declared_value_usd", -1.0, "must be a number >= 0"),
        ("weight_kg", -0.5, "must be a number > 0"),
        ("weight_kg", 0.0, "must be a number > 0"),
        ("quantity", 0, "must be a number >= 1"),
        ("freight_cost_usd", -3.0, "must be a number >= 0"),
    ],
)
def test_value_below_minimum(valid_frame, column, value, message):
    problems = _problems(_set(valid_frame, column, 4, value), message)
    assert [(*_where(p), p.value, p.reason) for p in problems] == [
        (4, "P00000005", column, value, message)
    ]


def test_negative_value_in_typed_column(valid_frame):
    frame = valid_frame.assign(declared_value_usd=[25.0, -1.0, 0.0, -0.01, 1.0])
    problems = _problems(frame, r"row 1 \(parcel_id 'P00000002'\).*-1.0: must be a number >= 0")
    assert [(p.row, p.value) for p in problems] == [(1, -1.0), (3, -0.01)]


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinity_is_rejected(valid_frame, value):
    frame = valid_frame.assign(listed_price_usd=[1.0, value, 2.0, 3.0, 4.0])
    problems = _problems(frame, "must be finite")
    assert [(*_where(p), p.value) for p in problems] == [
        (1, "P00000002", "listed_price_usd", value)
    ]


def test_fraction_in_int_field(valid_frame):
    frame = valid_frame.assign(quantity=[2.0, 2.5, 3.0, 1.0, 10.0])
    problems = _problems(frame, "expected a whole number")
    assert [(*_where(p), p.value) for p in problems] == [(1, "P00000002", "quantity", 2.5)]


@pytest.mark.parametrize(("value", "type_name"), [(1, "int"), (0, "int"), ("true", "str")])
def test_bool_field_rejects_ints_and_strings(valid_frame, value, type_name):
    problems = _problems(
        _set(valid_frame, "inspected", 0, value), f"expected true or false, got {type_name}"
    )
    assert [(*_where(p), p.value) for p in problems] == [(0, "P00000001", "inspected", value)]


def test_int_column_in_bool_field(valid_frame):
    frame = valid_frame.assign(gt_bad_actor=[0, 1, 0, 1, 0])
    problems = _problems(frame, "expected true or false, got int")
    assert [p.row for p in problems] == [0, 1, 2, 3, 4]


def test_number_in_string_field(valid_frame):
    problems = _problems(_set(valid_frame, "port_of_entry", 1, 2720), "expected a string, got int")
    assert [(*_where(p), p.value) for p in problems] == [(1, "P00000002", "port_of_entry", 2720)]


@pytest.mark.parametrize("code", ["61091", "6109.1X", "6109..10", ".610910", "6109100", "abcdef"])
def test_malformed_hts_code(valid_frame, code):
    problems = _problems(_set(valid_frame, "hts_code", 0, code), "must be 6, 8 or 10 digits")
    assert [(*_where(p), p.value) for p in problems] == [(0, "P00000001", "hts_code", code)]


@pytest.mark.parametrize("code", ["cn", "CHN", "C", "C1", " CN"])
def test_country_code_in_wrong_format(valid_frame, code):
    problems = _problems(
        _set(valid_frame, "origin_country", 2, code), "must be two upper-case letters"
    )
    assert [(*_where(p), p.value) for p in problems] == [(2, "P00000003", "origin_country", code)]


@pytest.mark.parametrize(("column", "value"), [("port_of_entry", "272"), ("lading_port", "cnszx")])
def test_port_codes_in_wrong_format(valid_frame, column, value):
    problems = _problems(_set(valid_frame, column, 0, value), "must be")
    assert [(*_where(p), p.value) for p in problems] == [(0, "P00000001", column, value)]


@pytest.mark.parametrize("mode", ["plane", "Air", "AIR", " air"])
def test_unknown_enum_value_for_mode(valid_frame, mode):
    problems = _problems(_set(valid_frame, "mode", 3, mode), "must be one of 'air', 'truck'")
    assert [(*_where(p), p.value) for p in problems] == [(3, "P00000004", "mode", mode)]
    assert "'mail'" in problems[0].allowed


def test_duplicate_parcel_id(valid_frame):
    frame = _set(valid_frame, "parcel_id", 3, "P00000001")
    frame = _set(frame, "parcel_id", 4, "P00000001")
    problems = _problems(frame, r"duplicate parcel_id; also at rows \[3, 4\]")
    assert [(*_where(p), p.value) for p in problems] == [
        (0, "P00000001", "parcel_id", "P00000001"),
        (3, "P00000001", "parcel_id", "P00000001"),
        (4, "P00000001", "parcel_id", "P00000001"),
    ]
    assert problems[1].reason == "duplicate parcel_id; also at rows [0, 4]"


def test_tz_naive_timestamp_column(valid_frame):
    frame = valid_frame.assign(declared_at=valid_frame["declared_at"].dt.tz_localize(None))
    problems = _problems(frame, "timestamp has no timezone")
    assert [_where(p) for p in problems] == [(i, f"P{i + 1:08d}", "declared_at") for i in range(5)]
    assert problems[0].value == pd.Timestamp("2025-03-01T08:15:00")


@pytest.mark.parametrize(
    "value", ["2025-03-01T08:15:00", "2025-03-01", datetime(2025, 3, 1, 8, 15)]
)
def test_timestamp_value_without_timezone(valid_frame, value):
    problems = _problems(_set(valid_frame, "declared_at", 1, value), "timestamp has no timezone")
    assert [(*_where(p), p.value) for p in problems] == [(1, "P00000002", "declared_at", value)]


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", "01/03/2025 08:15 Z"])
def test_unparseable_timestamp(valid_frame, value):
    problems = _problems(_set(valid_frame, "declared_at", 0, value), "ISO 8601")
    assert [(*_where(p), p.value) for p in problems] == [(0, "P00000001", "declared_at", value)]


@pytest.mark.parametrize("value", ["3000-01-01T00:00:00Z", datetime(1500, 1, 1, tzinfo=UTC)])
def test_timestamp_out_of_range(valid_frame, value):
    problems = _problems(_set(valid_frame, "declared_at", 2, value), "out of range")
    assert [(*_where(p), p.value) for p in problems] == [(2, "P00000003", "declared_at", value)]


def test_categorical_and_arrow_backed_columns(valid_frame):
    expected = validate(valid_frame)
    categorical = valid_frame.assign(
        carrier=valid_frame["carrier"].astype("category"),
        quantity=valid_frame["quantity"].astype("category"),
    )
    pd.testing.assert_frame_equal(validate(categorical), expected)
    arrow = valid_frame.convert_dtypes(dtype_backend="pyarrow")
    pd.testing.assert_frame_equal(validate(arrow), expected)


def test_outcome_for_uninspected_parcel(valid_frame):
    frame = valid_frame.assign(
        violation_found=pd.array([False, None, None, True, False], dtype="boolean"),
        inspection_reason=["rule", None, None, "rule", "random"],
    )
    problems = _problems(frame, "outcome given for a parcel that was not inspected")
    assert [(*_where(p), p.value) for p in problems] == [
        (0, "P00000001", "inspection_reason", "rule"),
        (0, "P00000001", "violation_found", False),
    ]


def test_outcome_with_unknown_inspection(valid_frame):
    frame = valid_frame.assign(inspected=pd.array([True, None, False, True, True], "boolean"))
    frame = _set(frame, "violation_found", 1, True)
    problems = _problems(frame, "not inspected")
    assert [_where(p) for p in problems] == [(1, "P00000002", "violation_found")]


def test_violation_type_without_violation(valid_frame):
    problems = _problems(_set(valid_frame, "violation_type", 4, "counterfeit"), "violation type")
    assert [(*_where(p), p.value) for p in problems] == [
        (4, "P00000005", "violation_type", "counterfeit")
    ]


def test_require_outcomes(valid_frame):
    validate(valid_frame, require_outcomes=True)
    frame = valid_frame.assign(
        inspected=pd.array([False, None, False, True, True], dtype="boolean"),
        violation_found=pd.array([None, None, None, None, False], dtype="boolean"),
        violation_type=None,
    )
    validate(frame)
    problems = _problems(frame, "required value is missing", require_outcomes=True)
    assert [_where(p) for p in problems] == [
        (1, "P00000002", "inspected"),
        (3, "P00000004", "violation_found"),
    ]
    outcomes = ["inspected", "inspection_reason", "violation_found", "violation_type", "outcome_at"]
    problems = _problems(valid_frame.drop(columns=outcomes), "column", require_outcomes=True)
    assert [_where(p) for p in problems] == [(-1, None, "inspected")]
    problems = _problems(valid_frame.drop(columns="inspected"), "not inspected")
    assert [_where(p) for p in problems][:2] == [
        (3, "P00000004", "inspection_reason"),
        (3, "P00000004", "violation_found"),
    ]


def test_all_problems_in_all_rows_are_reported_at_once(valid_frame):
    frame = _set(valid_frame, "weight_kg", 0, "heavy")
    frame = _set(frame, "origin_country", 0, "cn")
    frame = _set(frame, "mode", 2, "plane")
    frame = _set(frame, "description", 3, None)
    frame = _set(frame, "hts_code", 4, "61091")
    frame = frame.drop(columns="carrier")
    problems = _problems(frame, r"^6 problems with the declaration contract:")
    assert [(p.row, p.field) for p in problems] == [
        (-1, "carrier"),
        (0, "origin_country"),
        (0, "weight_kg"),
        (2, "mode"),
        (3, "description"),
        (4, "hts_code"),
    ]


def test_error_message_lists_the_first_50_problems(valid_frame):
    frame = valid_frame.iloc[np.arange(120) % 5].reset_index(drop=True)
    frame["parcel_id"] = [f"P{i:08d}" for i in range(120)]
    frame["weight_kg"] = -1.0
    with pytest.raises(ContractError, match=r"\.\.\. and 70 more$") as excinfo:
        validate(frame)
    error = excinfo.value
    assert len(error.problems) == 120
    assert len(str(error).splitlines()) == 1 + 50 + 1
    assert str(error).splitlines()[1] == (
        "  row 0 (parcel_id 'P00000000'): field 'weight_kg' has value -1.0: must be a number > 0"
    )


def test_problem_str_and_dicts_are_json_safe(valid_frame):
    frame = _set(valid_frame, "weight_kg", 3, -1.0)
    frame = _set(frame, "listed_price_usd", 1, np.inf)
    frame = _set(frame, "declared_at", 2, pd.Timestamp("2025-03-01T08:15:00"))
    frame = frame.drop(columns="mode")
    with pytest.raises(ContractError) as excinfo:
        validate(frame)
    text = [str(p) for p in excinfo.value.problems]
    assert "row 3 (parcel_id 'P00000004'): field 'weight_kg' has value -1.0: " in text[-1]
    assert text[0] == "column 'mode': required column is missing"
    dicts = excinfo.value.to_dicts()
    json.dumps(dicts, allow_nan=False)
    assert dicts[-1] == {
        "row": 3,
        "parcel_id": "P00000004",
        "field": "weight_kg",
        "value": -1.0,
        "reason": "must be a number > 0",
        "allowed": "a number > 0",
    }
    assert [d["value"] for d in dicts[:3]] == [None, "inf", "2025-03-01T08:15:00"]


def test_contract_error_pickles(valid_frame):
    with pytest.raises(ContractError) as excinfo:
        validate(valid_frame.drop(columns="mode"))
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert copy.problems == excinfo.value.problems
    assert str(copy) == str(excinfo.value)


def test_check_returns_problems_without_raising(valid_frame):
    out, problems = check(_set(valid_frame, "weight_kg", 1, -2.0))
    assert [_where(p) for p in problems] == [(1, "P00000002", "weight_kg")]
    assert math.isnan(out.loc[1, "weight_kg"])
    assert check(valid_frame)[1] == []


def test_large_valid_frame_validates(valid_frame):
    n = 200_000
    frame = valid_frame.iloc[np.arange(n) % 5].reset_index(drop=True)
    frame["parcel_id"] = [f"P{i:09d}" for i in range(n)]
    out = validate(frame)
    assert len(out) == n
    assert out["parcel_id"].is_unique


# --- records --------------------------------------------------------------------------------


def test_records_give_the_same_frame_as_typed_columns():
    records = [valid_record(i) for i in range(3)]
    records[1]["declared_at"] = datetime(2025, 3, 1, 8, 15, tzinfo=UTC)
    records[2]["inspected"] = np.True_
    records[2]["violation_found"] = False
    out = validate_records(records)
    assert list(out.columns) == [f.name for f in FIELDS]
    for f in FIELDS:
        assert out[f.name].dtype == CANONICAL_DTYPES[f.kind], f.name
    typed = pd.DataFrame(records).assign(
        declared_at=pd.to_datetime([r["declared_at"] for r in records], utc=True, format="mixed"),
        inspected=[False, False, True],
    )
    pd.testing.assert_frame_equal(out, validate(typed))


def test_records_with_misspelled_key():
    record = valid_record(7)
    record["weight_kgs"] = record.pop("weight_kg")
    with pytest.raises(
        ContractError, match=r"'weight_kgs'.*unknown field; did you mean 'weight_kg'"
    ):
        validate_records([valid_record(1), record])
    with pytest.raises(ContractError) as excinfo:
        validate_records([valid_record(1), record])
    assert [(*_where(p), p.value) for p in excinfo.value.problems] == [
        (1, "P00000007", "weight_kg", None),
        (1, "P00000007", "weight_kgs", 0.5),
    ]


def test_records_missing_key_is_a_missing_value():
    record = valid_record(3)
    del record["description"]
    del record["hts_code"]  # optional
    with pytest.raises(ContractError) as excinfo:
        validate_records([record])
    assert [(*_where(p), p.reason) for p in excinfo.value.problems] == [
        (0, "P00000003", "description", "required value is missing")
    ]


def test_records_type_errors_are_strict():
    record = valid_record(1)
    record.update(quantity="2", weight_kg="0.5", inspected="false", seller_country=86)
    with pytest.raises(ContractError) as excinfo:
        validate_records([record])
    assert [(p.field, p.reason) for p in excinfo.value.problems] == [
        ("seller_country", "expected a string, got int"),
        ("quantity", "expected a number, got str"),
        ("weight_kg", "expected a number, got str"),
        ("inspected", "expected true or false, got str"),
    ]


def test_every_required_field_is_checked():
    with pytest.raises(ContractError) as excinfo:
        validate_records([{}])
    assert [p.field for p in excinfo.value.problems] == list(REQUIRED_COLUMNS)


def test_canonical_dtypes_cover_every_kind():
    assert set(CANONICAL_DTYPES) == set(Kind)


# --- the fast path for small batches of records ---------------------------------------------

_FAST_PROBES = [
    None, "", " ", "\u00a0", "\u2003x", "x ", "Ünïcödé 礼物 😀", "٢٧٢٠", "2720", "27200",
    "CN", "cn", "CNSZX", "CNSZX ", "6109.10", "61.09.10.00.12", "6109..10", "610910001",
    0, 1, -1, 2**53 + 1, 2**63 - 1, 2**63, 0.0, -0.0, 0.5, 1.0, 1e300, float("nan"),
    float("inf"), True, False, [], {},
    "2025-03-01T08:15:00Z", "2025-03-01T08:15:00+05:30", "2025-03-01T08:15:00.123456789Z",
    "2025-03-01T08:15:00.1-02:00", "2025-03-01T08:15:00", "2025-02-30T08:15:00Z",
    "1600-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "2262-04-12T00:00:00Z",
    "air", "AIR", "residential", "marketplace",
]  # fmt: skip


def _input_record(i: int) -> dict:
    inputs = (Role.KEY, Role.INPUT)
    return {k: v for k, v in valid_record(i).items() if FIELDS_BY_NAME[k].role in inputs}


def test_fast_path_takes_plain_valid_records_and_equals_the_vectorised_checks(monkeypatch):
    import random

    from parcelrisk.contract import plain

    rng = random.Random(11)
    names = list(_input_record(0))
    taken = 0
    for trial in range(200):
        records = [_input_record(trial * 10 + j) for j in range(rng.randint(1, 3))]
        for record in records:
            for name in rng.sample(names, rng.randint(0, 3)):
                record[name] = rng.choice(_FAST_PROBES)
        fast = plain.plain_frame(records)
        with monkeypatch.context() as m:
            m.setattr(plain, "_MAX_RECORDS", 0)
            try:
                slow = validate_records(records)
            except ContractError:
                slow = None
        if fast is None:
            continue
        taken += 1
        assert slow is not None, f"fast path accepted invalid records: {records}"
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert taken > 20  # the fast path did take plain records


def test_a_contract_variant_relaxes_only_the_fields_it_changes(valid_frame):
    from dataclasses import replace

    variant = [
        replace(f, required=False) if f.name == "seller_id" else f
        for f in (
            replace(f, kind=Kind.CATEGORY) if f.name == "port_of_entry" else f for f in FIELDS
        )
    ]
    frame = valid_frame.drop(columns=["seller_id"]).assign(port_of_entry="OFFICE-7")
    out = validate(frame, fields=variant)
    assert out["seller_id"].isna().all() and (out["port_of_entry"] == "OFFICE-7").all()
    with pytest.raises(ContractError) as excinfo:
        validate(frame)
    assert {p.field for p in excinfo.value.problems} == {"seller_id", "port_of_entry"}
    with pytest.raises(ValueError, match="same names in the same order"):
        validate(valid_frame, fields=FIELDS[1:])


@pytest.mark.parametrize("value", [pd.NA, np.nan, np.float64(2.0), np.array([1]), pd.NaT])
def test_fast_path_hands_non_json_values_to_the_full_checks(value):
    from parcelrisk.contract import plain

    record = dict(_input_record(1), recipient_city=value, quantity=value)
    assert plain.plain_frame([record]) is None


def test_fast_path_leaves_required_outcomes_and_contract_variants_to_the_full_checks():
    record = _input_record(1)
    with pytest.raises(ContractError, match="outcomes are required"):
        validate_records([record], require_outcomes=True)
    variant = list(FIELDS)
    assert validate_records([record], fields=variant)["parcel_id"].tolist() == ["P00000001"]


@pytest.mark.parametrize("field", ["description", "seller_id", "declared_at", "hts_code"])
def test_text_that_is_not_unicode_is_refused_by_name(field):
    record = dict(_input_record(1), **{field: "a\ud800b"})  # what JSON's "\ud800" decodes to
    with pytest.raises(ContractError) as excinfo:
        validate_records([record])
    (problem,) = excinfo.value.problems
    assert problem.field == field and "not valid Unicode" in problem.reason
    shown = excinfo.value.to_dicts()[0]["value"]
    assert shown == "a\\ud800b" and json.dumps(shown, ensure_ascii=False).encode("utf-8")


# --- records sent for scoring hold declarations only -----------------------------------------


def test_scoring_records_with_outcome_or_ground_truth_fields_are_refused_by_name():
    plain = _input_record(1)
    assert canonical_records([plain])["parcel_id"] == ["P00000001"]  # declarations: scored
    full = dict(valid_record(2), gt_extra=1)  # every outcome and truth field, and a gt_ key
    with pytest.raises(ContractError) as excinfo:
        canonical_records([plain, full])
    refused = {(p.row, p.parcel_id, p.field) for p in excinfo.value.problems}
    named = [*OUTCOME_COLUMNS, *GROUND_TRUTH_COLUMNS, "gt_extra"]
    assert refused == {(1, "P00000002", name) for name in named}
    reasons = {p.field: p.reason for p in excinfo.value.problems}
    assert reasons["violation_found"] == (
        "outcome and ground-truth fields are not accepted for scoring "
        "(an inspection outcome, known only after the inspection)"
    )
    assert reasons["gt_extra"] == (
        "outcome and ground-truth fields are not accepted for scoring "
        "(ground truth of generated data)"
    )
    # also beside other problems, on the vectorised path, each named once
    odd = dict(plain, declared_at=datetime(2025, 3, 1, tzinfo=UTC), weight_kg=-1.0,
               inspected="yes")  # fmt: skip
    with pytest.raises(ContractError) as excinfo:
        canonical_records([odd])
    assert [(p.field, p.value) for p in excinfo.value.problems] == [
        ("weight_kg", -1.0),
        ("inspected", "yes"),
    ]
    assert "not accepted for scoring" in excinfo.value.problems[1].reason
