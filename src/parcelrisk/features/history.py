"""Time-aware history of sellers, recipients, filers and their pairs.

For each parcel and each entity (a seller, an address, a seller x HTS heading pair, ...)
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

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from parcelrisk.features.events import (
    EventIndex,
    combined_count,
    combined_first_time,
    combined_sum,
    seconds,
)
from parcelrisk.features.party import placeholder_name
from parcelrisk.features.text import DEFAULT_VAGUE_TERMS, normalize, per_unique, word_pattern

_DAY = 86_400


def _text(f: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, missing values as '?' (one entity of unknowns)."""
    return f[column].astype("string").fillna("?")


def entity_keys(f: pd.DataFrame, recipient_key: str = "name_address") -> dict[str, pd.Series]:
    """Key of every entity of each parcel (seller, seller x HTS heading, address, ...).

    The recipient is keyed on its id (``recipient_key="id"``) or on its normalised name
    at the address (``"name_address"``), the same kind for every row. A key is missing
    (NA) where the identity it rests on is missing (see :data:`IDENTITIES`); a missing
    HTS code, origin, carrier or lading port is the entity ``'?'``.
    """
    seller = f["seller_id"].astype("string")
    hts4 = f["hts_code"].astype("string").str[:4].fillna("?")
    address = (
        normalize(f["recipient_address"]) + "|" + f["recipient_zip"].astype("string").fillna("")
    )
    address = address.mask(f["recipient_address"].isna())
    if recipient_key == "id":
        recipient = f["recipient_id"].astype("string")
    else:
        recipient = normalize(f["recipient_name"]) + "|" + address
        recipient = recipient.mask(f["recipient_name"].isna() | address.isna())
    return {
        "seller": seller,
        "seller_hts": seller + "|" + hts4,
        "hts_origin": hts4 + "|" + _text(f, "origin_country"),
        "filer": f["filer_code"].astype("string"),
        "address": address,
        "recipient": recipient,
        "carrier": _text(f, "carrier"),
        "lading": _text(f, "lading_port"),
    }


ENTITIES = ("seller", "seller_hts", "hts_origin", "filer", "address", "recipient", "carrier",
            "lading")  # fmt: skip
#: What each entity is keyed on: it is skipped when every input of one group is missing
#: throughout the training data (the recipient needs an id or a name).
ENTITY_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "seller": (("seller_id",),),
    "seller_hts": (("seller_id",), ("hts_code",)),
    "hts_origin": (("hts_code",),),
    "filer": (("filer_code",),),
    "address": (("recipient_address",),),
    "recipient": (("recipient_id", "recipient_name"),),
    "carrier": (("carrier",),),
    "lading": (("lading_port",),),
}
#: Entities keyed on a party's identity: a parcel missing it has missing features for the
#: entity, not the counts of one entity lumping every parcel without it.
IDENTITIES = ("seller", "seller_hts", "filer", "address", "recipient")
#: The key NA identities take inside the state (their features are masked to NaN).
_ABSENT = "\x00absent"
#: Starting point of the smoothing prior before any outcome is known, and its weight.
PRIOR_RATE, PRIOR_WEIGHT = 0.05, 20.0
_PER_ENTITY = ("n_prior", "days_since_first", "n_recent", "n_inspected", "n_violations", "rate")
#: Entities whose past declarations are profiled by the share showing each cue.
PROFILED = ("seller", "address")
CUES = (
    "undervalued", "transshipped", "forwarder_or_po_box", "missing_data", "vague",
    "cheap_per_kg", "odd_name",
)  # fmt: skip
_VAGUE = word_pattern(DEFAULT_VAGUE_TERMS)


def _odd_name(name: pd.Series) -> pd.Series:
    """Placeholder names, or garbled ones: a word of four or more letters with no vowel."""
    return placeholder_name(name) | name.str.contains(r"\b[b-df-hj-np-tv-z]{4,}\b", regex=True)


