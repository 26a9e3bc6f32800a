"""The edge: any table or records become declarations in canonical form.

Everything downstream (training, evaluation, scoring, serving, replay, reports) takes
declarations from these three functions and never asks where a table came from: with
``mapping=None`` the input is in the contract's own columns (generated data), otherwise
in the user's columns named by the mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from parcelrisk.contract.files import read_declarations
from parcelrisk.contract.frames import validate
from parcelrisk.contract.mapping_apply import apply_mapping, read_mapped, records_frame
from parcelrisk.contract.mapping_spec import ColumnMapping
from parcelrisk.contract.plain import plain_columns
from parcelrisk.contract.records import check_limits

#: Records not read by the fast path (invalid, unusual or mapped ones) go through the
#: vectorised checks (about 30 ms whatever their number, pandas' fixed costs) one request
#: at a time per process: threads reading requests side by side (the service) make such
#: requests queue among themselves, while plain valid ones take the fast path beside them.
_VECTORISED_CHECKS = threading.Lock()


def read_table(
    path: str | Path, mapping: ColumnMapping | None = None, *, outcomes: bool = True
) -> pd.DataFrame:
    """Declarations of a data file (``.parquet`` or ``.csv``), in canonical form.

    ``outcomes``: read the outcome columns too and require them where the contract does
    (training and evaluation); scoring passes False.
    """
    if mapping is None:
        return read_declarations(path, require_outcomes=outcomes)
    return read_mapped(path, mapping, outcomes=outcomes)


def canonical_frame(
    table: pd.DataFrame, mapping: ColumnMapping | None = None, *, outcomes: bool = False
) -> pd.DataFrame:
    """Declarations of an in-memory table, in canonical form (see :func:`read_table`)."""
    if mapping is None:
        return validate(table, require_outcomes=outcomes)
    return apply_mapping(table, mapping, outcomes=outcomes)


def canonical_records(
    records: Sequence[Any], mapping: ColumnMapping | None = None
) -> pd.DataFrame | dict[str, list[Any]]:
    """Declarations of JSON-like records (one request), for scoring.

    Records hold declarations only: an outcome or ground-truth field (or a mapping's
    label, inspected or outcome role column) is a problem naming the record and the key
    (:func:`parcelrisk.contract.records_frame`). Tables (:func:`canonical_frame`) may have
    them: their outcomes are read apart and never reach the features.

    Text values beyond the contract's limits are refused first
    (:func:`parcelrisk.contract.records.check_limits`). Small batches of plain, valid
    contract records come back as their canonical values column by column
    (:func:`parcelrisk.contract.plain_columns`: building a frame costs more than scoring
    one parcel); everything else as the canonical frame.

    Raises
    ------
    ContractError
        Listing every problem of every record.
    """
    check_limits(records)
    lists = plain_columns(records) if mapping is None else None
    if lists is not None:
        return lists
    with _VECTORISED_CHECKS:
        return records_frame(records, mapping)
