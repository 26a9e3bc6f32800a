"""Column mappings: a user's table becomes the contract frame, or one error lists every problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from parcelrisk.contract import (
    CANONICAL_DTYPES,
    ROLES,
    MappedDataError,
    MappingError,
    apply_mapping,
    load_mapping,
    made_missing,
    mapping_from_dict,
    records_frame,
)

MAPPING = {
    "id": "decl_no",
    "time": {"column": "date", "format": "%d/%m/%Y %H:%M", "timezone": "Asia/Seoul"},
    "label": {"column": "illicit", "positive": ["Y"], "negative": ["N"]},
    "outcome_delay_days": 2,
    "roles": {
        "recipient_id": "importer",
        "filer_code": "declarant",
        "port_of_entry": "office",
        "hts_code": "hs6",
        "weight_kg": "net_mass",
        "quantity": "qty",
        "declared_value_usd": "value",
    },
    "free": ["port_of_entry"],
    "extra": {"categorical": ["channel"], "numeric": ["duty"]},
}


def table(**changes) -> pd.DataFrame:
    """Four declarations in the user's columns, as text (how a CSV is read)."""
    out = pd.DataFrame(
        {
            "decl_no": ["D1", "D2", "D3", "D4"],
            "date": [
                "01/03/2025 09:00",
                "01/03/2025 10:30",
                "02/03/2025 00:15",
                "03/03/2025 23:59",
            ],
            "importer": ["IMP1", "IMP2", "IMP1", None],
            "declarant": ["DC7", "DC7", "DC8", "DC7"],
            "office": ["SEL-01", "PUS-02", "SEL-01", "SEL-01"],
            "hs6": ["851712", "620462", None, "420222"],
            "net_mass": ["0.25", "1.5", "0.3", "2"],
            "qty": ["1", "2", "1", "3"],
            "value": ["12.5", "40", "7.25", "99.99"],
            "channel": ["web", "app", None, "web"],
            "duty": ["1.0", "3.2", "", "8"],
            "illicit": ["N", "Y", "n", "N"],
            "ignored": ["a", "b", "c", "d"],
        },
        dtype=object,
    )
    for column, values in changes.items():
        if values is None:
            out = out.drop(columns=[column])
        else:
            out[column] = values
    return out


@pytest.fixture
def mapping():
    return mapping_from_dict(MAPPING)


def problems_of(excinfo) -> dict[tuple[int, str], str]:
    return {(p.row, p.field): p.reason for p in excinfo.value.problems}


# --- the happy path ------------------------------------------------------------------------


def test_a_table_becomes_the_canonical_contract_frame(mapping):
    out = apply_mapping(table(), mapping)
    assert list(out["parcel_id"]) == ["D1", "D2", "D3", "D4"]
    # local times in Asia/Seoul (UTC+9, no daylight saving) become UTC
    assert out["declared_at"].iloc[0] == pd.Timestamp("2025-03-01T00:00:00Z")
    assert out["declared_at"].dtype == CANONICAL_DTYPES["timestamp"]
    assert list(out["quantity"]) == [1, 2, 1, 3] and out["quantity"].dtype == "Int64"
    assert out["weight_kg"].tolist() == [0.25, 1.5, 0.3, 2.0]
    assert out["port_of_entry"].tolist() == ["SEL-01", "PUS-02", "SEL-01", "SEL-01"]
    assert out["recipient_id"].isna().tolist() == [False, False, False, True]
    # every row labelled: all inspected; outcomes known outcome_delay_days later
    assert out["inspected"].all()
    assert out["violation_found"].tolist() == [False, True, False, False]
    assert (out["outcome_at"] - out["declared_at"] == pd.Timedelta(days=2)).all()
    # roles the mapping does not name are missing; unmapped columns are not carried
    assert out["seller_id"].isna().all() and out["description"].isna().all()
    assert "ignored" not in out
    # extras under the user's names
    assert out["channel"].dtype == "string" and out["duty"].dtype == "float64"
    assert np.isnan(out["duty"].iloc[2])


def test_without_an_inspected_column_unlabelled_rows_are_uninspected(mapping):
    out = apply_mapping(table(illicit=["N", None, "Y", ""]), mapping)
    assert out["inspected"].tolist() == [True, False, True, False]
    assert out["violation_found"].isna().tolist() == [False, True, False, True]
    assert out["outcome_at"].isna().tolist() == [False, True, False, True]


