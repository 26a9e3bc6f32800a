"""The feature pipeline: raw declarations -> one numeric matrix, columns named by source.

Each column name starts with the part of the union it comes from (``history__``,
``description__``, ``commodity__``, ``routing__``, ``category__``, ``party__``, and
``extra__`` for the extra inputs a column mapping declares: each transformer's ``PART``),
which is how a column finds its declaration again (:func:`feature_spec`) and so its input
group.

Inputs missing throughout the training data (a table brought through a column mapping
may have no description, no seller, no weight) give missing (NaN) features, never an
error; LightGBM cannot split on them. :func:`skipped` says which.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.pipeline import FeatureUnion

from parcelrisk.contract import INPUT_COLUMNS
from parcelrisk.features.base import FeatureTransformer
from parcelrisk.features.columns import Columns, stack
from parcelrisk.features.commodity import CommodityFeatures
from parcelrisk.features.extra import ExtraFeatures
from parcelrisk.features.groups import FeatureSpec
from parcelrisk.features.history import EntityHistory
from parcelrisk.features.live import LiveHistory
from parcelrisk.features.party import PartyFeatures
from parcelrisk.features.routing import CategoryCodes, RoutingFeatures
from parcelrisk.features.text import DescriptionFeatures

logger = logging.getLogger(__name__)

#: Version of what the fitted feature transformers hold and compute. A model pickled by
#: another version cannot be trusted to transform (attributes differ), so loading refuses
#: it; raise this whenever fitted state or feature semantics change. 3: transformers
#: record their input columns (``feature_names_in_``); the heading classifier keeps its
#: classes as an index. 4: the entity history keeps declared keys (``entities``). 5: the
#: entity history keeps its state as a layer of events and which parcels' outcomes it holds.
FEATURES_VERSION = 5


def build_features(
    value_threshold: float = 800.0,
    history_smoothing: float = 5.0,
    category_min_count: int = 20,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
    history: tuple[tuple[str, ...], ...] | None = None,
) -> FeatureUnion:
    """The feature union, returning a pandas frame with prefixed column names.

    ``history`` names the entities whose history is kept (None: the default keys of
    :mod:`parcelrisk.features.entities`).

    ``extra_categorical`` and ``extra_numeric`` name columns outside the contract to use
    as features too (an ``extra`` part is added only when there are some).
    """
    parts: list[FeatureTransformer] = [
        EntityHistory(smoothing=history_smoothing, entities=history),
        DescriptionFeatures(),
        CommodityFeatures(value_threshold=value_threshold),
        RoutingFeatures(),
        CategoryCodes(min_count=category_min_count),
        PartyFeatures(),
    ]
    if extra_categorical or extra_numeric:
        extra = ExtraFeatures(
            categorical=tuple(extra_categorical),
            numeric=tuple(extra_numeric),
            min_count=category_min_count,
        )
        parts.append(extra)
    return FeatureUnion([(part.PART, part) for part in parts]).set_output(transform="pandas")


#: The kinds of part a feature union can have, by name.
PARTS: dict[str, type[FeatureTransformer]] = {
    kind.PART: kind
    for kind in (EntityHistory, DescriptionFeatures, CommodityFeatures, RoutingFeatures,
                 CategoryCodes, PartyFeatures, ExtraFeatures)
}  # fmt: skip


def feature_spec(column: str) -> FeatureSpec | None:
    """The declaration of a feature matrix column (``<part>__<feature>``); None for a
    column no part declares."""
    part, separator, feature = column.partition("__")
    kind = PARTS.get(part) if separator else None
    return None if kind is None else kind.spec_of(feature)


def transform(
    union: FeatureUnion, data: pd.DataFrame | Columns, live: LiveHistory | None = None
) -> pd.DataFrame:
    """The fitted union's feature matrix of ``data``: ``union.transform`` without the
    union's per-part frames (the same values and column names, in a fraction of the time
    for a few parcels). With ``live``, the entity history also counts the events appended
    to it after training.
    """
    cols = Columns.of(data)
    names, parts = [], []
    computed = _computed(union, cols, live)
    for (name, part), named in zip(union.transformer_list, computed, strict=True):
        names += [f"{name}__{spec.name}" for spec in part.feature_specs()]
        parts += named.values()
    matrix = stack(parts, cols.n)
    return pd.DataFrame(matrix, index=cols.index, columns=_column_index(tuple(names)), copy=False)


@functools.lru_cache(maxsize=16)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """Feature names as the matrix's column index (what a frame makes of the list), built
    once per set of names (about 0.1 ms each time: a tenth of one parcel's features). An
    index is immutable, so frames can share it."""
    return pd.Index(list(names))


def prepare(union: FeatureUnion) -> None:
    """Build the lookup table of every fitted vocabulary now (pandas builds an index's on
    its first lookup: up to ~0.1 s for a large one), so no scoring request pays for it."""

    def indexes(obj, depth: int = 0):
        if isinstance(obj, pd.Index):
            yield obj
        elif isinstance(obj, dict) and depth < 2:
            for value in obj.values():
                yield from indexes(value, depth + 1)
        elif hasattr(obj, "get_params") and depth < 2:  # a fitted part holding another
            for name, value in vars(obj).items():
                if name.endswith("_"):
                    yield from indexes(value, depth + 1)

    for _, part in union.transformer_list:
        for index in indexes(part):
            index.get_indexer(index[:1])


#: From this many parcels the feature groups are computed on two threads (their array work
#: releases the GIL); below it the threads' start-up costs more than it saves.
PARALLEL_ROWS = 20_000


def _computed(
    union: FeatureUnion, cols: Columns, live: LiveHistory | None
) -> list[dict[str, np.ndarray]]:
    """Every part's named feature arrays, in the union's order. The entity history, the
    largest part by far, runs beside the others on large batches."""
    parts = [part for _, part in union.transformer_list]
    heavy = next((i for i, p in enumerate(parts) if isinstance(p, EntityHistory)), None)
    if heavy is None:
        if live is not None:
            raise ValueError("a live history was given to a model that keeps no entity history")
        return [part.transform_columns(cols) for part in parts]
    history = functools.partial(parts[heavy].transform_columns, cols, live)
    if cols.n < PARALLEL_ROWS or len(parts) < 2:
        return [history() if i == heavy else p.transform_columns(cols)
                for i, p in enumerate(parts)]  # fmt: skip
    with ThreadPoolExecutor(1) as pool:
        alone = pool.submit(history)
        out = [None if i == heavy else p.transform_columns(cols) for i, p in enumerate(parts)]
        out[heavy] = alone.result()
    return out


def skipped(declarations: pd.DataFrame, features: pd.DataFrame) -> dict[str, list[str]]:
    """What the pipeline could not use; logged (a warning when features were skipped).

    Returns
    -------
    dict
        ``absent_inputs``: contract inputs missing in every declaration;
        ``skipped_features``: features missing for every declaration (so never used).
    """
    absent = [c for c in INPUT_COLUMNS if c not in declarations or declarations[c].isna().all()]
    empty = [str(c) for c in features.columns if features[c].isna().all()]
    logger.log(
        logging.WARNING if empty else logging.INFO,
        "inputs missing in every training declaration: %s; features skipped (missing for "
        "every declaration, %d): %s",
        ", ".join(absent) or "none", len(empty), ", ".join(empty) or "none",
    )  # fmt: skip
    return {"absent_inputs": absent, "skipped_features": empty}


@contextmanager
def skips_said_once() -> Iterator[None]:
    """Within it, each distinct message of :func:`skipped` is logged once: a command that
    fits several models on the same table (train's evaluation fit and its refit, the
    trials of a tune study) would repeat what they skipped for each. Also a decorator."""
    seen: set[str] = set()

    def first_time(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        new = message not in seen
        seen.add(message)
        return new

    logger.addFilter(first_time)
    try:
        yield
    finally:
        logger.removeFilter(first_time)
