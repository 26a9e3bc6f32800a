"""Time-aware history of sellers, recipients, filers, tariff codes and their pairs.

The entities are declared (:mod:`parcelrisk.features.entities`: the column mapping's or
the config's ``history:``, else the default keys). For each parcel and each entity (a
seller, an address, an importer x HS6 pair, ...)
the features count what was known strictly before the parcel's declaration time: how
many parcels the entity had, since when, how many in the last days, and how many of its
inspected parcels were found violative by then (an outcome counts from the moment it
was recorded, ``outcome_at``, not from the parcel's declaration).

``fit`` stores the declarations and outcomes of the training data as the state (a
:class:`~parcelrisk.features.live.Layer` of events); at ``transform`` time the state,
the events appended since (a :class:`~parcelrisk.features.live.LiveHistory`, when one
is given: what a served model has seen after training) and the new declarations
themselves (never their outcomes) are the history. So transforming the training data
again gives the same features as ``fit_transform``, and a parcel's features depend only
on what was declared and recorded before it, however the parcels were batched.

An entity whose inputs are missing in every training declaration (a table brought
through a column mapping may have no seller, or no address) is skipped: its features
are missing (NaN) rather than a count over all parcels lumped into one entity, which
would only measure time. ``skipped_entities_`` names them.
"""

from __future__ import annotations