def test_an_inspected_column_says_which_rows_were_inspected():
    spec = {**MAPPING, "inspected": {"column": "checked", "positive": ["yes"], "negative": ["no"]}}
    out = apply_mapping(
        table(checked=["yes", "no", "YES", "no"], illicit=["N", None, "Y", None]),
        mapping_from_dict(spec),
    )
    assert out["inspected"].tolist() == [True, False, True, False]
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(table(checked=["yes", "no", "yes", "no"]), mapping_from_dict(spec))
    # labels of rows that were not inspected are refused, naming the label column
    assert problems_of(excinfo) == {
        (1, "illicit"): "label given for a parcel that was not inspected",
        (3, "illicit"): "label given for a parcel that was not inspected",
    }


def test_iso_times_with_an_offset_keep_it_and_others_take_the_timezone():
    spec = {**MAPPING, "time": {"column": "date", "timezone": "Europe/Paris"}}
    dates = ["2025-03-01T09:00:00+01:00", "2025-03-01 10:30", "2025-07-01T12:00Z", "2025-07-01"]
    out = apply_mapping(table(date=dates), mapping_from_dict(spec))
    assert out["declared_at"].tolist() == list(
        pd.to_datetime(
            ["2025-03-01T08:00Z", "2025-03-01T09:30Z", "2025-07-01T12:00Z", "2025-06-30T22:00Z"]
        )
    )


def test_parquet_style_typed_columns_are_read_too(mapping):
    typed = table(
        date=pd.to_datetime(
            ["2025-03-01 09:00", "2025-03-01 10:30", "2025-03-02 00:00", "2025-03-03 00:00"]
        ),
        qty=[1, 2, 1, 3],
        net_mass=[0.25, 1.5, 0.3, 2.0],
        importer=[101, 102, 101, 103],  # whole-number ids become their decimal text
        illicit=[0, 1, 0, 0],
    )
    spec = {**MAPPING, "label": "illicit"}
    out = apply_mapping(typed, mapping_from_dict(spec))
    assert out["recipient_id"].tolist() == ["101", "102", "101", "103"]
    assert out["declared_at"].iloc[0] == pd.Timestamp("2025-03-01T00:00Z")
    assert out["violation_found"].tolist() == [False, True, False, False]


# --- bad data: one error with every problem ------------------------------------------------


def test_every_problem_in_the_data_is_listed_in_one_error(mapping):
    bad = table(
        decl_no=["D1", "D2", "D2", "D4"],
        date=["01/03/2025 09:00", "2025-03-01", "02/03/2025 00:15", "31/02/2025 10:00"],
        illicit=["N", "maybe", "Y", "1"],
        net_mass=["0.25", "heavy", "0.3", "-2"],
        hs6=None,
    )
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(bad, mapping)
    found = problems_of(excinfo)
    assert set(found) == {
        (-1, "hs6"), (1, "decl_no"), (2, "decl_no"), (1, "date"), (3, "date"),
        (1, "illicit"), (3, "illicit"), (1, "net_mass"), (3, "net_mass"),
    }  # fmt: skip
    assert found[(-1, "hs6")].startswith("column named in the mapping (role hts_code) is not")
    assert "duplicate parcel_id; also at rows [2]" in found[(1, "decl_no")]
    assert found[(1, "date")] == "not a time in format '%d/%m/%Y %H:%M'"
    assert "'maybe' (1 rows), '1' (1 rows)" in found[(1, "illicit")]
    assert found[(1, "net_mass")] == "not a number"
    assert found[(3, "net_mass")] == "must be a number > 0 (role weight_kg)"
    message = str(excinfo.value)
    assert message.startswith("9 problems reading the data through the column mapping:")
    assert "(the data has: decl_no, date, importer, declarant, office, net_mass, qty" in message
    assert "row 1 (parcel_id 'D2'): field 'date' has value '2025-03-01'" in message
    assert (
        "row 3 (parcel_id 'D4'): field 'net_mass' has value '-2': must be a number > 0" in message
    )


def test_a_missing_column_suggests_a_close_name(mapping):
    with pytest.raises(MappedDataError, match=r"'net_mass'.*did you mean 'net_mas'\?"):
        apply_mapping(table().rename(columns={"net_mass": "net_mas"}), mapping)


def test_strict_formats_are_refused_unless_the_role_is_free():
    spec = {**MAPPING, "free": []}
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(table(), mapping_from_dict(spec))
    reasons = problems_of(excinfo)
    assert set(reasons) == {(i, "office") for i in range(4)}
    assert reasons[(0, "office")] == (
        "must be four digits; or list 'port_of_entry' under free in the mapping to accept any "
        "value (role port_of_entry)"
    )


