"""Time-aware history of sellers, recipients, filers, tariff codes and their pairs.

The entities are declared (:mod:`parcelrisk.features.entities`: the column mapping's or
the config's ``history:``, else the default keys). For each parcel and each entity (a
seller, an address, an importer x HS6 pair, ...)
the features count what was known strictly before the parcel's declaration time: how
many parcels the entity had, since when, how many in the last days, and how many of its
inspected parcels were found violative by then (an outcome counts from the moment it
was recorded, ``outcome_at``, not from the parcel's declaration).

``fit`` stores the declarations and outcomes of the training data as the state; at
``transform`` time the state plus the new declarations themselves (never their outcomes)
are the history. So scoring after the training cut-off uses the state learned up to it,
and transforming the training data again gives the same features as ``fit_transform``.

An entity whose inputs are missing in every training declaration (a table brought
through a column mapping may have no seller, or no address) is skipped: its features
are missing (NaN) rather than a count over all parcels lumped into one entity, which
would only measure time. ``skipped_entities_`` names them.
"""

from __future__ import annotations

import re
from numbers import Real

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.utils.validation import check_is_fitted, check_scalar

from parcelrisk.features.base import FeatureTransformer, validate_declarations
from parcelrisk.features.columns import Columns, index_of
from parcelrisk.features.entities import (
    DEFAULT_HISTORY,
    Key,
    check_keys,
    entity_name,
    group_of,
    inputs_of,
    is_identity,
)
from parcelrisk.features.events import (
    EventIndex,
    combined_count,
    seconds,
)
from parcelrisk.features.groups import RECIPIENT, FeatureSpec
from parcelrisk.features.keys import entity_keys
from parcelrisk.features.party import placeholder_name
from parcelrisk.features.text import (
    DEFAULT_VAGUE_TERMS,
    contains,
    distinct,
    normalize_texts,
    per_unique,
    word_pattern,
)

_DAY = 86_400


#: The key NA identities take inside the state (their features are masked to NaN).
_ABSENT = "\x00absent"
#: Starting point of the smoothing prior before any outcome is known, and its weight.
PRIOR_RATE, PRIOR_WEIGHT = 0.05, 20.0
_PER_ENTITY = ("n_prior", "days_since_first", "n_recent", "n_inspected", "n_violations", "rate")
#: Entities whose past declarations are profiled by the share showing each cue (when kept).
PROFILED = ("seller", "address")
CUES = (
    "undervalued", "transshipped", "forwarder_or_po_box", "missing_data", "vague",
    "cheap_per_kg", "odd_name",
)  # fmt: skip
_VAGUE = re.compile(word_pattern(DEFAULT_VAGUE_TERMS))
_GARBLED = re.compile(r"\b[b-df-hj-np-tv-z]{4,}\b")


def _odd_name(raw: list[str]) -> np.ndarray:
    """Placeholder names, or garbled ones: a word of four or more letters with no vowel."""
    names = normalize_texts(raw)
    return placeholder_name(names) | contains(_GARBLED, names)


def cue_matrix(data: pd.DataFrame | Columns) -> np.ndarray:
    """Per-parcel red-flag cues read from the declaration alone (one column per CUES)."""
    cols = Columns.of(data)
    listed = cols.number("listed_price_usd") * cols.number("quantity")
    value = cols.number("declared_value_usd")
    vague = per_unique(cols.text("description"), lambda d: contains(_VAGUE, normalize_texts(d)))
    kinds = pa.array(["forwarder", "po_box"], pa.large_string())
    return np.column_stack(
        [
            np.nan_to_num(value / listed, nan=1.0) < 0.5,
            _true(pc.not_equal(cols.text("origin_country"), cols.text("export_country"))),
            _true(pc.is_in(cols.text("recipient_address_type"), value_set=kinds)),
            cols.missing("listed_price_usd") | cols.missing("hts_code"),
            vague,
            value < 5 * cols.number("weight_kg"),
            per_unique(cols.text("recipient_name"), _odd_name).astype(float)
            * ~cols.missing("recipient_name"),
        ]
    ).astype(float)


