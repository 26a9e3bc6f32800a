"""Read and write declaration files (Parquet or CSV), always through the contract.

Both formats hold the canonical frame of :func:`parcelrisk.contract.validate`, and
``read_declarations(write_declarations(frame, path))`` equals ``validate(frame)`` for the
contract columns (exactly: values, missing values and dtypes). A table without rows is
neither written nor read.

* Parquet is written and read with pyarrow, without the index.
* CSV is UTF-8 with a header row; missing values are empty fields; booleans are written as
  ``True`` / ``False``; timestamps are ISO 8601 in UTC with a ``Z`` suffix and as many
  fractional digits as the column needs; floats are written with enough digits to read
  back the same number. CSV has no types: numbers, booleans and timestamps are read in
  the one dialect of :mod:`parcelrisk.contract.parse` (booleans ``true``/``false``/``1``/
  ``0`` in any case, blank fields missing, ...), text fields as written, and columns
  outside the contract come back as strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from parcelrisk.contract.frames import MISSING_COLUMN, check, validate
from parcelrisk.contract.parse import parse_booleans, parse_numbers
from parcelrisk.contract.problems import ContractError, ContractProblem, json_safe
from parcelrisk.contract.schema import DECLARATION_COLUMNS, FIELDS, Field, Kind
from parcelrisk.paths import SUFFIXES, check_suffix, check_table_file

__all__ = ["SUFFIXES", "check_suffix", "read_declarations", "to_records", "write_declarations"]


def read_declarations(path: str | Path, *, require_outcomes: bool = False) -> pd.DataFrame:
    """Read a declarations file and return its validated, canonical frame.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.parquet`` or ``.csv`` file.
    require_outcomes : bool, default False
        Passed to :func:`parcelrisk.contract.validate`.

    Returns
    -------
    pandas.DataFrame
        The canonical frame (RangeIndex).

    Raises
    ------
    ValueError
        If the suffix is not ``.parquet`` or ``.csv``, or the file has no rows.
    FileNotFoundError
        If there is no file at ``path``.
    ContractError
        Listing every value that breaks the contract, including CSV values that do not
        parse as their field's type; when a required column is missing, it ends with a
        hint to read the file through a column mapping.
    """
    path = Path(path)
    suffix = check_table_file(path)
    table = read_file(path)
    try:
        if suffix == ".parquet":
            return validate(table, require_outcomes=require_outcomes)
        return _parsed_csv(table, require_outcomes)
    except ContractError as err:
        if not any(p.reason == MISSING_COLUMN for p in err.problems):
            raise
        raise ContractError(err.problems, hint=_mapping_hint(path)) from None


def _mapping_hint(path: Path) -> str:
    """What to do when a file read in the contract's columns lacks some of them."""
    return (
        f"{path} may name its columns its own way: describe them in a column mapping and "
        "pass it with --mapping FILE (docs/byo-data.md)"
    )


