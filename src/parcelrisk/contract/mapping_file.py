"""Loading a column mapping: the YAML file (or its dict) checked, every problem at once.

:func:`load_mapping` reads a mapping file and :func:`mapping_from_dict` builds the
:class:`~parcelrisk.contract.mapping_spec.ColumnMapping` from its parsed YAML; a
:class:`~parcelrisk.contract.problems.MappingError` lists every problem found (unknown
keys or roles with did-you-mean, wrong types, an unknown timezone, a column used twice,
ground-truth columns).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from parcelrisk.contract.history_keys import Key, parse_history
from parcelrisk.contract.mapping_spec import (
    FREEABLE_KINDS,
    MAPPING_VERSION,
    ON_INVALID,
    ROLES,
    Binary,
    ColumnMapping,
)
from parcelrisk.contract.parse import FALSE, TRUE, label_text
from parcelrisk.contract.problems import MappingError
from parcelrisk.contract.schema import FIELDS_BY_NAME, is_ground_truth

_KEYS = ("version", "id", "time", "label", "inspected", "outcome_delay_days", "roles", "free",
         "extra", "history")  # fmt: skip


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
    delay = _delay(raw.get("outcome_delay_days", 0.0), problems)
    roles, on_invalid_missing = _roles(raw.get("roles"), problems)
    free = _free(raw.get("free"), roles, problems)
    categorical, numeric = _extra(raw.get("extra"), problems)
    history = _history(raw.get("history"), problems)
    outcome_columns = {"id": id_, "time": time, "label": label and label.column}
    if inspected is not None:
        outcome_columns["inspected"] = inspected.column
    problems += _ground_truth(outcome_columns, roles)
    problems += _outcomes_as_inputs(outcome_columns, roles, categorical + numeric)
    if problems:
        raise MappingError(source, problems)
    assert id_ and time and label  # for type checkers: problems would have been raised
    return ColumnMapping(
        id=id_, time=time, label=label, time_format=time_format, timezone=timezone,
        inspected=inspected, outcome_delay_days=delay, roles=roles, free=free,
        extra_categorical=categorical, extra_numeric=numeric, history=history,
        on_invalid_missing=on_invalid_missing,
    )  # fmt: skip


def _history(raw: Any, problems: list[str]) -> tuple[Key, ...] | None:
    """The declared history keys (their parts are checked against the data when fitting)."""
    try:
        return parse_history(raw, "the mapping")
    except ValueError as err:
        problems.append(str(err))
        return None


def _delay(value: Any, problems: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        problems.append(f"outcome_delay_days must be a number >= 0, got {value!r}")
        return 0.0
    return float(value)


def _ground_truth(outcome_columns: dict[str, str | None], roles: dict[str, str]) -> list[str]:
    """A problem for every part of the mapping that names a ground-truth column."""
    parts = {**outcome_columns, **{f"roles.{r}": c for r, c in roles.items()}}
    return [
        f"{where}: column {column!r} has the gt_ prefix of generated ground truth, "
        "which must never reach the model; map the observed columns instead"
        for where, column in parts.items()
        if column and is_ground_truth(column)
    ]


def _outcomes_as_inputs(
    outcome_columns: dict[str, str | None], roles: dict[str, str], extra: tuple[str, ...]
) -> list[str]:
    """A problem for every id, time, label or inspected column also used as an input."""
    problems = []
    for where, column in outcome_columns.items():
        used = [f"roles.{r}" for r, c in roles.items() if c == column]
        used += [f"extra ({column})" for c in extra if c == column]
        if column and used:
            problems.append(
                f"column {column!r} is the {where} column; it cannot also be an input "
                f"({', '.join(used)})"
            )
    return problems


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
    values = {
        side: _declared_values(raw.get(side, list(default)), f"{where}.{side}", default, problems)
        for side, default in (("positive", TRUE), ("negative", FALSE))
    }
    both = {label_text(v) for v in values["positive"]} & {label_text(v) for v in values["negative"]}
    if both:
        problems.append(f"{where}: values {sorted(both)} are both positive and negative")
    return Binary(column, values["positive"], values["negative"]) if column else None


def _declared_values(
    given: Any, where: str, default: tuple[str, ...], problems: list[str]
) -> tuple[str, ...]:
    """The declared values of one side of a yes/no column, as text."""
    if not _is_value_list(given):
        problems.append(f"{where} must be a list of values, got {given!r}")
        return default
    flags = [v for v in given if isinstance(v, bool)]
    if flags:
        problems.append(
            f"{where}: {flags[0]!r} is a YAML boolean (yes, no, true, false, on and "
            "off without quotes are); quote the values as they appear in the data, e.g. "
            "['yes']"
        )
        return default
    # as data values are read: the number 1.0 is "1" (the text "1.0" stays "1.0")
    return tuple(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in given)


def _is_value_list(given: Any) -> bool:
    """Whether ``given`` is a non-empty list of plain values (no lists, mappings or nulls)."""
    if not isinstance(given, list) or not given:
        return False
    return not any(isinstance(v, Mapping | list) or v is None for v in given)


def _roles(raw: Any, problems: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Role -> column, and the roles whose invalid values are read as missing.

    A role maps to a column name, or to ``{column: NAME, on_invalid: error | missing}``.
    """
    if raw is None:
        return {}, ()
    if not isinstance(raw, Mapping):
        problems.append(f"roles must map roles to columns, got {_type(raw)}")
        return {}, ()
    roles, missing = {}, []
    for role, given in raw.items():
        where = f"roles.{role}"
        if role in ("parcel_id", "declared_at"):
            problems.append(f"{where}: name it with the top-level key "
                            f"{'id' if role == 'parcel_id' else 'time'}")  # fmt: skip
            continue
        if role not in ROLES:
            problems += _unknown({role: None}, ROLES, "role", "roles.")
            continue
        column, on_invalid = given, "error"
        if isinstance(given, Mapping):
            problems += _unknown(given, ("column", "on_invalid"), "key", f"{where}.")
            column, on_invalid = given.get("column"), given.get("on_invalid", "error")
            if on_invalid not in ON_INVALID:
                problems.append(
                    f"{where}.on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}"
                )
        if (name := _column(column, where, problems)) is not None:
            roles[str(role)] = name
            if on_invalid == "missing":
                missing.append(str(role))
    return roles, tuple(missing)


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
            if name is not None and _extra_ok(name, f"extra.{kind}", out, problems):
                out[kind].append(name)
    return tuple(out["categorical"]), tuple(out["numeric"])


def _extra_ok(name: str, where: str, out: dict[str, list[str]], problems: list[str]) -> bool:
    """Whether an extra column may be used: not a contract name, not listed before."""
    if name in FIELDS_BY_NAME or is_ground_truth(name):
        problems.append(
            f"{where}: column {name!r} has the name of a contract field (or the "
            "gt_ prefix of generated ground truth); name contract fields under roles"
        )
        return False
    if name in out["categorical"] or name in out["numeric"]:
        problems.append(f"{where}: column {name!r} is listed twice")
        return False
    return True