def _true(mask: pa.Array) -> np.ndarray:
    """A boolean array with nulls as False."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


class EntityHistory(FeatureTransformer):
    """Per-entity history features using only what was known before each declaration.

    Parameters
    ----------
    smoothing
        Pseudo-count of the smoothed violation rate: ``(violations + smoothing * prior) /
        (inspected + smoothing)``, where ``prior`` is the rate over all outcomes recorded
        before the parcel's declaration (itself shrunk towards ``PRIOR_RATE``).
    recent_days
        Window of the recent-volume count, in days.
    entities
        The history keys to keep, each a tuple of parts (``("recipient", "hts6")``; see
        :mod:`parcelrisk.features.entities`); None: :data:`DEFAULT_HISTORY`.
    """

    PART = "history"

    def __init__(self, smoothing: float = 5.0, recent_days: float = 7.0, entities=None):
        self.smoothing = smoothing
        self.recent_days = recent_days
        self.entities = entities

    def keys(self) -> tuple[Key, ...]:
        """The history keys kept (the declared ones, else the default)."""
        return DEFAULT_HISTORY if self.entities is None else tuple(map(tuple, self.entities))

    def names(self) -> list[str]:
        """The kept entities' names, as their features are prefixed."""
        return [entity_name(k) for k in self.keys()]

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """Six features per entity, cue shares of the profiled ones, and recipient counts."""
        names = self.names()
        specs = [FeatureSpec(f"{e}_{s}", group_of(e)) for e in names for s in _PER_ENTITY]
        specs += [
            FeatureSpec(f"{e}_share_{c}", group_of(e)) for e in PROFILED if e in names
            for c in CUES
        ]  # fmt: skip
        specs += [FeatureSpec(name, RECIPIENT) for name in self._extras()]
        return tuple(specs)

    @classmethod
    def spec_of(cls, feature: str) -> FeatureSpec | None:
        """The declaration of a history feature, read from its name (``<entity>_<stat>``)."""
        if feature in ("address_n_names", "recipient_n_1d"):
            return FeatureSpec(feature, RECIPIENT)
        stats = (*_PER_ENTITY, *(f"share_{c}" for c in CUES))
        stat = next((x for x in stats if feature.endswith(f"_{x}")), None)
        if stat is None or feature == f"_{stat}":
            return None
        return FeatureSpec(feature, group_of(feature.removesuffix(f"_{stat}")))

    def fit(self, X: pd.DataFrame, y=None) -> EntityHistory:
        """Store the declarations and known outcomes of ``X`` as the history state."""
        check_scalar(self.smoothing, "smoothing", Real, min_val=0)
        check_scalar(self.recent_days, "recent_days", Real, min_val=0, include_boundaries="neither")
        validate_declarations(self, X)
        check_keys(self.keys(), list(X.columns))
        cols = Columns.of(X)
        self.skipped_entities_ = tuple(
            entity_name(key)
            for key in self.keys()
            if any(all(cols.missing(c).all() for c in inputs_of(part)) for part in key)
        )
        # one kind of recipient key for every row, training and scoring alike: a model
        # trained on names keeps its name history when a client also sends an id
        self.recipient_key_ = "name_address" if cols.missing("recipient_id").all() else "id"
        keys, _ = self._keys(cols)
        self.vocabulary_ = {
            name: pd.Index(pc.unique(k).to_numpy(zero_copy_only=False), dtype=object)
            for name, k in keys.items()
        }
        self.parcel_hashes_ = np.sort(_hash(cols))
        t = cols.seconds("declared_at")
        # the state ends at the last declaration: outcomes recorded later were not known.
        # (never `&=` here: to_numpy may hand back the caller's own buffer)
        known = (X["outcome_at"] <= X["declared_at"].max()).fillna(False).to_numpy(bool)
        inspected = X["inspected"].fillna(False).to_numpy(dtype=bool) & known
        found = X["violation_found"].fillna(False).to_numpy(dtype=float)[inspected]
        t_out = seconds(X["outcome_at"][inspected])
        outcome_values = np.column_stack([np.ones(len(found)), found])
        # the smoothing prior is time-aware too: the rate over outcomes recorded before t
        self.overall_ = EventIndex(np.zeros(len(found), dtype=np.int64), t_out, outcome_values)
        self.parcels_, self.outcomes_ = {}, {}
        codes = {name: index_of(self.vocabulary_[name], k) for name, k in keys.items()}
        for name, code in codes.items():
            self.parcels_[name] = EventIndex(code, t)
            self.outcomes_[name] = EventIndex(code[inspected], t_out, outcome_values)
        cues = cue_matrix(cols)
        self.profiles_ = {name: EventIndex(codes[name], t, cues) for name in self._profiled()}
        if "address_n_names" in self._extras():
            address = codes["address"]
            first = _first_by_time(codes["recipient"], t) & _given(keys["recipient"])
            self.names_ = EventIndex(address[first], t[first])
        self.cutoff_ = pd.Timestamp(int(t.max()), unit="s", tz="UTC")
        return self

    def _profiled(self) -> list[str]:
        return [name for name in PROFILED if name in self.names()]

    def _extras(self) -> list[str]:
        """The recipient counts kept: names at the address (needs the address and the
        recipient kept) and the recipient's parcels in the last day (needs the recipient)."""
        names = self.names()
        kept = ["address_n_names"] if "address" in names and "recipient" in names else []
        return kept + (["recipient_n_1d"] if "recipient" in names else [])

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "parcels_")
        t = cols.seconds("declared_at")
        # a parcel is never before itself, so one parcel adds no events of its own (see
        # _own): which parcels are new and their cues matter only in larger batches
        batch = cols.n > 1
        new = ~_isin_sorted(_hash(cols), self.parcel_hashes_) if batch else None
        cues = cue_matrix(cols) if batch and self.profiles_ else None
        out: dict[str, np.ndarray] = {}
        codes = {}
        keys, absent = self._keys(cols)
        prior = self._prior(t)
        for name in self.names():
            codes[name] = self._codes(name, keys[name])
            if not batch:
                out.update(self._entity_features(name, codes[name], t, new, prior))
                continue
            # queries in (entity, time) order make every search below a sorted merge
            order = np.lexsort((t, codes[name]))
            feats = self._entity_features(
                name, codes[name][order], t[order], new[order], prior[order]
            )
            for feature, values in feats.items():
                out[feature] = np.empty_like(values)
                out[feature][order] = values
        for name in self._profiled():
            out.update(self._profile(name, codes[name], t, new, cues))
        extras = self._extras()
        if "address_n_names" in extras:
            out["address_n_names"] = self._distinct_names(codes, keys["recipient"], t, new)
        if "recipient_n_1d" in extras:
            recipient = [self.parcels_["recipient"], *_own(codes["recipient"], t, new)]
            out["recipient_n_1d"] = (
                combined_count(recipient, codes["recipient"], t)
                - combined_count(recipient, codes["recipient"], t - _DAY)
            ).astype(float)
        for name, rows in absent.items():
            for feature in self._entity_feature_names(name):
                out[feature] = np.where(rows, np.nan, out[feature])
        for feature in self._skipped_features():
            out[feature] = np.full(cols.n, np.nan)
        return out

    def _keys(self, cols: Columns) -> tuple[dict[str, pa.Array], dict[str, np.ndarray]]:
        """Entity keys (a placeholder where an identity is missing) and where it is, for
        the entities resting on an identity missing somewhere."""
        keys = entity_keys(cols, self.recipient_key_, self.keys())
        absent = {}
        for key in self.keys():
            name = entity_name(key)
            if any(map(is_identity, key)) and keys[name].null_count:
                absent[name] = keys[name].is_null().to_numpy(zero_copy_only=False)
                keys[name] = pc.fill_null(keys[name], _ABSENT)
        return keys, absent

    def _entity_feature_names(self, name: str) -> list[str]:
        """Features that describe entity ``name`` (missing when its key is)."""
        names = [f"{name}_{s}" for s in _PER_ENTITY]
        if name in PROFILED:
            names += [f"{name}_share_{c}" for c in CUES]
        extras = self._extras()
        if name in ("address", "recipient") and "address_n_names" in extras:
            names.append("address_n_names")
        if name == "recipient" and "recipient_n_1d" in extras:
            names.append("recipient_n_1d")
        return names

    def _skipped_features(self) -> list[str]:
        """Features of the skipped entities (and those counting names at an address)."""
        names = (f for e in self.skipped_entities_ for f in self._entity_feature_names(e))
        return list(dict.fromkeys(names))

    def _codes(self, name: str, keys: pa.Array) -> np.ndarray:
        """Entity codes: the vocabulary's for known keys, fresh codes after it for new ones."""
        vocab = self.vocabulary_[name]
        code = index_of(vocab, keys)
        unseen = code < 0
        if unseen.any():  # numbered by first appearance, after the vocabulary
            fresh, _ = distinct(keys.filter(pa.array(unseen)))
            code[unseen] = len(vocab) + fresh
        return code

    def _entity_features(self, name, code, t, new, prior) -> dict[str, np.ndarray]:
        window = int(self.recent_days * _DAY)
        n_prior, recent, first = self.parcels_[name].history(code, t, window)
        for batch in _own(code, t, new):
            more = batch.history(code, t, window)
            n_prior, recent, first = n_prior + more[0], recent + more[1], np.fmin(first, more[2])
        known = self.outcomes_[name].sum_before(code, t)
        m = self.smoothing
        return {
            f"{name}_n_prior": n_prior.astype(float),
            f"{name}_days_since_first": (t - first) / _DAY,
            f"{name}_n_recent": recent.astype(float),
            f"{name}_n_inspected": known[:, 0],
            f"{name}_n_violations": known[:, 1],
            f"{name}_rate": (known[:, 1] + m * prior) / (known[:, 0] + m),
        }

    def _prior(self, t: np.ndarray) -> np.ndarray:
        """Violation rate over all outcomes recorded before each time, shrunk to PRIOR_RATE."""
        known = self.overall_.sum_before(np.zeros(len(t), dtype=np.int64), t)
        return (known[:, 1] + PRIOR_WEIGHT * PRIOR_RATE) / (known[:, 0] + PRIOR_WEIGHT)

    def _profile(self, name, code, t, new, cues) -> dict[str, np.ndarray]:
        """Share of the entity's earlier parcels showing each cue (NaN with no history)."""
        n, sums = self.profiles_[name].count_and_sum_before(code, t)
        for batch in _own(code, t, new, cues):
            more = batch.count_and_sum_before(code, t)
            n, sums = n + more[0], sums + more[1]
        n = n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = sums / n[:, None]
        return {f"{name}_share_{c}": shares[:, i] for i, c in enumerate(CUES)}

    def _distinct_names(self, codes, person, t, new) -> np.ndarray:
        """Distinct recipient names seen at the parcel's address before it was declared."""
        batch = []
        if new is not None:
            known = codes["recipient"] < len(self.vocabulary_["recipient"])
            first = new & ~known & _first_by_time(codes["recipient"], t) & _given(person)
            batch = _own(codes["address"], t, first)
        return combined_count([self.names_, *batch], codes["address"], t).astype(float)