def test_a_time_in_a_daylight_saving_gap_is_refused():
    spec = {**MAPPING, "time": {"column": "date", "format": "%d/%m/%Y %H:%M",
                                "timezone": "Europe/Paris"}}  # fmt: skip
    dates = ["01/03/2025 09:00", "30/03/2025 02:30", "02/03/2025 00:15", "03/03/2025 23:59"]
    with pytest.raises(MappedDataError, match=r"row 1 .*ambiguous in Europe/Paris \(a daylight"):
        apply_mapping(table(date=dates), mapping_from_dict(spec))


def test_a_missing_id_or_time_is_refused(mapping):
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(
            table(decl_no=["D1", None, "D3", " "], date=["", *table()["date"][1:]]), mapping
        )
    assert problems_of(excinfo) == {
        (0, "date"): "required value is missing",
        (1, "decl_no"): "required value is missing",
        (3, "decl_no"): "required value is missing",
    }


# --- bad mapping files ---------------------------------------------------------------------


def test_every_problem_in_the_mapping_file_is_listed(tmp_path):
    spec = {
        "id": "decl_no",
        "tiem": "date",
        "label": {"column": "illicit", "positive": ["Y"], "negative": ["Y"]},
        "roles": {"hts": "hs6", "seller_id": "illicit", "parcel_id": "decl_no"},
        "free": ["mode", "quantity"],
        "extra": {"numeric": ["quantity", "duty"], "categorical": ["duty"]},
    }
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(MappingError) as excinfo:
        load_mapping(path)
    assert excinfo.value.problems == [
        "unknown key 'tiem'; did you mean 'time'?",
        "time must name a column (a non-empty string), got None",
        "label: values ['y'] are both positive and negative",
        "unknown role roles.'hts'; known: " + ", ".join(ROLES),
        "roles.parcel_id: name it with the top-level key id",
        "free: 'mode' is not a role the mapping names under roles",
        "free: 'quantity' is not a role the mapping names under roles",
        "extra.numeric: column 'quantity' has the name of a contract field (or the gt_ prefix "
        "of generated ground truth); name contract fields under roles",
        "extra.numeric: column 'duty' is listed twice",
        "column 'illicit' is the label column; it cannot also be an input (roles.seller_id)",
    ]
    assert str(excinfo.value).startswith(f"mapping {path}: 10 problems:\n  - unknown key 'tiem'")


def test_an_unknown_timezone_and_a_format_without_directives_are_refused():
    spec = {**MAPPING, "time": {"column": "date", "format": "DD/MM/YYYY", "timezone": "Mars/Base"}}
    with pytest.raises(MappingError, match=r"strftime format.*\n.*'Mars/Base' is not an IANA"):
        mapping_from_dict(spec)


def test_a_missing_mapping_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mapping file .*nope\.yaml does not exist"):
        load_mapping(tmp_path / "nope.yaml")


def test_the_mapping_round_trips_through_its_dict(mapping):
    assert mapping_from_dict(mapping.to_dict()) == mapping


# --- records in the user's columns (the HTTP service) ---------------------------------------


def test_records_in_user_columns_are_read_and_bad_keys_named(mapping):
    records = table().drop(columns=["ignored", "illicit"]).to_dict(orient="records")
    records[0]["qty"] = 2  # JSON numbers are fine
    frame = records_frame(records, mapping)
    assert frame["quantity"].tolist() == [2, 2, 1, 3]
    records[1]["net_mas"] = "1"
    records[2]["office"] = 7  # whole numbers in a text column become text
    records[3]["value"] = "ninety"
    with pytest.raises(MappedDataError) as excinfo:
        records_frame(records, mapping)
    assert problems_of(excinfo) == {
        (1, "net_mas"): "unknown field; did you mean 'net_mass'?",
        (3, "value"): "not a number",
    }


def test_times_outside_the_nanosecond_range_are_problems_not_crashes(mapping):
    dates = ["31/12/9999 10:00", "01/01/0001 00:00", "02/03/2025 00:15", "03/03/2025 23:59"]
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(table(date=dates), mapping)
    assert problems_of(excinfo) == {
        (0, "date"): "timestamp out of range (years 1677 to 2262)",
        (1, "date"): "timestamp out of range (years 1677 to 2262)",
    }
    iso = mapping_from_dict({**MAPPING, "time": "date"})
    dates = ["9999-12-31T23:59:59Z", "0001-01-01", "2025-03-01", "2025-03-02"]
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(table(date=dates), iso)
    assert set(problems_of(excinfo)) == {(0, "date"), (1, "date")}
    typed = pd.Series(pd.to_datetime(["9999-12-31", "2025-03-01", "2025-03-01", "2025-03-02"],
                                     utc=True).as_unit("us"))  # fmt: skip
    with pytest.raises(MappedDataError, match=r"row 0 .*timestamp out of range"):
        apply_mapping(table(date=typed), iso)


