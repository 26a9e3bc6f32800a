"""Bring your own declarations: read a user's table through a column mapping.

A mapping file (YAML, documented in ``docs/byo-data.md``) names the user's column for
the parcel id, the time, the label (and optionally an inspected flag), and the column
that plays each contract role (``seller_id``, ``recipient_id``, ``hts_code``, ...).
Roles may be missing; other columns may be declared as extra categorical or numeric
features.

:func:`load_mapping` reads and checks the file (:class:`MappingError` lists every
problem). :func:`apply_mapping` turns the user's table into the contract's canonical
frame (:mod:`parcelrisk.validation`), checked against a variant of the contract in which
every role except the id and the time may be missing, and the roles listed under
``free`` take any non-blank value. Every problem in the data (a named column that does
not exist, a label that is not binary, a time that does not parse, a duplicate id, a
value the contract refuses) is reported at once in one :class:`MappedDataError`, naming
the user's columns. :func:`records_frame` does the same for JSON-like records in the
user's column names (the HTTP service). Nothing is dropped or coerced silently: the only
conversions are parsing text to numbers and times, reading the label values the mapping
declares, and writing whole numbers in text columns as their decimal text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml
from pandas.api import types as ptypes

from parcelrisk.contract.schema import FIELDS, FIELDS_BY_NAME, Field, Kind, Role, is_ground_truth
from parcelrisk.validation import NOT_UNICODE, ContractError, ContractProblem, check, is_unicode

__all__ = [
    "ROLES",
    "ColumnMapping",
    "MappedDataError",
    "MappingError",
    "apply_mapping",
    "load_mapping",
    "mapping_from_dict",
    "read_mapped",
    "records_frame",
]

MAPPING_VERSION = 1
#: Contract fields a user column may fill (the id and the time have keys of their own).
ROLES: tuple[str, ...] = (
    *(f.name for f in FIELDS if f.role is Role.INPUT),
    "inspection_propensity",
)
#: Kinds with a strict format that ``free`` relaxes to any non-blank value.
FREEABLE_KINDS = frozenset({Kind.ENUM, Kind.COUNTRY, Kind.HTS, Kind.PORT, Kind.LOCODE})
_TRUE, _FALSE = ("1", "true"), ("0", "false")
_KEYS = ("version", "id", "time", "label", "inspected", "outcome_delay_days", "roles", "free",
         "extra")  # fmt: skip
_MAX_COLUMNS_LISTED = 40
# a time of day followed by 'Z' or a UTC offset: such values carry their own timezone
_FLOAT_MAX = float(np.finfo(float).max)  # a Python float: compares with any int exactly
# the range of the canonical frame's nanosecond timestamps
_EARLIEST, _LATEST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
_OFFSET = re.compile(r".*\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")


class MappingError(ValueError):
    """A mapping file that cannot be used; lists every problem found in it."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"mapping {source}: {n} problem{'' if n == 1 else 's'}:"]
        super().__init__("\n".join(lines + [f"  - {p}" for p in self.problems]))


class MappedDataError(ContractError):
    """Data that cannot be read through a mapping; problems name the user's columns."""

    heading = "reading the data through the column mapping"