import functools
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
from parcelrisk.features.live import Layer, LiveHistory
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
        return _feature_specs(self.keys())

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
        hashes = _hash(cols)
        self.parcel_hashes_ = np.sort(hashes)
        t = cols.seconds("declared_at")
        # the state ends at the last declaration: outcomes recorded later were not known.
        # (never `&=` here: to_numpy may hand back the caller's own buffer)
        known = (X["outcome_at"] <= X["declared_at"].max()).fillna(False).to_numpy(bool)
        inspected = X["inspected"].fillna(False).to_numpy(dtype=bool) & known
        found = X["violation_found"].fillna(False).to_numpy(dtype=float)[inspected]
        self.outcome_hashes_ = np.sort(hashes[inspected])
        codes = {name: index_of(self.vocabulary_[name], k) for name, k in keys.items()}
        first = _first_by_time(codes["recipient"], t) & _given(keys["recipient"]) if (
            "address_n_names" in self._extras()) else None  # fmt: skip
        declared = (codes, t, cue_matrix(cols) if self._profiled() else None, first)
        outcomes = (
            {name: code[inspected] for name, code in codes.items()},
            seconds(X["outcome_at"][inspected]),
            np.column_stack([np.ones(len(found)), found]),
        )
        self.state_ = self.layer(declared, outcomes)
        self.cutoff_ = pd.Timestamp(int(t.max()), unit="s", tz="UTC")
        return self

    def layer(self, declared, outcomes) -> Layer:
        """The events of declarations and of outcomes, as one layer of history.

        ``declared``: entity codes by name, declaration times, cues of the profiled
        entities and which rows are recipients' first parcels (or None: no declaration);
        ``outcomes``: entity codes of each outcome's parcel by name, outcome times and the
        (inspected, violation found) each adds (or None: no outcome).
        """
        names = self.names()
        none, no_values = np.zeros(0, dtype=np.int64), np.zeros((0, 2))
        nothing = ({n: none for n in names}, none, np.zeros((0, len(CUES))), none.astype(bool))
        codes, t, cues, first = declared or nothing
        out_codes, t_out, values = outcomes or ({n: none for n in names}, none, no_values)
        keeps_names = "address_n_names" in self._extras()
        no_outcome = EventIndex(none, none, no_values)  # shared: merging it costs nothing
        return Layer(
            parcels={name: EventIndex(codes[name], t) for name in names},
            outcomes={
                name: EventIndex(out_codes[name], t_out, values) if len(t_out) else no_outcome
                for name in names
            },
            overall=EventIndex(np.zeros(len(t_out), dtype=np.int64), t_out, values),
            profiles={name: EventIndex(codes[name], t, cues) for name in self._profiled()},
            names=EventIndex(codes["address"][first], t[first]) if keeps_names else None,
        )

    def in_training(self, cols: Columns) -> np.ndarray:
        """Which parcels (by id) the training state holds."""
        return _isin_sorted(_hash(cols), self.parcel_hashes_)

    def outcome_in_training(self, cols: Columns) -> np.ndarray:
        """Which parcels (by id) the training state holds an outcome of."""
        return _isin_sorted(_hash(cols), self.outcome_hashes_)

    def codes_to_keep(self, cols: Columns, live: LiveHistory, keys=None) -> dict[str, np.ndarray]:
        """Entity codes of declarations being appended to ``live``: keys neither the
        training vocabulary nor ``live`` knows get live codes, numbered as they come."""
        keys = self._keys(cols)[0] if keys is None else keys
        out = {}
        for name, k in keys.items():
            vocab, mine = self.vocabulary_[name], live.vocabulary[name]
            code = index_of(vocab, k)
            unseen = np.flatnonzero(code < 0)
            for i, key in zip(unseen, k.take(unseen).to_pylist(), strict=True):
                code[i] = mine.setdefault(key, len(vocab) + len(mine))
            out[name] = code
        return out

    def declaration_events(self, cols: Columns, live: LiveHistory):
        """The ``declared`` argument of :meth:`layer` for parcels appended to ``live`` (new
        to it and to the training state)."""
        known_recipients = live.n_codes("recipient") if "recipient" in self.names() else 0
        keys, _ = self._keys(cols)
        codes = self.codes_to_keep(cols, live, keys)
        t = cols.seconds("declared_at")
        first = None
        if "address_n_names" in self._extras():
            recipient = codes["recipient"]
            first = (recipient >= known_recipients) & _first_by_time(recipient, t) & _given(
                keys["recipient"]
            )  # fmt: skip
        return codes, t, cue_matrix(cols) if self._profiled() else None, first

    def _profiled(self) -> list[str]:
        return [name for name in PROFILED if name in self.names()]

    def _extras(self) -> list[str]:
        return _extras_of(self.names())

    def transform_columns(
        self, cols: Columns, live: LiveHistory | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays; with ``live``, the events
        appended after training count too."""
        check_is_fitted(self, "state_")
        if live is not None and live.history is not self:
            raise ValueError("the live history given belongs to another model's entity history")
        layers = [self.state_, *(live.layers if live is not None else ())]
        t = cols.seconds("declared_at")
        # a parcel is never before itself, so one parcel adds no events of its own (see
        # _own): which parcels are new and their cues matter only in larger batches
        batch = cols.n > 1 and (live is None or live.batch_events)
        new = None
        if batch:
            held = live.holds(cols.strings("parcel_id")) if live is not None else False
            new = ~(self.in_training(cols) | held)
        cues = cue_matrix(cols) if batch and self._profiled() else None
        out: dict[str, np.ndarray] = {}
        codes = {}
        keys, absent = self._keys(cols)
        prior = self._prior(t, layers)
        for name in self.names():
            codes[name] = self._codes(name, keys[name], live)
            if not batch:
                out.update(self._entity_features(name, codes[name], t, new, prior, layers))
                continue
            # queries in (entity, time) order make every search below a sorted merge
            order = np.lexsort((t, codes[name]))
            feats = self._entity_features(
                name, codes[name][order], t[order], new[order], prior[order], layers
            )
            for feature, values in feats.items():
                out[feature] = np.empty_like(values)
                out[feature][order] = values
        for name in self._profiled():
            out.update(self._profile(name, codes[name], t, new, cues, layers))
        extras = self._extras()
        if "address_n_names" in extras:
            known = live.n_codes("recipient") if live is not None else None
            out["address_n_names"] = self._distinct_names(
                codes, keys["recipient"], t, new, layers, known
            )
        if "recipient_n_1d" in extras:
            code = codes["recipient"]
            recipient = [layer.parcels["recipient"] for layer in layers]
            recipient += _own(code, t, new)
            out["recipient_n_1d"] = (
                combined_count(recipient, code, t) - combined_count(recipient, code, t - _DAY)
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

    def _codes(self, name: str, keys: pa.Array, live: LiveHistory | None) -> np.ndarray:
        """Entity codes: the vocabulary's for known keys, the live history's for keys it
        knows, fresh codes after both for new ones."""
        vocab = self.vocabulary_[name]
        code = index_of(vocab, keys)
        unseen = code < 0
        after = len(vocab)
        if live is not None and unseen.any():
            mine = live.vocabulary[name]
            rows = np.flatnonzero(unseen)
            for i, key in zip(rows, keys.take(rows).to_pylist(), strict=True):
                code[i] = mine.get(key, -1)
            unseen = code < 0
            after = live.n_codes(name)
        if unseen.any():  # numbered by first appearance, after the known ones
            fresh, _ = distinct(keys.filter(pa.array(unseen)))
            code[unseen] = after + fresh
        return code

    def _entity_features(self, name, code, t, new, prior, layers) -> dict[str, np.ndarray]:
        window = int(self.recent_days * _DAY)
        parcels = _holding([layer.parcels[name] for layer in layers] + _own(code, t, new))
        n_prior, recent, first = parcels[0].history(code, t, window)
        for index in parcels[1:]:
            more = index.history(code, t, window)
            n_prior, recent, first = n_prior + more[0], recent + more[1], np.fmin(first, more[2])
        outcomes = _holding([layer.outcomes[name] for layer in layers])
        known = sum(index.sum_before(code, t) for index in outcomes)
        m = self.smoothing
        return {
            f"{name}_n_prior": n_prior.astype(float),
            f"{name}_days_since_first": (t - first) / _DAY,
            f"{name}_n_recent": recent.astype(float),
            f"{name}_n_inspected": known[:, 0],
            f"{name}_n_violations": known[:, 1],
            f"{name}_rate": (known[:, 1] + m * prior) / (known[:, 0] + m),
        }

    def _prior(self, t: np.ndarray, layers: list[Layer]) -> np.ndarray:
        """Violation rate over all outcomes recorded before each time, shrunk to PRIOR_RATE."""
        zero = np.zeros(len(t), dtype=np.int64)
        known = sum(index.sum_before(zero, t) for index in _holding([x.overall for x in layers]))
        return (known[:, 1] + PRIOR_WEIGHT * PRIOR_RATE) / (known[:, 0] + PRIOR_WEIGHT)

    def _profile(self, name, code, t, new, cues, layers) -> dict[str, np.ndarray]:
        """Share of the entity's earlier parcels showing each cue (NaN with no history)."""
        profiles = _holding([layer.profiles[name] for layer in layers] + _own(code, t, new, cues))
        n, sums = profiles[0].count_and_sum_before(code, t)
        for index in profiles[1:]:
            more = index.count_and_sum_before(code, t)
            n, sums = n + more[0], sums + more[1]
        n = n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = sums / n[:, None]
        return {f"{name}_share_{c}": shares[:, i] for i, c in enumerate(CUES)}

    def _distinct_names(self, codes, person, t, new, layers, known) -> np.ndarray:
        """Distinct recipient names seen at the parcel's address before it was declared.
        ``known``: recipient codes below it are held (None: the training vocabulary's)."""
        batch = []
        if new is not None:
            if known is None:
                known = len(self.vocabulary_["recipient"])
            fresh = codes["recipient"] >= known
            first = new & fresh & _first_by_time(codes["recipient"], t) & _given(person)
            batch = _own(codes["address"], t, first)
        names = [layer.names for layer in layers]
        return combined_count([*names, *batch], codes["address"], t).astype(float)


@functools.lru_cache(maxsize=32)
def _feature_specs(keys: tuple[Key, ...]) -> tuple[FeatureSpec, ...]:
    """:meth:`EntityHistory.feature_specs` of the history keys ``keys``, worked out once per
    set of keys (naming and grouping them took about 0.5 ms of every scoring request)."""
    names = [entity_name(k) for k in keys]
    specs = [FeatureSpec(f"{e}_{s}", group_of(e)) for e in names for s in _PER_ENTITY]
    specs += [
        FeatureSpec(f"{e}_share_{c}", group_of(e)) for e in PROFILED if e in names for c in CUES
    ]
    specs += [FeatureSpec(name, RECIPIENT) for name in _extras_of(names)]
    return tuple(specs)


def _extras_of(names: list[str]) -> list[str]:
    """The recipient counts kept with the entities ``names``: names at the address (needs
    the address and the recipient kept) and the recipient's parcels in the last day (needs
    the recipient)."""
    kept = ["address_n_names"] if "address" in names and "recipient" in names else []
    return kept + (["recipient_n_1d"] if "recipient" in names else [])


def _holding(indexes: list[EventIndex]) -> list[EventIndex]:
    """The indexes that hold events (the first one if none does): one with none would add
    zeros to every count, at the cost of a search."""
    held = [index for index in indexes if len(index)]
    return held or indexes[:1]


def _own(code, t, rows, values=None) -> list[EventIndex]:
    """The batch's own events (of ``rows``) as an index, if it can hold any: a parcel is
    never before itself, so a batch of one parcel adds nothing to its history (its
    ``rows`` and ``values`` may be None), and neither does a batch that does not count its
    own events (``rows`` None)."""
    if len(code) < 2 or rows is None:
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
