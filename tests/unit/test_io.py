"""Tests of parcelrisk.contract.files: exact round trips, strict CSV parsing, clear file errors."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from parcelrisk.contract import (
    DECLARATION_COLUMNS,
    ContractError,
    load_mapping,
    read_declarations,
    read_table,
    to_records,
    validate,
    validate_records,
    write_declarations,
)

FORMATS = ["parquet", "csv"]


@pytest.fixture
def tricky_frame(valid_frame: pd.DataFrame) -> pd.DataFrame:
    """The valid frame with text, timestamps and numbers that are easy to get wrong."""
    frame = valid_frame.copy()
    frame["description"] = [
        'He said "hi", then\r\nleft; a,b',
        "深圳 连衣裙 👗🔥",
        "  leading and trailing spaces  ",
        "NA",
        "x" * 5000,
    ]
    frame["recipient_city"] = ["null", None, "None", "nan", "  "]
    frame["declared_at"] = pd.to_datetime(
        [
            "2025-03-01T08:15:00.123456789Z",
            "2025-03-01T08:15:00.5+01:00",
            "1999-12-31T23:59:59Z",
            "2025-03-01T00:00:00.000001Z",
            "2025-03-01T08:15:00Z",
        ],
        utc=True,
        format="ISO8601",
    )
    frame["declared_value_usd"] = [0.1 + 0.2, 1e-300, 123456789.123456789, 0.0, 1 / 3]
    frame["gt_mechanisms"] = [0, 2**40 + 1, 0, 7, 0]
    return frame


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(tmp_path, tricky_frame, fmt):
    path = write_declarations(tricky_frame, tmp_path / f"declarations.{fmt}")
    pd.testing.assert_frame_equal(read_declarations(path), validate(tricky_frame))


def test_records_of_a_frame_are_json_and_read_back_as_the_same_declarations(tricky_frame):
    frame = tricky_frame  # with outcome and ground-truth columns, which records leave out
    assert {"violation_found", "gt_mechanisms"} <= set(frame)
    records = to_records(frame)
    assert len(records) == len(frame)
    assert all(list(r) == [c for c in DECLARATION_COLUMNS if c in frame] for r in records)
    sent = json.loads(json.dumps(records, allow_nan=False))  # what a client sends
    assert sent[0]["declared_at"] == "2025-03-01T08:15:00.123456789Z"
    expected = validate(frame)[list(records[0])]
    pd.testing.assert_frame_equal(validate_records(sent)[list(records[0])], expected)


def test_records_of_a_frame_that_breaks_the_contract_are_refused(valid_frame):
    with pytest.raises(ContractError, match="declared_value_usd"):
        to_records(valid_frame.assign(declared_value_usd=-1.0))


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_random_numbers_is_exact(tmp_path, valid_frame, fmt):
    rng = np.random.default_rng(7)
    n = 2000
    frame = valid_frame.iloc[np.arange(n) % 5].reset_index(drop=True)
    frame["parcel_id"] = [f"P{i:08d}" for i in range(n)]
    frame["weight_kg"] = rng.lognormal(size=n) * 10.0 ** rng.integers(-6, 6, size=n)
    frame["listed_price_usd"] = np.where(rng.random(n) < 0.2, np.nan, rng.random(n) * 1e4)
    frame["declared_at"] += pd.to_timedelta(rng.integers(0, 10**15, size=n), unit="ns")
    path = write_declarations(frame, tmp_path / f"big.{fmt}")
    pd.testing.assert_frame_equal(read_declarations(path), validate(frame))


@pytest.mark.parametrize("fmt", FORMATS)
def test_written_file_is_canonical(tmp_path, valid_frame, fmt):
    frame = valid_frame.set_index(pd.Index(list("abcde")))
    out = read_declarations(write_declarations(frame, tmp_path / "sub" / f"d.{fmt}"))
    assert out.index.equals(pd.RangeIndex(5))
    assert out["hts_code"].iloc[0] == "6109100012"
    assert str(out["declared_at"].dtype) == "datetime64[ns, UTC]"


def test_parquet_keeps_extra_columns(tmp_path, valid_frame):
    frame = valid_frame.assign(note=["a", None, "c", "d", "e"], score=np.arange(5.0))
    out = read_declarations(write_declarations(frame, tmp_path / "d.parquet"))
    assert out["score"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert out["note"].iloc[0] == "a"
    assert out["note"].isna().iloc[1]


def test_csv_timestamps_are_iso_8601_utc(tmp_path, valid_frame):
    path = write_declarations(valid_frame, tmp_path / "d.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert raw["declared_at"].tolist()[:3] == [
        "2025-03-01T08:15:00.000000Z",
        "2025-03-01T01:00:00.000000Z",
        "2025-03-02T10:30:15.123456Z",
    ]
    outcome_at = ["", "", "", "2025-03-05T12:00:00Z", "2025-03-06T09:30:00Z"]
    assert raw["outcome_at"].tolist() == outcome_at


@pytest.mark.parametrize("name", ["declarations.json", "declarations.csv.gz", "declarations"])
def test_unsupported_suffix(tmp_path, valid_frame, name):
    suffix = name.rpartition(".")[2] if "." in name else ""
    with pytest.raises(ValueError, match=rf"suffix '{'.' + suffix if suffix else ''}'.*\.parquet"):
        read_declarations(tmp_path / name)
    with pytest.raises(ValueError, match=r"use one of \.parquet, \.csv"):
        write_declarations(valid_frame, tmp_path / name)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_file(tmp_path, fmt):
    path = tmp_path / f"nowhere.{fmt}"
    with pytest.raises(FileNotFoundError, match="declarations file not found") as excinfo:
        read_declarations(path)
    assert str(path) in str(excinfo.value)


def test_writing_an_invalid_frame_raises_and_writes_nothing(tmp_path, valid_frame):
    frame = valid_frame.assign(weight_kg=[1.0, -1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ContractError, match="must be a number > 0"):
        write_declarations(frame, tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists()


def _write_csv(tmp_path, frame: pd.DataFrame, **columns: list[str]):
    """Write a valid frame as CSV, then overwrite some columns with raw text."""
    path = write_declarations(frame, tmp_path / "d.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for name, values in columns.items():
        raw[name] = values
    raw.to_csv(path, index=False)
    return path


def test_csv_values_that_do_not_parse_are_all_reported(tmp_path, valid_frame):
    path = _write_csv(
        tmp_path,
        valid_frame,
        weight_kg=["0.5", "heavy", "1,5", "nan", ""],
        quantity=["2", "2.5", "3", "1", "two"],
        inspected=["False", "no", "0", "1", "true"],
    )
    with pytest.raises(ContractError, match=r"^7 problems") as excinfo:
        read_declarations(path)
    assert [(p.row, p.parcel_id, p.field, p.value) for p in excinfo.value.problems] == [
        (1, "P00000002", "quantity", 2.5),
        (1, "P00000002", "weight_kg", "heavy"),
        (1, "P00000002", "inspected", "no"),
        (2, "P00000003", "weight_kg", "1,5"),
        (3, "P00000004", "weight_kg", "nan"),
        (4, "P00000005", "quantity", "two"),
        (4, "P00000005", "weight_kg", pd.NA),
    ]
    reasons = {p.value: p.reason for p in excinfo.value.problems}
    assert reasons["heavy"] == "expected a number, could not parse the text"
    assert reasons["no"] == "expected true, false, 1 or 0"
    assert reasons[2.5] == "expected a whole number"
    assert reasons[pd.NA] == "required value is missing"


def test_csv_booleans_accept_true_false_one_zero(tmp_path, valid_frame):
    path = _write_csv(
        tmp_path,
        valid_frame,
        gt_violation=["true", "false", "True", "1", "0"],
        gt_bad_actor=["", "False", "0", "1", "true"],
    )
    out = read_declarations(path)
    assert out["gt_violation"].tolist() == [True, False, True, True, False]
    assert out["gt_bad_actor"].tolist() == [pd.NA, False, False, True, True]


def test_csv_timestamp_without_offset_is_rejected(tmp_path, valid_frame):
    stamps = ["2025-03-01T08:15:00Z"] * 4 + ["2025-03-01T08:15:00"]
    path = _write_csv(tmp_path, valid_frame, declared_at=stamps)
    with pytest.raises(ContractError, match="timestamp has no timezone") as excinfo:
        read_declarations(path)
    assert [(p.row, p.field) for p in excinfo.value.problems] == [(4, "declared_at")]


def test_csv_missing_required_column(tmp_path, valid_frame):
    path = tmp_path / "d.csv"
    write_declarations(valid_frame, path)
    pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="weight_kg").to_csv(
        path, index=False
    )
    with pytest.raises(ContractError, match="column 'weight_kg': required column is missing"):
        read_declarations(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_renamed_column_points_to_a_column_mapping(tmp_path, valid_frame, fmt):
    path = tmp_path / f"d.{fmt}"
    renamed = valid_frame.rename(columns={"declared_at": "ts", "seller_id": "vendor"})
    if fmt == "csv":
        renamed.to_csv(path, index=False)
    else:
        renamed.to_parquet(path, index=False)
    with pytest.raises(ContractError) as excinfo:
        read_declarations(path)
    lines = str(excinfo.value).splitlines()
    assert "  column 'declared_at': required column is missing" in lines[1:]
    assert "column 'seller_id': required column is missing" in str(excinfo.value)
    assert lines[-1] == (
        f"{path} may name its columns its own way: describe them in a column mapping and "
        "pass it with --mapping FILE (docs/byo-data.md)"
    )
    assert excinfo.value.hint == lines[-1]
    assert str(pickle.loads(pickle.dumps(excinfo.value))) == str(excinfo.value)


def test_an_invalid_value_gets_no_mapping_hint(tmp_path, valid_frame):
    path = tmp_path / "d.parquet"
    valid_frame.assign(weight_kg=-1.0).to_parquet(path, index=False)
    with pytest.raises(ContractError, match="weight_kg") as excinfo:
        read_declarations(path)
    assert excinfo.value.hint is None
    assert "--mapping" not in str(excinfo.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_without_rows_is_refused(tmp_path, valid_frame, fmt):
    path = tmp_path / f"d.{fmt}"
    write_declarations(valid_frame, path)
    if fmt == "csv":  # the header only
        path.write_text(path.read_text().splitlines()[0] + "\n")
    else:
        pd.read_parquet(path).head(0).to_parquet(path, index=False)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} has no rows$"):
        read_declarations(path)


def test_a_mapped_file_without_rows_is_refused(tmp_path):
    example = Path(__file__).parents[2] / "examples" / "byo"
    path = tmp_path / "mine.csv"
    header = (example / "declarations.csv").read_text(encoding="utf-8").splitlines()[0]
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"mine\.csv has no rows$"):
        read_table(path, load_mapping(example / "mapping.yaml"))


def test_a_frame_without_rows_is_not_written(tmp_path, valid_frame):
    with pytest.raises(ValueError, match=r"nothing to write to .*d\.csv: the frame has no rows"):
        write_declarations(valid_frame.head(0), tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists()


def test_parquet_with_naive_timestamps_is_rejected(tmp_path, valid_frame):
    path = tmp_path / "d.parquet"
    naive = valid_frame.assign(declared_at=valid_frame["declared_at"].dt.tz_localize(None))
    naive.to_parquet(path, index=False)
    with pytest.raises(ContractError, match="timestamp has no timezone") as excinfo:
        read_declarations(path)
    assert len(excinfo.value.problems) == 5