@dataclass(frozen=True)
class Binary:
    """A yes/no column: which values mean yes and which mean no.

    Values compare as stripped, lower-case text; numbers as whole numbers where they are
    (the number ``1.0`` is ``"1"``; the text ``"1.0"`` is not).
    """

    column: str
    positive: tuple[str, ...] = _TRUE
    negative: tuple[str, ...] = _FALSE

    def allowed(self) -> str:
        """The accepted values, in words."""
        yes, no = ", ".join(map(repr, self.positive)), ", ".join(map(repr, self.negative))
        return f"{yes} (yes) or {no} (no), or missing"


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of a user's table plays which part of the declaration contract.

    Attributes
    ----------
    id, time : str
        Columns of the parcel id and the declaration time.
    label : Binary
        Column saying whether a violation was found.
    time_format : str or None
        ``strftime`` format of the time column; None: ISO 8601.
    timezone : str
        IANA timezone of times written without an offset (default UTC).
    inspected : Binary or None
        Column saying whether a row was inspected; None: a row is inspected when its
        label is given.
    outcome_delay_days : float
        Days after the declaration at which an outcome counts as known (for history
        features and labels at a training cut-off).
    roles : dict
        Contract field (a role in :data:`ROLES`) -> user column.
    free : tuple of str
        Roles whose values are the user's own codes (any non-blank value).
    extra_categorical, extra_numeric : tuple of str
        Columns with no role to use as features too.
    """

    id: str
    time: str
    label: Binary
    time_format: str | None = None
    timezone: str = "UTC"
    inspected: Binary | None = None
    outcome_delay_days: float = 0.0
    roles: dict[str, str] = field(default_factory=dict)
    free: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()

    @property
    def extra(self) -> tuple[str, ...]:
        """Every extra column, categorical first."""
        return self.extra_categorical + self.extra_numeric

    def fields(self) -> tuple[Field, ...]:
        """The contract variant mapped data is checked against.

        Every field is optional except the id and the time; roles listed under ``free``
        accept any non-blank value.
        """
        out = []
        for f in FIELDS:
            f = replace(f, required=f.name in ("parcel_id", "declared_at"))
            if f.name in self.free:
                f = replace(f, kind=Kind.CATEGORY, allowed=())
            out.append(f)
        return tuple(out)

    def user_column(self, contract_field: str) -> str:
        """The user's column behind a contract field (the field's name if none is)."""
        sources = {"parcel_id": self.id, "declared_at": self.time, **self.roles}
        sources["violation_found"] = self.label.column
        sources["outcome_at"] = self.time
        # without a column of its own, being inspected is read from the label
        sources["inspected"] = (self.inspected or self.label).column
        return sources.get(contract_field, contract_field)

    def to_dict(self) -> dict[str, Any]:
        """The mapping in the form of its YAML file (``mapping_from_dict`` reads it back)."""
        out: dict[str, Any] = {"version": MAPPING_VERSION, "id": self.id}
        out["time"] = {"column": self.time, "format": self.time_format, "timezone": self.timezone}
        out["label"] = _binary_dict(self.label)
        if self.inspected is not None:
            out["inspected"] = _binary_dict(self.inspected)
        out["outcome_delay_days"] = self.outcome_delay_days
        out["roles"] = dict(self.roles)
        out["free"] = list(self.free)
        out["extra"] = {
            "categorical": list(self.extra_categorical),
            "numeric": list(self.extra_numeric),
        }
        return out


def _binary_dict(b: Binary) -> dict[str, Any]:
    return {"column": b.column, "positive": list(b.positive), "negative": list(b.negative)}


# --- the mapping file ----------------------------------------------------------------------


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read and check a mapping file.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    MappingError
        Listing every problem in the file (unknown keys or roles, wrong types, unknown
        timezone, a column used twice, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise MappingError(str(path), [f"not valid YAML: {err}"]) from err
    return mapping_from_dict(raw, str(path))


def mapping_from_dict(raw: Any, source: str = "(dict)") -> ColumnMapping:
    """Build and check a mapping from the parsed YAML (see :func:`load_mapping`)."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise MappingError(source, [f"expected a YAML mapping of keys, got {_type(raw)}"])
    problems += _unknown(raw, _KEYS, "key")
    if raw.get("version", MAPPING_VERSION) != MAPPING_VERSION:
        problems.append(f"version {raw['version']!r} is not supported; use {MAPPING_VERSION}")
    id_ = _column(raw.get("id"), "id", problems)
    time, time_format, timezone = _time(raw.get("time"), problems)
    label = _binary(raw.get("label"), "label", problems, required=True)
    inspected = _binary(raw.get("inspected"), "inspected", problems, required=False)
    delay = raw.get("outcome_delay_days", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
        problems.append(f"outcome_delay_days must be a number >= 0, got {delay!r}")
        delay = 0.0
    roles = _roles(raw.get("roles"), problems)
    free = _free(raw.get("free"), roles, problems)
    categorical, numeric = _extra(raw.get("extra"), problems)
    outcome_columns = {"id": id_, "time": time, "label": label and label.column}
    if inspected is not None:
        outcome_columns["inspected"] = inspected.column
    parts = {**outcome_columns, **{f"roles.{r}": c for r, c in roles.items()}}
    for where, column in parts.items():
        if column and is_ground_truth(column):
            problems.append(
                f"{where}: column {column!r} has the gt_ prefix of generated ground truth, "
                "which must never reach the model; map the observed columns instead"
            )
    for where, column in outcome_columns.items():
        used = [f"roles.{r}" for r, c in roles.items() if c == column]
        used += [f"extra ({column})" for c in categorical + numeric if c == column]
        if column and used:
            problems.append(
                f"column {column!r} is the {where} column; it cannot also be an input "
                f"({', '.join(used)})"
            )
    if problems:
        raise MappingError(source, problems)
    assert id_ and time and label  # for type checkers: problems would have been raised
    return ColumnMapping(
        id=id_, time=time, label=label, time_format=time_format, timezone=timezone,
        inspected=inspected, outcome_delay_days=float(delay), roles=roles, free=free,
        extra_categorical=categorical, extra_numeric=numeric,
    )  # fmt: skip


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _unknown(raw: Mapping, known: Sequence[str], what: str, where: str = "") -> list[str]:
    out = []
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            out.append(f"unknown {what} {where}{key!r}{hint}")
    return out


def _column(value: Any, where: str, problems: list[str]) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    problems.append(f"{where} must name a column (a non-empty string), got {value!r}")
    return None


def _time(raw: Any, problems: list[str]) -> tuple[str | None, str | None, str]:
    if not isinstance(raw, Mapping):
        return _column(raw, "time", problems), None, "UTC"
    problems += _unknown(raw, ("column", "format", "timezone"), "key", "time.")
    column = _column(raw.get("column"), "time.column", problems)
    fmt, tz = raw.get("format"), raw.get("timezone", "UTC")
    if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
        problems.append(f"time.format must be a strftime format such as '%d/%m/%Y', got {fmt!r}")
        fmt = None
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"time.timezone {tz!r} is not an IANA timezone (e.g. 'Europe/Paris')")
        tz = "UTC"
    return column, fmt, str(tz)