def write_declarations(frame: pd.DataFrame, path: str | Path) -> Path:
    """Validate a frame and write it as a declarations file.

    Parameters
    ----------
    frame : pandas.DataFrame
        Declarations; validated with :func:`parcelrisk.contract.validate` first, so
        a file that is written can always be read back.
    path : str or pathlib.Path
        Destination, ending in ``.parquet`` or ``.csv``; parent folders are created.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If the suffix is not ``.parquet`` or ``.csv``, or the frame has no rows (a file
        that is read must have some).
    ContractError
        If the frame breaks the contract (nothing is written).
    """
    path = Path(path)
    suffix = check_suffix(path)
    canonical = validate(frame).reset_index(drop=True)
    if canonical.empty:
        raise ValueError(f"nothing to write to {path}: the frame has no rows")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        canonical.to_parquet(path, engine="pyarrow", index=False)
    else:
        _csv_ready(canonical).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Declarations as JSON-ready records, as ``/score`` and ``predict.decide`` take them.

    The frame (e.g. from :func:`read_declarations`) is validated; each record holds its
    parcel's id and declared fields (outcome and ground-truth columns are left out),
    timestamps as ISO 8601 UTC text as in CSV, missing values as None, numbers as Python
    numbers, so that ``json.dumps`` takes it and the contract reads back the same values.

    Raises
    ------
    ContractError
        If the frame breaks the contract.
    """
    canonical = validate(frame)
    ready = _csv_ready(canonical[[c for c in DECLARATION_COLUMNS if c in canonical]])
    return [{k: json_safe(v) for k, v in row.items()} for row in ready.to_dict("records")]


def read_file(path: Path) -> pd.DataFrame:
    """The table in a ``.parquet`` file (with its types) or a ``.csv`` file (as text).

    CSV is read as UTF-8 (a byte-order mark is skipped) with a header row; every value is
    a string, and an empty field is missing.

    Raises
    ------
    ValueError
        If the table has no rows (e.g. a CSV file with a header only).
    """
    if path.suffix.lower() == ".parquet":
        table = pd.read_parquet(path, engine="pyarrow")
    else:
        table = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
    _require_rows(table, path)
    return table


def _require_rows(table: pd.DataFrame, path: Path) -> None:
    """Refuse a table without rows: there is nothing to train on, evaluate or score."""
    if len(table) == 0:
        raise ValueError(f"{path} has no rows")


# --- CSV ---------------------------------------------------------------------------------


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a canonical frame with timestamps as ISO 8601 UTC strings."""
    out = frame.copy()
    for fld in FIELDS:
        if fld.kind is Kind.TIMESTAMP and fld.name in out:
            out[fld.name] = _iso_utc(out[fld.name])
    return out


def _iso_utc(values: pd.Series) -> pd.Series:
    """ISO 8601 strings in UTC ('Z'), with the fewest fractional digits that are exact."""
    ns = values.dt.tz_convert(None).dt.as_unit("ns").to_numpy()
    missing = np.isnat(ns)
    text = np.datetime_as_string(ns, unit=_finest_unit(ns[~missing]), timezone="UTC")
    return pd.Series(np.where(missing, None, text), index=values.index, dtype=object)


def _finest_unit(ns: np.ndarray) -> str:
    """The coarsest of s, ms, us and ns that holds every timestamp exactly."""
    ticks = ns.astype(np.int64)
    for unit, per_unit in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if not (ticks % per_unit).any():
            return unit
    return "ns"


def _parsed_csv(raw: pd.DataFrame, require_outcomes: bool) -> pd.DataFrame:
    """The canonical frame of a CSV's text: numbers and booleans parsed, then validated."""
    ids = raw["parcel_id"].to_numpy(dtype=object, na_value=None) if "parcel_id" in raw else None
    parsed, problems = raw.copy(), []
    for fld in FIELDS:
        if fld.name in raw.columns and fld.kind in (Kind.INT, Kind.FLOAT, Kind.BOOL):
            parse = parse_booleans if fld.kind is Kind.BOOL else parse_numbers
            parsed[fld.name], failed = parse(raw[fld.name])
            problems += _parse_problems(fld, raw[fld.name], failed, ids)
    frame, more = check(parsed, require_outcomes=require_outcomes)
    reported = {(p.row, p.field) for p in problems}
    problems += [p for p in more if (p.row, p.field) not in reported]
    if problems:
        raise ContractError(problems)
    return frame


def _parse_problems(
    fld: Field, text: pd.Series, failed: np.ndarray, ids: np.ndarray | None
) -> list[ContractProblem]:
    if fld.kind is Kind.BOOL:
        reason = "expected true, false, 1 or 0"
    else:
        reason = "expected a number, could not parse the text"
    return [
        ContractProblem(int(i), _id(ids, i), fld.name, text.iloc[i], reason, fld.allowed_text())
        for i in np.flatnonzero(failed)
    ]


def _id(ids: np.ndarray | None, i: int) -> str | None:
    value = None if ids is None else ids[i]
    return value if isinstance(value, str) and value else None