def test_times_that_are_not_text_or_timestamps_are_problems(mapping):
    iso = mapping_from_dict({**MAPPING, "time": "date"})
    records = table(date=["2025-03-01", "2025-03-02", "2025-03-02", "2025-03-03"])
    records = records.drop(columns=["ignored", "illicit"]).to_dict(orient="records")
    records[0]["date"], records[1]["date"], records[2]["date"] = 2025, 20250301, True
    with pytest.raises(MappedDataError) as excinfo:
        records_frame(records, iso)
    assert problems_of(excinfo) == {
        (0, "date"): "expected text or a timestamp, got int",
        (1, "date"): "expected text or a timestamp, got int",
        (2, "date"): "expected text or a timestamp, got bool",
    }
    numbers = table(date=[2025, 2026, 2027, 2028])  # a numeric column from Parquet
    with pytest.raises(MappedDataError, match=r"4 problems"):
        apply_mapping(numbers.astype({"date": "int64"}), iso)


def test_non_finite_numbers_are_problems(mapping):
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(table(duty=["inf", "-1e999", "", "8"]), mapping)
    assert problems_of(excinfo) == {(0, "duty"): "not a finite number",
                                    (1, "duty"): "not a finite number"}  # fmt: skip
    records = table().drop(columns=["ignored", "illicit"]).to_dict(orient="records")
    records[2]["duty"] = float("inf")
    with pytest.raises(MappedDataError, match=r"row 2 .*'duty' has value inf: not a finite"):
        records_frame(records, mapping)
    typed = table(duty=pd.Series([1.0, np.inf, np.nan, 8.0]))
    with pytest.raises(MappedDataError, match=r"row 1 .*'duty' has value inf: not a finite"):
        apply_mapping(typed, mapping)


def test_ground_truth_columns_cannot_be_mapped_to_any_part():
    spec = {**MAPPING, "id": "gt_id", "time": "gt_time",
            "label": {"column": "gt_violation"},
            "inspected": "gt_inspected",
            "roles": {**MAPPING["roles"], "seller_id": "gt_bad_actor"}}  # fmt: skip
    with pytest.raises(MappingError) as excinfo:
        mapping_from_dict(spec)
    problems = excinfo.value.problems
    parts = {"id": "gt_id", "time": "gt_time", "label": "gt_violation",
             "inspected": "gt_inspected", "roles.seller_id": "gt_bad_actor"}  # fmt: skip
    for where, column in parts.items():
        assert (
            f"{where}: column {column!r} has the gt_ prefix of generated ground truth, which "
            "must never reach the model; map the observed columns instead"
        ) in problems


def test_declared_label_values_compare_like_the_data():
    spec = {**MAPPING, "label": yaml.safe_load("{column: illicit, positive: [1.0], negative: [0]}")}
    frame = apply_mapping(table(illicit=[1.0, 0.0, None, 1]), mapping_from_dict(spec))
    assert frame["violation_found"].tolist() == [True, False, pd.NA, True]
    unquoted = yaml.safe_load("{column: illicit, positive: [yes], negative: [no]}")
    spec = {**MAPPING, "label": unquoted}
    with pytest.raises(MappingError) as excinfo:
        mapping_from_dict(spec)
    assert excinfo.value.problems == [
        "label.positive: True is a YAML boolean (yes, no, true, false, on and off without "
        "quotes are); quote the values as they appear in the data, e.g. ['yes']",
        "label.negative: False is a YAML boolean (yes, no, true, false, on and off without "
        "quotes are); quote the values as they appear in the data, e.g. ['yes']",
    ]
    quoted = yaml.safe_load("{column: illicit, positive: ['yes'], negative: ['no']}")
    frame = apply_mapping(table(illicit=["Yes", "no", "", "YES"]),
                          mapping_from_dict({**MAPPING, "label": quoted}))  # fmt: skip
    assert frame["violation_found"].tolist() == [True, False, pd.NA, True]