def _binary(raw: Any, where: str, problems: list[str], *, required: bool) -> Binary | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, Mapping):
        column = _column(raw, where, problems)
        return Binary(column) if column else None
    problems += _unknown(raw, ("column", "positive", "negative"), "key", f"{where}.")
    column = _column(raw.get("column"), f"{where}.column", problems)
    values = {}
    for side, default in (("positive", _TRUE), ("negative", _FALSE)):
        given = raw.get(side, list(default))
        if (
            not isinstance(given, list)
            or not given
            or any(isinstance(v, Mapping | list) or v is None for v in given)
        ):
            problems.append(f"{where}.{side} must be a list of values, got {given!r}")
            given = list(default)
        flags = [v for v in given if isinstance(v, bool)]
        if flags:
            problems.append(
                f"{where}.{side}: {flags[0]!r} is a YAML boolean (yes, no, true, false, on and "
                "off without quotes are); quote the values as they appear in the data, e.g. "
                "['yes']"
            )
            given = list(default)
        # as data values are read: the number 1.0 is "1" (the text "1.0" stays "1.0")
        values[side] = tuple(
            str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in given
        )
    both = {_plain_text(v) for v in values["positive"]} & {
        _plain_text(v) for v in values["negative"]
    }
    if both:
        problems.append(f"{where}: values {sorted(both)} are both positive and negative")
    return Binary(column, values["positive"], values["negative"]) if column else None


def _roles(raw: Any, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"roles must map roles to columns, got {_type(raw)}")
        return {}
    roles = {}
    for role, column in raw.items():
        if role in ("parcel_id", "declared_at"):
            problems.append(f"roles.{role}: name it with the top-level key "
                            f"{'id' if role == 'parcel_id' else 'time'}")  # fmt: skip
        elif role not in ROLES:
            problems += _unknown({role: None}, ROLES, "role", "roles.")
        elif (name := _column(column, f"roles.{role}", problems)) is not None:
            roles[str(role)] = name
    return roles