def cue_matrix(X: pd.DataFrame) -> np.ndarray:
    """Per-parcel red-flag cues read from the declaration alone (one column per CUES)."""
    listed = X["listed_price_usd"].to_numpy(dtype=float) * X["quantity"].to_numpy(dtype=float)
    value = X["declared_value_usd"].to_numpy(dtype=float)
    vague = per_unique(
        X["description"], lambda d: normalize(d).str.contains(_VAGUE, regex=True)
    ).to_numpy(dtype=float)
    return np.column_stack(
        [
            np.nan_to_num(value / listed, nan=1.0) < 0.5,
            (X["origin_country"] != X["export_country"]).fillna(False).to_numpy(dtype=bool),
            X["recipient_address_type"].isin(["forwarder", "po_box"]).to_numpy(dtype=bool),
            (X["listed_price_usd"].isna() | X["hts_code"].isna()).to_numpy(dtype=bool),
            vague,
            value < 5 * X["weight_kg"].to_numpy(dtype=float),
            per_unique(X["recipient_name"], lambda n: _odd_name(normalize(n))).to_numpy(float)
            * X["recipient_name"].notna().to_numpy(),
        ]
    ).astype(float)


class EntityHistory(TransformerMixin, BaseEstimator):
    """Per-entity history features using only what was known before each declaration.

    Parameters
    ----------
    smoothing
        Pseudo-count of the smoothed violation rate: ``(violations + smoothing * prior) /
        (inspected + smoothing)``, where ``prior`` is the rate over all outcomes recorded
        before the parcel's declaration (itself shrunk towards ``PRIOR_RATE``).
    recent_days
        Window of the recent-volume count, in days.
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn convention)
        "smoothing": [Interval(Real, 0, None, closed="left")],
        "recent_days": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, smoothing: float = 5.0, recent_days: float = 7.0):
        self.smoothing = smoothing
        self.recent_days = recent_days

    def fit(self, X: pd.DataFrame, y=None) -> EntityHistory:
        """Store the declarations and known outcomes of ``X`` as the history state."""
        self._validate_params()
        self.skipped_entities_ = tuple(
            name
            for name, groups in ENTITY_INPUTS.items()
            if any(all(X[c].isna().all() for c in group) for group in groups)
        )
        # one kind of recipient key for every row, training and scoring alike: a model
        # trained on names keeps its name history when a client also sends an id
        self.recipient_key_ = "id" if X["recipient_id"].notna().any() else "name_address"
        keys, _ = self._keys(X)
        self.vocabulary_ = {name: pd.Index(k.unique()) for name, k in keys.items()}
        self.parcel_hashes_ = np.sort(_hash(X["parcel_id"]))
        t = seconds(X["declared_at"])
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
        for name, k in keys.items():
            code = self.vocabulary_[name].get_indexer(k)
            self.parcels_[name] = EventIndex(code, t)
            self.outcomes_[name] = EventIndex(code[inspected], t_out, outcome_values)
        cues = cue_matrix(X)
        self.profiles_ = {
            name: EventIndex(self.vocabulary_[name].get_indexer(keys[name]), t, cues)
            for name in PROFILED
        }
        address = self.vocabulary_["address"].get_indexer(keys["address"])
        first = _first_by_time(keys["recipient"], t) & (keys["recipient"] != _ABSENT).to_numpy()
        self.names_ = EventIndex(address[first], t[first])
        self.cutoff_ = pd.Timestamp(int(t.max()), unit="s", tz="UTC")
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """History features of each parcel in ``X`` (one row per parcel, same order)."""
        check_is_fitted(self, "parcels_")
        t = seconds(X["declared_at"])
        new = ~_isin_sorted(_hash(X["parcel_id"]), self.parcel_hashes_)
        out: dict[str, np.ndarray] = {}
        codes = {}
        keys, absent = self._keys(X)
        for name in ENTITIES:
            codes[name] = self._codes(name, keys[name])
            # queries in (entity, time) order make every search below a sorted merge
            order = np.lexsort((t, codes[name]))
            feats = self._entity_features(name, codes[name][order], t[order], new[order])
            for feature, values in feats.items():
                out[feature] = np.empty_like(values)
                out[feature][order] = values
        cues = cue_matrix(X)
        for name in PROFILED:
            out.update(self._profile(name, codes[name], t, new, cues))
        out["address_n_names"] = self._distinct_names(codes["address"], keys["recipient"], t, new)
        recipient = [self.parcels_["recipient"], EventIndex(codes["recipient"][new], t[new])]
        out["recipient_n_1d"] = (
            combined_count(recipient, codes["recipient"], t)
            - combined_count(recipient, codes["recipient"], t - _DAY)
        ).astype(float)
        for name, rows in absent.items():
            for feature in self._entity_feature_names(name):
                out[feature] = np.where(rows, np.nan, out[feature])
        for feature in self._skipped_features():
            out[feature] = np.full(len(X), np.nan)
        return pd.DataFrame(out, index=X.index)

    def _keys(self, X: pd.DataFrame) -> tuple[dict[str, pd.Series], dict[str, np.ndarray]]:
        """Entity keys (a placeholder where an identity is missing) and where it is."""
        keys = entity_keys(X, self.recipient_key_)
        absent = {name: keys[name].isna().to_numpy() for name in IDENTITIES}
        for name in IDENTITIES:
            keys[name] = keys[name].fillna(_ABSENT)
        return keys, absent

    @staticmethod
    def _entity_feature_names(name: str) -> list[str]:
        """Features that describe entity ``name`` (missing when its key is)."""
        names = [f"{name}_{s}" for s in _PER_ENTITY]
        if name in PROFILED:
            names += [f"{name}_share_{c}" for c in CUES]
        if name in ("address", "recipient"):
            names.append("address_n_names")
        if name == "recipient":
            names.append("recipient_n_1d")
        return names

    def _skipped_features(self) -> list[str]:
        """Features of the skipped entities (and those counting names at an address)."""
        skipped = set(self.skipped_entities_)
        names = [f"{e}_{s}" for e in ENTITIES if e in skipped for s in _PER_ENTITY]
        names += [f"{e}_share_{c}" for e in PROFILED if e in skipped for c in CUES]
        if skipped & {"address", "recipient"}:
            names.append("address_n_names")
        if "recipient" in skipped:
            names.append("recipient_n_1d")
        return names

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the features :meth:`transform` returns."""
        names = [f"{e}_{s}" for e in ENTITIES for s in _PER_ENTITY]
        names += [f"{e}_share_{c}" for e in PROFILED for c in CUES]
        return np.asarray([*names, "address_n_names", "recipient_n_1d"], dtype=object)

    def _codes(self, name: str, keys: pd.Series) -> np.ndarray:
        """Entity codes: the vocabulary's for known keys, fresh codes after it for new ones."""
        vocab = self.vocabulary_[name]
        code = vocab.get_indexer(keys)
        unseen = code < 0
        if unseen.any():
            fresh, _ = pd.factorize(keys[unseen])
            code[unseen] = len(vocab) + fresh
        return code

    def _entity_features(self, name, code, t, new) -> dict[str, np.ndarray]:
        parcels = [self.parcels_[name], EventIndex(code[new], t[new])]
        n_prior = combined_count(parcels, code, t)
        recent = n_prior - combined_count(parcels, code, t - int(self.recent_days * _DAY))
        known = self.outcomes_[name].sum_before(code, t)
        prior = self._prior(t)
        m = self.smoothing
        return {
            f"{name}_n_prior": n_prior.astype(float),
            f"{name}_days_since_first": (t - combined_first_time(parcels, code, t)) / _DAY,
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
        indexes = [self.profiles_[name], EventIndex(code[new], t[new], cues[new])]
        n = combined_count(indexes, code, t).astype(float)
        sums = combined_sum(indexes, code, t)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = sums / n[:, None]
        return {f"{name}_share_{c}": shares[:, i] for i, c in enumerate(CUES)}

    def _distinct_names(self, address_code, person, t, new) -> np.ndarray:
        """Distinct recipient names seen at the parcel's address before it was declared."""
        known = self.vocabulary_["recipient"].get_indexer(person) >= 0
        first = new & ~known & _first_by_time(person, t) & (person != _ABSENT).to_numpy()
        batch = EventIndex(address_code[first], t[first])
        return combined_count([self.names_, batch], address_code, t).astype(float)


def _hash(ids: pd.Series) -> np.ndarray:
    return pd.util.hash_array(ids.astype("string").to_numpy(dtype=object))


def _isin_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_ref, values).clip(max=max(len(sorted_ref) - 1, 0))
    return sorted_ref[pos] == values if len(sorted_ref) else np.zeros(len(values), dtype=bool)


def _first_by_time(keys: pd.Series, t: np.ndarray) -> np.ndarray:
    """Mask of each key's earliest row (by time; ties by position)."""
    order = np.argsort(t, kind="stable")
    first = np.zeros(len(t), dtype=bool)
    first[order] = ~pd.Series(keys.to_numpy()[order]).duplicated().to_numpy()
    return first