def test_a_json_integer_beyond_float_range_is_not_finite(mapping):
    records = table().drop(columns=["ignored", "illicit"]).to_dict(orient="records")
    records[1]["duty"] = 10**400
    with pytest.raises(MappedDataError, match=r"row 1 .*'duty' has value 1000.*not a finite"):
        records_frame(records, mapping)


def _missing_on_invalid(*roles: str) -> dict:
    spec = {**MAPPING, "roles": dict(MAPPING["roles"])}
    for role in roles:
        spec["roles"][role] = {"column": MAPPING["roles"][role], "on_invalid": "missing"}
    return spec


def test_on_invalid_missing_reads_refused_values_as_missing_and_counts_them():
    mapping = mapping_from_dict(_missing_on_invalid("weight_kg", "quantity"))
    assert mapping.on_invalid_missing == ("weight_kg", "quantity")
    # a zero mass (the contract wants > 0), a text that is no number, a fraction of a unit
    frame = apply_mapping(
        table(net_mass=["0", "1.5", "heavy", "2"], qty=["1", "2.5", "1", "3"]), mapping
    )
    assert len(frame) == 4  # no row dropped
    assert frame["weight_kg"].isna().tolist() == [True, False, True, False]
    assert frame["weight_kg"][[1, 3]].tolist() == [1.5, 2.0]
    assert frame["quantity"].isna().tolist() == [False, True, False, False]
    assert made_missing(frame) == {"weight_kg": 2, "quantity": 1}
    # the other roles still refuse: one bad value in a role reading as error names it
    with pytest.raises(MappedDataError) as excinfo:
        apply_mapping(table(net_mass=["0", "1", "1", "1"], value=["-3", "1", "1", "1"]), mapping)
    assert set(problems_of(excinfo)) == {(0, "value")}


def test_on_invalid_missing_counts_zero_on_a_clean_table_and_records_read_the_same():
    mapping = mapping_from_dict(_missing_on_invalid("weight_kg"))
    assert made_missing(apply_mapping(table(), mapping)) == {"weight_kg": 0}
    records = table(net_mass=["0", "1.5", "0.3", "2"]).drop(columns=["illicit", "ignored"])
    frame = records_frame(records.to_dict("records"), mapping)  # as the service reads them
    assert frame["weight_kg"].isna().tolist() == [True, False, False, False]
    assert made_missing(frame) == {"weight_kg": 1}
    assert made_missing(apply_mapping(table(), mapping_from_dict(MAPPING))) == {}


def test_on_invalid_round_trips_and_a_bad_setting_is_named():
    mapping = mapping_from_dict(_missing_on_invalid("weight_kg"))
    assert mapping.to_dict()["roles"]["weight_kg"] == {
        "column": "net_mass",
        "on_invalid": "missing",
    }
    assert mapping_from_dict(mapping.to_dict()) == mapping
    spec = _missing_on_invalid("weight_kg")
    spec["roles"]["weight_kg"] = {"column": "net_mass", "on_invalid": "drop", "colum": "x"}
    with pytest.raises(MappingError) as excinfo:
        mapping_from_dict(spec)
    text = str(excinfo.value)
    assert "roles.weight_kg.on_invalid must be one of error, missing, got 'drop'" in text
    assert "colum" in text


def test_records_for_scoring_may_not_hold_the_mappings_outcome_columns():
    spec = {**MAPPING, "inspected": "checked",
            "roles": {**MAPPING["roles"], "inspection_propensity": "pick_rate"}}  # fmt: skip
    mapping = mapping_from_dict(spec)
    records = table().drop(columns=["ignored", "illicit"]).to_dict(orient="records")
    assert records_frame(records, mapping)["parcel_id"].tolist() == ["D1", "D2", "D3", "D4"]
    records[0]["illicit"] = "Y"
    records[1]["checked"] = "N"
    records[2]["pick_rate"] = "0.5"
    records[3].update(gt_violation=True, violation_found=False)
    with pytest.raises(MappedDataError) as excinfo:
        records_frame(records, mapping)
    refused = "outcome and ground-truth fields are not accepted for scoring"
    assert problems_of(excinfo) == {
        (0, "illicit"): f"{refused} (the mapping's label column)",
        (1, "checked"): f"{refused} (the mapping's inspected column)",
        (2, "pick_rate"): f"{refused} (the mapping's inspection_propensity role column)",
        (3, "gt_violation"): f"{refused} (ground truth of generated data)",
        (3, "violation_found"): f"{refused} (an inspection outcome, known only after the "
        "inspection)",
    }
    assert {p.parcel_id for p in excinfo.value.problems} == {"D1", "D2", "D3", "D4"}