def _free(raw: Any, roles: dict[str, str], problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"free must be a list of roles, got {_type(raw)}")
        return ()
    free = []
    for role in raw:
        fld = FIELDS_BY_NAME.get(str(role))
        if role not in roles:
            problems.append(f"free: {role!r} is not a role the mapping names under roles")
        elif fld is None or fld.kind not in FREEABLE_KINDS:
            problems.append(f"free: {role!r} takes any value already (it has no fixed format)")
        else:
            free.append(str(role))
    return tuple(free)


def _extra(raw: Any, problems: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, Mapping):
        problems.append(f"extra must have keys categorical and numeric, got {_type(raw)}")
        return (), ()
    problems += _unknown(raw, ("categorical", "numeric"), "key", "extra.")
    out: dict[str, list[str]] = {"categorical": [], "numeric": []}
    for kind in out:
        given = raw.get(kind) or []
        if not isinstance(given, list):
            problems.append(f"extra.{kind} must be a list of columns, got {_type(given)}")
            continue
        for column in given:
            name = _column(column, f"extra.{kind}", problems)
            if name is None:
                continue
            if name in FIELDS_BY_NAME or is_ground_truth(name):
                problems.append(
                    f"extra.{kind}: column {name!r} has the name of a contract field (or the "
                    "gt_ prefix of generated ground truth); name contract fields under roles"
                )
            elif name in out["categorical"] or name in out["numeric"]:
                problems.append(f"extra.{kind}: column {name!r} is listed twice")
            else:
                out[kind].append(name)
    return tuple(out["categorical"]), tuple(out["numeric"])


# --- the data ------------------------------------------------------------------------------


def read_mapped(path: str | Path, mapping: ColumnMapping, *, outcomes: bool = True) -> pd.DataFrame:
    """Read a CSV or Parquet table through a mapping (see :func:`apply_mapping`).

    CSV is read as text (UTF-8, empty fields are missing); the mapping says how to parse.
    """
    from parcelrisk.io import check_suffix

    path = Path(path)
    suffix = check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    if suffix == ".parquet":
        table = pd.read_parquet(path, engine="pyarrow")
    else:
        table = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
    return apply_mapping(table, mapping, outcomes=outcomes)


