"""The one dialect: CSV files, column mappings and records read the same text the same way."""

from __future__ import annotations

import pandas as pd
import pytest
from records import valid_record

from parcelrisk.contract import (
    ContractError,
    apply_mapping,
    mapping_from_dict,
    read_declarations,
    validate_records,
    write_declarations,
)
from parcelrisk.contract.parse import parse_booleans, parse_numbers, parse_timestamps

NUMBERS = ["1", " 2 ", "1.5", ".5", "5.", "1e3", "-0", "+2", "inf", "-1e999", "nan", "1,5",
           "1_000", "0x10", "heavy", "١٢", "", "  "]  # fmt: skip
BOOLEANS = ["true", "false", "True", "FALSE", " tRuE ", "1", "0", " 1", "1.0", "yes", "t", "", " "]
TIMESTAMPS = [
    "2025-03-01T08:15:00Z", "2025-03-01T08:15:00.123456789+05:30", "2025-03-01T08:15:00-0100",
    "2025-03-01T08:15:00+01", "2025-03-01T08Z", "20250301T081500Z", "2025-03-01 08:15:00 +01:00",
    "2025-03-01T08:15:00\tZ", " 2025-03-01T08:15:00Z ", "2025-03-01T08:15:00z",
    "2025-03-01T08:15:00 UTC", "2025-03-01t08:15:00Z", "2025-13-01T00:00:00Z", "9999-12-31T00:00Z",
]  # fmt: skip
MAPPING = {"id": "id", "time": "time", "label": "label", "roles": {"listed_price_usd": "price"}}


def _csv(tmp_path, frame: pd.DataFrame, column: str, value: str):
    """Read a CSV of ``frame`` with ``value`` as the text of ``column`` in row 0."""
    path = write_declarations(frame, tmp_path / "d.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.loc[0, column] = value
    raw.to_csv(path, index=False)
    try:
        return read_declarations(path)[column].iloc[0]
    except ContractError:
        return "refused"


def _mapped(column: str, value: str, **spec):
    """Read two rows whose ``column`` holds ``value`` through a mapping (``spec`` changes it)."""
    table = pd.DataFrame(
        {"id": ["A", "B"], "time": ["2025-03-01T00:00:00Z"] * 2, "label": ["1", "0"],
         "price": ["1", "2"]}, dtype=object,
    )  # fmt: skip
    table[column] = value
    try:
        return apply_mapping(table, mapping_from_dict({**MAPPING, **spec}))
    except ContractError:
        return "refused"


def _same(a, b) -> bool:
    """Equal outcomes: the same value, both missing, or both "refused"."""
    if isinstance(a, str) or isinstance(b, str) or not (pd.isna(a) or pd.isna(b)):
        return a == b
    return pd.isna(a) and pd.isna(b)


@pytest.mark.parametrize(
    ("texts", "field", "column", "mapped_field"),
    [
        (NUMBERS, "listed_price_usd", "price", "listed_price_usd"),
        (BOOLEANS, "gt_bad_actor", "label", "violation_found"),
    ],
)
def test_numbers_and_booleans_read_the_same_in_a_csv_and_through_a_mapping(
    tmp_path, valid_frame, texts, field, column, mapped_field
):
    outcomes = set()
    for text in texts:
        csv = _csv(tmp_path, valid_frame, field, text)
        mapped = _mapped(column, text)
        mapped = mapped if isinstance(mapped, str) else mapped[mapped_field].iloc[0]
        assert _same(csv, mapped), (text, csv, mapped)
        outcomes.add("refused" if isinstance(csv, str) else "missing" if pd.isna(csv) else "read")
    assert outcomes == {"read", "missing", "refused"}  # every outcome was probed


def test_timestamps_with_an_offset_read_the_same_on_every_path(tmp_path, valid_frame):
    outcomes = set()
    for text in TIMESTAMPS:
        csv = _csv(tmp_path, valid_frame, "declared_at", text)
        try:
            record = validate_records([dict(valid_record(1), declared_at=text)])
            record = record["declared_at"].iloc[0]
        except ContractError:
            record = "refused"
        mapped = _mapped("time", text, time={"column": "time", "timezone": "Europe/Paris"})
        mapped = mapped if isinstance(mapped, str) else mapped["declared_at"].iloc[0]
        assert _same(csv, record) and _same(csv, mapped), (text, csv, record, mapped)
        outcomes.add(isinstance(csv, str))
    assert outcomes == {True, False}


def test_the_parsers_report_what_they_could_not_read():
    numbers, unparsed = parse_numbers(pd.Series(["12", " -0.5 ", "1e3", "", " ", "nan", "1,5"]))
    assert numbers.tolist()[:3] == [12, -0.5, 1000] and numbers[3:].isna().all()
    assert unparsed.tolist() == [False] * 5 + [True, True]
    values, unparsed = parse_booleans(pd.Series(["TRUE", " 0", "", "no"]))
    assert values.tolist() == [True, False, pd.NA, pd.NA]
    assert unparsed.tolist() == [False, False, False, True]
    times = parse_timestamps(pd.Series(["2025-03-01", "2025-03-01T08:15Z", "x", "3000-01-01Z"]))
    assert times.local.tolist() == [True, False, False, False]
    assert times.unparsed.tolist() == [False, False, True, True]  # a date alone has no offset
    assert times.utc.isna().tolist() == [True, False, True, True]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2025-03-01T08Z", "2025-03-01T08:00Z"),  # the offset of a time without minutes counts
        ("20250301T081500Z", "2025-03-01T08:15Z"),
        ("2025-03-01T08:15", "2025-03-01T07:15Z"),  # no offset: a wall time in Europe/Paris
        ("2025-03-30T02:30", "refused"),  # a wall time in the daylight-saving gap
    ],
)
def test_a_mapping_reads_times_without_an_offset_in_its_timezone(text, utc):
    out = _mapped("time", text, time={"column": "time", "timezone": "Europe/Paris"})
    got = out if isinstance(out, str) else out["declared_at"].iloc[0]
    assert got == (utc if utc == "refused" else pd.Timestamp(utc))


def test_a_format_says_whether_its_times_carry_an_offset():
    paris = {"timezone": "Europe/Paris", "column": "time"}
    local = _mapped("time", "01/03/2025 09:00", time={**paris, "format": "%d/%m/%Y %H:%M"})
    zulu = _mapped("time", "2025-03-01T09:00Z", time={**paris, "format": "%Y-%m-%dT%H:%MZ"})
    offset = _mapped("time", "01/03/2025 09:00+0300", time={**paris, "format": "%d/%m/%Y %H:%M%z"})
    assert local["declared_at"].iloc[0] == pd.Timestamp("2025-03-01T08:00Z")
    assert zulu["declared_at"].iloc[0] == pd.Timestamp("2025-03-01T09:00Z")
    assert offset["declared_at"].iloc[0] == pd.Timestamp("2025-03-01T06:00Z")