def _own(code, t, rows, values=None) -> list[EventIndex]:
    """The batch's own events (of ``rows``) as an index, if it can hold any: a parcel is
    never before itself, so a batch of one parcel adds nothing to its history (its
    ``rows`` and ``values`` may be None)."""
    if len(code) < 2:
        return []
    return [EventIndex(code[rows], t[rows], None if values is None else values[rows])]


def _hash(cols: Columns) -> np.ndarray:
    # the same hashes either way; categorizing first pays off only on large batches
    ids = cols.text("parcel_id").to_numpy(zero_copy_only=False)
    return pd.util.hash_array(ids, categorize=len(ids) > 1000)


def _given(keys: pa.Array) -> np.ndarray:
    """Where an identity key is not the placeholder of a missing one."""
    return pc.not_equal(keys, _ABSENT).to_numpy(zero_copy_only=False)


def _isin_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_ref, values).clip(max=max(len(sorted_ref) - 1, 0))
    return sorted_ref[pos] == values if len(sorted_ref) else np.zeros(len(values), dtype=bool)


def _first_by_time(codes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mask of each entity's earliest row (by time; ties by position), given entity codes."""
    order = np.argsort(t, kind="stable")
    _, earliest = np.unique(codes[order], return_index=True)
    first = np.zeros(len(t), dtype=bool)
    first[order[earliest]] = True
    return first