def apply_mapping(
    table: pd.DataFrame, mapping: ColumnMapping, *, outcomes: bool = True
) -> pd.DataFrame:
    """Turn a user's table into the contract's canonical frame.

    Parameters
    ----------
    table : pandas.DataFrame
        The user's table; columns the mapping does not name are ignored.
    mapping : ColumnMapping
        Which column plays which part.
    outcomes : bool, default True
        Read the label (and inspected flag): required for training and evaluation. Without
        outcomes (scoring) those columns are not read, even if present.

    Returns
    -------
    pandas.DataFrame
        The canonical frame of :func:`parcelrisk.validation.validate` (every contract
        column; roles the mapping does not name are missing), then the extra columns
        under the user's names (categorical as ``string``, numeric as ``float64``).
        ``outcome_at`` is the declaration time plus ``outcome_delay_days`` for inspected
        rows. RangeIndex.

    Raises
    ------
    MappedDataError
        Listing every problem, each naming the user's column, the row (0-based position
        in the table) and the value.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(table).__name__}")
    table = table.reset_index(drop=True)
    problems = _missing_columns(table, mapping, outcomes)
    present = set(table.columns)
    ids = _ids(table, mapping)
    parsed: dict[str, pd.Series] = {}
    if mapping.id in present:
        parsed["parcel_id"] = _text(table[mapping.id])
    if mapping.time in present:
        parsed["declared_at"] = _times(table[mapping.time], mapping, ids, problems)
    for role, column in mapping.roles.items():
        if column in present:
            parsed[role] = _role_values(role, table[column], column, ids, problems)
    if outcomes:
        parsed.update(_outcomes(table, mapping, parsed.get("declared_at"), ids, problems))
    frame = pd.DataFrame(parsed, index=table.index)
    extra = {}
    for column in mapping.extra:
        if column in present:
            if column in mapping.extra_numeric:
                extra[column] = _numbers(table[column], column, ids, problems)
            else:
                extra[column] = _categories(table[column], column, ids, problems)
    canonical, contract_problems = check(frame, require_outcomes=outcomes, fields=mapping.fields())
    problems += _in_user_terms(contract_problems, mapping, problems, table)
    if problems:
        raise MappedDataError(problems)
    for column, values in extra.items():
        canonical[column] = values.to_numpy() if column in mapping.extra_numeric else values
    return canonical


def records_frame(
    records: Sequence[Mapping[str, Any]], mapping: ColumnMapping | None
) -> pd.DataFrame:
    """Canonical frame of JSON-like records in a mapping's column names (scoring only).

    With no mapping, the records are contract records
    (:func:`parcelrisk.validation.validate_records`). Keys the mapping does not name are
    errors; the label and inspected columns are accepted and not read.

    Raises
    ------
    ContractError
        Listing every problem (a :class:`MappedDataError` naming the user's columns when
        there is a mapping).
    """
    from parcelrisk.validation import validate_records

    if mapping is None:
        return validate_records(records)
    known = [mapping.id, mapping.time, *mapping.roles.values(), *mapping.extra,
             mapping.label.column]  # fmt: skip
    if mapping.inspected is not None:
        known.append(mapping.inspected.column)
    known = list(dict.fromkeys(known))
    problems, rows = [], []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            problems.append(ContractProblem(i, None, "(record)", record,
                                            "record is not an object", "an object"))  # fmt: skip
            record = {}
        pid = record.get(mapping.id)
        for key in record:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(ContractProblem(
                    i, pid if isinstance(pid, str) and pid else None, str(key), record[key],
                    "unknown field" + hint, "a column of the mapping: " + ", ".join(known),
                ))  # fmt: skip
        unreadable = {k for k, v in record.items() if isinstance(v, str) and not is_unicode(v)}
        for key in unreadable & set(known):  # nothing downstream can read such text
            problems.append(ContractProblem(
                i, pid if isinstance(pid, str) and is_unicode(pid) else None, str(key),
                record[key], NOT_UNICODE, "valid Unicode text",
            ))  # fmt: skip
        if unreadable:
            record = {k: v for k, v in record.items() if k not in unreadable}
        rows.append(record)
    table = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in known})
    try:
        frame = apply_mapping(table, mapping, outcomes=False)
    except MappedDataError as err:
        problems += err.problems
    if problems:
        raise MappedDataError(problems)
    return frame


def _missing_columns(
    table: pd.DataFrame, mapping: ColumnMapping, outcomes: bool
) -> list[ContractProblem]:
    named = {mapping.id: "id", mapping.time: "time"}
    if outcomes:
        named[mapping.label.column] = "label"
        if mapping.inspected is not None:
            named[mapping.inspected.column] = "inspected"
    for role, column in mapping.roles.items():
        named.setdefault(column, f"role {role}")
    for column in mapping.extra:
        named.setdefault(column, "extra")
    columns = [str(c) for c in table.columns]
    listed = ", ".join(columns[:_MAX_COLUMNS_LISTED])
    if len(columns) > _MAX_COLUMNS_LISTED:
        listed += f", ... {len(columns) - _MAX_COLUMNS_LISTED} more"
    problems = []
    for column, where in named.items():
        if column not in table.columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(ContractProblem(
                -1, None, column, None,
                f"column named in the mapping ({where}) is not in the data{hint} (the data "
                f"has: {listed})",
                f"a column of the data: {listed}",
            ))  # fmt: skip
    return problems


def _ids(table: pd.DataFrame, mapping: ColumnMapping) -> np.ndarray:
    """Each row's id as a non-empty string, or None (for problem messages)."""
    if mapping.id not in table.columns:
        return np.full(len(table), None, dtype=object)
    values = _text(table[mapping.id]).to_numpy(dtype=object, na_value=None)
    return np.array([v if isinstance(v, str) and v else None for v in values], dtype=object)


def _only_text(s: pd.Series) -> bool:
    """Whether every value is a string or missing (a CSV column): vectorised paths apply."""
    if ptypes.is_object_dtype(s.dtype):
        return ptypes.infer_dtype(s, skipna=True) in ("string", "empty")
    return ptypes.is_string_dtype(s.dtype)


def _text(s: pd.Series) -> pd.Series:
    """Text as given; whole numbers (int columns, or ints among objects) as decimal text."""
    if ptypes.is_integer_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype):
        return s.astype("string")
    if ptypes.is_object_dtype(s.dtype) and not _only_text(s):
        return s.map(
            lambda v: str(v) if isinstance(v, int | np.integer) and not isinstance(v, bool) else v
        )
    return s


def _categories(
    s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """An extra categorical column as ``string``; values that are not text are problems."""
    values = _text(s)
    if not ptypes.is_object_dtype(values.dtype):
        return values.astype("string")
    ok = values.map(lambda v: isinstance(v, str) or v is None or v is pd.NA or v != v)
    for i in np.flatnonzero(~ok.to_numpy(dtype=bool)):
        problems.append(_problem(i, ids, column, s.iloc[i],
                                 f"expected text, got {type(s.iloc[i]).__name__}",
                                 "text, or missing"))  # fmt: skip
    return values.where(ok, None).astype("string")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _plain_text(value: Any) -> str:
    """A label value as comparable text: lower case, whole numbers without '.0'."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return str(value).strip().lower()


def _problem(row: int, ids: np.ndarray, column: str, value: Any, reason: str, allowed: str):
    return ContractProblem(int(row), ids[row], column, _plain(value), reason, allowed)


def _is_missing(s: pd.Series) -> np.ndarray:
    missing = s.isna().to_numpy(dtype=bool)
    if _only_text(s):
        blank = s.astype("string").str.strip().eq("")
    elif ptypes.is_object_dtype(s.dtype):
        blank = s.map(lambda v: isinstance(v, str) and not v.strip())
    else:
        return missing
    return missing | blank.to_numpy(dtype=bool, na_value=False)


def _times(
    s: pd.Series, mapping: ColumnMapping, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """Times in UTC: with an offset as given, without one in the mapping's timezone.

    Values that are neither text nor timestamps (JSON numbers, booleans) and times outside
    the nanosecond range of the canonical frame are problems, not guesses or crashes.
    """
    missing = _is_missing(s)
    what = f"format {mapping.time_format!r}" if mapping.time_format else "ISO 8601"
    allowed = f"a time in {what} (timezone {mapping.timezone} unless the value has an offset)"
    if ptypes.is_datetime64_any_dtype(s.dtype):
        has_tz = getattr(s.dtype, "tz", None) is not None
        utc = s.dt.tz_convert("UTC") if has_tz else _localize(s, mapping.timezone)
        unparsed = np.zeros(len(s), dtype=bool)
    else:
        wrong = np.zeros(len(s), dtype=bool)
        if not _only_text(s):
            wrong = ~missing & ~s.map(_time_like).to_numpy(dtype=bool)
        for i in np.flatnonzero(wrong):
            problems.append(_problem(i, ids, mapping.time, s.iloc[i],
                                     f"expected text or a timestamp, got {_type(s.iloc[i])}",
                                     allowed))  # fmt: skip
        missing = missing | wrong
        text = s.astype("string").str.strip().mask(missing)
        fmt = mapping.time_format or "ISO8601"
        utc = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        unparsed = utc.isna().to_numpy() & ~missing
        local = ~text.str.fullmatch(_OFFSET).to_numpy(dtype=bool, na_value=False)
        if mapping.time_format and "%z" in mapping.time_format:
            local[:] = False
        if local.any() and mapping.timezone != "UTC":  # naive wall time, read in the timezone
            wall = utc[local].dt.tz_localize(None)
            utc = utc.copy()
            utc[local] = _localize(wall, mapping.timezone)
    # parsing may give a coarser unit than the canonical nanoseconds, with a wider range
    outside = ((utc < _EARLIEST) | (utc > _LATEST)).to_numpy(dtype=bool, na_value=False)
    for i in np.flatnonzero(outside):
        reason = "timestamp out of range (years 1677 to 2262)"
        problems.append(_problem(i, ids, mapping.time, s.iloc[i], reason, allowed))
    for i in np.flatnonzero(unparsed):
        problems.append(_problem(i, ids, mapping.time, s.iloc[i], f"not a time in {what}",
                                 allowed))  # fmt: skip
    for i in np.flatnonzero(utc.isna().to_numpy() & ~missing & ~unparsed):
        problems.append(_problem(i, ids, mapping.time, s.iloc[i],
                                 f"this local time does not exist or is ambiguous in "
                                 f"{mapping.timezone} (a daylight-saving change)",
                                 allowed))  # fmt: skip
    return utc.mask(outside).dt.as_unit("ns")


def _time_like(value: Any) -> bool:
    """Whether a value of an untyped time column is text, a timestamp or missing."""
    if isinstance(value, str | datetime | np.datetime64) or value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value  # NaN


def _localize(naive: pd.Series, timezone: str) -> pd.Series:
    """Wall times in ``timezone`` to UTC; a time in a DST gap or overlap becomes NaT."""
    local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC")


def _numbers(
    s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """Numbers as float64 (NaN where missing); text that is not a finite number is a problem."""
    missing = _is_missing(s)
    if ptypes.is_bool_dtype(s.dtype):
        values = pd.Series(np.nan, index=s.index)
        bad = ~missing
    elif ptypes.is_numeric_dtype(s.dtype):
        values = pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=s.index)
        bad = np.zeros(len(s), dtype=bool)
    elif _only_text(s):
        text = s.astype("string").str.strip().mask(missing)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        bad = values.isna().to_numpy() & ~missing
    else:
        is_bool = s.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        text = s.mask(is_bool | missing)
        if ptypes.is_object_dtype(text.dtype):
            text = text.map(_number_like)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        bad = values.isna().to_numpy() & ~missing
    infinite = np.isinf(values.to_numpy())
    for i in np.flatnonzero(bad | infinite):
        reason = "not a finite number" if infinite[i] else "not a number"
        problems.append(_problem(i, ids, column, s.iloc[i], reason, "a finite number"))
    return values.mask(bad | infinite)


def _number_like(value: Any) -> Any:
    """Text stripped; a whole number beyond float range as an infinity (not finite)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and abs(value) > _FLOAT_MAX:
        return np.inf if value > 0 else -np.inf
    return value


def _role_values(
    role: str, s: pd.Series, column: str, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    if FIELDS_BY_NAME[role].kind in (Kind.INT, Kind.FLOAT):
        return _numbers(s, column, ids, problems)  # validation refuses fractions for INT
    return _text(s)


def _binary_values(
    s: pd.Series, spec: Binary, ids: np.ndarray, problems: list[ContractProblem]
) -> pd.Series:
    """True, False or NA per row; values outside the declared ones are problems."""
    missing = _is_missing(s)
    if _only_text(s):
        text = s.astype("string").str.strip().str.lower().mask(missing)
    else:
        text = s.map(lambda v: None if v is None or v is pd.NA else _plain_text(v))
        text = text.mask(missing)
    yes = text.isin([_plain_text(v) for v in spec.positive]).to_numpy(dtype=bool)
    no = text.isin([_plain_text(v) for v in spec.negative]).to_numpy(dtype=bool)
    bad = ~(yes | no | missing)
    if bad.any():
        seen = pd.Series(s[bad].astype(str)).value_counts()
        shown = ", ".join(f"{v!r} ({n} rows)" for v, n in seen.head(5).items())
        for i in np.flatnonzero(bad):
            problems.append(_problem(
                i, ids, spec.column, s.iloc[i],
                f"not a yes/no value; values found that are neither: {shown}; declare them "
                "under positive or negative in the mapping",
                spec.allowed(),
            ))  # fmt: skip
    return pd.Series(pd.arrays.BooleanArray(yes, ~(yes | no)), index=s.index)


def _outcomes(
    table: pd.DataFrame,
    mapping: ColumnMapping,
    declared_at: pd.Series | None,
    ids: np.ndarray,
    problems: list[ContractProblem],
) -> dict[str, pd.Series]:
    """Contract outcomes: inspected, violation_found and outcome_at."""
    if mapping.label.column not in table.columns:
        return {}
    found = _binary_values(table[mapping.label.column], mapping.label, ids, problems)
    if mapping.inspected is None:
        inspected = found.notna().astype("boolean")
    elif mapping.inspected.column in table.columns:
        inspected = _binary_values(
            table[mapping.inspected.column], mapping.inspected, ids, problems
        )
    else:
        return {}
    out = {"inspected": inspected, "violation_found": found}
    if declared_at is not None:
        known = declared_at + pd.Timedelta(days=mapping.outcome_delay_days)
        out["outcome_at"] = known.where(inspected.fillna(False).to_numpy(dtype=bool))
    return out


def _in_user_terms(
    contract: list[ContractProblem],
    mapping: ColumnMapping,
    reported: list[ContractProblem],
    table: pd.DataFrame,
) -> list[ContractProblem]:
    """Contract problems in the user's columns and values, minus those already reported."""
    seen = {(p.row, p.field) for p in reported}
    out = []
    for p in contract:
        column = mapping.user_column(p.field)
        if (p.row, column) in seen or (p.row < 0 and any(q.field == column for q in reported)):
            continue
        reason = p.reason
        if p.field == "violation_found" and mapping.inspected is not None:
            reason = reason.replace("outcome", "label")
        fld = FIELDS_BY_NAME[p.field]
        if fld.kind in FREEABLE_KINDS and p.field in mapping.roles and "must" in reason:
            reason += f"; or list {p.field!r} under free in the mapping to accept any value"
        where = f" (role {p.field})" if p.field in mapping.roles else ""
        value = p.value
        if p.row >= 0 and column in table.columns and p.field != "outcome_at":
            value = _plain(table[column].iloc[p.row])  # as the user wrote it
        out.append(replace(p, field=column, value=value, reason=reason + where))
    return out


# --- the edge: any table or records -> declarations ----------------------------------------
#
# Everything downstream (training, evaluation, scoring, serving, replay, reports) takes
# declarations from these three functions and never asks where a table came from: with
# ``mapping=None`` the input is in the contract's own columns (generated data), otherwise
# in the user's columns named by the mapping.


def read_table(
    path: str | Path, mapping: ColumnMapping | None = None, *, outcomes: bool = True
) -> pd.DataFrame:
    """Declarations of a data file (``.parquet`` or ``.csv``), in canonical form.

    ``outcomes``: read the outcome columns too and require them where the contract does
    (training and evaluation); scoring passes False.
    """
    if mapping is None:
        from parcelrisk.io import read_declarations

        return read_declarations(path, require_outcomes=outcomes)
    return read_mapped(path, mapping, outcomes=outcomes)


def canonical_frame(
    table: pd.DataFrame, mapping: ColumnMapping | None = None, *, outcomes: bool = False
) -> pd.DataFrame:
    """Declarations of an in-memory table, in canonical form (see :func:`read_table`)."""
    if mapping is None:
        from parcelrisk.validation import validate

        return validate(table, require_outcomes=outcomes)
    return apply_mapping(table, mapping, outcomes=outcomes)


def canonical_records(
    records: Sequence[Any], mapping: ColumnMapping | None = None
) -> pd.DataFrame | dict[str, list[Any]]:
    """Declarations of JSON-like records (one request), for scoring.

    Small batches of plain, valid contract records come back as their canonical values
    column by column (:func:`parcelrisk.validation.plain_columns`: building a frame costs
    more than scoring one parcel); everything else as the canonical frame.

    Raises
    ------
    ContractError
        Listing every problem of every record.
    """
    from parcelrisk.validation import plain_columns

    lists = plain_columns(records) if mapping is None else None
    return lists if lists is not None else records_frame(records, mapping)
